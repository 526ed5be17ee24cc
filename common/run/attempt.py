"""One attempt at a job, holding its lease: the guards, a quota slot around the provider call, the
stream published chunk by chunk, then one ending (a result, a retry, a move to another provider, or
a hand-back to the queue). `run_job` takes the lease for one Celery delivery and runs its attempt.

Nothing here knows Celery: the task turns a `Delivery` into a Celery retry or a task on another queue.
"""

from __future__ import annotations

import logging
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Literal

import redis

from multillm.common import metrics
from multillm.common.errors import (
    CircuitOpen,
    InvalidJob,
    JobCancelled,
    LeaseLost,
    MultiLLMError,
    ProviderError,
    QuotaWait,
    RateLimitExceeded,
)
from multillm.common.job_record import not_a_string, not_found, parse_job, too_large
from multillm.common.jobs import Job, JobStatus, Timings
from multillm.common.lease import ACQUIRED, Lease, attempts_key
from multillm.common.logs import job_context
from multillm.common.preparation import Preparation
from multillm.common.providers import create_provider, get_spec
from multillm.common.retry import backoff_delay
from multillm.common.run.accounting import job_result, store
from multillm.common.run.decision import decide
from multillm.common.run.failures import count_failure
from multillm.common.run.fallback import move_job, next_hop_for
from multillm.common.run.guards import check_can_start, check_deadline_mid_stream
from multillm.common.run.health import record_call
from multillm.common.run.record import finish_without_lease
from multillm.common.run.runtime import Runtime
from multillm.common.run.slot import quota_slot
from multillm.common.run.start import NOT_A_STRING, NOT_FOUND, TOO_LARGE, Facts, Start
from multillm.common.schemas import ChatResult, ProviderEvent
from multillm.common.stream import LEASE_LOST, PUBLISHED_CANCELLED, Publisher

log = logging.getLogger("multillm.run")

DeliveryStatus = Literal["succeeded", "failed", "cancelled", "retry", "fallback", "skipped"]


@dataclass(frozen=True)
class Delivery:
    """What became of one delivery of a job."""

    status: DeliveryStatus
    retry_in: float | None = None  # for retry: the countdown before the job's next delivery
    next_provider: str | None = None  # for fallback: the queue to send the job to


def run_job(rt: Runtime, job_id: Any, provider: str | None = None) -> Delivery:
    """Run one delivery of `job_id`. Never raises for a job's own failure: it ends as a result.

    `provider`: the provider whose queue the delivery came from, so its circuit is read with the lease."""
    if not isinstance(job_id, str) or not job_id or len(job_id) > 128:
        log.error("refused a task whose job id is not a string of 1-128 characters")
        return Delivery("skipped")
    start = rt.starter.start(job_id, provider)
    unreadable = _unreadable(rt, job_id, start)
    if unreadable is not None:
        return _unrunnable(rt, job_id, unreadable)
    if start.state != ACQUIRED or start.lease is None:
        return Delivery("skipped")  # finished already, or another attempt is running it
    lease = start.lease
    try:
        try:
            job = parse_job(job_id, start.raw_job, rt.records.limits)
        except InvalidJob as exc:
            rt.leases.release(lease, resume_in=0)
            return _unrunnable(rt, job_id, exc)
        with job_context(job.job_id, job.provider, job.model, lease.attempt):  # every log line names its job
            return Attempt(rt, job, lease, start.facts_of(job.provider)).run()
    finally:
        rt.leases.forget(lease)


def _unreadable(rt: Runtime, job_id: str, start: Start) -> InvalidJob | None:
    """Why the start-up script could not read the record (nothing was taken), or None."""
    if start.state == NOT_FOUND:
        return not_found(job_id)
    if start.state == NOT_A_STRING:
        return not_a_string(job_id)
    if start.state == TOO_LARGE:
        return too_large(start.size, rt.starter.max_job_bytes)
    return None


def _unrunnable(rt: Runtime, job_id: str, error: InvalidJob) -> Delivery:
    """A record that is missing or cannot run ends with an error result, so no caller waits for it."""
    finish_without_lease(rt, job_id, error)
    return Delivery("failed")


