"""Provider quotas shared by every worker through Redis: requests and tokens per window, a cap on
concurrent calls, a cooldown the whole fleet obeys after a 429, and the provider's own rate-limit
headers, which steer every worker and teach the limits when none are configured.

Sliding-window logs, not token buckets: a bucket (or GCRA) lets `limit + 1` requests into some
60-second window, and providers that count per window answer that with a 429. Each window is a
sorted set of reservations (score: time) with their weights in a hash and a running total, so a
check is O(expired + 1). One Lua script checks every window and either reserves in all of them or
returns how long to wait; tokens are reserved from an estimate before the call and reconciled with
the provider's reported usage after it. A reservation counts from before its request leaves until
the response headers arrive, and is then stamped with that moment (`quota_scripts.py` says why),
so no fixed margin is assumed for the delay between the two: it is measured, per call. Written by
hand because `limits` has no weighted, multi-window, all-or-nothing reservation with a wait time.

A per-minute limit is also spread over the minute (`<PREFIX>_BURST` requests per 60 s x burst / RPM),
since providers may enforce it over shorter periods ("quantized": platform.openai.com/docs/guides/rate-limits).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Literal

import redis

from multillm.common import constants
from multillm.common.errors import DeadlineExceeded, InvalidRequest, MultiLLMError, QuotaWait, RateLimitExceeded
from multillm.common.quota_scripts import ACQUIRE, RECONCILE, SETTLE
from multillm.common.ratelimit_headers import RateLimitInfo
from multillm.common.settings import ProviderSettings, RateLimitConfig

log = logging.getLogger("multillm.quota")

QUOTA_PREFIX = constants.QUOTA
DIMENSIONS = ("requests", "tokens", "input", "output")  # what a provider's rate-limit headers count
# Without a reset header, a provider's figures are taken to renew after a minute: OpenAI's and
# Anthropic's limits are per minute (platform.openai.com/docs/guides/rate-limits, docs.anthropic.com rate-limits).
DEFAULT_RESET_S = 60.0
# A reservation whose response never came (its worker died) stops counting as pending after this.
PENDING_HOLD_MS = 120_000
REASONS = {-2: "cooldown", -3: "concurrency", -4: "learning", -5: "provider requests", -6: "provider tokens",
           -7: "provider input tokens", -8: "provider output tokens"}


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
    # How long a reservation may wait for its response headers; 0 stamps it at once (no provider call).
    pending_hold_ms: int = PENDING_HOLD_MS
    learn: bool = False  # nothing configured: one call at a time until the provider's headers speak

    def scope(self) -> str:
        return f"{QUOTA_PREFIX}:{self.provider}:{self.key_id}"


@dataclass(frozen=True)
class Decision:
    wait_s: float
    reason: str
    granted_at_ms: int = 0  # Redis time of the reservation

    @property
    def granted(self) -> bool:
        return self.wait_s == 0


def pacing_window(rpm: int, burst: int | None) -> Window | None:
    """`burst` requests per 60 s x burst / rpm: the minute's requests spread evenly. By default a
    second's share (rpm / 60, at least 1), the shortest period providers are known to enforce over."""
    burst = burst or max(1, rpm // 60)
    if burst >= rpm:
        return None
    return Window("burst", burst, math.ceil(60_000 * burst / rpm))


def rule_for(ps: ProviderSettings, api_key: str, global_limit: RateLimitConfig) -> QuotaRule:
    """The rule for one provider key from settings: rpm (paced), tpm, the seed's RateLimitConfig windows."""
    windows = []
    if ps.rpm:
        windows.append(Window("rpm", ps.rpm, 60_000))
        paced = pacing_window(ps.rpm, ps.burst)
        if paced:
            windows.append(paced)
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
    learn = not windows and not ps.max_concurrent
    return QuotaRule(ps.id, key_id(api_key), tuple(windows), ps.max_concurrent or 0, learn=learn)


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


def view_figures(info: RateLimitInfo | None) -> list[int]:
    """(limit, remaining, reset ms) per dimension for the settle script; -1 where a header is missing."""
    out: list[int] = []
    for limit, remaining, reset in _by_dimension(info or RateLimitInfo()):
        if remaining is None:
            out += [-1, -1, -1]
            continue
        reset_s = DEFAULT_RESET_S if reset is None else reset
        # Without a limit header (Azure-style), what is left now is a lower bound of the limit.
        out += [limit if limit is not None else remaining, remaining, math.ceil(reset_s * 1000)]
    return out


def _by_dimension(i: RateLimitInfo) -> list[tuple[int | None, int | None, float | None]]:
    return [(i.limit_requests, i.remaining_requests, i.reset_requests),
            (i.limit_tokens, i.remaining_tokens, i.reset_tokens),
            (i.limit_input_tokens, i.remaining_input_tokens, i.reset_input_tokens),
            (i.limit_output_tokens, i.remaining_output_tokens, i.reset_output_tokens)]


def corrected_limit(window: Window, view: dict[str, float]) -> int:
    """The most this window may allow given the provider's own limit over its period: a configured
    limit higher than the provider's is lowered to it (scaled when the window is longer)."""
    limit, period_ms = view.get("limit"), view.get("period")
    if not limit or not period_ms:
        return window.limit
    return max(1, min(window.limit, int(limit * max(1.0, window.window_ms / period_ms))))


@dataclass
class Reservation:
    """One granted reservation; `settle` it when the response headers arrive."""

    quota: Quota
    rule: QuotaRule
    id: str
    granted_at_ms: int
    settled: bool = field(default=False)

    def settle(self, info: RateLimitInfo | None, *, answered: bool = True) -> None:
        if not self.settled:
            self.settled = True
            self.quota.settle(self.rule, self.id, info, answered=answered)


class Quota:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._acquire = client.register_script(ACQUIRE)
        self._settle = client.register_script(SETTLE)
        self._reconcile = client.register_script(RECONCILE)
        self._views: dict[str, tuple[float, dict[str, dict[str, float]]]] = {}
        self._corrected: set[tuple[str, str, int]] = set()

    def _window_keys(self, rule: QuotaRule, w: Window) -> list[str]:
        base = f"{w.scope or rule.scope()}:{w.name}"
        return [f"{base}:z", f"{base}:h", f"{base}:t"]

    def _keys(self, rule: QuotaRule, *names: str) -> list[str]:
        return [f"{rule.scope()}:{name}" for name in names]

    def _view_keys(self, rule: QuotaRule) -> list[str]:
        return self._keys(rule, *(f"view:{d}" for d in DIMENSIONS))

    def acquire(self, rule: QuotaRule, reservation: str, tokens: int | TokenCount, now: float | None = None) -> Decision:
        tokens = TokenCount.of(tokens)
        rule = self.effective(rule)
        keys_ = [*self._keys(rule, "cooldown", "concurrent", "pending", "pending:h", "seq", "blind"),
                 *self._view_keys(rule), *self._keys(rule, "settled")]
        args: list[object] = [-1 if now is None else int(now * 1000), reservation, rule.max_concurrent, rule.hold_ms,
                              rule.pending_hold_ms, int(rule.learn), 1, tokens.input + tokens.output,
                              tokens.input, tokens.output]
        for w in rule.windows:
            keys_ += self._window_keys(rule, w)
            args += [w.limit, w.window_ms, w.weight(tokens)]
        wait_ms, index, *at = (int(x) for x in self._acquire(keys=keys_, args=args))
        if wait_ms == 0:
            return Decision(0.0, "", at[0] if at else 0)
        reason = REASONS.get(index) or rule.windows[index].name
        if wait_ms < 0:
            return Decision(float("inf"), reason)
        return Decision(wait_ms / 1000, reason)

    def settle(self, rule: QuotaRule, reservation: str, info: RateLimitInfo | None, *, answered: bool = True,
               now: float | None = None) -> int:
        """The response headers arrived (or the call ended without any): stamp the reservation with this
        moment in every window and let the provider's figures steer. Returns the stamp (ms), 0 if none."""
        figures = view_figures(info)
        state = 0 if not answered else 2 if any(x >= 0 for x in figures) else 1
        keys_ = [*self._keys(rule, "pending", "pending:h", "blind", "settled", "stats"), *self._view_keys(rule)]
        keys_ += [self._window_keys(rule, w)[0] for w in rule.windows]
        args: list[object] = [-1 if now is None else int(now * 1000), reservation, state, *figures]
        return int(self._settle(keys=keys_, args=args))

    def views(self, rule: QuotaRule) -> dict[str, dict[str, float]]:
        """What the provider's headers last said, per dimension: limit, remaining, reset_at and period (ms)."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self._view_keys(rule):
            pipe.hgetall(key)
        out = {}
        for dimension, raw in zip(DIMENSIONS, pipe.execute(), strict=True):
            if raw:
                out[dimension] = {k.decode(): float(v) for k, v in raw.items()}
        return out

    def effective(self, rule: QuotaRule) -> QuotaRule:
        """The rule with every configured limit the provider's headers show to be too high lowered to
        theirs (read at most once a second per key); each correction is logged once for the fleet."""
        now = time.monotonic()
        cached = self._views.get(rule.scope())
        if cached is None or cached[0] < now:
            cached = (now + 1.0, self.views(rule))
            self._views[rule.scope()] = cached
        views = cached[1]
        if not views or not rule.windows:
            return rule
        windows = []
        for w in rule.windows:
            limit = corrected_limit(w, views[w.counts]) if w.counts in views and w.scope is None else w.limit
            if limit < w.limit and (rule.scope(), w.name, limit) not in self._corrected:
                self._corrected.add((rule.scope(), w.name, limit))
                if self.redis.hsetnx(f"{rule.scope()}:corrections", w.name, f"{w.limit}>{limit}"):
                    log.warning("%s quota %s: configured %d per %gs is above the provider's own limit; using %d",
                                rule.provider, w.name, w.limit, w.window_ms / 1000, limit)
            windows.append(replace(w, limit=limit))
        return replace(rule, windows=tuple(windows))

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
        """Current use of each window, concurrency, cooldown, the provider's view, corrections and the
        measured delay between reservation and response headers, for `multillm quotas`."""
        now_ms = int(time.time() * 1000)
        out: dict[str, object] = {}
        for w in rule.windows:
            z, h, _ = self._window_keys(rule, w)
            live = self.redis.zrangebyscore(z, now_ms - w.window_ms, "+inf")
            weights = self.redis.hmget(h, live) if live else []
            out[w.name] = {"used": sum(int(x or 0) for x in weights), "limit": w.limit, "window_s": w.window_ms / 1000}
        out["concurrent"] = self.redis.zcount(f"{rule.scope()}:concurrent", now_ms, "+inf")
        out["cooldown_s"] = max(0, self.redis.pttl(f"{rule.scope()}:cooldown")) / 1000
        out["pending"] = self.redis.zcard(f"{rule.scope()}:pending")
        out["provider"] = self.views(rule)
        out["corrections"] = {k.decode(): v.decode() for k, v in self.redis.hgetall(f"{rule.scope()}:corrections").items()}
        out["delay_ms"] = {k.decode(): int(v) for k, v in self.redis.hgetall(f"{rule.scope()}:stats").items()}
        return out

    @contextmanager
    def reserved(
        self, rule: QuotaRule, reservation: str, tokens: TokenCount, *, inline_wait_s: float, deadline_at: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[Reservation]:
        """Hold a reservation for one call: short waits here, longer ones raise QuotaWait. Settle the
        reservation when the response headers arrive; if the call ends first, it is settled then."""
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
        held = Reservation(self, rule, reservation, decision.granted_at_ms)
        try:
            yield held
        finally:
            held.settle(None, answered=False)
            self.release(rule, reservation)
