"""Workers killed mid-stream: the job runs again within seconds and ends with exactly one result."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from multillm.common import constants
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem

from .conftest import make_system, settings_for

SLOW = ["--ttft-ms", "50", "--tokens-per-second", "25"]


@pytest.fixture(scope="module")
def threads_system(own_redis, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    system = make_system(own_redis, tmp_path_factory.mktemp("threads"), ["openai"], simulator_args=SLOW,
                         concurrency=4)
    with system:
        system.start_worker("openai")  # a second worker process on the same queue
        system.wait_for_workers(list(system.workers))
        yield system


@pytest.fixture(scope="module")
def prefork_system(own_redis, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    system = make_system(own_redis, tmp_path_factory.mktemp("prefork"), ["anthropic"], simulator_args=SLOW,
                         concurrency=2, pool="prefork")
    with system:
        yield system


def owner_pid(client: MultiLLM, job_id: str, timeout: float = 20) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        owner = client.redis.get(constants.lease(job_id))
        if owner:
            return int(owner.decode().split(":")[1])
        time.sleep(0.02)
    raise AssertionError("the job never took a lease")


def kill_mid_stream(client: MultiLLM, provider: str) -> tuple[str, int, float]:
    handle = client.submit(provider, "A slow and long answer", max_tokens=120)
    deltas = 0
    for message in handle.stream(timeout=30):
        deltas += message.type == "delta"
        if deltas == 5:
            break
    pid = owner_pid(client, handle.job_id)
    os.kill(pid, signal.SIGKILL)
    return handle.job_id, pid, time.monotonic()


def check_one_result_and_new_attempt(client: MultiLLM, job_id: str, killed_at: float) -> float:
    handle = client.job(job_id)
    messages = list(handle.stream(timeout=90))
    result = handle.result(timeout=5)
    assert result.status == "succeeded", result.error
    starts = [m for m in messages if m.type == "start"]
    assert len(starts) >= 2 and starts[-1].attempt > starts[0].attempt
    last = [m for m in messages if m.attempt == starts[-1].attempt and m.type == "delta"]
    assert "".join(m.text for m in last) == result.text
    assert sum(1 for m in messages if m.terminal) == 1
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    restarted = starts[-1].ts
    return restarted - (time.time() - (time.monotonic() - killed_at))


def test_whole_worker_process_killed_mid_stream_job_runs_again_within_30s(threads_system):
    with MultiLLM(threads_system.redis_url, settings=settings_for(threads_system.redis_url)) as client:
        job_id, pid, killed_at = kill_mid_stream(client, "openai")
        assert pid in {p.pid for p in threads_system.workers.values()}
        delay = check_one_result_and_new_attempt(client, job_id, killed_at)
        assert delay < 30


def test_pool_child_killed_mid_stream_job_is_redelivered_and_completes(prefork_system):
    with MultiLLM(prefork_system.redis_url, settings=settings_for(prefork_system.redis_url)) as client:
        job_id, pid, killed_at = kill_mid_stream(client, "anthropic")
        assert pid not in {p.pid for p in prefork_system.workers.values()}  # a child, not the main process
        delay = check_one_result_and_new_attempt(client, job_id, killed_at)
        assert delay < 30
