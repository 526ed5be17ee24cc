"""Benchmarks of the queue path against a direct client, on the same simulator in the same run.

    multillm bench throughput --markdown

Each figure is measured here, on this machine, with the peer beside it; timings are medians and
percentiles, never a single run.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from multillm.common import constants
from multillm.common.errors import ConfigurationError
from multillm.common.settings import load_settings
from multillm.producers.bench.peers import PlainCelery, import_litellm, litellm_jobs, start_plain_worker
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem, SystemOptions

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
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")), 0)  # 0: exited
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    env: dict[str, str] = field(default_factory=dict)  # more settings for every process of the system

    def __enter__(self) -> Bench:
        env = {"OPENAI_API_KEY": "", "LOG_LEVEL": "warning", "MULTILLM_JOB_DEADLINE_S": "600",
               "MULTILLM_TASK_EVENTS": "true" if self.events else "false", **self.env}
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

    def redis_pid(self) -> int | None:
        """The Redis server the system started (None when it uses one given by REDIS_URL)."""
        return self.system.processes[0].pid if self.system.processes and not self.system.settings.redis_url else None

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
        found = b.client.redis.mget([constants.result(j) for j in pending])
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


@dataclass
class _Systems:
    """The four systems of the throughput run, on one simulator. Each runs `n` jobs and answers
    (seconds from the first request or submit to the last chunk or result, jobs that succeeded)."""

    b: Bench
    plain: PlainCelery
    plain_pid: int
    concurrency: int
    max_tokens: int

    def direct(self, n: int) -> tuple[float, int]:
        return asyncio.run(_direct_jobs(self.b.base, n, self.concurrency, self.max_tokens)), n

    def litellm(self, n: int) -> tuple[float, int]:
        took, failed = asyncio.run(litellm_jobs(self.b.base, n, self.concurrency, PROMPT, MODEL, self.max_tokens))
        return took, n - failed

    def celery(self, n: int) -> tuple[float, int]:
        took, texts = self.plain.run(n, PROMPT, MODEL, self.max_tokens)
        return took, sum(1 for t in texts if len(t.split()) == self.max_tokens)

    def http_pid(self, name: str) -> int:
        """The process that streams from the provider for system `name`."""
        return {"multillm": self.b.worker_pid(), "celery": self.plain_pid}.get(name, os.getpid())

    def multillm(self, n: int) -> tuple[float, int]:
        start = time.perf_counter()
        ids = [self.b.client.submit("openai", PROMPT, model=MODEL, max_tokens=self.max_tokens).job_id for _ in range(n)]
        ok = wait_all(self.b, ids, 600)
        return time.perf_counter() - start, ok


def bench_throughput(jobs: int = 2000, concurrency: int = 100, max_tokens: int = 16, rounds: int = 3) -> dict[str, Any]:
    """Jobs per second for short streamed jobs at saturation: multillm, a direct asyncio client,
    LiteLLM's Router and a plain Celery task, in turn, `rounds` times, on one simulator."""
    import_litellm()  # fail before starting anything when the peer is missing
    sim = ["--ttft-ms", "0", "--tokens-per-second", "0"]
    seconds: dict[str, list[float]] = {"multillm": [], "direct": [], "litellm": [], "celery": []}
    ok: dict[str, int] = dict.fromkeys(seconds, 0)
    busy: dict[str, list[float]] = {name: [] for name in seconds}  # CPU share of the process doing the HTTP work
    spent: dict[str, float] = dict.fromkeys([*seconds, "redis"], 0.0)  # CPU seconds, all rounds
    with Bench(concurrency=concurrency, sim_args=sim) as b:
        plain = PlainCelery(b.system.redis_url)
        worker = start_plain_worker(b.system.worker_env(), concurrency)
        b.system.processes.append(worker)  # stopped with the system
        try:
            plain.wait_ready(worker)
            systems = _Systems(b, plain, worker.pid, concurrency, max_tokens)
            runs = {name: getattr(systems, name) for name in seconds}
            for run in runs.values():
                run(200)  # warm connections and code paths
            for _ in range(rounds):
                for name, run in runs.items():
                    cpu, redis_cpu = cpu_seconds(systems.http_pid(name)), _redis_cpu(b)
                    took, succeeded = run(jobs)
                    used = cpu_seconds(systems.http_pid(name)) - cpu
                    seconds[name].append(took)
                    busy[name].append(used / took)
                    spent[name] += used
                    if name == "multillm":
                        spent["redis"] += _redis_cpu(b) - redis_cpu
                    ok[name] += succeeded
        finally:
            plain.close()
    figures = _throughput_figures(jobs, concurrency, max_tokens, seconds, ok)
    figures.update({f"{name}_http_process_cpu": statistics.median(share) for name, share in busy.items()})
    figures.update(_cpu_per_chunk(spent, jobs * rounds * max_tokens))
    return figures


def _redis_cpu(b: Bench) -> float:
    pid = b.redis_pid()
    return cpu_seconds(pid) if pid else 0.0


def _cpu_per_chunk(spent: dict[str, float], chunks: int) -> dict[str, float]:
    """CPU seconds per 1,000 streamed chunks of the process streaming from the provider (the worker, the
    direct client's process, ...), and for multillm also of the Redis server while multillm ran."""
    per = {f"{name}_cpu_s_per_1000_chunks": used * 1000 / chunks for name, used in spent.items()}
    per["multillm_cpu_ratio_to_direct"] = per["multillm_cpu_s_per_1000_chunks"] / per["direct_cpu_s_per_1000_chunks"]
    return per


