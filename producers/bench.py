"""Benchmarks of the queue path against a direct client, on the same simulator in the same run.

    multillm bench queue --out BENCHMARKS.md

Each figure is measured here, on this machine, with the peer beside it; timings are medians and
percentiles, never a single run.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..common import keys
from ..common.settings import load_settings
from .client import MultiLLM
from .system import EmbeddedSystem, SystemOptions

PROMPT = "Write one short line about queues."
MODEL = "gpt-4o-mini"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {os.cpu_count()} cores ({cpu}), {mem} GiB, Python {platform.python_version()}"


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except FileNotFoundError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        kids = [int(c) for t in os.listdir(f"/proc/{pid}/task")
                for c in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
    except (FileNotFoundError, ValueError):
        return []
    return kids + [g for k in kids for g in _children(k)]


@dataclass
class Bench:
    """One embedded system (Redis, simulator, one openai worker) for a group of measurements."""

    concurrency: int
    sim_args: list[str]
    pool: str = "threads"
    system: EmbeddedSystem = field(init=False)

    events: bool = True

    def __enter__(self) -> Bench:
        env = {"OPENAI_API_KEY": "", "LOG_LEVEL": "warning", "MULTILLM_JOB_DEADLINE_S": "600",
               "MULTILLM_TASK_EVENTS": "true" if self.events else "false"}
        settings = load_settings(env)
        options = SystemOptions(providers=["openai"], concurrency=self.concurrency, pool=self.pool,
                                simulator_args=self.sim_args, extra_env=env)
        self.system = EmbeddedSystem(settings, options)
        self.system.start()
        self.client = MultiLLM(self.system.redis_url, settings=settings)
        self.base = f"{self.system.simulator_url}/openai/v1"
        return self

    def __exit__(self, *_: Any) -> None:
        self.client.close()
        self.system.stop()

    def sim_stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.system.simulator_url}/_simulator/stats", timeout=5).json())

    def worker_pid(self) -> int:
        return next(iter(self.system.workers.values())).pid

    def queued_first_chunk(self, max_tokens: int) -> float:
        start = time.perf_counter()
        handle = self.client.submit("openai", PROMPT, model=MODEL, max_tokens=max_tokens)
        first = None
        for message in handle.stream(timeout=60):
            if message.type == "delta" and first is None:
                first = time.perf_counter() - start
            if message.terminal and message.type != "done":
                raise RuntimeError(f"job failed: {message.error}")
        assert first is not None
        return first

    def direct_first_chunk(self, http: httpx.Client, max_tokens: int) -> float:
        body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True,
                "max_tokens": max_tokens}
        start = time.perf_counter()
        first = None
        with http.stream("POST", f"{self.base}/chat/completions", json=body,
                         headers={"Authorization": "Bearer direct-key"}) as response:
            for line in response.iter_lines():
                if first is None and line.startswith("data: {") and _has_content(line[6:]):
                    first = time.perf_counter() - start
        assert first is not None
        return first


def _has_content(data: str) -> bool:
    choices = json.loads(data).get("choices") or [{}]
    return bool((choices[0].get("delta") or {}).get("content"))


def bench_overhead(n: int = 200) -> dict[str, float]:
    """Submit → first chunk at a consumer, minus a direct call's time to first token (interleaved)."""
    with Bench(concurrency=8, sim_args=["--ttft-ms", "20", "--tokens-per-second", "0"]) as b, \
            httpx.Client() as http:
        for _ in range(10):  # warm connections and code paths
            b.queued_first_chunk(8)
            b.direct_first_chunk(http, 8)
        queued, direct = [], []
        for _ in range(n):
            queued.append(b.queued_first_chunk(8))
            direct.append(b.direct_first_chunk(http, 8))
    ms = {k: 1000 * v for k, v in {
        "queued_p50": percentile(queued, 50), "queued_p99": percentile(queued, 99),
        "direct_p50": percentile(direct, 50), "direct_p99": percentile(direct, 99)}.items()}
    ms["overhead_p50"] = ms["queued_p50"] - ms["direct_p50"]
    ms["overhead_p99"] = ms["queued_p99"] - ms["direct_p99"]
    ms["n"] = n
    return ms


