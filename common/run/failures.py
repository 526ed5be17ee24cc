"""A job's provider failures: the count that max_attempts limits. Attempts cut short by a dying worker
are not failures; a job that moves to another provider starts that provider with none."""

from __future__ import annotations

from multillm.common import constants
from multillm.common.run.runtime import Runtime

TTL_S = 86_400


def count_failure(rt: Runtime, job_id: str) -> int:
    """Count one more failure; the total so far."""
    key = constants.failures(job_id)
    failures = int(rt.redis.incr(key))
    rt.redis.expire(key, TTL_S)
    return failures
