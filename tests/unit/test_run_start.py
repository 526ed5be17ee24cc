"""A delivery's start-up script on fakeredis: the record, the lease and the guards' facts in one call;
nothing is taken for a missing, finished or held job; an unreadable record still ends with a result."""

from __future__ import annotations

import json
from collections.abc import Iterator

import fakeredis
import pytest

from multillm.common import constants
from multillm.common.jobs import Job
from multillm.common.lease import ACQUIRED, FINISHED, HELD_ELSEWHERE
from multillm.common.run import Runtime, run_job
from multillm.common.run.start import NOT_FOUND, TOO_LARGE, Facts
from multillm.common.schemas import Message
from multillm.common.settings import load_settings


@pytest.fixture
def rt() -> Iterator[Runtime]:
    runtime = Runtime(load_settings({"MULTILLM_CIRCUIT_FAILURES": "1"}), client=fakeredis.FakeRedis())
    yield runtime
    runtime.leases.stop()


def accepted(rt: Runtime) -> Job:
    job = Job(provider="openai", model="gpt-4o-mini", messages=[Message(role="user", content="hi")])
    assert rt.records.accept(job)
    return job


def test_start_takes_the_lease_and_reads_the_record_cancel_flag_and_circuit_together(rt):
    job = accepted(rt)
    rt.redis.set(constants.cancel(job.job_id), "1")
    rt.circuit.record("openai", ok=False)
    start = rt.starter.start(job.job_id, "openai")
    assert start.state == ACQUIRED and start.lease is not None and start.lease.attempt == 1
    assert rt.redis.get(constants.lease(job.job_id)).decode() == start.lease.owner
    assert rt.redis.zscore(constants.INFLIGHT, job.job_id) is not None
    assert Job.model_validate_json(start.raw_job).job_id == job.job_id
    facts = start.facts_of("openai")
    assert facts is not None and facts.cancelled
    assert facts.circuit[b"state"] == b"open"
    assert not rt.circuit.allow("openai", facts.circuit)


def test_facts_read_for_another_provider_are_not_used(rt):
    job = accepted(rt)
    start = rt.starter.start(job.job_id, "anthropic")
    assert start.facts_of("openai") is None
    assert rt.starter.start(accepted(rt).job_id).facts_of("openai") is None  # no provider: none read


def test_a_second_start_finds_the_lease_held_and_a_finished_job_takes_nothing(rt):
    job = accepted(rt)
    assert rt.starter.start(job.job_id, "openai").state == ACQUIRED
    assert rt.starter.start(job.job_id, "openai").state == HELD_ELSEWHERE
    done = accepted(rt)
    rt.redis.set(constants.result(done.job_id), "{}")
    assert rt.starter.start(done.job_id, "openai").state == FINISHED
    assert not rt.redis.exists(constants.lease(done.job_id))
    assert not rt.redis.exists(constants.attempts(done.job_id))


def test_a_missing_record_takes_no_lease_and_counts_no_attempt(rt):
    start = rt.starter.start("never-submitted", "openai")
    assert start.state == NOT_FOUND and start.lease is None
    assert not rt.redis.exists(constants.lease("never-submitted"))
    assert not rt.redis.exists(constants.attempts("never-submitted"))


def test_the_guards_read_their_facts_themselves_when_the_start_did_not(rt):
    job = accepted(rt)
    rt.redis.set(constants.cancel(job.job_id), "1")
    assert run_job(rt, job.job_id).status == "cancelled"
    assert Facts() == Facts(cancelled=False, circuit={})


def test_an_unreadable_record_ends_with_an_error_result_and_releases_the_lease(rt):
    rt.redis.set(constants.job("broken"), "{not json")
    assert run_job(rt, "broken", "openai").status == "failed"
    result = json.loads(rt.redis.get(constants.result("broken")))
    assert result["status"] == "failed" and result["error"]["code"] == "invalid_job"
    assert not rt.redis.exists(constants.lease("broken"))
    assert run_job(rt, "missing", "openai").status == "failed"
    missing = json.loads(rt.redis.get(constants.result("missing")))
    assert missing["error"]["message"].endswith("not found (never submitted, or expired)")


def test_jobs_spread_over_several_http_clients_per_base_url_and_keep_theirs(rt):
    from multillm.common.run.runtime import HTTP_SHARDS

    clients = {id(rt.http_client("http://a", f"job-{i}")) for i in range(400)}
    assert 1 < len(clients) <= HTTP_SHARDS
    assert rt.http_client("http://a", "job-7") is rt.http_client("http://a", "job-7")
    assert rt.http_client("http://b", "job-7") is not rt.http_client("http://a", "job-7")
    assert rt.http_client("http://a") is rt.http_client("http://a")


def test_a_record_over_the_size_limit_or_of_another_type_is_never_read_and_ends_with_an_error(rt):
    small = Runtime(load_settings({"MULTILLM_MAX_JOB_BYTES": "100"}), client=rt.redis)
    try:
        rt.redis.set(constants.job("huge"), "x" * 101)
        assert small.starter.start("huge", "openai").state == TOO_LARGE
        assert run_job(small, "huge", "openai").status == "failed"
        error = json.loads(rt.redis.get(constants.result("huge")))["error"]
        assert error["code"] == "invalid_job" and "101 bytes, at most 100" in error["message"]
        rt.redis.rpush(constants.job("listed"), "{}")
        assert run_job(small, "listed", "openai").status == "failed"
        assert "not a JSON string" in json.loads(rt.redis.get(constants.result("listed")))["error"]["message"]
        assert not rt.redis.exists(constants.lease("huge")) and not rt.redis.exists(constants.lease("listed"))
    finally:
        small.leases.stop()
