"""The simulator's own quota: requests and tokens per minute, per (provider, key), over a sliding
60-second window, as a provider enforces it. A request's tokens are its prompt estimate plus its
max_tokens (or the default answer length), which is how OpenAI counts a request against TPM."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 60.0
NOMINAL_RPM, NOMINAL_TPM = 500, 200_000  # limits reported on an injected 429 when no quota is set


@dataclass(frozen=True)
class QuotaDecision:
    """The answer to one request. Resets are seconds until the window is empty again (the
    "resets to its initial state" of OpenAI's and Anthropic's rate-limit headers)."""

    allowed: bool
    retry_after_s: float
    limit_requests: int | None
    remaining_requests: int | None
    limit_tokens: int | None
    remaining_tokens: int | None
    reset_s: float

    @classmethod
    def exhausted(cls, retry_after_s: float, rpm: int | None = None, tpm: int | None = None) -> QuotaDecision:
        """What an injected 429 reports: nothing left until `retry_after_s` has passed."""
        if rpm is None and tpm is None:
            rpm, tpm = NOMINAL_RPM, NOMINAL_TPM
        return cls(False, retry_after_s, rpm, None if rpm is None else 0, tpm, None if tpm is None else 0, retry_after_s)


class _Window:
    __slots__ = ("events", "tokens")

    def __init__(self) -> None:
        self.events: deque[tuple[float, int]] = deque()
        self.tokens = 0

    def expire(self, now: float) -> None:
        while self.events and self.events[0][0] <= now - WINDOW_S:
            self.tokens -= self.events.popleft()[1]

    def wait_for_requests(self, rpm: int, now: float) -> float:
        """Seconds until one more request fits under `rpm`."""
        excess = len(self.events) + 1 - rpm
        return 0.0 if excess <= 0 else self.events[excess - 1][0] + WINDOW_S - now

    def wait_for_tokens(self, tpm: int, tokens: int, now: float) -> float:
        """Seconds until `tokens` more fit under `tpm`; a whole window when they never can."""
        excess = self.tokens + tokens - tpm
        if excess <= 0:
            return 0.0
        if tokens > tpm:
            return WINDOW_S
        for moment, used in self.events:
            excess -= used
            if excess <= 0:
                return moment + WINDOW_S - now
        return WINDOW_S


class Quota:
    """Sliding windows keyed by (provider, key). `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    def take(self, provider: str, key: str, rpm: int | None, tpm: int | None, tokens: int) -> QuotaDecision | None:
        """Record the request when it fits; None when no quota is set."""
        if rpm is None and tpm is None:
            return None
        now = self.clock()
        window = self._windows.setdefault((provider, key), _Window())
        window.expire(now)
        wait = max(window.wait_for_requests(rpm, now) if rpm else 0.0,
                   window.wait_for_tokens(tpm, tokens, now) if tpm else 0.0)
        if wait <= 0:
            window.events.append((now, tokens))
            window.tokens += tokens
        reset = window.events[-1][0] + WINDOW_S - now if window.events else 0.0
        return QuotaDecision(
            allowed=wait <= 0,
            retry_after_s=max(0.0, wait),
            limit_requests=rpm,
            remaining_requests=None if rpm is None else max(0, rpm - len(window.events)),
            limit_tokens=tpm,
            remaining_tokens=None if tpm is None else max(0, tpm - window.tokens),
            reset_s=reset,
        )

    def reset(self) -> None:
        self._windows.clear()
