"""Chaos that must lose nothing: workers killed repeatedly, a fault mix from the simulator, slow and
reconnecting consumers, a Redis restart, and all of them at once (the soak). Sizes are small here;
`--soak-minutes N` runs the soak for N minutes and the kill test with 500 jobs.

The chaos and the checks live in `multillm.producers.bench.chaos`, shared with `multillm bench soak`."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from pathlib import Path

import kombu
import pytest
from kombu.common import ignore_errors

from multillm.common import constants
from multillm.common.jobs import JobResult
from multillm.common.lease import attempts_key
from multillm.producers.bench.chaos import (
    FAULT_MIX,
    WorkerKiller,
    clear_faults,
    consume,
    final_text,
    restart_redis,
    set_fault_mix,
    stream_problems,
)
from multillm.producers.bench.soak import SoakConfig, run_soak
from multillm.producers.client import MultiLLM
from multillm.producers.handle import JobHandle, JobTimeout
from multillm.producers.local.embedded import start_redis, stop
from multillm.producers.local.system import EmbeddedSystem

from .conftest import make_system, settings_for

SIMULATOR_ARGS = ["--ttft-ms", "20", "--tokens-per-second", "100", "--max-tokens", "400"]


def result_or_history(client: MultiLLM, handle: JobHandle, timeout: float = 60) -> JobResult:
    try:
        return handle.result(timeout=timeout)
    except JobTimeout:
        job_id = handle.job_id
        history = [raw.decode() for raw in client.redis.lrange(constants.log(job_id), 0, -1)]
        state = {"attempts": client.redis.get(attempts_key(job_id)), "lease": client.redis.get(constants.lease(job_id)),
                 "inflight": client.redis.zscore(constants.INFLIGHT, job_id), "now": time.time(),
                 "queued": client.redis.llen(constants.queue("openai")), "workers": client.redis.keys(constants.worker("*"))}
        raise AssertionError(f"job {job_id} has no result: {state} {history}") from None


@pytest.fixture(scope="module")
def chaos_system(own_redis, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    running = make_system(own_redis, tmp_path_factory.mktemp("chaos"), ["openai"], concurrency=16,
                          simulator_args=SIMULATOR_ARGS)
    with running:
        running.start_worker("openai")
        running.wait_for_workers(list(running.workers))
        yield running


def test_workers_killed_repeatedly_every_job_gets_exactly_one_result(chaos_system, soak_minutes):
    system = chaos_system
    jobs = 500 if soak_minutes else 120
    # A random worker each time, as in the soak: always killing the oldest of two workers every 2.5 s
    # can hand one job to the doomed worker at nearly every kill until it reaches its crash allowance.
    # Every 4 s: a worker loads its tokenizer and price data before it takes jobs, so at 2.5 s a restarted
    # worker could be killed again before it had finished a single 2 s job.
    killer = WorkerKiller(system, every_s=4.0, rng=random.Random(7))
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        handles = [client.submit("openai", f"chaos job {i}", max_tokens=150, deadline_s=120) for i in range(jobs)]
        killer.start()
        try:
            results = [h.result(timeout=180) for h in handles]
        finally:
            killer.stop()
        for handle, result in zip(handles, results, strict=True):
            messages = list(handle.stream(timeout=10))
            assert not stream_problems(messages)
            assert result.status == "succeeded", result.error
            assert final_text(messages) == result.text
        assert any(r.attempts > 1 for r in results)  # the kills did interrupt jobs
    assert killer.count > 0 and not killer.errors
    system.stop()  # before the killer's thread ends: the workers it started go with it
    killer.close()


@pytest.fixture(scope="module")
def calm_system(tmp_path_factory) -> Iterator[EmbeddedSystem]:
    """A system no test kills workers of, on its own Redis."""
    process, url = start_redis()
    try:
        running = make_system(url, tmp_path_factory.mktemp("calm"), ["openai"], concurrency=16,
                              simulator_args=SIMULATOR_ARGS)
        with running:
            running.start_worker("openai")
            running.wait_for_workers(list(running.workers))
            yield running
    finally:
        stop([process])


def test_fault_mix_every_job_ends_within_its_deadline(calm_system):
    system = calm_system
    faults = [f for f in FAULT_MIX if f != "stall"]
    set_fault_mix(system.simulator_url, 0.3, faults, stall_s=30)
    try:
        with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
            started = time.time()
            handles = [client.submit("openai", f"faulty {i}", max_tokens=20, deadline_s=30) for i in range(60)]
            results = [result_or_history(client, h) for h in handles]
        for handle, result in zip(handles, results, strict=True):
            assert result.status in ("succeeded", "failed")
            assert result.timings.finished_at <= started + 30 + 5  # within its deadline (plus scheduling)
            if result.status == "failed":
                assert result.error["code"] and result.error["message"]
            assert not stream_problems(list(handle.stream(timeout=10)))
        assert sum(r.status == "succeeded" for r in results) > len(results) / 2  # retries rescued most
    finally:
        clear_faults(system.simulator_url)


def test_slow_and_reconnecting_consumers_see_no_gap_and_no_duplicate(calm_system):
    system = calm_system
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        handle = client.submit("openai", "a long one", max_tokens=150)
        slow = consume(client, handle.job_id, "slow", timeout=60, pause_s=0.02).messages
        hopping = consume(client, handle.job_id, "reconnecting", timeout=30, hop_every=7)
    assert not stream_problems(slow)
    assert hopping.reconnects > 0
    assert hopping.messages == slow


def wait_until_some_started(client: MultiLLM, handles: list[JobHandle], timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while not any(client.redis.exists(constants.log(h.job_id)) for h in handles):
        assert time.monotonic() < end, "no job started"
        time.sleep(0.02)


def test_redis_restart_with_persistence_loses_no_accepted_job(tmp_path: Path):
    data = tmp_path / "redis"
    process, url = start_redis(data_dir=data, persist=True)
    try:
        system = make_system(url, tmp_path / "logs", ["openai"], concurrency=8,
                             simulator_args=["--ttft-ms", "10", "--tokens-per-second", "50"])
        with system, MultiLLM(url, settings=settings_for(url)) as client:
            handles = [client.submit("openai", f"survive {i}", max_tokens=30, deadline_s=120) for i in range(40)]
            wait_until_some_started(client, handles)  # restart part-way through the run
            process = restart_redis(process, url, data)
            results = [h.result(timeout=120) for h in handles]
        assert all(r.status == "succeeded" for r in results), [r.error for r in results if r.error][:3]
    finally:
        stop([process])


def test_worker_connection_survives_redis_going_away_mid_poll():
    """Redis goes away while a worker's consumer waits on BRPOP holding an unacknowledged message, beside
    a second channel (a worker's remote-control mailbox is one). Celery's consumer then calls collect()
    and close(), ignoring connection errors (celery/worker/consumer/consumer.py,
    on_connection_error_after_connected); anything else raised there ends the worker process."""
    from multillm.workers.app import app

    process, url = start_redis()
    try:
        conn = app.connection_for_read(url)
        work = kombu.Queue("multillm.chaos-probe")
        with conn.Producer() as producer:
            producer.publish({"n": 1}, routing_key=work.name, declare=[work])
        received: list[kombu.Message] = []
        conn.Consumer(work, callbacks=[lambda body, message: received.append(message)]).consume()
        control = kombu.Queue("multillm.chaos-probe.control", auto_delete=True,
                              exchange=kombu.Exchange("multillm.chaos-probe.broadcast", type="fanout"))
        kombu.Consumer(conn.channel(), [control], callbacks=[lambda body, message: None], no_ack=True).consume()
        end = time.monotonic() + 10
        while not received and time.monotonic() < end:
            with contextlib.suppress(TimeoutError):
                conn.drain_events(timeout=1)
        assert len(received) == 1  # delivered, not acknowledged
        for _ in range(20):  # until nothing is left to read: the consumer then waits on BRPOP
            try:
                conn.drain_events(timeout=0.3)
            except TimeoutError:
                break
        else:
            pytest.fail("the consumer never went idle")
        stop([process])
        with contextlib.suppress(Exception):
            conn.collect(socket_timeout=2)
        ignore_errors(conn, conn.close)  # kombu's own Redis transport raised AttributeError here
    finally:
        stop([process])


def test_soak_every_kind_of_chaos_at_once_loses_and_duplicates_nothing(tmp_path: Path, soak_minutes):
    """The soak of `multillm bench soak`: half a minute here, `--soak-minutes` for longer."""
    config = SoakConfig(minutes=soak_minutes or 0.5, jobs_per_minute=120, providers=("openai", "anthropic"),
                        workers_per_provider=2, concurrency=8, log_dir=tmp_path / "logs")
    figures = run_soak(config, echo=print)
    assert figures["jobs_submitted"] == round(config.minutes * config.jobs_per_minute)
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures["examples"]
    assert figures["consumer_text_mismatches"] == figures["replay_text_mismatches"] == 0, figures["examples"]
    assert figures["consumer_hangs"] == figures["past_deadline"] == 0, figures["examples"]
    assert figures["workers_exited"] == 0  # only the killer's victims died
    assert "deadline_exceeded" not in figures["failed_by_code"]  # nothing waited out its 90 s
    assert figures["worker_kills"] > 0 and figures["redis_restarts"] > 0 and figures["faults_total"] > 0
    assert figures["consumers"] > 0 and not figures["chaos_errors"]
    assert figures["ok"]
