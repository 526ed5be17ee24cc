"""The result an attempt ends with (text, usage, cost, timings, path), stored once with the terminal
message; the attempt that stored it counts it in metrics and usage analytics."""

from __future__ import annotations

import time
from typing import Any

import redis

from multillm.common.jobs import Job, JobResult, JobStatus, Timings
from multillm.common.model_facts import job_cost, load_overrides
from multillm.common.run.record import account
from multillm.common.run.runtime import Runtime
from multillm.common.schemas import ChatResult, Usage
from multillm.common.settings import get_settings
from multillm.common.stream import Publisher


def cost_usd(job: Job, usage: Usage) -> float | None:
    """The call's cost (common/model_facts.py): the provider's reported cost, else the MULTILLM_MODELS
    override's or genai-prices' prices; None when the model's price is unknown, never 0."""
    return job_cost(job.provider, job.model, usage, load_overrides(get_settings().models_file))


def job_result(job: Job, attempt: int, out: ChatResult, timings: Timings, status: JobStatus,
               error: dict[str, Any] | None = None, *, cached: bool = False, **extra: Any) -> JobResult:
    """The result of this attempt; an error result keeps the usage (it was paid for) but not the text.
    An answer from the response cache costs nothing."""
    timings.finished_at = time.time()
    return JobResult(
        job_id=job.job_id, status=status, provider=job.provider, model=job.model, tenant=job.tenant,
        attempts=attempt, text=out.text if not error else "", tool_calls=out.tool_calls if not error else [],
        usage=out.usage, cost_usd=0.0 if cached else cost_usd(job, out.usage), finish_reason=out.finish_reason, error=error,
        timings=timings, path=[*job.path, f"{job.provider}/{job.model}"], cached=cached, **extra,
    )


def store(rt: Runtime, pub: Publisher, kind: str, result: JobResult, pipe: redis.client.Pipeline | None = None,
          **fields: Any) -> bool:
    """The terminal message and the result, written together once; only the attempt that wrote them
    counts it (in `pipe` when given, for the caller to send). True if this attempt wrote them."""
    if pub.finish(kind, result.model_dump_json(), rt.settings.result_ttl_s, **fields) > 0:
        account(rt, result, pipe)
        return True
    return False
