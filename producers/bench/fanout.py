"""Fan-out: how long a chunk takes from publish to a consumer, at 10,000 chunks/s over 100 jobs.

    multillm bench fanout --rate 10000 --fanout-jobs 100 --seconds 10

multillm: publisher processes call the workers' own publish path (`common.stream.Publisher`: the
Lua script that checks the lease, assigns the sequence number, appends to the replay log and
PUBLISHes), paced to the rate; consumer processes read each job with `JobHandle.stream()`, one
thread per job, as producers do. Peer in the same run, on the same Redis, with the same processes
and threads: raw PUBLISH / SUBSCRIBE of a message of the same size (the floor). Latency is the
consumer's clock at receipt minus the `ts` the publisher put in the message just before sending.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis

from multillm.common import constants
from multillm.common.errors import ConfigurationError
from multillm.common.stream import Publisher
from multillm.producers.handle import JobHandle
from multillm.producers.local.embedded import start_redis, stop

OWNER = "bench-fanout"
MODES = ("pubsub", "multillm")
TEXT = " word"  # one token, as a real delta carries


@dataclass
class FanoutPlan:
    redis_url: str
    mode: str  # "multillm" (the real publish and stream path) or "pubsub" (raw PUBLISH / SUBSCRIBE)
    rate: float = 10_000.0  # chunks per second, all jobs together
    jobs: int = 100
    seconds: float = 10.0
    publishers: int = 4
    consumers: int = 2


def _share(items: list[str], parts: int, i: int) -> list[str]:
    return items[i::parts]


def _sender(client: redis.Redis, mode: str, jobs: list[str]) -> Any:
    """A function (job index, chunk number, kind) that publishes one message the mode's way."""
    if mode == "multillm":
        pubs = [Publisher(client, j, OWNER, 1, replay_max=1_000_000, ttl=600) for j in jobs]
        return lambda i, k, kind: pubs[i].publish(kind, text=TEXT if kind == "delta" else None)

    def raw(i: int, k: int, kind: str) -> int:
        body = {"seq": k + 1, "job_id": jobs[i], "type": kind, "attempt": 1, "ts": round(time.time(), 6), "text": TEXT}
        return int(client.publish(constants.channel(jobs[i]), json.dumps(body, separators=(",", ":"))))

    return raw


def _publisher(url: str, mode: str, jobs: list[str], rate: float, count: int, ready: Any, go: Any,
               start_at: Any, out: Any) -> None:
    """Publish `count` chunks round-robin over `jobs` at `rate`, then a `done` on each job."""
    client = redis.Redis.from_url(url)
    send = _sender(client, mode, jobs)
    for i in range(len(jobs)):  # streams begin with `start`; this also loads the script before the clock starts
        send(i, -1, "start")
    ready.put(1)
    go.wait()
    begin = start_at.value
    first = last = 0.0
    for k in range(count):
        ahead = begin + k / rate - time.time()
        if ahead > 0.0005:
            time.sleep(ahead)
        send(k % len(jobs), k, "delta")
        if k == 0:
            first = time.time()
    last = time.time()
    for i in range(len(jobs)):
        send(i, count, "done")
    client.close()
    out.put({"published": count, "first": first, "last": last, "behind_s": last - (begin + (count - 1) / rate)})


def _consume_multillm(client: redis.Redis, url: str, job: str, timeout: float, got: list[float], stats: dict[str, int]) -> None:
    last = 0
    for message in JobHandle(job, client, url).stream(timeout=timeout):
        now = time.time()
        stats["out_of_order"] += message.seq != last + 1
        last = message.seq
        if message.type == "delta":
            got.append(now - message.ts)


def _consume_pubsub(client: redis.Redis, job: str, timeout: float, got: list[float], stats: dict[str, int]) -> None:
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(constants.channel(job))
    end, last = time.monotonic() + timeout, 0
    try:
        while time.monotonic() < end:
            item = pubsub.get_message(timeout=1.0)
            if item is None:
                continue
            now = time.time()
            data = json.loads(item["data"])
            if data["type"] == "done":
                return
            if data["type"] != "delta":
                continue
            stats["out_of_order"] += data["seq"] <= last
            last = data["seq"]
            got.append(now - data["ts"])
    finally:
        pubsub.close()


