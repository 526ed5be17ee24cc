"""A call's outcome fed to the provider's rolling statistics and its circuit breaker."""

from __future__ import annotations

import time

import redis

from multillm.common.errors import ProviderError, RetryableError
from multillm.common.jobs import Timings
from multillm.common.provider_health import CallOutcome, record_outcome
from multillm.common.run.runtime import Runtime


def record_call(rt: Runtime, provider: str, timings: Timings, exc: ProviderError | None,
                pipe: redis.client.Pipeline | None = None) -> None:
    """`exc` is None for a call that succeeded. With `pipe`, what can wait is added to it (the caller
    sends it); a failure's circuit update is written at once (it may open the circuit)."""
    ok = exc is None
    now = time.time()
    started = timings.started_at or now
    ttft = timings.first_token_at - started if timings.first_token_at else None
    record_outcome(rt.redis, provider, CallOutcome(ok, now - started, ttft, None if exc is None else exc.code), pipe)
    if ok or isinstance(exc, RetryableError):  # a bad request says nothing about the provider's health
        rt.circuit.record(provider, ok, pipe)
