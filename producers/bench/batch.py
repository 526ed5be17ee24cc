"""A large batch on this machine: wall time, jobs per second and the batch command's peak memory.

    multillm bench batch --lines 10000
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from multillm.common.settings import load_settings
from multillm.producers.batch.run import BatchRun, parse_targets
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem, SystemOptions

PROVIDERS = ["openai", "anthropic", "google"]


def write_dataset(path: Path, lines: int) -> None:
    with path.open("w") as f:
        for i in range(lines):
            f.write(json.dumps({"id": f"q{i}", "prompt": f"Question {i}: name a river.", "max_tokens": 16,
                                "expected": "river"}) + "\n")


def bench_batch(lines: int = 10_000, window: int = 500, concurrency: int = 64) -> dict[str, Any]:
    env = {spec_key: "" for spec_key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_AI_API_KEY")}
    env.update({"LOG_LEVEL": "warning", "MULTILLM_JOB_DEADLINE_S": "600"})
    settings = load_settings(env)
    options = SystemOptions(providers=PROVIDERS, concurrency=concurrency, extra_env=env,
                            simulator_args=["--ttft-ms", "20", "--tokens-per-second", "0"])
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "batch.jsonl", Path(tmp) / "out"
        write_dataset(data, lines)
        with EmbeddedSystem(settings, options) as system, MultiLLM(system.redis_url, settings=settings) as client:
            start = time.perf_counter()
            progress = BatchRun(client, data, parse_targets(PROVIDERS, []), out, window=window).run()
            wall = time.perf_counter() - start
        jobs = sum(progress.done.values())
        failed = sum(progress.failed.values())
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"lines": lines, "providers": len(PROVIDERS), "jobs": jobs, "failed": failed, "wall_s": wall,
            "jobs_per_s": jobs / wall, "peak_rss_mib_batch_command": peak_mib, "window": window,
            "worker_concurrency": concurrency}