def _consumer(url: str, mode: str, jobs: list[str], timeout: float, out: Any) -> None:
    """One thread per job; every latency and the count of messages out of order."""
    client = redis.Redis.from_url(url)
    got: list[list[float]] = [[] for _ in jobs]
    stats = [{"out_of_order": 0} for _ in jobs]
    if mode == "multillm":
        threads = [threading.Thread(target=_consume_multillm, args=(client, url, j, timeout, got[i], stats[i]))
                   for i, j in enumerate(jobs)]
    else:
        threads = [threading.Thread(target=_consume_pubsub, args=(client, j, timeout, got[i], stats[i]))
                   for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    out.put({"latencies": [x for g in got for x in g], "out_of_order": sum(s["out_of_order"] for s in stats)})


def _wait_subscribed(client: redis.Redis, jobs: list[str], consumers: list[Any], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    channels = [constants.channel(j) for j in jobs]
    while sum(1 for _, n in client.pubsub_numsub(*channels) if n) < len(channels):
        if time.monotonic() > end or any(not c.is_alive() for c in consumers):
            raise RuntimeError("fan-out consumers did not subscribe")
        time.sleep(0.05)


def run_fanout(plan: FanoutPlan) -> dict[str, Any]:
    """One run of one mode: latencies at the consumers, the rate the publishers reached."""
    if plan.mode not in MODES:
        raise ConfigurationError(f"mode: {plan.mode!r} is not one of {', '.join(MODES)}")
    if plan.jobs < max(plan.publishers, plan.consumers) or plan.rate <= 0 or plan.seconds <= 0:
        raise ConfigurationError("fan-out: needs at least one job per publisher and consumer, a rate and a duration")
    ctx = multiprocessing.get_context("spawn")  # children start clean, whatever threads the caller has
    run = uuid.uuid4().hex[:8]
    jobs = [f"fanout-{plan.mode}-{run}-{i}" for i in range(plan.jobs)]
    client = redis.Redis.from_url(plan.redis_url)
    for j in jobs:
        client.set(constants.lease(j), OWNER, ex=600)
    count = int(plan.rate * plan.seconds)
    results, ready, go, start_at = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    consumers = [ctx.Process(target=_consumer, args=(plan.redis_url, plan.mode, _share(jobs, plan.consumers, i),
                                                     plan.seconds + 60, results)) for i in range(plan.consumers)]
    publishers = [ctx.Process(target=_publisher, args=(
        plan.redis_url, plan.mode, _share(jobs, plan.publishers, i), plan.rate / plan.publishers,
        count // plan.publishers, ready, go, start_at, results)) for i in range(plan.publishers)]
    try:
        for p in consumers:
            p.start()
        _wait_subscribed(client, jobs, consumers)
        for p in publishers:
            p.start()
        for _ in publishers:
            ready.get(timeout=60)
        start_at.value = time.time() + 0.2
        go.set()
        reports = [results.get(timeout=plan.seconds + 120) for _ in range(plan.publishers + plan.consumers)]
    finally:
        for p in [*publishers, *consumers]:
            p.join(10)
            if p.is_alive():
                p.kill()
        client.close()
    return _summary(plan, reports)


def _summary(plan: FanoutPlan, reports: list[dict[str, Any]]) -> dict[str, Any]:
    from multillm.producers.bench.throughput import percentile

    sent = [r for r in reports if "published" in r]
    got = [r for r in reports if "latencies" in r]
    latencies = [x for r in got for x in r["latencies"]]
    published = sum(r["published"] for r in sent)
    span = max(r["last"] for r in sent) - min(r["first"] for r in sent)
    ms = {f"p{q}_ms": 1000 * percentile(latencies, q) for q in (50, 90, 99)} if latencies else {}
    figures = {k: v for k, v in asdict(plan).items() if k != "redis_url"}
    return {**figures, "published": published, "received": len(latencies),
            "out_of_order": sum(r["out_of_order"] for r in got), "achieved_rate": published / span if span else 0.0,
            "publisher_behind_s": max(r["behind_s"] for r in sent), **ms,
            "max_ms": 1000 * max(latencies, default=0.0), "latencies": latencies}


def bench_fanout(rate: float = 10_000, jobs: int = 100, seconds: float = 10, publishers: int = 4,
                 consumers: int = 2, rounds: int = 2) -> dict[str, Any]:
    """Both modes, in turn, `rounds` times, on one private Redis server; percentiles over all rounds."""
    from multillm.producers.bench.throughput import percentile

    process, url = start_redis()
    try:
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        for _ in range(rounds):
            for mode in MODES:
                runs[mode].append(run_fanout(FanoutPlan(url, mode, rate, jobs, seconds, publishers, consumers)))
    finally:
        stop([process])
    figures: dict[str, Any] = {"rate": rate, "jobs": jobs, "seconds": seconds, "publishers": publishers,
                               "consumers": consumers, "rounds": rounds}
    for mode, done in runs.items():
        latencies = [x for r in done for x in r.pop("latencies")]
        figures[mode] = {
            "published": sum(r["published"] for r in done), "received": len(latencies),
            "out_of_order": sum(r["out_of_order"] for r in done),
            "achieved_rate": statistics.median(r["achieved_rate"] for r in done),
            "rounds_rate": [r["achieved_rate"] for r in done],
            **{f"p{q}_ms": 1000 * percentile(latencies, q) for q in (50, 90, 99)},
            "max_ms": 1000 * max(latencies, default=0.0)}
    figures["p50_ratio"] = figures["multillm"]["p50_ms"] / figures["pubsub"]["p50_ms"]
    figures["p99_ratio"] = figures["multillm"]["p99_ms"] / figures["pubsub"]["p99_ms"]
    return figures
