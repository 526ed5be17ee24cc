"""Quota accuracy against a strict server of our own (`strict_server.py`, a separate process counting
at arrival), with the machine busy: a busy-loop process beside the workers and the server.

    multillm bench quota        (its strict, quantized and learned rows come from here)

Modes: `strict` (the exact window configured, `<PREFIX>_RATE_LIMIT_*`), `quantized` (only `<PREFIX>_RPM`
while the server enforces it per window), `learned` (nothing configured; the server's headers teach).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from multillm.common import constants
from multillm.common.providers import SPECS
from multillm.common.settings import load_settings
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import free_port, python_module, spawn, stop
from multillm.producers.local.system import EmbeddedSystem, SystemOptions

KEYS = {"openai": "sk-strict-bench-key-0001", "anthropic": "sk-ant-strict-bench-key-0001"}
BASE_ENV = {"LOG_LEVEL": "error", "MULTILLM_JOB_DEADLINE_S": "600", "MULTILLM_MAX_ATTEMPTS": "20"}


@dataclass(frozen=True)
class Scenario:
    mode: str  # strict, quantized, learned
    workers: int
    limit: int
    window_ms: int
    jobs: int
    provider: str = "openai"
    headers: str = "openai"  # what the server sends: openai, anthropic or none

    def quota_env(self) -> dict[str, str]:
        prefix = SPECS[self.provider].env_prefix
        if self.mode == "strict":
            return {f"{prefix}_RATE_LIMIT_ENABLED": "true", f"{prefix}_RATE_LIMIT_MAX_REQUESTS": str(self.limit),
                    f"{prefix}_RATE_LIMIT_WINDOW_MS": str(self.window_ms)}
        if self.mode == "quantized":
            return {f"{prefix}_RPM": str(self.limit * 60_000 // self.window_ms)}
        return {}


def _spin(stop_at: float) -> None:
    while time.time() < stop_at:
        pass


@contextmanager
def cpu_load(seconds: float = 3600.0) -> Iterator[None]:
    """A busy-loop process beside everything else, as a busy machine has."""
    process = multiprocessing.Process(target=_spin, args=(time.time() + seconds,), daemon=True)
    process.start()
    try:
        yield
    finally:
        process.terminate()
        process.join(5)


@contextmanager
def strict_server(limit: int, window_ms: int, headers: str, log: Path | None = None) -> Iterator[str]:
    """The strict server in its own process; yields its base URL."""
    port = free_port()
    args = python_module("multillm.producers.bench.strict_server", "--port", str(port), "--limit", str(limit),
                         "--window-ms", str(window_ms), "--headers", headers)
    process = spawn(args, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/_stats", timeout=0.5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the strict server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        stop([process])


def window_peak(arrivals: list[float], window_s: float) -> int:
    """The most arrivals inside any window of `window_s` (what a strict server allows at most)."""
    arrivals = sorted(arrivals)
    peak, first = 0, 0
    for last, t in enumerate(arrivals):
        while arrivals[first] <= t - window_s:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def late_refusals(accepted: list[float], refused: list[float], first: int) -> int:
    """429s the server sent after its first `first` responses."""
    answered = sorted([(t, False) for t in accepted] + [(t, True) for t in refused])
    return sum(1 for _, was_refused in answered[first:] if was_refused)


def share_used(arrivals: list[float], limit: int, window_s: float, windows: int) -> float:
    """Requests the server accepted in the first `windows` windows from the first one, over what it allows."""
    if not arrivals:
        return 0.0
    start = min(arrivals)
    inside = sum(1 for t in arrivals if t < start + windows * window_s)
    return inside / (limit * windows)


def run_scenario(s: Scenario, log_dir: Path | None = None, measure_windows: int = 3) -> dict[str, Any]:
    """Run one scenario under CPU load; the server's own counts are the figures."""
    env = {**BASE_ENV, **s.quota_env()}
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    with cpu_load(), strict_server(s.limit, s.window_ms, s.headers, log_dir and log_dir / "strict.log") as url:
        spec = SPECS[s.provider]
        env.update({spec.api_key_env: KEYS[s.provider],
                    spec.base_url_env: f"{url}/v1" if spec.protocol == "openai" else url})
        settings = load_settings(env)
        options = SystemOptions(providers=[s.provider], concurrency=16, extra_env=env, log_dir=log_dir)
        with EmbeddedSystem(settings, options) as system, MultiLLM(system.redis_url, settings=settings) as client:
            for _ in range(s.workers - 1):
                system.start_worker(s.provider)
            system.wait_for_workers(list(system.workers))
            ids = [client.submit(s.provider, f"line {i}", max_tokens=16).job_id for i in range(s.jobs)]
            results = _wait_all(client, ids, timeout=s.jobs * s.window_ms / 1000 / s.limit * 3 + 60)
        stats = httpx.get(f"{url}/_stats", timeout=5).json()
    window_s = s.window_ms / 1000
    return {"system": f"multillm {s.mode}", "workers": s.workers, "jobs": s.jobs,
            "succeeded": sum(1 for r in results if r == "succeeded"), "429s": len(stats["refused"]),
            "429s_after_10": late_refusals(stats["accepted"], stats["refused"], 10),
            "peak": window_peak(stats["accepted"], window_s), "limit": s.limit, "window_s": window_s,
            "share": round(share_used(stats["accepted"], s.limit, window_s, measure_windows), 3),
            }


def _wait_all(client: MultiLLM, ids: list[str], timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        found = client.redis.mget([constants.result(j) for j in ids])
        if all(found) or time.monotonic() > deadline:
            return [json.loads(raw)["status"] if raw else "missing" for raw in found]
        time.sleep(0.2)
