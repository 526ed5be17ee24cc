"""How far a batch is, per provider/model (and for the judge): done, failed, total, and the rate over
the recent window with the time left at that rate."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

RATE_WINDOW_S = 30.0  # recent enough to follow a provider slowing down, long enough to be steady


@dataclass
class Progress:
    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished_at: dict[str, deque[float]] = field(default_factory=dict)  # completion times within the window

    def add_total(self, name: str, n: int = 1) -> None:
        self.total[name] = self.total.get(name, 0) + n

    def resumed(self, name: str) -> None:
        """A job finished by an earlier run: done, but no part of this run's rate."""
        self.done[name] = self.done.get(name, 0) + 1

    def finished(self, name: str, ok: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.done[name] = self.done.get(name, 0) + 1
        if not ok:
            self.failed[name] = self.failed.get(name, 0) + 1
        times = self.finished_at.setdefault(name, deque())
        times.append(now)
        self._forget(times, now)

    def rate(self, name: str, now: float | None = None) -> float:
        """Jobs per second over the last RATE_WINDOW_S (or since the run started, when that is shorter)."""
        now = time.monotonic() if now is None else now
        times = self.finished_at.get(name)
        if not times:
            return 0.0
        self._forget(times, now)
        span = min(RATE_WINDOW_S, now - self.started)
        return len(times) / span if span > 0 else 0.0

    def eta_s(self, name: str, now: float | None = None) -> float | None:
        """Seconds left at the recent rate; None when nothing finished lately (no basis for a guess)."""
        left = self.total.get(name, 0) - self.done.get(name, 0)
        if left <= 0:
            return 0.0
        rate = self.rate(name, now)
        return left / rate if rate > 0 else None

    @staticmethod
    def _forget(times: deque[float], now: float) -> None:
        while times and times[0] < now - RATE_WINDOW_S:
            times.popleft()
