"""How long to wait before the next attempt: exponential backoff with jitter, never sooner than the
provider's retry-after. Whether to wait at all (attempts left, the deadline) is decided in
multillm.common.run.decision."""

from __future__ import annotations

import random

BASE_S = 0.5
CAP_S = 30.0


def backoff_delay(attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    """Delay after failed attempt number `attempt` (1-based)."""
    rng = rng or random.Random()
    ceiling = min(CAP_S, BASE_S * 2 ** max(0, attempt - 1))
    delay = ceiling * (0.5 + rng.random() / 2)
    return float(max(delay, retry_after or 0.0))

