"""Redis memory per job, for sizing `maxmemory` (README, "Sizing Redis").

Jobs are submitted with no worker running (what a waiting job holds: its record, the queue message
and its inflight entry), then a worker answers them all (what a finished job holds until its TTLs
run out: record, result, replay log and usage). Memory is Redis's own `used_memory`; the replay log
and the result are also measured apart (MEMORY USAGE), since they expire at different times.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from multillm.common import constants
from multillm.common.settings import load_settings
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import new_password, start_redis, stop
from multillm.producers.local.system import EmbeddedSystem, SystemOptions

NO_KEY = {"OPENAI_API_KEY": ""}  # openai on the simulator


def bench_redis_memory(jobs: int = 2000, max_tokens: int = 100) -> dict[str, Any]:
    process, url = start_redis(password=new_password())
    client = redis.Redis.from_url(url)
    try:
        settings = load_settings({**NO_KEY, "REDIS_URL": url})
        base = int(client.info("memory")["used_memory"])
        with MultiLLM(url, settings=settings) as producer:
            ids = [producer.submit("openai", f"Tell me about item {i}", max_tokens=max_tokens).job_id for i in range(jobs)]
        queued = int(client.info("memory")["used_memory"])
        with tempfile.TemporaryDirectory() as logs:
            options = SystemOptions(providers=["openai"], concurrency=64, log_dir=Path(logs), extra_env=NO_KEY)
            with EmbeddedSystem(settings, options):
                deadline = time.monotonic() + 600
                while sum(v is not None for v in client.mget([constants.result(j) for j in ids])) < jobs:
                    if time.monotonic() > deadline:
                        raise TimeoutError("jobs not answered within 600 s")
                    time.sleep(0.5)
        finished = int(client.info("memory")["used_memory"])
        chunks = client.llen(constants.log(ids[0]))
        log_bytes = sum(client.memory_usage(constants.log(j)) or 0 for j in ids) / jobs
        result_bytes = sum(client.memory_usage(constants.result(j)) or 0 for j in ids) / jobs
    finally:
        client.close()
        stop([process])
    return {"jobs": jobs, "max_tokens": max_tokens, "messages_per_job": chunks,
            "bytes_per_waiting_job": (queued - base) / jobs, "bytes_per_finished_job": (finished - base) / jobs,
            "bytes_replay_log": log_bytes, "bytes_result": result_bytes}
