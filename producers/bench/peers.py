"""Peers that `multillm bench throughput` measures beside multillm, on the same simulator in the same run.

- The plain Celery task: what a user writes by hand instead of multillm. A minimal Celery app on the
  same Redis, one worker process (threads pool), a task that streams the answer from the provider
  with httpx and returns the text through Celery's Redis result backend. No per-chunk publishing, no
  replay log, no lease, no quota: the floor of a queue-based design.

      celery -A multillm.producers.bench.plain_celery worker -Q multillm-bench.plain -P threads -c 100

- LiteLLM's Router: streaming `acompletion` from one asyncio process, like the direct client.

LiteLLM is an optional dependency: `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from subprocess import Popen
from typing import Any

from celery import Celery
from celery.result import AsyncResult, ResultSet

from multillm.common.errors import ConfigurationError
from multillm.producers.local.embedded import python_module, spawn

QUEUE = "multillm-bench.plain"
TASK = "multillm_bench.plain_stream_chat"
INSTALL_HINT = "pip install -e '.[bench]'"


def make_app(redis_url: str) -> Celery:
    """Celery's defaults, as a hand-written app would have them, plus the Redis result backend."""
    plain = Celery("multillm_bench_plain", broker=redis_url, backend=redis_url)
    plain.conf.update(task_default_queue=QUEUE, broker_connection_retry_on_startup=True,
                      worker_hijack_root_logger=False)
    return plain


def chat_body(prompt: str, model: str, max_tokens: int) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True,
            "stream_options": {"include_usage": True}, "max_tokens": max_tokens}


def content_of(data: str) -> str:
    """The text of one OpenAI streaming chunk (`data: ` already removed)."""
    choices = json.loads(data).get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


def start_plain_worker(env: dict[str, str], concurrency: int, name: str = "plain") -> Popen[bytes]:
    """One worker process for the plain task; `env` carries REDIS_URL, OPENAI_BASE_URL, OPENAI_API_KEY."""
    args = python_module("celery", "-A", "multillm.producers.bench.plain_celery", "worker", "-Q", QUEUE, "-P", "threads",
                         "-c", str(concurrency), "-n", f"{name}-{os.getpid()}@%h", "-l", "warning",
                         "--without-gossip", "--without-mingle")
    return spawn(args, env=env)


class PlainCelery:
    """The producer side of the plain peer: submit jobs, wait for every text."""

    def __init__(self, redis_url: str) -> None:
        self.app = make_app(redis_url)

    def submit(self, prompt: str, model: str, max_tokens: int) -> AsyncResult:
        return self.app.send_task(TASK, args=[prompt, model, max_tokens], queue=QUEUE)

    def run(self, jobs: int, prompt: str, model: str, max_tokens: int, timeout: float = 600) -> tuple[float, list[str]]:
        """Seconds from the first submit to the last result, and the texts."""
        start = time.perf_counter()
        results = ResultSet([self.submit(prompt, model, max_tokens) for _ in range(jobs)], app=self.app)
        texts = results.get(timeout=timeout)
        return time.perf_counter() - start, list(texts)

    def wait_ready(self, worker: Popen[bytes], timeout: float = 60) -> None:
        """A first job answered: the worker is up and connected."""
        end = time.monotonic() + timeout
        probe = self.submit("ready?", "gpt-4o-mini", 1)
        while not probe.ready():
            if worker.poll() is not None:
                raise ConfigurationError(f"the plain Celery worker exited with code {worker.returncode}")
            if time.monotonic() > end:
                raise ConfigurationError(f"the plain Celery worker answered nothing within {timeout:g}s")
            time.sleep(0.05)
        probe.get(timeout=1)

    def close(self) -> None:
        self.app.close()


def import_litellm() -> Any:
    """LiteLLM, quiet and offline (its price table from the package, not the network)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        raise ConfigurationError(f"the LiteLLM peer needs litellm: {INSTALL_HINT}") from None
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return litellm


async def litellm_jobs(base: str, jobs: int, concurrency: int, prompt: str, model: str,
                       max_tokens: int) -> tuple[float, int]:
    """Seconds for `jobs` streamed completions through a Router, `concurrency` at once; and failures."""
    litellm = import_litellm()
    router = litellm.Router(model_list=[{"model_name": "bench", "litellm_params": {
        "model": f"openai/{model}", "api_base": base, "api_key": "bench-key"}}], num_retries=0)
    limit = asyncio.Semaphore(concurrency)
    failed = 0

    async def one() -> None:
        nonlocal failed
        async with limit:
            try:
                response = await router.acompletion(model="bench", messages=[{"role": "user", "content": prompt}],
                                                    max_tokens=max_tokens, stream=True)
                async for _ in response:
                    pass
            except Exception:  # counted and reported; the table shows failures beside the rate
                failed += 1

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(jobs)))
    return time.perf_counter() - start, failed
