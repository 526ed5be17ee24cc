"""Where a job waits for quota: in its worker slot, or back on the queue.

    multillm bench quota-wait

One worker process (8 slots) serves the OpenAI and Anthropic queues. OpenAI's key is limited to 5
requests per 10 s; 30 OpenAI jobs are submitted, then 30 Anthropic jobs (no limit). Measured for
each system in the same run: how long the Anthropic jobs take (submit to result, p50 and p95), and
how long until every job of both providers has finished.

- multillm: waits up to MULTILLM_QUOTA_INLINE_WAIT_S (5 s) are spent in the slot, longer ones hand
  the job back to the queue with a countdown (not an attempt), so the slot serves other jobs.
- waiting in the slot: the same system with an unlimited inline wait, which is what a task that
  sleeps until its limiter allows it (or Celery's own `rate_limit` per task) amounts to.
"""

from __future__ import annotations

import json
import time
from typing import Any

from multillm.common import constants
from multillm.common.settings import load_settings
from multillm.producers.bench.throughput import percentile
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem, SystemOptions

LIMITED, FREE, JOBS, SLOTS = "openai", "anthropic", 30, 8
SIM_ARGS = ["--ttft-ms", "20", "--tokens-per-second", "0"]


def _finished_at(client: MultiLLM, ids: list[str], timeout: float) -> dict[str, float]:
    """When each job's result appeared (polled every 50 ms)."""
    seen: dict[str, float] = {}
    end = time.monotonic() + timeout
    while len(seen) < len(ids) and time.monotonic() < end:
        pending = [j for j in ids if j not in seen]
        now = time.monotonic()
        for job_id, raw in zip(pending, client.redis.mget([constants.result(j) for j in pending]), strict=True):
            if raw is not None and json.loads(raw)["status"] == "succeeded":
                seen[job_id] = now
        time.sleep(0.05)
    if len(seen) < len(ids):
        raise RuntimeError(f"{len(ids) - len(seen)} jobs had no successful result within {timeout:g}s")
    return seen


def run(inline_wait_s: float) -> dict[str, Any]:
    env = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "LOG_LEVEL": "error", "MULTILLM_JOB_DEADLINE_S": "600",
           "OPENAI_RATE_LIMIT_ENABLED": "true", "OPENAI_RATE_LIMIT_MAX_REQUESTS": "5",
           "OPENAI_RATE_LIMIT_WINDOW_MS": "10000", "MULTILLM_QUOTA_INLINE_WAIT_S": str(inline_wait_s)}
    settings = load_settings(env)
    options = SystemOptions(providers=[LIMITED, FREE], concurrency=SLOTS, simulator_args=SIM_ARGS,
                            extra_env=env, one_worker=True)
    with EmbeddedSystem(settings, options) as system, MultiLLM(system.redis_url, settings=settings) as client:
        start = time.monotonic()
        limited = [client.submit(LIMITED, "Name a river.", max_tokens=8).job_id for _ in range(JOBS)]
        free_submitted = {}
        for _ in range(JOBS):
            free_submitted[client.submit(FREE, "Name a mountain.", max_tokens=8).job_id] = time.monotonic()
        free_done = _finished_at(client, list(free_submitted), 300)
        _finished_at(client, limited, 300)
        everything_s = time.monotonic() - start
    waits = [free_done[j] - at for j, at in free_submitted.items()]
    return {"system": "multillm" if inline_wait_s < 60 else "wait in slot", "inline_wait_s": inline_wait_s,
            "free_p50_s": percentile(waits, 50), "free_p95_s": percentile(waits, 95), "all_done_s": everything_s}


def bench_quota_wait() -> list[dict[str, Any]]:
    return [run(5.0), run(3600.0)]
