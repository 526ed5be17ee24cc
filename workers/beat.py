"""The health beat: probe each configured provider cheaply, combine with rolling statistics from
real traffic, score, and write the fallback order. Model lists are refreshed into the 1-hour cache.

Only one run acts per interval however many beats send the task: the run takes a Redis lock that
expires just before the next interval (SET NX PX), and a run that cannot take it does nothing.
"""

from __future__ import annotations

import json
import logging

from multillm.common import constants
from multillm.common.errors import MultiLLMError
from multillm.common.provider_health import Health, assess, recent_outcomes, write_order
from multillm.common.providers import SPECS, create_provider
from multillm.workers.app import app
from multillm.workers.tasks import runtime

log = logging.getLogger("multillm.health")

HEALTH_LOCK = constants.HEALTH_LOCK
HEALTH_QUEUE = constants.HEALTH_QUEUE
HEALTH_RUNS = constants.HEALTH_RUNS  # how many runs acted: lets operators see one beat acting
MODELS_TTL_S = 3600


def models_key(provider: str) -> str:
    return constants.models(provider)


def probe(provider: str) -> bool:
    """The cheapest authenticated call: the model list, which also refreshes the cached list."""
    rt = runtime()
    ps = rt.settings.provider(provider)
    if ps.api_key is None:
        return False
    client = create_provider(provider, ps.api_key.get_secret_value(), base_url=ps.base_url,
                             timeouts=rt.settings.timeouts(total=10), client=rt.http_client(ps.base_url or ""))
    try:
        models = [m.id for m in client.get_models()]
    except MultiLLMError as exc:
        log.warning("health probe of %s failed: %s", provider, exc.code)
        return False
    rt.redis.set(models_key(provider), json.dumps(models), ex=MODELS_TTL_S)
    return True


def check_health() -> list[Health] | None:
    rt = runtime()
    interval_ms = int(rt.settings.health_interval_s * 1000)
    if not rt.redis.set(HEALTH_LOCK, "1", nx=True, px=max(100, int(interval_ms * 0.8))):
        return None  # another beat's run already acted in this interval
    rt.redis.incr(HEALTH_RUNS)
    healths = []
    for provider in SPECS:
        probe_ok = probe(provider)
        if probe_ok and rt.circuit.state(provider) == "half_open":
            rt.circuit.record(provider, True)  # the probe is the half-open trial call
        outcomes = recent_outcomes(rt.redis, provider, rt.settings.health_window_s)
        healths.append(assess(provider, outcomes, rt.circuit.state(provider), probe_ok))
    order = write_order(rt.redis, healths)
    log.info("fallback order: %s", ", ".join(order))
    return healths


@app.task(name=constants.HEALTH_TASK, ignore_result=True)
def health() -> str:
    healths = check_health()
    return "skipped" if healths is None else "checked"
