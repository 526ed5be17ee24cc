"""Chaos that must lose nothing: workers killed repeatedly, a fault mix from the simulator, slow and
reconnecting consumers, a Redis restart. Sizes are small here; MULTILLM_SOAK=1 runs the long soak."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from multillm.common import keys
from multillm.common.jobs import JobResult, StreamMessage
from multillm.common.lease import attempts_key
from multillm.producers.client import MultiLLM
from multillm.producers.embedded import start_redis, stop
from multillm.producers.handle import JobHandle, JobTimeout
from multillm.producers.system import EmbeddedSystem

from .conftest import make_system, settings_for

SOAK = os.environ.get("MULTILLM_SOAK") == "1"
JOBS = 500 if SOAK else 120


def final_text(messages: list[StreamMessage]) -> str:
    """What a consumer shows: the deltas of the last attempt (a new `start` resets the text)."""
    text: list[str] = []
    for m in messages:
        if m.type == "start":
            text = []
        elif m.type == "delta":
            text.append(m.text)
    return "".join(text)


def result_or_history(client: MultiLLM, handle: JobHandle, timeout: float = 60) -> JobResult:
    try:
        return handle.result(timeout=timeout)
    except JobTimeout:
        job_id = handle.job_id
        history = [raw.decode() for raw in client.redis.lrange(keys.log(job_id), 0, -1)]
        state = {"attempts": client.redis.get(attempts_key(job_id)), "lease": client.redis.get(keys.lease(job_id)),
                 "inflight": client.redis.zscore(keys.INFLIGHT, job_id), "now": time.time(),
                 "queued": client.redis.llen(keys.queue("openai")), "workers": client.redis.keys(keys.worker("*"))}
        raise AssertionError(f"job {job_id} has no result: {state} {history}") from None


def check_no_gaps(messages: list[StreamMessage]) -> None:
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    assert sum(1 for m in messages if m.terminal) == 1 and messages[-1].terminal


@pytest.fixture(scope="module")
def chaos_system(own_redis, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    running = make_system(own_redis, tmp_path_factory.mktemp("chaos"), ["openai"], concurrency=16,
                          simulator_args=["--ttft-ms", "20", "--tokens-per-second", "100", "--max-tokens", "400"])
    with running:
        running.start_worker("openai")
        running.wait_for_workers(list(running.workers))
        yield running


def test_workers_killed_repeatedly_every_job_gets_exactly_one_result(chaos_system):
    system = chaos_system
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        handles = [client.submit("openai", f"chaos job {i}", max_tokens=150, deadline_s=120) for i in range(JOBS)]
        stop_killing = threading.Event()

        def killer() -> None:
            while not stop_killing.wait(2.5):
                name, process = next(iter(system.workers.items()))
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                del system.workers[name]
                system.start_worker("openai")

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        try:
            results = [h.result(timeout=180) for h in handles]
        finally:
            stop_killing.set()
            thread.join(10)
        for handle, result in zip(handles, results, strict=True):
            messages = list(handle.stream(timeout=10))
            check_no_gaps(messages)
            assert result.status == "succeeded", result.error
            assert final_text(messages) == result.text
        assert any(r.attempts > 1 for r in results)  # the kills did interrupt jobs


@pytest.fixture(scope="module")
def calm_system(tmp_path_factory) -> Iterator[EmbeddedSystem]:
    """A system no test kills workers of, on its own Redis."""
    process, url = start_redis()
    try:
        running = make_system(url, tmp_path_factory.mktemp("calm"), ["openai"], concurrency=16,
                              simulator_args=["--ttft-ms", "20", "--tokens-per-second", "100", "--max-tokens", "400"])
        with running:
            running.start_worker("openai")
            running.wait_for_workers(list(running.workers))
            yield running
    finally:
        stop([process])


def test_fault_mix_every_job_ends_within_its_deadline(calm_system):
    system = calm_system
    faults = ["429", "500", "503", "529", "drop", "malformed", "midstream_error", "stall_mid"]
    httpx.put(f"{system.simulator_url}/_simulator/config", json={"fault_rate": 0.3, "faults": faults, "stall_s": 30},
              timeout=5).raise_for_status()
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
            check_no_gaps(list(handle.stream(timeout=10)))
        assert sum(r.status == "succeeded" for r in results) > len(results) / 2  # retries rescued most
    finally:
        httpx.put(f"{system.simulator_url}/_simulator/config", json={"fault_rate": 0.0}, timeout=5)


def test_slow_and_reconnecting_consumers_see_no_gap_and_no_duplicate(calm_system):
    system = calm_system
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        handle = client.submit("openai", "a long one", max_tokens=150)
        slow: list[StreamMessage] = []
        for message in handle.stream(timeout=60):
            slow.append(message)
            time.sleep(0.02)  # a consumer slower than the producer
        hopping: list[StreamMessage] = []
        last = 0
        while not hopping or not hopping[-1].terminal:  # reconnects after every 7 messages
            for i, message in enumerate(client.job(handle.job_id).stream(timeout=30, after=last)):
                hopping.append(message)
                last = message.seq
                if i == 6:
                    break
    check_no_gaps(slow)
    assert hopping == slow


def test_redis_restart_with_persistence_loses_no_accepted_job(tmp_path: Path):
    data = tmp_path / "redis"
    process, url = start_redis(data_dir=data, persist=True)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        system = make_system(url, tmp_path / "logs", ["openai"], concurrency=8,
                             simulator_args=["--ttft-ms", "10", "--tokens-per-second", "50"])
        with system, MultiLLM(url, settings=settings_for(url)) as client:
            handles = [client.submit("openai", f"survive {i}", max_tokens=30, deadline_s=120) for i in range(40)]
            time.sleep(0.5)  # part-way through the run
            stop([process])
            process, _ = start_redis(port=port, data_dir=data, persist=True)
            results = [h.result(timeout=120) for h in handles]
        assert all(r.status == "succeeded" for r in results), [r.error for r in results if r.error][:3]
    finally:
        stop([process])