class Attempt:
    """One attempt at a job, holding its lease."""

    def __init__(self, rt: Runtime, job: Job, lease: Lease, facts: Facts | None = None) -> None:
        self.rt, self.job, self.lease, self.facts = rt, job, lease, facts
        s = rt.settings
        self.pub = Publisher(rt.redis, job.job_id, lease.owner, lease.attempt,
                             replay_max=s.replay_max, ttl=s.replay_ttl_s, batcher=rt.batcher)
        self.timings = Timings(submitted_at=job.submitted_at, started_at=time.time())
        self.out = ChatResult(provider=job.provider, model=job.model)
        self.prep = Preparation(rt.redis, s, job)  # conversation history and the response cache

    def run(self) -> Delivery:
        try:
            check_can_start(self.rt, self.job, self.lease, self.facts)
            self.prep.load()
            self._stream()
            return self._succeed()
        except QuotaWait as wait:
            return self._hand_back(wait.wait_s)
        except LeaseLost:
            log.warning("job %s attempt %s lost its lease; stopping", self.job.job_id, self.lease.attempt)
            return Delivery("skipped")
        except JobCancelled as exc:
            return self._fail(exc, "cancelled")
        except (CircuitOpen, RateLimitExceeded) as exc:  # never sent: says nothing about the provider's health
            return self._after_error(exc)
        except ProviderError as exc:
            record_call(self.rt, self.job.provider, self.timings, exc)
            return self._after_error(exc)
        except MultiLLMError as exc:
            return self._fail(exc, "failed")
        except redis.RedisError:
            raise  # Redis unreachable: nothing can be recorded; the task is retried (workers/tasks.py)
        except Exception as exc:  # a bug must end the job, not the worker
            log.exception("job %s failed unexpectedly", self.job.job_id)
            return self._fail(MultiLLMError(f"internal error: {type(exc).__name__}"), "failed")

    # The call

    def _stream(self) -> None:
        job, rt = self.job, self.rt
        if self.prep.cached is not None:  # answered from the response cache: no call, no quota
            self._emit("start", provider=job.provider, model=job.model, **self.prep.start_fields())
            return self.prep.replay(self._on_event)
        api_key = rt.api_key(job)
        with quota_slot(rt, job, self.lease.attempt, api_key, self.out, self.prep.messages):
            # Not waited for: it goes out while the request is made; the first chunk waits for it.
            self._send("start", provider=job.provider, model=job.model, **self.prep.start_fields())
            self._call(api_key)

    def _call(self, api_key: str) -> None:
        job, rt = self.job, self.rt
        base_url = rt.settings.provider(job.provider).base_url or get_spec(job.provider).default_base_url
        timeouts = rt.settings.timeouts(total=max(0.001, job.deadline_at - time.time()))
        provider = create_provider(job.provider, api_key, base_url=base_url, timeouts=timeouts,
                                   client=rt.http_client(base_url, job.job_id))
        # closing(): a cancel or deadline raised mid-stream closes the provider connection at once.
        with closing(provider.stream_chat(self.prep.messages, self.prep.options, job_id=job.job_id)) as events:
            for event in events:
                self._on_event(event)
                check_deadline_mid_stream(job)

    def _on_event(self, event: ProviderEvent) -> None:
        out = self.out
        self.prep.record(event)
        if event.type == "delta":
            out.text += event.text
            if self.timings.first_token_at is None:  # the first chunk waits for no batch: time to first token
                self.timings.first_token_at = time.time()
                self._emit("delta", text=event.text)
            else:
                self._send("delta", text=event.text)
        elif event.type == "tool_call" and event.tool_call:
            out.tool_calls.append(event.tool_call)
            self._send("tool_call", tool_call=event.tool_call.model_dump())
        elif event.type == "usage" and event.usage:
            out.usage = event.usage
            self._send("usage", usage=event.usage.model_dump())
        elif event.type == "finish":
            out.finish_reason = event.finish_reason

    # Publishing: only while the lease is held, and never after a cancel

    def _emit(self, kind: str, **fields: Any) -> None:
        """Publish and wait for Redis (start, the first chunk, retry, fallback)."""
        if self.lease.lost.is_set():
            raise LeaseLost
        self._refused(self.pub.publish(kind, **fields))

    def _send(self, kind: str, **fields: Any) -> None:
        """Publish a chunk without waiting; a refusal an earlier chunk met stops the job here."""
        if self.lease.lost.is_set():
            raise LeaseLost
        self._refused(self.pub.send(kind, **fields))

    def _refused(self, seq: int) -> None:
        if seq == LEASE_LOST:
            raise LeaseLost
        if seq == PUBLISHED_CANCELLED:
            raise JobCancelled(f"job {self.job.job_id}: cancelled")

    def _announce(self, kind: str, **fields: Any) -> Delivery | None:
        """Publish a retry or fallback message; the delivery's end instead if the job was cancelled or taken."""
        try:
            self._emit(kind, **fields)
        except JobCancelled as cancelled:
            return self._fail(cancelled, "cancelled")
        except LeaseLost:
            return Delivery("skipped")
        return None

    # Endings

    def _succeed(self) -> Delivery:
        self._refused(self.pub.flush())  # every chunk is in the log before the job counts as done
        # The call's health and the result's usage go in one round trip after the result (at hundreds of
        # jobs a second, round trips are what the worker spends its CPU on).
        bookkeeping = self.rt.redis.pipeline(transaction=False)
        if self.prep.cached is None:
            record_call(self.rt, self.job.provider, self.timings, None, bookkeeping)
        result = job_result(self.job, self.lease.attempt, self.out, self.timings, "succeeded", **self.prep.result_fields())
        self.prep.succeeded(result, self.lease.owner)
        store(self.rt, self.pub, "done", result, bookkeeping, finish_reason=result.finish_reason, text=result.text,
              usage=result.usage.model_dump())
        bookkeeping.execute()
        return Delivery("succeeded")

    def _fail(self, exc: MultiLLMError, status: JobStatus) -> Delivery:
        error = exc.to_dict()
        self.prep.failed()
        result = job_result(self.job, self.lease.attempt, self.out, self.timings, status, error, **self.prep.result_fields())
        store(self.rt, self.pub, "cancelled" if status == "cancelled" else "error", result, error=error)
        return Delivery(status)

    def _after_error(self, exc: ProviderError) -> Delivery:
        """Retry on this provider, move to the next, or end the job (decision.py says which)."""
        job, rt = self.job, self.rt
        hop = next_hop_for(rt, job) if exc.fallback and job.fallback else None
        verdict = decide(
            retryable=exc.retryable, error_may_fall_back=exc.fallback, job_may_fall_back=job.fallback,
            provider_down=isinstance(exc, CircuitOpen),
            failures=count_failure(rt, job.job_id) if exc.retryable else 0, max_attempts=job.max_attempts,
            delay_s=backoff_delay(self.lease.attempt, exc.retry_after), seconds_left=job.deadline_at - time.time(),
            next_hop_exists=hop is not None,
        )
        if verdict.action == "retry":
            return self._retry(exc, verdict.delay_s)
        if verdict.action == "fall_back" and hop is not None:
            return self._fall_back(exc, *hop)
        return self._fail(exc, "failed")

    def _retry(self, exc: ProviderError, delay: float) -> Delivery:
        metrics.record_retry(self.job.provider, self.job.model, exc.code)
        ended = self._announce("retry", error=exc.to_dict(), delay_s=round(delay, 3))
        if ended is not None:
            return ended
        self.rt.leases.release(self.lease, resume_in=delay)
        return Delivery("retry", retry_in=delay)

    def _fall_back(self, exc: ProviderError, provider: str, model: str) -> Delivery:
        metrics.record_fallback(self.job.provider, self.job.model)
        ended = self._announce("fallback", error=exc.to_dict(), provider=provider, model=model)
        if ended is not None:
            return ended
        move_job(self.rt, self.job, provider, model)
        self.rt.leases.release(self.lease, resume_in=0)
        return Delivery("fallback", next_provider=provider)

    def _hand_back(self, wait_s: float) -> Delivery:
        """Quota says wait longer than a slot should be held: back to the queue, not an attempt."""
        metrics.record_quota_wait(self.job.provider, wait_s)
        self.rt.redis.decr(attempts_key(self.job.job_id))
        self.rt.leases.release(self.lease, resume_in=wait_s)
        return Delivery("retry", retry_in=wait_s)
