"""After a small workload: each worker's /metrics shows the counts per provider, `usage` totals equal
the sum of the job results, and Flower sees the tasks."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from multillm.common.usage import read_usage
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import free_port, python_module, spawn, stop
from multillm.producers.local.system import EmbeddedSystem

from .conftest import FAST_ENV, make_system, settings_for

PROVIDERS = ["openai", "anthropic"]


@pytest.fixture(scope="module")
def system(own_redis, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    running = make_system(own_redis, tmp_path_factory.mktemp("obs"), PROVIDERS, concurrency=4, metrics=True)
    with running:
        yield running


def counter(port: int, name: str, **labels: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def check_counts(system: EmbeddedSystem, client: MultiLLM, results: list) -> None:
    today = datetime.now(UTC).date()
    usage = {row["provider"]: row for row in read_usage(client.redis, today, today, "provider")}
    for name, port in system.metrics_ports.items():
        provider = name.split("-")[0]
        mine = [r for r in results if r.provider == provider]
        ok = sum(r.status == "succeeded" for r in mine)
        assert counter(port, "multillm_jobs_total", provider=provider, status="succeeded") == ok
        assert counter(port, "multillm_tokens_total", provider=provider, direction="output") == \
            sum(r.usage.output_tokens for r in mine)
        assert usage[provider]["requests"] == len(mine)
        assert usage[provider]["output_tokens"] == sum(r.usage.output_tokens for r in mine)
        assert abs(usage[provider]["cost_usd"] - sum(r.cost_usd for r in mine)) < 1e-6


def test_metrics_usage_and_flower_agree_with_the_results(system):
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        handles = [client.submit(p, f"observe {i}", max_tokens=6) for p in PROVIDERS for i in range(4)]
        handles.append(client.submit("openai", "[[fault:401]] fail", max_tokens=6))
        results = [h.result(timeout=30) for h in handles]
        # A worker counts a job just after storing its result: give the last ones a moment.
        end = time.monotonic() + 10
        while True:
            try:
                check_counts(system, client, results)
                break
            except AssertionError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
    assert counter(system.metrics_ports[next(n for n in system.metrics_ports if n.startswith("openai"))],
                   "multillm_errors_total", provider="openai", code="authentication") == 1

    port = free_port()
    env = dict(os.environ, **FAST_ENV, REDIS_URL=system.redis_url, FLOWER_UNAUTHENTICATED_API="true")
    flower = spawn(python_module("celery", "-A", "multillm.workers", f"--broker={system.redis_url}", "flower",
                                 f"--port={port}", "--address=127.0.0.1"), env=env)
    try:
        seen: dict = {}
        end = time.monotonic() + 30
        while time.monotonic() < end and len(seen) < 1:
            try:  # Flower learns of tasks from events sent after it connects: send a few more
                with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
                    client.submit("anthropic", "seen by flower", max_tokens=3).result(timeout=30)
                seen = {k: v for k, v in httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=3).json().items()
                        if v.get("name") == "multillm.chat.anthropic" and v.get("state") == "SUCCESS"}
            except httpx.HTTPError:
                time.sleep(0.3)
        assert seen, "Flower saw no task"
        assert all(v["args"] for v in seen.values())  # the job id only: no prompt, no key
    finally:
        stop([flower])
