"""Provider quotas shared by every worker through Redis: requests and tokens per window, a cap on
concurrent calls, and a cooldown the whole fleet obeys after a 429.

Sliding-window logs, not token buckets: a bucket (or GCRA) lets `limit + 1` requests into some
60-second window, and providers that count per window answer that with a 429. Each window is a
sorted set of reservations (score: time) with their weights in a hash and a running total, so a
check is O(expired + 1). One Lua script checks every window and either reserves in all of them or
returns how long to wait; tokens are reserved from an estimate before the call and reconciled with
the provider's reported usage after it. Written by hand because `limits` has no weighted, multi-window,
all-or-nothing reservation with a wait time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import redis

from multillm.common import constants
from multillm.common.errors import DeadlineExceeded, InvalidRequest, MultiLLMError, QuotaWait, RateLimitExceeded
from multillm.common.ratelimit_headers import RateLimitInfo
from multillm.common.settings import ProviderSettings, RateLimitConfig

QUOTA_PREFIX = constants.QUOTA
# Windows are held this much longer than stated: a call leaves the worker a few milliseconds after its
# reservation, and that jitter must not put limit + 1 calls into the provider's own window.
MARGIN_MS = 100

# KEYS: cooldown, concurrency zset, then (zset, hash, total) per window
# ARGV: now_ms, id, max_concurrent (0 = none), hold_ms, then (limit, window_ms, weight) per window
# Returns {0, 0} when reserved, {wait_ms, window index} when not, {-1, index} when impossible.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local id = ARGV[2]
local cool = redis.call('PTTL', KEYS[1])
if cool > 0 then return {cool, -2} end
local maxc = tonumber(ARGV[3])
if maxc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= maxc then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {math.max(1, math.min(tonumber(first[2]) - now, 100)), -3}
  end
end
local n = (#KEYS - 2) / 3
local wait, which = 0, 0
for i = 0, n - 1 do
  local z, h, t = KEYS[3 + i * 3], KEYS[4 + i * 3], KEYS[5 + i * 3]
  local limit, window, weight = tonumber(ARGV[5 + i * 3]), tonumber(ARGV[6 + i * 3]), tonumber(ARGV[7 + i * 3])
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', now - window)
  if #old > 0 then
    local freed = 0
    for _, m in ipairs(old) do freed = freed + tonumber(redis.call('HGET', h, m) or '0') end
    redis.call('HDEL', h, unpack(old))
    redis.call('ZREMRANGEBYSCORE', z, '-inf', now - window)
    redis.call('DECRBY', t, freed)
  end
  if weight > limit then return {-1, i} end
  local total = tonumber(redis.call('GET', t) or '0')
  if total + weight > limit then
    local need = total + weight - limit
    local entries = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
    local freed, w = 0, window
    for j = 1, #entries, 2 do
      freed = freed + tonumber(redis.call('HGET', h, entries[j]) or '0')
      if freed >= need then
        w = tonumber(entries[j + 1]) + window - now + 1
        break
      end
    end
    if w > wait then wait, which = w, i end
  end
end
if wait > 0 then return {wait, which} end
for i = 0, n - 1 do
  local z, h, t = KEYS[3 + i * 3], KEYS[4 + i * 3], KEYS[5 + i * 3]
  local window, weight = tonumber(ARGV[6 + i * 3]), tonumber(ARGV[7 + i * 3])
  redis.call('ZADD', z, now, id)
  redis.call('HSET', h, id, weight)
  redis.call('INCRBY', t, weight)
  redis.call('PEXPIRE', z, window * 2) redis.call('PEXPIRE', h, window * 2) redis.call('PEXPIRE', t, window * 2)
end
if maxc > 0 then redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), id) end
return {0, 0}
"""

# KEYS: hash, total   ARGV: id, actual weight
_RECONCILE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCRBY', KEYS[2], tonumber(ARGV[2]) - tonumber(old))
return 1
"""


@dataclass(frozen=True)
class TokenCount:
    """Tokens of one call: estimated before it, reported by the provider after it."""

    input: int
    output: int

    @classmethod
    def of(cls, tokens: int | TokenCount) -> TokenCount:
        return tokens if isinstance(tokens, TokenCount) else cls(tokens, 0)


@dataclass(frozen=True)
class Window:
    name: str  # "rpm", "tpm", "itpm", "otpm", "window", "global"
    limit: int
    window_ms: int
    # What one call weighs here: 1, or its tokens (all of them, or the input or output side alone,
    # for providers such as Anthropic that limit input and output tokens per minute apart).
    counts: Literal["requests", "tokens", "input", "output"] = "requests"
    scope: str | None = None  # the Redis key prefix of a window not owned by one provider key
    message: str | None = None  # a RateLimitConfig window's message: what a job it refuses ends with

    def weight(self, tokens: TokenCount) -> int:
        return {"requests": 1, "tokens": tokens.input + tokens.output, "input": tokens.input,
                "output": tokens.output}[self.counts]


@dataclass(frozen=True)
class QuotaRule:
    """The limits of one provider key (plus any global window)."""

    provider: str
    key_id: str
    windows: tuple[Window, ...]
    max_concurrent: int = 0
    hold_ms: int = 600_000  # a concurrency slot is freed after this even if its holder died

    def scope(self) -> str:
        return f"{QUOTA_PREFIX}:{self.provider}:{self.key_id}"


@dataclass(frozen=True)
class Decision:
    wait_s: float
    reason: str

    @property
    def granted(self) -> bool:
        return self.wait_s == 0


def rule_for(ps: ProviderSettings, api_key: str, global_limit: RateLimitConfig) -> QuotaRule:
    """The rule for one provider key from settings: rpm, tpm, the seed's RateLimitConfig windows."""
    windows = []
    if ps.rpm:
        windows.append(Window("rpm", ps.rpm, 60_000))
    if ps.tpm:
        windows.append(Window("tpm", ps.tpm, 60_000, counts="tokens"))
    if ps.itpm:
        windows.append(Window("itpm", ps.itpm, 60_000, counts="input"))
    if ps.otpm:
        windows.append(Window("otpm", ps.otpm, 60_000, counts="output"))
    if ps.rate_limit.enabled:
        windows.append(Window("window", ps.rate_limit.max_requests, ps.rate_limit.window_ms, message=ps.rate_limit.message))
    if global_limit.enabled:
        windows.append(Window("global", global_limit.max_requests, global_limit.window_ms, scope=f"{QUOTA_PREFIX}:global",
                              message=global_limit.message))
    return QuotaRule(ps.id, key_id(api_key), tuple(windows), ps.max_concurrent or 0)


