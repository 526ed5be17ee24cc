"""Health beat, circuit breaker and fallback with real workers, two beats and the simulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from multillm.common.provider_health import ORDER
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem
from multillm.workers.beat import HEALTH_RUNS

from .conftest import make_system, settings_for

INTERVAL = 1.0
HEALTH_ENV = {"MULTILLM_HEALTH_INTERVAL_S": str(INTERVAL), "MULTILLM_HEALTH_WINDOW_S": "4",
              "MULTILLM_CIRCUIT_FAILURES": "3", "MULTILLM_CIRCUIT_COOLDOWN_S": "2"}
PROVIDERS = ["openai", "anthropic", "google"]


@pytest.fixture(scope="module")
def system(own_redis, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    running = make_system(own_redis, tmp_path_factory.mktemp("health"), PROVIDERS, env=HEALTH_ENV,
                          simulator_args=["--ttft-ms", "5", "--tokens-per-second", "0"], concurrency=8, beat=True)
    with running:
        running.start_beat()  # a second beat: the work must still be done once per interval
        yield running


@pytest.fixture
def client(system) -> Iterator[MultiLLM]:
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url, HEALTH_ENV)) as c:
        yield c


def set_faults(system: EmbeddedSystem, faults: dict[str, list[str]]) -> None:
    httpx.put(f"{system.simulator_url}/_simulator/config", json={"provider_faults": faults}, timeout=5).raise_for_status()


def order(client: MultiLLM) -> list[str]:
    raw = client.redis.get(ORDER)
    return [p for p in json.loads(raw) if p in PROVIDERS] if raw else []


def wait_for(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout:g}s: {what}")


def test_failing_provider_drops_in_the_order_jobs_fall_back_and_it_returns(system, client):
    wait_for(lambda: len(order(client)) == 3, 10, "a first fallback order")
    set_faults(system, {"anthropic": ["503"]})
    try:
        wait_for(lambda: order(client)[-1] == "anthropic", INTERVAL * 3 + 2, "anthropic last in the order")
        auto = client.submit("auto", "Pick for me", tier="fast", max_tokens=8)
        assert auto.result(timeout=30).provider != "anthropic"

        pinned = client.submit("anthropic", "Fall back please", tier="fast", max_tokens=8, max_attempts=2)
        messages = list(pinned.stream(timeout=60))
        result = pinned.result(timeout=5)
        assert result.status == "succeeded" and result.provider != "anthropic"
        assert result.path[0].startswith("anthropic/") and len(result.path) == 2
        fallback = next(m for m in messages if m.type == "fallback")
        assert fallback.provider == result.provider and fallback.error["code"] == "unavailable"
    finally:
        set_faults(system, {})
    wait_for(lambda: order(client).index("anthropic") < 2,
             INTERVAL * 10 + 6, "anthropic back in the order")


def test_a_pinned_job_that_forbids_fallback_fails_on_its_provider(system, client):
    set_faults(system, {"google": ["503"]})
    try:
        handle = client.submit("google", "Stay here", max_tokens=8, max_attempts=1, fallback=False)
        result = handle.result(timeout=30)
        assert result.status == "failed" and result.path == [f"google/{result.model}"]
        assert not [m for m in handle.stream(timeout=5) if m.type == "fallback"]
    finally:
        set_faults(system, {})


def test_two_beats_do_not_double_the_work(system, client):
    before = int(client.redis.get(HEALTH_RUNS) or 0)
    time.sleep(INTERVAL * 5)
    runs = int(client.redis.get(HEALTH_RUNS) or 0) - before
    assert 3 <= runs <= 6  # about one run per interval, though two beats send the task


def test_the_beat_refreshes_each_providers_model_list_in_the_shared_cache(system):
    r = redis.Redis.from_url(system.redis_url)

    def listed(provider: str) -> list[str] | None:
        key = next(iter(r.scan_iter(f"multillm:models:{provider}:*")), None)
        raw = r.get(key) if key else None
        return [m["id"] for m in json.loads(raw)] if raw and raw != b'"unreachable"' else None

    deadline = time.monotonic() + 30
    while any(listed(p) is None for p in PROVIDERS):
        assert time.monotonic() < deadline, "the beat never stored the model lists"
        time.sleep(0.1)
    assert "gpt-5" in (listed("openai") or []) and "claude-sonnet-4-5" in (listed("anthropic") or [])
    key = next(iter(r.scan_iter("multillm:models:google:*")))
    assert 3500 < r.ttl(key) <= 3600
    r.delete(key)
    deadline = time.monotonic() + 30
    while not r.exists(key):  # the next health run fetches it again
        assert time.monotonic() < deadline, "the beat did not refresh a missing list"
        time.sleep(0.1)
