"""A job record's life: accept once, load and re-check, cancel, finish without a lease."""

from __future__ import annotations

import json

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multillm.common import constants
from multillm.common.errors import DeadlineExceeded, InvalidJob
from multillm.common.job_record import JobRecords, error_result
from multillm.common.jobs import Job


@pytest.fixture
def records():
    return JobRecords(fakeredis.FakeRedis(), result_ttl_s=600, replay_max=1000, replay_ttl_s=600)


def a_job(job_id: str = "j1") -> Job:
    return Job(job_id=job_id, provider="openai", model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def test_a_job_id_is_accepted_once_and_its_answer_by_time_recorded(records):
    job = a_job()
    assert records.accept(job) is True
    assert records.accept(job.model_copy(update={"tenant": "other"})) is False
    assert Job.model_validate_json(records.redis.get(constants.job("j1"))).tenant == "default"
    assert records.redis.zscore(constants.INFLIGHT, "j1") == pytest.approx(job.deadline_at)
    assert records.status("j1") == "queued"


def test_cancelling_an_unknown_id_writes_nothing(records):
    assert records.cancel("never-submitted") is False
    assert records.redis.keys("*") == []


def test_cancelling_a_queued_job_ends_it_with_one_cancelled_message_and_result(records):
    records.accept(a_job())
    assert records.cancel("j1") is True
    result = records.result("j1")
    assert result is not None and result.status == "cancelled" and result.error["code"] == "cancelled"
    log = [json.loads(m) for m in records.redis.lrange(constants.log("j1"), 0, -1)]
    assert [(m["seq"], m["type"]) for m in log] == [(1, "cancelled")]
    assert records.cancel("j1") is False  # finished: nothing more is written
    assert records.redis.llen(constants.log("j1")) == 1


def test_a_running_job_is_not_finished_by_a_cancel_only_told_to_stop(records):
    records.accept(a_job())
    records.redis.set(constants.lease("j1"), "worker-attempt")
    assert records.cancel("j1") is True
    assert records.result("j1") is None and records.redis.exists(constants.cancel("j1"))
    assert records.status("j1") == "running"


def test_an_unreadable_record_loads_as_invalid_job(records):
    records.redis.set(constants.job("bad"), "{not json")
    with pytest.raises(InvalidJob):
        records.load("bad")
    with pytest.raises(InvalidJob, match="not found"):
        records.load("missing")


JSON_OBJECTS = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5).map(json.dumps)


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.binary(max_size=200), JSON_OBJECTS))
def test_whatever_a_record_holds_loading_it_gives_a_job_or_invalid_job(raw):
    records = JobRecords(fakeredis.FakeRedis(), result_ttl_s=600, replay_max=1000, replay_ttl_s=600)
    records.redis.set(constants.job("x"), raw)
    try:
        assert isinstance(records.load("x"), Job)
    except InvalidJob:
        pass


def test_finishing_without_a_lease_stores_one_error_result(records):
    job = a_job()
    records.accept(job)
    result = error_result("j1", DeadlineExceeded("job j1: deadline passed"), job)
    assert records.finish_unowned("j1", result) == 1
    assert records.finish_unowned("j1", result) == 0  # written once
    stored = records.result("j1")
    assert stored.error["code"] == "deadline_exceeded" and stored.path == ["openai/gpt-4o-mini"]
