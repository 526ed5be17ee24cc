"""Moving a job to another provider: the next one in the current fallback order that it has not tried
and whose circuit is not open, with that provider's model for the job's tier."""

from __future__ import annotations

from multillm.common import constants
from multillm.common.jobs import Job
from multillm.common.provider_health import read_order
from multillm.common.routing import next_hop
from multillm.common.run.runtime import Runtime


def next_hop_for(rt: Runtime, job: Job) -> tuple[str, str] | None:
    order = read_order(rt.redis, list(rt.settings.providers))
    down = {p for p in order if rt.circuit.state(p) == "open"}
    return next_hop([*job.path, f"{job.provider}/{job.model}"], job.tier, order, rt.settings.tier_map(), down)


def move_job(rt: Runtime, job: Job, provider: str, model: str) -> None:
    """Rewrite the job record for its next provider, which starts with no attempts and no failures."""
    moved = job.model_copy(update={"provider": provider, "model": model,
                                   "path": [*job.path, f"{job.provider}/{job.model}"]})
    moved.options = moved.options.model_copy(update={"model": model})
    rt.redis.set(constants.job(job.job_id), moved.model_dump_json(), keepttl=True)
    rt.redis.delete(constants.attempts(job.job_id), constants.failures(job.job_id))

