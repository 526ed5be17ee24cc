"""Quota accuracy, 1, 2 and 4 worker processes.

    multillm bench quota [--quota-modes simulator,strict,quantized,learned]

`simulator`: the simulator enforces a quota itself (600 requests/min and a token limit per key,
sliding 60 s window, 429 beyond it) for 60 s; peers on it in the same run: multillm's Redis quota
(OPENAI_RPM, OPENAI_TPM), Celery's own `rate_limit` alone (10/s per worker, the usual way), LiteLLM's
Router with `rpm` set and Redis for cross-instance usage tracking, one process per "worker".

`strict`, `quantized`, `learned`: a strict server of our own in its own process (30 requests per 10 s,
counted at arrival, OpenAI's headers; `strict.py`), with a busy-loop process beside it all. `strict`
configures that exact window; `quantized` only OPENAI_RPM=180; `learned` nothing (a 300-job batch, with
OpenAI's and with Anthropic's headers). LiteLLM's Router (rpm=180, Redis) runs against the same server
under the same load.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from typing import Any

import httpx

from multillm.common import constants
from multillm.common.settings import load_settings
from multillm.producers.bench.strict import Scenario, cpu_load, run_scenario, share_used, strict_server, window_peak
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import free_port, start_redis, stop
from multillm.producers.local.system import EmbeddedSystem, SystemOptions

RPM, TPM, SECONDS, MAX_TOKENS = 600, 100_000, 60.0, 16
PROMPT = "Write one short line about queues."
SIM_ARGS = ["--ttft-ms", "20", "--tokens-per-second", "0", "--quota-rpm", str(RPM), "--quota-tpm", str(TPM)]


def _count_done(client: MultiLLM, ids: list[str]) -> int:
    found = client.redis.mget([constants.result(j) for j in ids])
    return sum(1 for raw in found if raw and json.loads(raw)["status"] == "succeeded")


def run_celery(workers: int, mode: str) -> dict[str, Any]:
    """`multillm` (global quota) or `celery` (rate_limit only) with `workers` worker processes."""
    env = {"OPENAI_API_KEY": "", "LOG_LEVEL": "error", "MULTILLM_JOB_DEADLINE_S": "600",
           "MULTILLM_MAX_ATTEMPTS": "20"}
    env.update({"OPENAI_RPM": str(RPM), "OPENAI_TPM": str(TPM)} if mode == "multillm" else
               {"OPENAI_TASK_RATE_LIMIT": f"{RPM // 60}/s"})
    settings = load_settings(env)
    options = SystemOptions(providers=["openai"], concurrency=16, simulator_args=SIM_ARGS, extra_env=env)
    with EmbeddedSystem(settings, options) as system, MultiLLM(system.redis_url, settings=settings) as client:
        for _ in range(workers - 1):
            system.start_worker("openai")
        system.wait_for_workers(list(system.workers))
        start = time.monotonic()
        ids = [client.submit("openai", PROMPT, max_tokens=MAX_TOKENS).job_id for _ in range(int(RPM * 1.6))]
        time.sleep(max(0.0, SECONDS - (time.monotonic() - start)))
        done = _count_done(client, ids)
        stats = httpx.get(f"{system.simulator_url}/_simulator/stats", timeout=5).json()
    return {"system": mode, "workers": workers, "succeeded": done, "share": done / RPM,
            "429s": stats["rate_limited"].get("openai", 0)}


def _litellm_worker(base: str, redis_port: int, seconds: float, out: Any, ready: Any, rpm: int = RPM,
                    tpm: int | None = TPM) -> None:
    """One LiteLLM "worker": imports and builds its Router, waits for the others (importing litellm takes
    seconds on a busy machine), then sends for `seconds`."""
    import asyncio
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch of price tables
    import litellm
    from litellm import Router

    litellm.suppress_debug_info = True
    import logging

    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    limits = {"rpm": rpm, **({"tpm": tpm} if tpm else {})}
    router = Router(model_list=[{"model_name": "m", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": base, "api_key": "bench-key", **limits}}],
        redis_host="127.0.0.1", redis_port=redis_port, routing_strategy="usage-based-routing-v2", num_retries=0)

    async def one(done: list[int]) -> None:
        while time.time() < until:
            try:
                response = await router.acompletion(model="m", messages=[{"role": "user", "content": PROMPT}],
                                                    max_tokens=MAX_TOKENS, stream=True)
                async for _ in response:
                    pass
                done[0] += 1
            except Exception:  # router says no deployment is free, or the simulator said 429
                await asyncio.sleep(0.5)

    async def main() -> int:
        done = [0]
        await asyncio.gather(*(one(done) for _ in range(16)))
        return done[0]

    ready.wait()
    until = time.time() + seconds
    out.put(asyncio.run(main()))


def run_litellm(workers: int) -> dict[str, Any]:
    from multillm.producers.simulator import SimulatorConfig, SimulatorServer

    redis_process, url = start_redis()
    config = SimulatorConfig(ttft_ms=20, tokens_per_second=0, quota_rpm=RPM, quota_tpm=TPM)
    try:
        with SimulatorServer(port=free_port(), config=config) as sim:
            queue: Any = multiprocessing.Queue()
            ready: Any = multiprocessing.Barrier(workers)
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            args = (sim.base_urls()["openai"], port, SECONDS, queue, ready)
            procs = [multiprocessing.Process(target=_litellm_worker, args=args) for _ in range(workers)]
            for p in procs:
                p.start()
            done = sum(queue.get(timeout=SECONDS + 180) for _ in procs)
            for p in procs:
                p.join(10)
            stats = sim.simulator.stats.as_dict()
    finally:
        stop([redis_process])
    return {"system": "litellm", "workers": workers, "succeeded": done, "share": done / RPM,
            "429s": stats["rate_limited"].get("openai", 0)}


STRICT_LIMIT, STRICT_WINDOW_MS, STRICT_WINDOWS, LEARNED_JOBS = 30, 10_000, 3, 300
MODES = ("simulator", "strict", "quantized", "learned")


def run_litellm_strict(workers: int) -> dict[str, Any]:
    """LiteLLM's Router (rpm only: it has no other period) against the strict server, under CPU load."""
    rpm = STRICT_LIMIT * 60_000 // STRICT_WINDOW_MS
    redis_process, url = start_redis()
    try:
        with cpu_load(), strict_server(STRICT_LIMIT, STRICT_WINDOW_MS, "openai") as base:
            queue: Any = multiprocessing.Queue()
            ready: Any = multiprocessing.Barrier(workers)
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            args = (f"{base}/v1", port, STRICT_WINDOWS * STRICT_WINDOW_MS / 1000, queue, ready, rpm, None)
            procs = [multiprocessing.Process(target=_litellm_worker, args=args) for _ in range(workers)]
            for p in procs:
                p.start()
            done = sum(queue.get(timeout=STRICT_WINDOWS * STRICT_WINDOW_MS / 1000 + 180) for _ in procs)
            for p in procs:
                p.join(10)
            stats = httpx.get(f"{base}/_stats", timeout=5).json()
    finally:
        stop([redis_process])
    window_s = STRICT_WINDOW_MS / 1000
    return {"system": "litellm quantized", "workers": workers, "succeeded": done, "429s": len(stats["refused"]),
            "peak": window_peak(stats["accepted"], window_s), "limit": STRICT_LIMIT, "window_s": window_s,
            "share": round(share_used(stats["accepted"], STRICT_LIMIT, window_s, STRICT_WINDOWS), 3)}


