"""Chunks sent through the batcher: in order per job, whatever the threads; refusals and Redis
errors reach the job's thread; finish waits for every chunk. On fakeredis."""

from __future__ import annotations

import json
import threading

import fakeredis
import pytest
import redis

from multillm.common import constants
from multillm.common.lease import ACQUIRED, LeaseKeeper
from multillm.common.stream import LEASE_LOST, PUBLISHED_CANCELLED, Batcher, Publisher


def publisher(r: fakeredis.FakeRedis, batcher: Batcher, job_id: str) -> Publisher:
    state, lease = LeaseKeeper(r, ttl_s=10).acquire(job_id)
    assert state == ACQUIRED and lease is not None
    return Publisher(r, job_id, lease.owner, lease.attempt, replay_max=10_000, ttl=60, batcher=batcher)


def logged(r: fakeredis.FakeRedis, job_id: str) -> list[dict]:
    return [json.loads(m) for m in r.lrange(constants.log(job_id), 0, -1)]


def test_every_jobs_chunks_land_in_order_from_many_threads():
    r = fakeredis.FakeRedis()
    batcher = Batcher(r)
    pubs = [publisher(r, batcher, f"j{i}") for i in range(8)]

    def stream(pub: Publisher) -> None:
        pub.publish("start")
        for n in range(200):
            assert pub.send("delta", text=str(n)) == 0
        assert pub.finish("done", "{}", 60) > 0

    threads = [threading.Thread(target=stream, args=(p,)) for p in pubs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for pub in pubs:
        messages = logged(r, pub.job_id)
        assert [m["seq"] for m in messages] == list(range(1, 203))
        assert [m["text"] for m in messages[1:-1]] == [str(n) for n in range(200)]
        assert messages[-1]["type"] == "done" and r.exists(constants.result(pub.job_id))


def test_a_cancel_reaches_the_sender_and_nothing_after_it_is_logged():
    r = fakeredis.FakeRedis()
    pub = publisher(r, Batcher(r), "j1")
    assert pub.send("delta", text="a") == 0
    assert pub.flush() == 0
    r.set(constants.cancel("j1"), "1")
    pub.send("delta", text="b")
    assert pub.flush() == PUBLISHED_CANCELLED
    assert pub.send("delta", text="c") == PUBLISHED_CANCELLED
    assert [m["text"] for m in logged(r, "j1")] == ["a"]


def test_a_lost_lease_reaches_the_sender():
    r = fakeredis.FakeRedis()
    pub = publisher(r, Batcher(r), "j1")
    r.delete(constants.lease("j1"))
    pub.send("delta", text="a")
    assert pub.flush() == LEASE_LOST
    assert pub.finish("done", "{}", 60) == LEASE_LOST and not r.exists(constants.result("j1"))


def test_a_redis_error_in_the_batch_is_raised_in_the_jobs_thread():
    server = fakeredis.FakeServer()
    r = fakeredis.FakeRedis(server=server)
    pub = publisher(r, Batcher(r), "j1")
    server.connected = False  # the server goes away
    pub.send("delta", text="a")
    with pytest.raises(redis.ConnectionError):
        pub.flush()
    with pytest.raises(redis.ConnectionError):
        pub.send("delta", text="b")
