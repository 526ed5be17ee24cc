"""What the simulator has seen since start or the last reset: `GET /_simulator/stats`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


def _counter() -> defaultdict[str, int]:
    return defaultdict(int)


@dataclass
class Stats:
    requests: defaultdict[str, int] = field(default_factory=_counter)  # provider -> requests, models lists included
    model_lists: defaultdict[str, int] = field(default_factory=_counter)  # provider -> model-list requests
    token_counts: defaultdict[str, int] = field(default_factory=_counter)  # provider -> count_tokens requests
    rate_limited: defaultdict[str, int] = field(default_factory=_counter)  # provider -> 429s returned
    faults: defaultdict[str, int] = field(default_factory=_counter)  # fault name -> times injected
    concurrent_streams: int = 0
    peak_concurrent_streams: int = 0

    @classmethod
    def empty(cls) -> Stats:
        return cls()

    def stream_opened(self) -> None:
        self.concurrent_streams += 1
        if self.concurrent_streams > self.peak_concurrent_streams:
            self.peak_concurrent_streams = self.concurrent_streams

    def stream_closed(self) -> None:
        self.concurrent_streams -= 1

    def as_dict(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "model_lists": dict(self.model_lists),
                "token_counts": dict(self.token_counts), "rate_limited": dict(self.rate_limited),
                "faults": dict(self.faults),
                "concurrent_streams": self.concurrent_streams, "peak_concurrent_streams": self.peak_concurrent_streams}