def strict_rows(workers: int, modes: tuple[str, ...], litellm: bool) -> list[dict[str, Any]]:
    jobs = STRICT_LIMIT * STRICT_WINDOWS + STRICT_LIMIT // 2
    rows = [run_scenario(Scenario(mode, workers, STRICT_LIMIT, STRICT_WINDOW_MS, jobs), measure_windows=STRICT_WINDOWS)
            for mode in ("strict", "quantized") if mode in modes]
    if litellm and "quantized" in modes:
        rows.append(_peer(lambda: run_litellm_strict(workers), "litellm quantized", workers))
    return rows


def learned_rows() -> list[dict[str, Any]]:
    rows = []
    for provider in ("openai", "anthropic"):
        row = run_scenario(Scenario("learned", 2, STRICT_LIMIT, STRICT_WINDOW_MS, LEARNED_JOBS, provider=provider,
                                    headers=provider), measure_windows=STRICT_WINDOWS)
        rows.append({**row, "system": f"multillm learned ({provider} headers)"})
    return rows


def _peer(run: Any, system: str, workers: int) -> dict[str, Any]:
    try:
        return dict(run())
    except ImportError:
        return {"system": system, "workers": workers, "error": "litellm not installed"}


def bench_quota(worker_counts: tuple[int, ...] = (1, 2, 4), litellm: bool = True,
                modes: tuple[str, ...] = MODES) -> list[dict[str, Any]]:
    rows = []
    for n in worker_counts:
        if "simulator" in modes:
            rows.append(run_celery(n, "multillm"))
            rows.append(run_celery(n, "celery"))
            if litellm:
                rows.append(_peer(lambda n=n: run_litellm(n), "litellm", n))
        rows += strict_rows(n, modes, litellm)
    if "learned" in modes:
        rows += learned_rows()
    return rows
