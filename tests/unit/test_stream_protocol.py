"""The publish/finish scripts and the consumer's ordering, on fakeredis."""

from __future__ import annotations

import json

import fakeredis
import pytest

from multillm.common import constants
from multillm.common.lease import ACQUIRED, FINISHED, HELD_ELSEWHERE, LeaseKeeper, lapsed_jobs
from multillm.common.stream import ALREADY_FINISHED, LEASE_LOST, PUBLISHED_CANCELLED, Publisher, Sequencer
from multillm.producers.handle import JobHandle


@pytest.fixture
def r() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def leased_publisher(r: fakeredis.FakeRedis, job_id: str = "j1") -> tuple[LeaseKeeper, Publisher]:
    keeper = LeaseKeeper(r, ttl_s=10)
    state, lease = keeper.acquire(job_id)
    assert state == ACQUIRED and lease is not None
    return keeper, Publisher(r, job_id, lease.owner, lease.attempt, replay_max=1000, ttl=60)


def test_messages_get_consecutive_sequence_numbers_and_land_in_the_log(r):
    _, pub = leased_publisher(r)
    assert [pub.publish("delta", text=t) for t in "abc"] == [1, 2, 3]
    logged = [json.loads(m) for m in r.lrange(constants.log("j1"), 0, -1)]
    assert [(m["seq"], m["type"], m["text"]) for m in logged] == [(1, "delta", "a"), (2, "delta", "b"), (3, "delta", "c")]
    assert all(m["job_id"] == "j1" and m["attempt"] == 1 for m in logged)


def test_result_is_written_once_whatever_the_number_of_finishes(r):
    _, pub = leased_publisher(r)
    assert pub.finish("done", '{"n": 1}', 60) == 1
    assert pub.finish("done", '{"n": 2}', 60) == ALREADY_FINISHED
    assert json.loads(r.get(constants.result("j1"))) == {"n": 1}
    assert r.llen(constants.log("j1")) == 1
    assert not r.exists(constants.lease("j1"))


def test_cancel_stops_publishing(r):
    _, pub = leased_publisher(r)
    pub.publish("delta", text="x")
    r.set(constants.cancel("j1"), "1")
    assert pub.publish("delta", text="y") == PUBLISHED_CANCELLED
    assert r.llen(constants.log("j1")) == 1


def test_an_attempt_without_the_lease_cannot_publish_or_finish(r):
    leased_publisher(r)
    stranger = Publisher(r, "j1", "someone-else", 1, replay_max=1000, ttl=60)
    assert stranger.publish("delta", text="x") == LEASE_LOST
    assert stranger.finish("done", "{}", 60) == LEASE_LOST
    assert not r.exists(constants.result("j1"))


def test_unowned_finish_only_succeeds_while_nobody_holds_the_lease(r):
    assert Publisher(r, "free", "", 0, replay_max=10, ttl=60).finish("cancelled", "{}", 60) == 1
    leased_publisher(r, "busy")
    assert Publisher(r, "busy", "", 0, replay_max=10, ttl=60).finish("cancelled", "{}", 60) == LEASE_LOST


def test_second_delivery_of_a_leased_or_finished_job_is_refused(r):
    keeper, pub = leased_publisher(r)
    assert keeper.acquire("j1") == (HELD_ELSEWHERE, None)
    pub.finish("done", "{}", 60)
    assert keeper.acquire("j1") == (FINISHED, None)


def test_attempt_number_counts_leases_taken(r):
    keeper = LeaseKeeper(r, ttl_s=10)
    _, first = keeper.acquire("j")
    keeper.release(first, resume_in=0)
    _, second = keeper.acquire("j")
    assert (first.attempt, second.attempt) == (1, 2)


def test_a_lapsed_lease_is_claimed_by_exactly_one_reaper(r):
    leased_publisher(r, "gone")
    r.delete(constants.lease("gone"))  # the worker died: its lease expired
    later = 1e12
    assert lapsed_jobs(r, now=later) == ["gone"]
    assert lapsed_jobs(r, now=later) == []


def test_renewal_marks_a_lease_lost_when_another_attempt_took_over(r):
    keeper = LeaseKeeper(r, ttl_s=10)
    _, lease = keeper.acquire("j")
    r.set(constants.lease("j"), "thief")
    keeper.renew_all()
    assert lease.lost.is_set()


def raw(seq: int, kind: str = "delta", text: str = "") -> str:
    return json.dumps({"seq": seq, "job_id": "j", "type": kind, "text": text})


def test_sequencer_drops_duplicates_and_waits_for_gaps():
    s = Sequencer()
    assert s.accept(raw(1, text="a")).text == "a"
    assert s.accept(raw(1)) is None
    assert s.needs_log(raw(3)) and s.accept(raw(3)) is None
    assert s.accept(raw(2)).seq == 2
    assert s.accept(raw(3, "done")).terminal and s.finished


def test_late_subscriber_replays_every_message_once_in_order(r):
    _, pub = leased_publisher(r)
    for t in ("Hel", "lo"):
        pub.publish("delta", text=t)
    pub.finish("done", "{}", 60, text="Hello")
    messages = list(JobHandle("j1", r, "redis://unused").stream(timeout=5))
    assert [m.seq for m in messages] == [1, 2, 3]
    assert "".join(m.text for m in messages if m.type == "delta") == "Hello"
    assert next(iter(JobHandle("j1", r, "redis://unused").stream(timeout=5, after=2))).type == "done"


def test_a_publish_repeated_after_redis_ran_it_adds_nothing(r):
    """redis-py retries a command whose reply a dropped connection lost: the chunk must not appear twice."""
    from multillm.common.stream.protocol import _PUBLISH, ALREADY_PUBLISHED

    _, pub = leased_publisher(r)
    assert pub.publish("delta", text="a") == 1
    script = r.register_script(_PUBLISH)
    body = '"job_id":"j1","type":"delta","attempt":1,"text":"a"}'
    repeat = script(keys=pub._keys, args=[pub.owner, body, 1000, 60, 1])  # message 1 sent again
    assert repeat == ALREADY_PUBLISHED
    assert pub.publish("delta", text="b") == 2
    assert [json.loads(m)["text"] for m in r.lrange(constants.log("j1"), 0, -1)] == ["a", "b"]


def test_a_new_attempt_numbers_its_messages_afresh(r):
    keeper, first = leased_publisher(r)
    assert first.publish("delta", text="a") == 1
    r.delete(constants.lease("j1"))  # the first attempt's worker died
    state, lease = keeper.acquire("j1")
    assert state == ACQUIRED and lease is not None and lease.attempt == 2
    second = Publisher(r, "j1", lease.owner, lease.attempt, replay_max=1000, ttl=60)
    assert second.publish("start") == 2 and second.publish("delta", text="b") == 3
