"""A job record's life in Redis, in one place: accept, load, mark received, re-enqueue, finish, cancel.

    accept          a producer stores the job once (SET NX) with the time by which it must be answered
                    (the `inflight` set), atomically: an accepted job is answered even if the producer
                    dies before enqueueing it (the reaper enqueues it)
    load            a worker reads the record and checks it again (it may not have come from a producer)
    mark_received   a worker received the job's message: it must hold a lease within a few lease TTLs
    lapsed          jobs whose lease lapsed, each claimed once for re-enqueue (`multillm.common.lease`)
    finish_unowned  an error result for a job no attempt holds (unreadable, past its deadline, cancelled
                    before it started); a running attempt finishes through its own `Publisher`
    cancel          ask a job to stop: a queued job ends at once, a running one between chunks

Every error result is built by `error_result`, from an error of the tree in `multillm.common.errors`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import redis

from multillm.common import constants
from multillm.common.errors import (
    InvalidJob,
    JobCancelled,
    MultiLLMError,
    TenantBudgetExceeded,
    TenantRateLimited,
)
from multillm.common.jobs import Job, JobResult, JobStatus, Timings
from multillm.common.lease import lapsed_jobs
from multillm.common.limits import InputLimits
from multillm.common.redact import redact
from multillm.common.sanitize import DEFAULTS, sanitize_job
from multillm.common.settings import Settings
from multillm.common.stream import Publisher

# KEYS: job, inflight, tenant limits, tenant accepted, tenant spent   ARGV: job json, ttl, job id, answer-by
# The tenant's limits are checked here, where every producer's submit passes whatever its own settings:
# requests in a sliding window (counted at accept) and a spend budget (what its finished jobs cost).
# Returns {1} accepted, {0} the id was taken (a resubmission: nothing counted), {-1, wait_ms} over the
# request limit, {-2, spent, budget} over the budget.
_ACCEPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local lim = redis.call('HMGET', KEYS[3], 'requests', 'window_ms', 'budget_usd')
if lim[3] then
  local spent = tonumber(redis.call('GET', KEYS[5]) or '0')
  if spent >= tonumber(lim[3]) then return {-2, tostring(spent), lim[3]} end
end
if lim[1] then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local limit, window = tonumber(lim[1]), tonumber(lim[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
  if redis.call('ZCARD', KEYS[4]) >= limit then
    local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
    return {-1, tonumber(first[2]) + window - now}
  end
  redis.call('ZADD', KEYS[4], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[4], window)
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[3])
return {1}
"""
TENANT_LIMIT_MESSAGE = "Tenant request limit reached, please try again later."

CANCEL_REPLAY_MAX = 100_000


def error_result(job_id: str, error: MultiLLMError, job: Job | None = None, *, status: JobStatus = "failed",
                 attempts: int = 0, submitted_at: float | None = None) -> JobResult:
    """The result of a job that ended in `error` without an answer."""
    now = time.time()
    return JobResult(
        job_id=job_id, status=status, provider=job.provider if job else "", model=job.model if job else "",
        tenant=job.tenant if job else "default", attempts=attempts, error=error.to_dict(),
        cost_usd=0.0,  # no call was made: nothing to price
        timings=Timings(submitted_at=job.submitted_at if job else (submitted_at or now), finished_at=now),
        path=[*job.path, f"{job.provider}/{job.model}"] if job else [],
    )


def invalid(exc: Exception) -> InvalidJob:
    """A record that cannot run, as an error of the tree (the cause's type named, its text cut short)."""
    return InvalidJob(f"{type(exc).__name__}: {redact(str(exc))[:500]}")


def parse_job(job_id: str, raw: bytes | str | None, limits: InputLimits = DEFAULTS) -> Job:
    """A stored record (read within its size limit), checked again; InvalidJob for one that is missing
    (None), unreadable or malformed."""
    if raw is None:
        raise not_found(job_id)
    try:
        return sanitize_job(Job.model_validate_json(raw), limits)
    except Exception as exc:  # any broken record ends as an error result, never as a worker's crash
        raise invalid(exc) from exc


def not_found(job_id: str) -> InvalidJob:
    return InvalidJob(f"job {job_id}: not found (never submitted, or expired)")


def too_large(size: int, limit: int) -> InvalidJob:
    return InvalidJob(f"job: {size:,} bytes, at most {limit:,}")


def not_a_string(job_id: str) -> InvalidJob:
    return InvalidJob(f"job {job_id}: the record is not a JSON string")


