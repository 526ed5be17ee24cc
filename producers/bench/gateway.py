"""`multillm bench gateway`: the HTTP gateway beside the Python API, a direct client and LiteLLM's
proxy, on one simulator and the same cores, in one run.

    multillm bench gateway --markdown

- Latency: time from sending a streamed chat to its first content chunk, sequential requests,
  interleaved across the four paths (direct to the simulator, the Python API through the queue,
  the gateway through the queue, LiteLLM's proxy straight to the simulator); p50 and p99, and the
  gateway's added latency over the Python API path.
- Throughput: streamed chat completions per second at saturation (many concurrent clients, every
  stream read to its end) for the direct client, the gateway and LiteLLM's proxy.

LiteLLM's proxy is `pip install 'litellm[proxy]'`, run as `litellm --config <file>` with
`LITELLM_LOCAL_MODEL_COST_MAP=True` (no network at start-up), pointed at the simulator's OpenAI URL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import redis

from multillm.common.errors import ConfigurationError
from multillm.common.tenants import Tenants
from multillm.producers.bench.throughput import MODEL, PROMPT, Bench, _has_content, percentile
from multillm.producers.local.embedded import free_port, spawn, stop
from multillm.producers.simulator.config import SIMULATED_KEY

LITELLM_HINT = "pip install 'litellm[proxy]'"


def litellm_command() -> str:
    """The `litellm` beside this Python first: another environment's may lack the proxy's packages."""
    beside = Path(sys.executable).with_name("litellm")
    found = str(beside) if beside.exists() else shutil.which("litellm") or ""
    if not found:
        raise ConfigurationError(f"litellm: the proxy is not installed; {LITELLM_HINT}")
    return found


def start_litellm_proxy(openai_base: str, folder: Path, master_key: str) -> tuple[Popen[bytes], str]:
    """LiteLLM's proxy on a free port, one model routed to the simulator, callers authenticated with
    `master_key` (as the gateway authenticates its tenants); its base URL once healthy."""
    config = folder / "litellm.yaml"
    config.write_text(f"model_list:\n  - model_name: {MODEL}\n    litellm_params:\n      model: openai/{MODEL}\n"
                      f"      api_base: {openai_base}\n      api_key: {SIMULATED_KEY}\n"
                      f"general_settings:\n  master_key: {master_key}\n")
    port = free_port()
    env = dict(os.environ, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR")
    process = spawn([litellm_command(), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                    env=env, log=folder / "litellm.log")
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 180
    while True:
        try:
            httpx.get(f"{url}/health/liveliness", timeout=1).raise_for_status()
            return process, url
        except httpx.HTTPError:
            if time.monotonic() > end or process.poll() is not None:
                stop([process])
                raise ConfigurationError(f"LiteLLM's proxy did not start (log: {folder / 'litellm.log'})") from None
            time.sleep(0.2)


def chat_body(model: str, max_tokens: int) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": True, "max_tokens": max_tokens}


def first_chunk(http: httpx.Client, url: str, key: str, model: str, max_tokens: int) -> float:
    """Seconds from sending a streamed chat to its first content chunk; the stream is read to its end."""
    start = time.perf_counter()
    first = None
    with http.stream("POST", f"{url}/chat/completions", json=chat_body(model, max_tokens),
                     headers={"Authorization": f"Bearer {key}"}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if first is None and line.startswith("data: {") and _has_content(line[6:]):
                first = time.perf_counter() - start
    if first is None:
        raise RuntimeError(f"{url}: a stream without content")
    return first


async def saturate(url: str, key: str, model: str, jobs: int, concurrency: int, max_tokens: int) -> tuple[float, int]:
    """Streamed requests per second with `concurrency` clients, and how many ended with [DONE]."""
    limit = asyncio.Semaphore(concurrency)
    ok = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency), timeout=120) as http:
        async def one() -> None:
            nonlocal ok
            async with limit:
                try:
                    async with http.stream("POST", f"{url}/chat/completions", json=chat_body(model, max_tokens),
                                           headers={"Authorization": f"Bearer {key}"}) as response:
                        lines = [line async for line in response.aiter_lines()]
                        ok += response.status_code == 200 and "data: [DONE]" in lines
                except httpx.TransportError:  # a dropped connection is a stream not completed, not the end of the run
                    pass

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(jobs)))
        return jobs / (time.perf_counter() - start), ok


def bench_gateway(samples: int = 200, jobs: int = 1000, concurrency: int = 64, max_tokens: int = 16) -> dict[str, Any]:
    litellm_command()  # fail before minutes of set-up when the peer is missing
    sim_args = ["--ttft-ms", "20", "--tokens-per-second", "0"]
    with Bench(concurrency=200, sim_args=sim_args) as b, TemporaryDirectory() as tmp, httpx.Client(timeout=60) as http:
        gateway = b.system.start_gateway() + "/v1"
        key = Tenants(redis.Redis.from_url(b.system.redis_url)).create(f"bench-{os.getpid()}", shared_keys=True)
        master_key = f"sk-{secrets.token_hex(32)}"
        proxy, litellm_url = start_litellm_proxy(b.base, Path(tmp), master_key)
        try:
            paths: dict[str, Callable[[], float]] = {
                "direct": lambda: first_chunk(http, b.base, "direct-key", MODEL, 8),
                "python_api": lambda: b.queued_first_chunk(8),
                "gateway": lambda: first_chunk(http, gateway, key, f"openai/{MODEL}", 8),
                "litellm_proxy": lambda: first_chunk(http, litellm_url, master_key, MODEL, 8),
            }
            figures: dict[str, Any] = {"samples": samples, "jobs": jobs, "concurrency": concurrency,
                                       "max_tokens": max_tokens, **_latency(paths, samples)}
            targets = {"direct": (b.base, "direct-key", MODEL), "gateway": (gateway, key, f"openai/{MODEL}"),
                       "litellm_proxy": (litellm_url, master_key, MODEL)}
            for name, (url, auth, model) in targets.items():
                asyncio.run(saturate(url, auth, model, min(100, jobs), concurrency, max_tokens))  # warm-up
                rate, ok = asyncio.run(saturate(url, auth, model, jobs, concurrency, max_tokens))
                figures[f"{name}_streams_s"], figures[f"{name}_completed"] = rate, ok
            for name in ("gateway", "litellm_proxy"):
                figures[f"{name}_ratio_to_direct"] = figures[f"{name}_streams_s"] / figures["direct_streams_s"]
            return figures
        finally:
            stop([proxy])


def _latency(paths: dict[str, Callable[[], float]], samples: int) -> dict[str, float]:
    """p50/p99 in ms per path, interleaved so drift on a shared machine hits every path alike."""
    for _ in range(10):  # warm connections and code paths
        for measure in paths.values():
            measure()
    seen: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(samples):
        for name, measure in paths.items():
            seen[name].append(measure())
    ms: dict[str, float] = {}
    for name, values in seen.items():
        ms[f"{name}_p50_ms"] = 1000 * percentile(values, 50)
        ms[f"{name}_p99_ms"] = 1000 * percentile(values, 99)
    for q in ("p50", "p99"):
        ms[f"gateway_added_{q}_ms"] = ms[f"gateway_{q}_ms"] - ms[f"python_api_{q}_ms"]
        ms[f"litellm_proxy_added_{q}_ms"] = ms[f"litellm_proxy_{q}_ms"] - ms[f"direct_{q}_ms"]
    return ms
