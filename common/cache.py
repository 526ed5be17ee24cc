"""The response cache: an exact answer stored per tenant, keyed by the normalised request.

The key is a SHA-256 of the provider, the model, the messages sent (history included) and every
option that changes the answer, within the tenant. A cached answer keeps the provider's events in
order (deltas, tool calls, usage, finish), so a hit streams the same messages a call did.

A job uses the cache when it asks (`cache="on"`), or its tenant is in MULTILLM_CACHE_TENANTS, and
its temperature is 0: a sampled answer is not the answer to repeat. `cache="always"` caches whatever
the temperature; `cache="off"` never. Entries expire after MULTILLM_CACHE_TTL_S; a tenant keeps at
most MULTILLM_CACHE_MAX_ENTRIES (the oldest go first), and an answer larger than
MULTILLM_CACHE_MAX_ENTRY_BYTES is not stored.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field

from multillm.common import constants
from multillm.common.jobs import Job
from multillm.common.schemas import ChatOptions, Message, ProviderEvent
from multillm.common.settings import Settings

CACHED_EVENTS = frozenset({"delta", "tool_call", "usage", "finish"})
NOT_IN_KEY = {"stream"}  # streamed or not, the answer is the same


class CachedAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str
    model: str
    stored_at: float
    events: list[ProviderEvent] = Field(default_factory=list)


def mode_for(job: Job, settings: Settings) -> str | None:
    """`on` or `always` when this job may be answered from the cache, else None."""
    mode = job.cache or ("on" if job.tenant in settings.cache_tenants else "off")
    if mode == "off":
        return None
    if mode == "on" and job.options.temperature != 0:  # unset means the provider's default, above 0
        return None
    return mode


def request_key(provider: str, model: str, messages: list[Message], options: ChatOptions) -> str:
    """The digest of the normalised request: defaults dropped, keys sorted, so equal requests match."""
    request = {
        "provider": provider,
        "model": model,
        "messages": [m.model_dump(mode="json", exclude_defaults=True) for m in messages],
        "options": options.model_dump(mode="json", exclude_none=True, exclude=NOT_IN_KEY | {"model"}),
    }
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# KEYS: entry, index   ARGV: answer json, ttl, now, digest, max entries, oldest allowed
# Stores the answer, then evicts expired index entries and the oldest beyond the tenant's limit.
_STORE = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[4])
  for _, digest in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('DEL', prefix .. digest)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


class ResponseCache:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.ttl_s = settings.cache_ttl_s
        self.max_entries = settings.cache_max_entries
        self.max_bytes = settings.cache_max_entry_bytes
        self._store = client.register_script(_STORE)

    def get(self, tenant: str, digest: str) -> CachedAnswer | None:
        raw = self.redis.get(constants.cache_entry(tenant, digest))
        self.redis.hincrby(constants.cache_stats(tenant), "hits" if raw else "misses", 1)
        return CachedAnswer.model_validate_json(raw) if raw else None

    def put(self, tenant: str, digest: str, answer: CachedAnswer) -> bool:
        """Store an answer; False when it is larger than the entry limit."""
        body = answer.model_dump_json(exclude_defaults=True)
        if len(body.encode()) > self.max_bytes:
            return False
        now = time.time()
        self._store(keys=[constants.cache_entry(tenant, digest), constants.cache_index(tenant)],
                    args=[body, self.ttl_s, now, digest, self.max_entries, now - self.ttl_s])
        self.redis.hincrby(constants.cache_stats(tenant), "stores", 1)
        return True

    def tenants(self) -> list[str]:
        found = set()
        for pattern in (constants.cache_index("*"), constants.cache_stats("*")):
            found |= {key.decode().rsplit(":", 1)[1] for key in self.redis.scan_iter(pattern)}
        return sorted(found)

    def stats(self, tenant: str) -> dict[str, Any]:
        index = constants.cache_index(tenant)
        self.redis.zremrangebyscore(index, "-inf", time.time() - self.ttl_s)
        counts = {k.decode(): int(v) for k, v in self.redis.hgetall(constants.cache_stats(tenant)).items()}
        digests = [d.decode() for d in self.redis.zrange(index, 0, -1)]
        sizes = [int(self.redis.strlen(constants.cache_entry(tenant, d))) for d in digests]
        hits, misses = counts.get("hits", 0), counts.get("misses", 0)
        return {"tenant": tenant, "entries": sum(1 for s in sizes if s), "bytes": sum(sizes), "hits": hits,
                "misses": misses, "stores": counts.get("stores", 0),
                "hit_rate": round(hits / (hits + misses), 4) if hits + misses else 0.0}

    def clear(self, tenant: str) -> int:
        """Delete the tenant's entries and statistics; how many entries were deleted."""
        index = constants.cache_index(tenant)
        digests = [d.decode() for d in self.redis.zrange(index, 0, -1)]
        deleted = int(self.redis.delete(*[constants.cache_entry(tenant, d) for d in digests])) if digests else 0
        self.redis.delete(index, constants.cache_stats(tenant))
        return deleted


def recordable(event: ProviderEvent) -> bool:
    return event.type in CACHED_EVENTS
