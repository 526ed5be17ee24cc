"""The checks before a call, on fakeredis: each stops the attempt with its error, the circuit first."""

from __future__ import annotations

import time
from collections.abc import Iterator

import fakeredis
import pytest

from multillm.common import constants
from multillm.common.errors import CircuitOpen, DeadlineExceeded, JobCancelled
from multillm.common.jobs import Job
from multillm.common.lease import Lease
from multillm.common.run import Runtime
from multillm.common.run.guards import CRASH_ALLOWANCE, check_can_start, check_deadline_mid_stream
from multillm.common.schemas import Message
from multillm.common.settings import load_settings


@pytest.fixture
def rt() -> Iterator[Runtime]:
    runtime = Runtime(load_settings({"MULTILLM_CIRCUIT_FAILURES": "1"}), client=fakeredis.FakeRedis())
    yield runtime
    runtime.leases.stop()


def job(**kw: object) -> Job:
    return Job(provider="openai", model="gpt-4o-mini", messages=[Message(role="user", content="hi")], **kw)


def test_a_job_with_nothing_against_it_may_start(rt):
    check_can_start(rt, job(), Lease("j", "owner", 1))


def test_a_cancel_request_stops_the_job_before_it_starts(rt):
    j = job()
    rt.redis.set(constants.cancel(j.job_id), "1")
    with pytest.raises(JobCancelled, match="cancelled before it started"):
        check_can_start(rt, j, Lease(j.job_id, "owner", 1))


def test_an_open_circuit_is_checked_before_anything_else(rt):
    j = job(submitted_at=time.time() - 1000, deadline_s=10)
    rt.redis.set(constants.cancel(j.job_id), "1")
    rt.circuit.record("openai", ok=False)
    with pytest.raises(CircuitOpen):
        check_can_start(rt, j, Lease(j.job_id, "owner", 1))


def test_a_job_that_keeps_killing_its_worker_gives_up_past_the_crash_allowance(rt):
    j = job(max_attempts=2)
    check_can_start(rt, j, Lease(j.job_id, "owner", 2 + CRASH_ALLOWANCE))
    with pytest.raises(DeadlineExceeded, match=f"gave up after {2 + CRASH_ALLOWANCE} attempts"):
        check_can_start(rt, j, Lease(j.job_id, "owner", 3 + CRASH_ALLOWANCE))


def test_a_job_past_its_deadline_does_not_start_and_stops_mid_stream(rt):
    late = job(submitted_at=time.time() - 20, deadline_s=10)
    with pytest.raises(DeadlineExceeded, match="passed before it ran"):
        check_can_start(rt, late, Lease(late.job_id, "owner", 1))
    with pytest.raises(DeadlineExceeded, match="passed mid-stream"):
        check_deadline_mid_stream(late)
    check_deadline_mid_stream(job())
