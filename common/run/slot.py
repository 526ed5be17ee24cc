"""A quota slot around one provider call: reserved in every window of the provider key's rule before
it (a short wait here, a long one hands the job back), a fleet-wide cooldown after a 429, and the
reported usage reconciled with the estimate after it. The reservation is the prompt's count before
the call (common/preflight.py) and the output cap."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from multillm.common import metrics
from multillm.common.errors import RateLimited, RateLimitExceeded
from multillm.common.jobs import Job
from multillm.common.preflight import prepare_call
from multillm.common.quota import TokenCount, rule_for
from multillm.common.run.runtime import Runtime
from multillm.common.schemas import ChatResult, Message


@contextmanager
def quota_slot(rt: Runtime, job: Job, attempt: int, api_key: str, out: ChatResult,
               messages: list[Message] | None = None) -> Iterator[None]:
    """Hold the slot while the body calls the provider with `messages`; `out` is where its usage arrives."""
    rule = rule_for(rt.settings.provider(job.provider), api_key, rt.settings.rate_limit)
    reservation = f"{job.job_id}:{attempt}"

    def wait(seconds: float) -> None:
        metrics.record_quota_wait(job.provider, seconds)
        time.sleep(seconds)

    # The model checked against its live list, `messages` counted, limits checked (common/preflight.py).
    tokens = prepare_call(rt.redis, rt.settings, job, api_key, rt.http_client, messages)
    with ExitStack() as slot:
        try:
            slot.enter_context(rt.quota.reserved(rule, reservation, tokens, deadline_at=job.deadline_at,
                                                 inline_wait_s=rt.settings.quota_inline_wait_s, sleep=wait))
        except RateLimitExceeded as exc:  # named here: the quota knows the key, not the job
            raise RateLimitExceeded(exc.detail, provider=job.provider, model=job.model, job_id=job.job_id,
                                    rate_limit=exc.rate_limit) from exc
        try:
            yield
        except RateLimited as exc:  # the whole fleet backs off together
            rt.quota.cool_down(rule, exc.retry_after or 1.0)
            raise
        finally:
            used = out.usage
            if used.total_tokens:
                rt.quota.reconcile(rule, reservation, TokenCount(used.input_tokens, used.output_tokens))
