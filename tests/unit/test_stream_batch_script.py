"""One script call for a batch of chunks of many jobs: each message is checked and numbered as if it
had been sent alone (lease, cancel, repeats), and every job's log stays in order whatever the mix."""

from __future__ import annotations

import itertools
import json
from typing import Any

import fakeredis
from hypothesis import given, settings
from hypothesis import strategies as st

from multillm.common import constants
from multillm.common.lease import LeaseKeeper
from multillm.common.stream import ALREADY_PUBLISHED, LEASE_LOST, PUBLISHED_CANCELLED, Batcher, Publisher


class Recorder(Publisher):
    """A publisher that keeps the replies the batcher reports for it."""

    replies: list[Any]

    def sent(self, reply: Any) -> None:
        self.replies.append(reply)
        super().sent(reply)


def recorder(r: fakeredis.FakeRedis, batcher: Batcher, job_id: str) -> Recorder:
    _, lease = LeaseKeeper(r, ttl_s=10).acquire(job_id)
    assert lease is not None
    pub = Recorder(r, job_id, lease.owner, lease.attempt, replay_max=10_000, ttl=60, batcher=batcher)
    pub.replies = []
    return pub


def entry(pub: Publisher, n: int, text: str) -> tuple[Publisher, list[str], list[Any]]:
    """What `Publisher.send` hands the batcher for its n-th message."""
    body = json.dumps({"job_id": pub.job_id, "type": "delta", "attempt": pub.attempt, "text": text})[1:]
    keys = [constants.lease(pub.job_id), constants.seq(pub.job_id), constants.log(pub.job_id),
            constants.channel(pub.job_id), constants.cancel(pub.job_id), constants.published(pub.job_id)]
    pub._in_flight += 1  # as send() counts it
    return pub, keys, [pub.owner, body, 10_000, 60, n]


def texts(r: fakeredis.FakeRedis, job_id: str) -> list[str]:
    return [json.loads(m)["text"] for m in r.lrange(constants.log(job_id), 0, -1)]


def test_one_call_answers_each_message_of_each_job_as_if_sent_alone():
    r = fakeredis.FakeRedis()
    batcher = Batcher(r)
    ok, cancelled, taken = (recorder(r, batcher, j) for j in ("ok", "cancelled", "taken"))
    r.set(constants.cancel("cancelled"), "1")
    r.set(constants.lease("taken"), "another attempt")
    batcher._write([entry(ok, 1, "a"), entry(cancelled, 1, "x"), entry(taken, 1, "y"), entry(ok, 2, "b"),
                    entry(ok, 2, "b again")])  # the last repeats number 2, as a retried call would
    assert ok.replies == [1, 2, ALREADY_PUBLISHED]
    assert cancelled.replies == [PUBLISHED_CANCELLED] and taken.replies == [LEASE_LOST]
    assert texts(r, "ok") == ["a", "b"] and texts(r, "cancelled") == [] and texts(r, "taken") == []
    assert ok.flush() == 0 and cancelled.flush() == PUBLISHED_CANCELLED and taken.flush() == LEASE_LOST


@settings(max_examples=40, deadline=None)
@given(order=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=60),
       cuts=st.lists(st.integers(min_value=1, max_value=60), max_size=6))
def test_any_mix_of_jobs_cut_into_any_batches_keeps_each_jobs_log_in_order(order, cuts):
    r = fakeredis.FakeRedis()
    batcher = Batcher(r)
    pubs = [recorder(r, batcher, f"j{i}") for i in range(4)]
    counts = [0] * 4
    entries = []
    for i in order:
        counts[i] += 1
        entries.append(entry(pubs[i], counts[i], f"{i}-{counts[i]}"))
    bounds = sorted({c for c in cuts if c < len(entries)} | {0, len(entries)})
    for start, end in itertools.pairwise(bounds):
        batcher._write(entries[start:end])
    for i, pub in enumerate(pubs):
        assert texts(r, pub.job_id) == [f"{i}-{n}" for n in range(1, counts[i] + 1)]
        assert pub.replies == list(range(1, counts[i] + 1))
        seqs = [json.loads(m)["seq"] for m in r.lrange(constants.log(pub.job_id), 0, -1)]
        assert seqs == list(range(1, counts[i] + 1))
