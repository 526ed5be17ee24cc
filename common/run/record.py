"""The job record as a delivery sees it (through `multillm.common.job_record`): read the accepted job,
end a job no attempt holds, and count a stored result in metrics and usage."""

from __future__ import annotations

import redis

from multillm.common import metrics
from multillm.common.errors import MultiLLMError
from multillm.common.job_record import error_result
from multillm.common.jobs import Job, JobResult
from multillm.common.run.runtime import Runtime
from multillm.common.usage import record_usage


def load_job(rt: Runtime, job_id: str) -> Job:
    return rt.records.load(job_id)


def finish_without_lease(rt: Runtime, job_id: str, error: MultiLLMError, job: Job | None = None) -> int:
    """An error result for a job no attempt holds (unreadable, or past its deadline), so no caller is
    left waiting. Refused (LEASE_LOST) if an attempt holds it after all."""
    result = error_result(job_id, error, job)
    seq = rt.records.finish_unowned(job_id, result)
    if seq > 0:
        account(rt, result)
    return seq


def account(rt: Runtime, result: JobResult, pipe: redis.client.Pipeline | None = None) -> None:
    """Metrics and usage analytics for a stored result (the usage added to `pipe` when given)."""
    metrics.record_result(result)
    record_usage(rt.redis, result, pipe)