def key_id(api_key: str) -> str:
    """A stable, non-reversible name for a key (quotas belong to keys)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def past_deadline(rule: QuotaRule, decision: Decision) -> MultiLLMError:
    """Why a job ends when its slot would come after its deadline: a RateLimitConfig window refuses it
    with its configured message; any other wait (rpm, tpm, concurrency, cooldown) is a missed deadline."""
    window = next((w for w in rule.windows if w.name == decision.reason), None)
    if window is not None and window.message is not None:
        return RateLimitExceeded(window.message, provider=rule.provider,
                                 rate_limit=RateLimitInfo(retry_after=round(decision.wait_s, 3)))
    return DeadlineExceeded(f"quota ({decision.reason}) would delay the job past its deadline")


class Quota:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._acquire = client.register_script(_ACQUIRE)
        self._reconcile = client.register_script(_RECONCILE)

    def _window_keys(self, rule: QuotaRule, w: Window) -> list[str]:
        base = f"{w.scope or rule.scope()}:{w.name}"
        return [f"{base}:z", f"{base}:h", f"{base}:t"]

    def acquire(self, rule: QuotaRule, reservation: str, tokens: int | TokenCount, now: float | None = None) -> Decision:
        tokens = TokenCount.of(tokens)
        now_ms = int((time.time() if now is None else now) * 1000)
        keys_: list[str] = [f"{rule.scope()}:cooldown", f"{rule.scope()}:concurrent"]
        args: list[object] = [now_ms, reservation, rule.max_concurrent, rule.hold_ms]
        for w in rule.windows:
            keys_ += self._window_keys(rule, w)
            args += [w.limit, w.window_ms + MARGIN_MS, w.weight(tokens)]
        wait_ms, index = (int(x) for x in self._acquire(keys=keys_, args=args))
        if wait_ms == 0:
            return Decision(0.0, "")
        reason = {-2: "cooldown", -3: "concurrency"}.get(index) or rule.windows[index].name
        if wait_ms < 0:
            return Decision(float("inf"), reason)
        return Decision(wait_ms / 1000, reason)

    def reconcile(self, rule: QuotaRule, reservation: str, actual: int | TokenCount) -> None:
        """Replace the estimate with the usage the provider reported, in every token window."""
        actual = TokenCount.of(actual)
        for w in rule.windows:
            if w.counts != "requests":
                _, h, t = self._window_keys(rule, w)
                self._reconcile(keys=[h, t], args=[reservation, w.weight(actual)])

    def release(self, rule: QuotaRule, reservation: str) -> None:
        if rule.max_concurrent:
            self.redis.zrem(f"{rule.scope()}:concurrent", reservation)

    def cool_down(self, rule: QuotaRule, seconds: float) -> None:
        """Every worker waits this long before calling with this key again."""
        if seconds > 0:
            key = f"{rule.scope()}:cooldown"
            ms = int(seconds * 1000)
            current = self.redis.pttl(key)
            if current < ms:
                self.redis.set(key, "1", px=ms)

    def usage(self, rule: QuotaRule) -> dict[str, object]:
        """Current use of each window, concurrency and cooldown, for `multillm quotas`."""
        now_ms = int(time.time() * 1000)
        out: dict[str, object] = {}
        for w in rule.windows:
            z, h, _ = self._window_keys(rule, w)
            live = self.redis.zrangebyscore(z, now_ms - w.window_ms, "+inf")
            weights = self.redis.hmget(h, live) if live else []
            out[w.name] = {"used": sum(int(x or 0) for x in weights), "limit": w.limit, "window_s": w.window_ms / 1000}
        out["concurrent"] = self.redis.zcount(f"{rule.scope()}:concurrent", now_ms, "+inf")
        out["cooldown_s"] = max(0, self.redis.pttl(f"{rule.scope()}:cooldown")) / 1000
        return out

    @contextmanager
    def reserved(
        self, rule: QuotaRule, reservation: str, tokens: TokenCount, *, inline_wait_s: float, deadline_at: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[None]:
        """Hold a reservation for one call: short waits here, longer ones raise QuotaWait."""
        while True:
            decision = self.acquire(rule, reservation, tokens)
            if decision.granted:
                break
            if decision.wait_s == float("inf"):
                raise InvalidRequest(f"needs {tokens.input} input and {tokens.output} output tokens, more than the "
                                     f"{rule.provider} quota allows per {decision.reason} window")
            if time.time() + decision.wait_s >= deadline_at:
                raise past_deadline(rule, decision)
            if decision.wait_s > inline_wait_s:
                raise QuotaWait(decision.wait_s, decision.reason)
            sleep(decision.wait_s)
        try:
            yield
        finally:
            self.release(rule, reservation)
