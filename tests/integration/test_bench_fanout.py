"""The fan-out benchmark on a tiny run: every chunk reaches its consumer once, in order, and is timed."""

from __future__ import annotations

import json

import redis

from multillm.common import constants
from multillm.producers.bench.fanout import FanoutPlan, run_fanout

CHUNKS = 200


def test_raw_pubsub_fanout_times_every_chunk(own_redis: str) -> None:
    figures = run_fanout(FanoutPlan(own_redis, "pubsub", rate=400, jobs=4, seconds=CHUNKS / 400, publishers=2, consumers=2))

    assert figures["published"] == figures["received"] == len(figures["latencies"]) == CHUNKS
    assert figures["out_of_order"] == 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]


def test_multillm_fanout_goes_through_the_publish_script_and_job_handles(own_redis: str) -> None:
    figures = run_fanout(FanoutPlan(own_redis, "multillm", rate=400, jobs=4, seconds=CHUNKS / 400, publishers=2,
                                    consumers=2))

    assert figures["published"] == figures["received"] == len(figures["latencies"]) == CHUNKS
    assert figures["out_of_order"] == 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    # Each job's replay log holds its whole stream, numbered without gaps: start, the deltas, done.
    client = redis.Redis.from_url(own_redis)
    logs = client.keys(constants.log("fanout-multillm-*"))
    assert len(logs) == 4
    streams = [[int(json.loads(raw)["seq"]) for raw in client.lrange(log, 0, -1)] for log in logs]
    assert sum(len(s) for s in streams) == CHUNKS + 2 * 4
    assert all(s == list(range(1, len(s) + 1)) for s in streams)
    client.close()

