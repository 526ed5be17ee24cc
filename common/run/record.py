"""The job record as a delivery sees it: read the accepted job, end a job no attempt holds, and count
a stored result in metrics and usage. Kept together so the job record's code lives in one place."""

from __future__ import annotations

import time
from typing import Any

from multillm.common import constants, metrics
from multillm.common.errors import MultiLLMError
from multillm.common.jobs import Job, JobResult, Timings
from multillm.common.run.runtime import Runtime
from multillm.common.sanitize import sanitize_job
from multillm.common.stream import Publisher
from multillm.common.usage import record_usage


def load_job(rt: Runtime, job_id: str) -> Job:
    raw = rt.redis.get(constants.job(job_id))
    if raw is None:
        raise MultiLLMError(f"job {job_id}: not found (never submitted, or expired)")
    # Checked again here: a message may have reached the queue without a producer.
    return sanitize_job(Job.model_validate_json(raw), resolve_hosts=False)


def finish_without_lease(rt: Runtime, job_id: str, error: dict[str, Any], job: Job | None = None) -> int:
    """An error result for a job no attempt holds (unreadable, or past its deadline), so no caller is
    left waiting. Refused (LEASE_LOST) if an attempt holds it after all."""
    now = time.time()
    result = JobResult(job_id=job_id, status="failed", provider=job.provider if job else "",
                       model=job.model if job else "", tenant=job.tenant if job else "default", error=error,
                       timings=Timings(submitted_at=job.submitted_at if job else now, finished_at=now),
                       path=[*job.path, f"{job.provider}/{job.model}"] if job else [])
    s = rt.settings
    seq = Publisher(rt.redis, job_id, "", 0, replay_max=s.replay_max, ttl=s.replay_ttl_s).finish(
        "error", result.model_dump_json(), s.result_ttl_s, error=error)
    if seq > 0:
        account(rt, result)
    return seq


def account(rt: Runtime, result: JobResult) -> None:
    """Metrics and usage analytics for a stored result."""
    metrics.record_result(result)
    record_usage(rt.redis, result)


def finish_unowned(rt: Runtime, job_id: str, exc: Exception) -> None:
    error = {"code": "invalid_job", "type": type(exc).__name__, "message": str(exc)[:500],
             "retryable": False, "fallback": False}
    finish_without_lease(rt, job_id, error)
