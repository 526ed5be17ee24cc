"""Quotas held across several worker processes through Redis, and the fleet cooldown after a 429."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem

from .conftest import make_system, settings_for
from .test_observability import counter

LIMIT, WINDOW_S = 8, 2.0
QUOTA_ENV = {"OPENAI_RATE_LIMIT_ENABLED": "true", "OPENAI_RATE_LIMIT_MAX_REQUESTS": str(LIMIT),
             "OPENAI_RATE_LIMIT_WINDOW_MS": str(int(WINDOW_S * 1000)), "OPENAI_MAX_CONCURRENT": "6",
             "MULTILLM_QUOTA_INLINE_WAIT_S": "0.5"}


@pytest.fixture(scope="module")
def system(own_redis, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    running = make_system(own_redis, tmp_path_factory.mktemp("quota"), ["openai"], env=QUOTA_ENV,
                          simulator_args=["--ttft-ms", "5", "--tokens-per-second", "100"], concurrency=8, metrics=True)
    with running:
        for _ in range(2):  # three worker processes share one quota
            running.start_worker("openai")
        running.wait_for_workers(list(running.workers))
        yield running


def test_no_sliding_window_exceeds_the_quota_across_three_workers(system):
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url, QUOTA_ENV)) as client:
        handles = [client.submit("openai", f"job {i}", max_tokens=4) for i in range(40)]
        results = [h.result(timeout=120) for h in handles]
        assert all(r.status == "succeeded" for r in results), [r.error for r in results if r.error]
        starts = sorted(next(m.ts for m in h.stream(timeout=5) if m.type == "start") for h in handles)
    for i, t in enumerate(starts):
        inside = sum(1 for u in starts[i:] if u < t + WINDOW_S)
        assert inside <= LIMIT, f"{inside} calls within {WINDOW_S}s of t={t - starts[0]:.2f}s"
    span = starts[-1] - starts[0]
    assert span >= WINDOW_S * (len(starts) / LIMIT - 1) - 0.1  # the quota held them back
    assert span <= WINDOW_S * (len(starts) / LIMIT) + 2.0  # and nearly all of it was used
    waited = sum(counter(port, "multillm_quota_wait_seconds_total", provider="openai")
                 for port in system.metrics_ports.values())
    assert waited >= WINDOW_S * (len(starts) / LIMIT - 1)  # every worker counted the waits it imposed


def test_a_429_puts_the_whole_fleet_in_cooldown(system):
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url, QUOTA_ENV)) as client:
        time.sleep(WINDOW_S)  # let the previous test's window drain
        limited = client.submit("openai", "[[fault:429]] once", max_tokens=4, max_attempts=1)
        assert limited.result(timeout=30).error["code"] == "rate_limited"
        after = client.submit("openai", "next one", max_tokens=4)
        result = after.result(timeout=30)
        assert result.status == "succeeded"
        # The simulator's 429 carried retry-after 1 s: the next call waited for the cooldown.
        started = next(m.ts for m in after.stream(timeout=5) if m.type == "start")
        assert started - limited.result().timings.finished_at >= 0.9


def test_quotas_command_shows_every_workers_shared_figures(system):
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, **QUOTA_ENV, "REDIS_URL": system.redis_url, "OPENAI_API_KEY": ""}
    done = subprocess.run([sys.executable, "-m", "multillm.producers.cli.main", "quotas", "-p", "openai", "--json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (figures,) = json.loads(done.stdout)["quotas"]
    window = next(w for w in figures["windows"] if w["name"] == "window")
    assert window["limit"] == window["configured"] == LIMIT and figures["max_concurrent"] == 6
    assert figures["response_delay_ms"]["max_delay_ms"] >= figures["response_delay_ms"]["last_delay_ms"] >= 0
    assert figures["pending"] == 0  # every call was answered
