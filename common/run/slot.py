"""A quota slot around one provider call: reserved in every window of the provider key's rule before
it (a short wait here, a long one hands the job back), stamped when the response headers arrive, a
fleet-wide cooldown after a 429, and the reported usage reconciled with the count after it. The
reservation is the prompt's count before the call (common/preflight.py) and the output cap."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace

from multillm.common import metrics
from multillm.common.errors import RateLimited, RateLimitExceeded
from multillm.common.jobs import Job
from multillm.common.preflight import prepare_call
from multillm.common.quota import TokenCount, rule_for
from multillm.common.ratelimit_headers import parse_rate_limit_headers
from multillm.common.response_watch import watching
from multillm.common.run.runtime import Runtime
from multillm.common.schemas import ChatResult, Message
from multillm.common.settings import Settings


def pending_hold_ms(settings: Settings) -> int:
    """A live call has its response headers (or has failed) within its connect and read timeouts: a
    reservation still waiting after that, and 5 s more, belongs to a worker that died."""
    return int((settings.connect_timeout_s + max(settings.first_token_timeout_s, settings.idle_timeout_s) + 5) * 1000)


@contextmanager
def quota_slot(rt: Runtime, job: Job, attempt: int, api_key: str, out: ChatResult,
               messages: list[Message] | None = None) -> Iterator[None]:
    """Hold the slot while the body calls the provider with `messages`; `out` is where its usage arrives."""
    s = rt.settings
    rule = replace(rule_for(s.provider(job.provider), api_key, s.rate_limit), pending_hold_ms=pending_hold_ms(s))
    reservation = f"{job.job_id}:{attempt}"

    def wait(seconds: float) -> None:
        metrics.record_quota_wait(job.provider, seconds)
        time.sleep(seconds)

    # The model checked against its live list, `messages` counted, limits checked (common/preflight.py).
    tokens = prepare_call(rt.redis, rt.settings, job, api_key, rt.http_client, messages)
    with ExitStack() as slot:
        try:
            held = slot.enter_context(rt.quota.reserved(rule, reservation, tokens, deadline_at=job.deadline_at,
                                                        inline_wait_s=rt.settings.quota_inline_wait_s, sleep=wait))
        except RateLimitExceeded as exc:  # named here: the quota knows the key, not the job
            raise RateLimitExceeded(exc.detail, provider=job.provider, model=job.model, job_id=job.job_id,
                                    rate_limit=exc.rate_limit) from exc
        # The reservation is stamped the moment the provider's response headers arrive (it has counted
        # the call by then), and their rate-limit figures steer every worker.
        slot.enter_context(watching(lambda response: held.settle(parse_rate_limit_headers(response.headers))))
        try:
            yield
        except RateLimited as exc:  # the whole fleet backs off together
            rt.quota.cool_down(rule, exc.retry_after or 1.0)
            raise
        finally:
            used = out.usage
            if used.total_tokens:
                rt.quota.reconcile(rule, reservation, TokenCount(used.input_tokens, used.output_tokens))
