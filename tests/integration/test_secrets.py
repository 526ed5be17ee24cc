"""Secret scan: a workload with known sentinel keys through producers, workers, retries, failures
and Flower; then every Redis key and value, every log line, every result and every Flower page is
searched for the plaintext keys."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from multillm.common.providers import SPECS
from multillm.common.vault import Vault, new_master_key
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import free_port, python_module, spawn, stop
from multillm.producers.local.system import EmbeddedSystem
from multillm.producers.simulator import SimulatorConfig, SimulatorServer

from .conftest import FAST_ENV, make_system, settings_for

SENTINEL = "SENTINELKEY7c1e"
KEYS = {spec.api_key_env: f"sk-{SENTINEL}-{spec.id}-0123456789" for spec in SPECS.values()}
TENANT_KEY = f"sk-{SENTINEL}-tenant-acme-0123456789"
MASTER = new_master_key()


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config=SimulatorConfig(ttft_ms=0, tokens_per_second=0, retry_after_s=0.2)) as server:
        yield server


@pytest.fixture(scope="module")
def system(own_redis, sim, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    env = {**KEYS, "ENCRYPTION_MASTER_KEY": MASTER, "LOG_LEVEL": "debug"}
    env.update({SPECS[p].base_url_env: url for p, url in sim.base_urls().items()})
    running = make_system(own_redis, tmp_path_factory.mktemp("secrets"), ["openai", "anthropic", "google"],
                          env=env, concurrency=4)
    with running:
        yield running


def flower(system: EmbeddedSystem) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, **FAST_ENV, **KEYS, ENCRYPTION_MASTER_KEY=MASTER, REDIS_URL=system.redis_url,
               FLOWER_UNAUTHENTICATED_API="true")  # the scan reads the API; operators put basic auth in front
    process = spawn(python_module("celery", "-A", "multillm.workers", f"--broker={system.redis_url}", "flower",
                                  f"--port={port}", "--address=127.0.0.1"), env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                if httpx.get(f"{url}/api/workers", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        stop([process])


def redis_dump(url: str) -> str:
    r = redis.Redis.from_url(url)
    parts = []
    for key in r.scan_iter(count=1000):
        parts.append(key.decode(errors="replace"))
        kind = r.type(key).decode()
        if kind == "string":
            parts.append(str(r.get(key)))
        elif kind == "list":
            parts += map(str, r.lrange(key, 0, -1))
        elif kind == "hash":
            parts += map(str, r.hgetall(key).items())
        elif kind == "zset":
            parts += map(str, r.zrange(key, 0, -1))
        elif kind == "set":
            parts += map(str, r.smembers(key))
    return "\n".join(parts)


def test_no_plaintext_key_anywhere(system, sim, tmp_path_factory):
    settings = settings_for(system.redis_url, {**KEYS, "ENCRYPTION_MASTER_KEY": MASTER})
    with MultiLLM(system.redis_url, settings=settings) as client:
        Vault(client.redis, MASTER).set("acme", "openai", TENANT_KEY)
        prompts = ["plain", "[[fault:429]] retried", "[[fault:401]] refused", "[[fault:midstream_error]] broken",
                   "[[fault:drop]] dropped"]
        handles = [client.submit(p, text, max_tokens=8, max_attempts=2) for p in ("openai", "anthropic", "google")
                   for text in prompts]
        handles.append(client.submit("openai", "tenant job", tenant="acme", max_tokens=8))
        results = [h.result(timeout=60) for h in handles]
        streams = [list(h.stream(timeout=10)) for h in handles]
    assert {r.status for r in results} == {"succeeded", "failed"}
    assert any(r.attempts == 2 for r in results)  # retries happened
    seen = [redis_dump(system.redis_url), *(r.model_dump_json() for r in results),
            *(m.model_dump_json() for s in streams for m in s)]
    for url in flower(system):
        for path in ("/api/tasks", "/api/workers?refresh=1", "/metrics", "/dashboard", "/tasks", "/broker"):
            seen.append(httpx.get(url + path, timeout=10).text)
        workers = list(httpx.get(f"{url}/api/workers", timeout=10).json())
        seen += [httpx.get(f"{url}/worker/{w}", timeout=10).text for w in workers]
        tasks = list(httpx.get(f"{url}/api/tasks", timeout=10).json())[:20]
        seen += [httpx.get(f"{url}/task/{t}", timeout=10).text for t in tasks]
    log_dir = system.options.log_dir
    assert log_dir is not None
    logs = [p.read_text(errors="replace") for p in log_dir.iterdir()]
    assert any("DEBUG" in text for text in logs)  # the logs were as verbose as they get
    seen += logs
    leaks = [text[max(0, i - 80): i + 40] for text in seen if (i := text.find(SENTINEL)) >= 0]
    assert not leaks, leaks[:3]
    assert sim.simulator.stats.requests["openai"] > 0  # the keys were really used