def _throughput_figures(jobs: int, concurrency: int, max_tokens: int, seconds: dict[str, list[float]],
                        ok: dict[str, int]) -> dict[str, Any]:
    rates = {name: jobs / statistics.median(took) for name, took in seconds.items()}
    figures: dict[str, Any] = {"jobs": jobs, "concurrency": concurrency, "max_tokens": max_tokens,
                               "rounds": len(seconds["direct"])}
    for name in seconds:
        figures[f"{name}_jobs_s"] = rates[name]
        figures[f"{name}_ratio"] = rates[name] / rates["direct"]
        figures[f"{name}_succeeded"] = ok[name]
        figures[f"{name}_rounds_jobs_s"] = [jobs / s for s in seconds[name]]
    figures["queued_jobs_s"], figures["ratio"] = rates["multillm"], figures["multillm_ratio"]  # earlier names
    return figures


POOLS = ("threads", "prefork", "gevent")


def pss_mib(pid: int) -> float:
    """Proportional memory of a process and its children, in MiB: pages a forked child shares with
    its parent count once, split between them (RSS would count them in every child)."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return total / 1024


def require_pool(pool: str) -> None:
    if pool not in POOLS:
        raise ConfigurationError(f"--pool: {pool!r} is not one of {', '.join(POOLS)} or all")
    if pool == "gevent":
        try:
            import gevent  # noqa: F401
        except ImportError:
            raise ConfigurationError("the gevent pool needs gevent: pip install -e '.[bench]'") from None


def submit_many(b: Bench, jobs: int, max_tokens: int, threads: int = 16) -> list[str]:
    """Submit from several threads: one at a time, on a loaded machine, submitting 10,000 jobs took
    longer than the streams last, and the run measured the submitter instead of the worker."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: b.client.submit("openai", PROMPT, model=MODEL, max_tokens=max_tokens).job_id,
                             range(jobs)))


def stream_shape(streams: int) -> tuple[float, int]:
    """Token rate and answer length for the capacity run, so that every stream is open at once however
    long the worker takes to start them, and the chunks stay within what the machine can publish.

    Up to 1,000 streams: 80 tokens at 2 per second (40 s; the simulator's answers are otherwise capped
    at 32 tokens). Beyond: streams of streams/30 seconds (333 s for 10,000) at 1,000 chunks/s in all."""
    if streams <= 1000:
        return 2.0, 80
    tps = 1000 / streams
    return tps, max(8, round(tps * streams / 30))


def bench_capacity(streams: int = 1000, pool: str = "threads", prefork_children: int = 64) -> dict[str, Any]:
    """Concurrent in-flight streams one worker (process tree) holds, and its memory.

    Threads and gevent: one process with `streams` slots. Prefork: a child process per stream, so
    `prefork_children` slots (a thousand processes do not fit)."""
    require_pool(pool)
    slots = min(streams, prefork_children) if pool == "prefork" else streams
    tps, tokens = stream_shape(slots)
    sim = ["--ttft-ms", "0", "--tokens-per-second", f"{tps:g}", "--max-tokens", str(tokens)]
    # Beyond 1,000 streams, leases of 60 s: on a loaded machine one pass of a gevent worker's event loop
    # over thousands of ready streams took longer than the default 10 s, and every lease lapsed.
    env = {"MULTILLM_LEASE_TTL_S": "60", "MULTILLM_JOB_DEADLINE_S": "3600"} if slots > 1000 else {}
    with Bench(concurrency=slots, sim_args=sim, pool=pool, env=env) as b:
        pid = b.worker_pid()
        idle_rss, idle_pss = rss_mib(pid), pss_mib(pid)
        processes = 1 + len(_children(pid))
        ids = submit_many(b, slots, tokens)
        peak_rss, peak_pss, peak_streams = idle_rss, idle_pss, 0
        # Time for the last job to start (at 10 jobs/s at worst) and stream, with a margin.
        with ThreadPoolExecutor(1) as waiter:
            answered = waiter.submit(wait_all, b, ids, max(600.0, slots / 10 + 2 * tokens / tps))
            while not answered.done():
                peak_rss, peak_pss = max(peak_rss, rss_mib(pid)), max(peak_pss, pss_mib(pid))
                peak_streams = max(peak_streams, int(b.sim_stats().get("concurrent_streams", 0)))
                time.sleep(0.5)
            ok = answered.result()  # raises what stopped the wait (jobs without a result in time)
        peak_streams = max(peak_streams, int(b.sim_stats().get("peak_concurrent_streams", 0)))
    return {"pool": pool, "slots": slots, "processes": processes, "succeeded": ok, "stream_s": tokens / tps,
            "tokens_per_second": tps,
            "peak_concurrent_streams": peak_streams, "idle_rss_mib": idle_rss, "peak_rss_mib": peak_rss,
            "idle_pss_mib": idle_pss, "peak_pss_mib": peak_pss,
            "kib_per_stream": (peak_pss - idle_pss) * 1024 / max(1, peak_streams),
            "kib_per_stream_total": peak_pss * 1024 / max(1, peak_streams)}


def bench_capacity_pools(pools: list[str], streams: int = 1000, prefork_children: int = 64) -> list[dict[str, Any]]:
    """One row per pool; a pool whose worker fails to start gets a row saying so, the others still run."""
    for pool in pools:
        require_pool(pool)
    rows: list[dict[str, Any]] = []
    for pool in pools:
        try:
            rows.append(bench_capacity(streams, pool, prefork_children))
        except ConfigurationError as exc:
            rows.append({"pool": pool, "error": str(exc)})
    return rows


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)