def wait_all(b: Bench, job_ids: list[str], timeout: float) -> int:
    """Wait until every job has a result; the number that succeeded."""
    end = time.monotonic() + timeout
    pending = list(job_ids)
    ok = 0
    while pending and time.monotonic() < end:
        found = b.client.redis.mget([keys.result(j) for j in pending])
        still = []
        for job_id, raw in zip(pending, found, strict=True):
            if raw is None:
                still.append(job_id)
            else:
                ok += json.loads(raw)["status"] == "succeeded"
        pending = still
        if pending:
            time.sleep(0.02)
    if pending:
        raise RuntimeError(f"{len(pending)} jobs had no result within {timeout:g}s")
    return ok


async def _direct_jobs(base: str, jobs: int, concurrency: int, max_tokens: int) -> float:
    limit = asyncio.Semaphore(concurrency)
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": max_tokens}

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as http:
        async def one() -> None:
            async with limit, http.stream("POST", f"{base}/chat/completions", json=body,
                                          headers={"Authorization": "Bearer direct-key"}) as response:
                async for _ in response.aiter_lines():
                    pass

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(jobs)))
        return time.perf_counter() - start


def bench_throughput(jobs: int = 2000, concurrency: int = 100, max_tokens: int = 16) -> dict[str, float]:
    """Jobs per second for short streamed jobs at saturation, queued vs a direct asyncio client."""
    with Bench(concurrency=concurrency, sim_args=["--ttft-ms", "0", "--tokens-per-second", "0"]) as b:
        asyncio.run(_direct_jobs(b.base, 200, concurrency, max_tokens))  # warm-up
        direct_s = asyncio.run(_direct_jobs(b.base, jobs, concurrency, max_tokens))
        wait_all(b, [b.client.submit("openai", PROMPT, model=MODEL, max_tokens=max_tokens).job_id
                     for _ in range(200)], 120)
        start = time.perf_counter()
        ids = [b.client.submit("openai", PROMPT, model=MODEL, max_tokens=max_tokens).job_id for _ in range(jobs)]
        ok = wait_all(b, ids, 600)
        queued_s = time.perf_counter() - start
    return {"jobs": jobs, "concurrency": concurrency, "queued_jobs_s": jobs / queued_s,
            "direct_jobs_s": jobs / direct_s, "ratio": direct_s / queued_s, "succeeded": ok}


def bench_capacity(streams: int = 1000, pool: str = "threads") -> dict[str, float]:
    """Concurrent in-flight streams one worker process holds, and its memory."""
    # Streams of 40 s, so that all of them are open at once however long the worker takes to start them.
    sim = ["--ttft-ms", "0", "--tokens-per-second", "2"]
    with Bench(concurrency=streams, sim_args=sim, pool=pool) as b:
        idle_rss = rss_mib(b.worker_pid())
        ids = [b.client.submit("openai", PROMPT, model=MODEL, max_tokens=80).job_id for _ in range(streams)]
        peak_rss, peak_streams = idle_rss, 0
        done = threading.Event()
        waiter = threading.Thread(target=lambda: (wait_all(b, ids, 600), done.set()), daemon=True)
        waiter.start()
        while not done.wait(0.5):
            peak_rss = max(peak_rss, rss_mib(b.worker_pid()))
            peak_streams = max(peak_streams, int(b.sim_stats().get("concurrent_streams", 0)))
        stats = b.sim_stats()
        peak_streams = max(peak_streams, int(stats.get("peak_concurrent_streams", 0)))
    return {"streams": streams, "pool": pool, "peak_concurrent_streams": peak_streams,
            "idle_rss_mib": idle_rss, "peak_rss_mib": peak_rss,
            "kib_per_stream": (peak_rss - idle_rss) * 1024 / max(1, peak_streams)}


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)