class JobRecords:
    """Job records in one Redis database, with the TTLs their results and replay logs live for."""

    def __init__(self, client: redis.Redis, *, result_ttl_s: int, replay_max: int, replay_ttl_s: int,
                 limits: InputLimits = DEFAULTS) -> None:
        self.redis = client
        self.limits = limits
        self.result_ttl_s = result_ttl_s
        self.replay_max = replay_max
        self.replay_ttl_s = replay_ttl_s
        self._accept = client.register_script(_ACCEPT)

    @classmethod
    def from_settings(cls, client: redis.Redis, settings: Settings) -> JobRecords:
        """Records with the TTLs and input limits the settings give (what producers and workers use)."""
        return cls(client, result_ttl_s=settings.result_ttl_s, replay_max=settings.replay_max,
                   replay_ttl_s=settings.replay_ttl_s, limits=settings.limits)

    def accept(self, job: Job) -> bool:
        """Store a new job; False if its id is taken (a resubmission: nothing is written).

        Raises TenantRateLimited or TenantBudgetExceeded, with nothing written, when the job's tenant is
        over the limits stored for it (`multillm tenants limit`)."""
        ttl = int(job.deadline_s + self.result_ttl_s)
        t = job.tenant
        keys = [constants.job(job.job_id), constants.INFLIGHT, constants.tenant_limits(t), constants.tenant_accepted(t),
                constants.tenant_spent(t)]
        answer = self._accept(keys=keys, args=[job.model_dump_json(), ttl, job.job_id, job.deadline_at])
        if answer[0] == -1:
            raise TenantRateLimited(TENANT_LIMIT_MESSAGE, tenant=t, provider=job.provider, retry_after=answer[1] / 1000)
        if answer[0] == -2:
            raise TenantBudgetExceeded(tenant=t, spent_usd=float(answer[1]), budget_usd=float(answer[2]))
        return bool(answer[0] == 1)

    def exists(self, job_id: str) -> bool:
        return bool(self.redis.exists(constants.job(job_id)))

    def load(self, job_id: str) -> Job:
        """The stored job, checked again (a message may have reached the queue without a producer).

        Raises InvalidJob for a record that is missing, unreadable, malformed or over a limit (measured
        before it is read: an oversized record is never parsed)."""
        key, limit = constants.job(job_id), self.limits.max_job_bytes
        try:
            size = int(self.redis.strlen(key))
            raw = self.redis.get(key) if size <= limit else None
        except redis.ResponseError:  # not a string: someone wrote another type under the key
            raise not_a_string(job_id) from None
        if size > limit:
            raise too_large(size, limit)
        return parse_job(job_id, raw, self.limits)

    def mark_received(self, job_id: str, start_within_s: float) -> None:
        """A worker received the job: unless a lease is taken by then, the reaper re-enqueues it."""
        self.mark_received_by({job_id: time.time() + start_within_s})

    def mark_received_by(self, start_by: Mapping[str, float]) -> None:
        """`mark_received` for many jobs at once: each must hold a lease by its time (a Unix time)."""
        if start_by:
            self.redis.zadd(constants.INFLIGHT, dict(start_by), xx=True)

    def lapsed(self, grace_s: float) -> list[str]:
        """Jobs to re-enqueue: their lease lapsed; each is claimed for one caller for `grace_s`."""
        return lapsed_jobs(self.redis, grace=grace_s)

    def finish_unowned(self, job_id: str, result: JobResult, kind: str = "error") -> int:
        """Store `result` and its terminal message for a job no attempt holds; the message's sequence
        number, or ALREADY_FINISHED / LEASE_LOST (an attempt holds it after all) with nothing written."""
        publisher = Publisher(self.redis, job_id, "", 0, replay_max=self.replay_max, ttl=self.replay_ttl_s)
        return publisher.finish(kind, result.model_dump_json(), self.result_ttl_s, error=result.error)

    def cancel(self, job_id: str) -> bool:
        """Ask the job to stop; True if it was accepted and has not finished. An unknown id writes nothing."""
        if self.redis.exists(constants.result(job_id)) or not self.exists(job_id):
            return False
        self.redis.set(constants.cancel(job_id), "1", ex=self.result_ttl_s)
        raw = self.redis.get(constants.job(job_id))
        try:
            meta: dict[str, Any] = json.loads(raw) if raw else {}
            job: Job | None = Job.model_validate(meta)
        except ValueError:  # an unreadable record (ValidationError is a ValueError) is still cancelled
            meta, job = {}, None
        meta = meta if isinstance(meta, dict) else {}
        error = JobCancelled(f"job {job_id}: cancelled")
        result = error_result(job_id, error, job, status="cancelled", submitted_at=meta.get("submitted_at"))
        # Succeeds only while no attempt holds the lease; a running attempt sees the cancel key instead.
        self.finish_unowned(job_id, result, kind="cancelled")
        return True

    def result(self, job_id: str) -> JobResult | None:
        raw = self.redis.get(constants.result(job_id))
        return JobResult.model_validate_json(raw) if raw else None

    def status(self, job_id: str) -> str:
        """queued, running, succeeded, failed, cancelled or unknown."""
        result = self.result(job_id)
        if result is not None:
            return result.status
        if self.redis.exists(constants.lease(job_id)):
            return "running"
        return "queued" if self.exists(job_id) else "unknown"
