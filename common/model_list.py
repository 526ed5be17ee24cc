"""Each provider's live model list, cached in Redis for one hour and shared by every worker,
producer and command: per provider, base URL and key (hashed, never stored), so a tenant's own key
sees its own list. The health beat refreshes the environment keys' lists; validation, routing and
`multillm models` read them. However many jobs start at once, one process fetches a missing list
(a `SET NX` lock) while the others wait for it.

A model id not in the list is refused with the closest listed ids; when the list cannot be had
(network, no models endpoint, an error), the call goes ahead with a logged warning, and the failure
is remembered for a minute so a down endpoint is not asked once per job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict

import redis

from multillm.common import constants
from multillm.common.errors import MultiLLMError, UnknownModelError
from multillm.common.providers.base import LiveModel, LLMProvider, unlisted_message

log = logging.getLogger("multillm.models")

MODELS_TTL_S = 3600  # the seed: model lists are cached for one hour
UNREACHABLE_TTL_S = 60
FETCH_LOCK_MS = 15_000
UNREACHABLE = "unreachable"


def list_key(provider: str, base_url: str, api_key: str) -> str:
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\0{api_key}".encode()).hexdigest()[:24]
    return constants.model_list(provider, digest)


class ModelLists:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def cached(self, key: str) -> list[LiveModel] | str | None:
        """The stored list, UNREACHABLE after a recent failure, or None when nothing is stored."""
        raw = self.redis.get(key)
        if raw is None:
            return None
        data = json.loads(raw)
        return UNREACHABLE if data == UNREACHABLE else [LiveModel(**m) for m in data]

    def refresh(self, provider: LLMProvider, api_key: str) -> list[LiveModel] | None:
        """Fetch and store the list now (the health beat); None, remembered, when it cannot be had;
        [] (remembered as no list) when the server lists nothing."""
        key = list_key(provider.id, provider.base_url, api_key)
        try:
            models = provider.get_models()
        except MultiLLMError as exc:
            log.warning("model list of %s unavailable (%s)", provider.id, exc.code)
            self.redis.set(key, json.dumps(UNREACHABLE), ex=UNREACHABLE_TTL_S)
            return None
        if not models:  # an empty list checks nothing: a server that lists nothing may still serve
            self.redis.set(key, json.dumps(UNREACHABLE), ex=UNREACHABLE_TTL_S)
            return []
        self.redis.set(key, json.dumps([asdict(m) for m in models]), ex=MODELS_TTL_S)
        return models

    def get(self, provider: LLMProvider, api_key: str, wait_s: float = 10.0) -> list[LiveModel] | None:
        """The cached list; if none, fetched by one process while the others wait up to `wait_s`."""
        key = list_key(provider.id, provider.base_url, api_key)
        deadline = time.monotonic() + wait_s
        while True:
            found = self.cached(key)
            if found is not None:
                return None if found == UNREACHABLE else found  # type: ignore[return-value]
            if self.redis.set(key + ":lock", "1", nx=True, px=FETCH_LOCK_MS):
                try:
                    return self.refresh(provider, api_key) or None
                finally:
                    self.redis.delete(key + ":lock")
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)  # another process is fetching it: poll for its answer


def listed_model(provider_name: str, model: str, models: list[LiveModel] | None) -> LiveModel | None:
    """The list's entry for `model`; UnknownModelError naming the closest ids when it is not listed;
    None, with a warning, when there is no list to check against."""
    if models is None:
        log.warning("%s: model list unavailable; %r not checked, the call goes ahead", provider_name, model)
        return None
    entry = next((m for m in models if m.id == model), None)
    if entry is None:
        raise UnknownModelError(unlisted_message(provider_name, model, [m.id for m in models]))
    return entry


def fetch_list(provider: LLMProvider) -> list[LiveModel] | None:
    """The live list fetched now, without the shared cache (a command with no Redis at hand);
    None, with a warning, when it cannot be had."""
    try:
        return provider.get_models() or None
    except MultiLLMError as exc:
        log.warning("model list of %s unavailable (%s)", provider.id, exc.code)
        return None
