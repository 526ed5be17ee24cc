"""The checks before a call, in order: the provider's circuit, a cancel request, the attempt count, the
deadline. Each raises the error the attempt ends with (or is retried or moved for); the deadline is
checked again between chunks. What they read from Redis (the cancel flag, the circuit's state) comes
in `Facts`, read by the delivery's start-up script in the same round trip as the lease (start.py),
or here when it could not be."""

from __future__ import annotations

import time
from collections.abc import Callable

from multillm.common import constants
from multillm.common.errors import CircuitOpen, DeadlineExceeded, JobCancelled
from multillm.common.jobs import Job
from multillm.common.lease import Lease
from multillm.common.run.runtime import Runtime
from multillm.common.run.start import Facts

CRASH_ALLOWANCE = 10  # attempts lost to worker crashes tolerated beyond max_attempts


def read_facts(rt: Runtime, job: Job) -> Facts:
    """The guards' facts in one round trip, for a caller that has not read them already."""
    pipe = rt.redis.pipeline(transaction=False)
    pipe.exists(constants.cancel(job.job_id))
    pipe.hgetall(constants.circuit(job.provider))
    cancelled, circuit = pipe.execute()
    return Facts(bool(cancelled), circuit)


Guard = Callable[[Runtime, Job, Lease, Facts], None]


def circuit_closed(rt: Runtime, job: Job, lease: Lease, facts: Facts) -> None:
    if not rt.circuit.allow(job.provider, facts.circuit):
        raise CircuitOpen("circuit open after repeated failures", provider=job.provider,
                          model=job.model, job_id=job.job_id)


def not_cancelled(rt: Runtime, job: Job, lease: Lease, facts: Facts) -> None:
    if facts.cancelled:
        raise JobCancelled(f"job {job.job_id}: cancelled before it started")


def attempts_left(rt: Runtime, job: Job, lease: Lease, facts: Facts) -> None:
    # Crashes are not failures (only provider failures count against max_attempts), but a job that
    # kills its worker every time must still end.
    if lease.attempt > job.max_attempts + CRASH_ALLOWANCE:
        raise DeadlineExceeded(f"job {job.job_id}: gave up after {lease.attempt - 1} attempts")


def before_deadline(rt: Runtime, job: Job, lease: Lease, facts: Facts) -> None:
    if time.time() >= job.deadline_at:
        raise DeadlineExceeded(f"job {job.job_id}: deadline of {job.deadline_s:g}s passed before it ran")


GUARDS: tuple[Guard, ...] = (circuit_closed, not_cancelled, attempts_left, before_deadline)


def check_can_start(rt: Runtime, job: Job, lease: Lease, facts: Facts | None = None) -> None:
    facts = read_facts(rt, job) if facts is None else facts
    for guard in GUARDS:
        guard(rt, job, lease, facts)


def check_deadline_mid_stream(job: Job) -> None:
    if time.time() >= job.deadline_at:
        raise DeadlineExceeded(f"job {job.job_id}: deadline of {job.deadline_s:g}s passed mid-stream")
