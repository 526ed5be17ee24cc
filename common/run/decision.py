"""What a failed attempt leads to: another attempt on the same provider, a move to the next provider,
or the end of the job.

A pure function of plain values, so every branch is checked from a table
(tests/unit/test_run_decision.py); the attempt gathers the values (a Redis counter, the fallback
order, the clock) and acts on the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Action = Literal["retry", "fall_back", "fail"]


@dataclass(frozen=True)
class Verdict:
    action: Action
    delay_s: float = 0.0  # for a retry: how long the job waits in the queue first


def decide(
    *,
    retryable: bool,
    error_may_fall_back: bool,
    job_may_fall_back: bool,
    provider_down: bool,
    failures: int,
    max_attempts: int,
    delay_s: float,
    seconds_left: float,
    next_hop_exists: bool,
) -> Verdict:
    """`failures` counts provider failures so far, this one included; `provider_down` means the
    provider's circuit is open, so nothing was sent; `delay_s` is the backoff before another attempt."""
    # A job that may move does not wait for an open circuit to close: it moves, or ends.
    moves_on = provider_down and job_may_fall_back
    if retryable and not moves_on and failures < max_attempts and delay_s < seconds_left:
        return Verdict("retry", delay_s)
    if error_may_fall_back and job_may_fall_back and next_hop_exists:
        return Verdict("fall_back")
    return Verdict("fail")
