"""Running one delivery of a chat job: lease, stream from the provider, publish, finish once.

The Celery task calls `run_job` and only turns its outcome into a Celery retry; everything else
(lease, deadline, cancellation, retries, the result) happens here, without Celery.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx
import redis

from multillm.common import constants, metrics
from multillm.common.errors import (
    AuthenticationError,
    CircuitOpen,
    DeadlineExceeded,
    InvalidJob,
    JobCancelled,
    MultiLLMError,
    ProviderError,
    RateLimited,
    RetryableError,
)
from multillm.common.job_record import JobRecords, error_result
from multillm.common.jobs import Job, JobResult, Timings
from multillm.common.lease import ACQUIRED, Lease, LeaseKeeper, attempts_key
from multillm.common.logs import job_context
from multillm.common.provider_health import Circuit, read_order, record_outcome
from multillm.common.provider_health import Outcome as CallOutcome
from multillm.common.providers import create_provider, get_spec
from multillm.common.quota import Quota, QuotaWait, TokenCount, estimate_tokens, rule_for
from multillm.common.ratelimit_headers import parse_rate_limit_headers
from multillm.common.response_watch import on_response, watching
from multillm.common.retry import backoff_delay, worth_retrying
from multillm.common.routing import next_hop
from multillm.common.schemas import ChatResult, StreamEvent
from multillm.common.settings import Settings
from multillm.common.stream import LEASE_LOST, PUBLISHED_CANCELLED, Batcher, Publisher
from multillm.common.usage import record_usage
from multillm.common.vault import Vault

log = logging.getLogger("multillm.runner")


@dataclass
class Outcome:
    status: str  # succeeded, failed, cancelled, retry, fallback, skipped
    retry_in: float | None = None
    next_provider: str | None = None  # for fallback: the queue to send the job to


class LeaseLost(Exception):
    """Another attempt owns the job now; this one stops without writing anything."""


class Runtime:
    """What one worker process shares between jobs: Redis, leases, HTTP connection pools."""

    def __init__(self, settings: Settings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        # Blocking: a thread waits for a free connection instead of failing when every one is in use.
        # Connections open lazily, so the ceiling costs nothing until a worker has that many slots busy.
        pool = redis.BlockingConnectionPool.from_url(settings.redis_url or "redis://127.0.0.1:6379/0",
                                                     max_connections=5000, timeout=30)
        self.redis = client or redis.Redis(connection_pool=pool)
        self.leases = LeaseKeeper(self.redis, settings.lease_ttl_s)
        self.records = JobRecords(self.redis, result_ttl_s=settings.result_ttl_s, replay_max=settings.replay_max,
                                  replay_ttl_s=settings.replay_ttl_s)
        self.batcher = Batcher(self.redis)
        self.quota = Quota(self.redis)
        self.circuit = Circuit(self.redis, settings.circuit_failures, settings.circuit_cooldown_s)
        master = settings.encryption_master_key
        self.vault = Vault(self.redis, master.get_secret_value()) if master else None
        self._http: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def http_client(self, base_url: str) -> httpx.Client:
        with self._lock:
            if base_url not in self._http:
                limits = httpx.Limits(max_connections=None, max_keepalive_connections=1000)
                self._http[base_url] = httpx.Client(limits=limits, event_hooks={"response": [on_response]})
            return self._http[base_url]

    def api_key(self, job: Job) -> str:
        """The tenant's key from the vault, else the provider's environment key; decrypted in memory only."""
        if self.vault is not None:
            stored = self.vault.get(job.tenant, job.provider)
            if stored:
                return stored
        secret = self.settings.provider(job.provider).api_key
        if secret is None:
            spec = get_spec(job.provider)
            raise AuthenticationError(f"no API key: set {spec.api_key_env}", provider=job.provider,
                                      model=job.model, job_id=job.job_id)
        return secret.get_secret_value()


CRASH_ALLOWANCE = 10  # attempts lost to worker crashes tolerated beyond max_attempts


def failures_key(job_id: str) -> str:
    return constants.failures(job_id)


def job_tokens(job: Job) -> TokenCount:
    """Tokens to reserve before the call: the prompt estimate and the output cap."""
    chars = sum(len(m.text()) for m in job.messages) + len(job.options.system_prompt or "")
    info = get_spec(job.provider).find_model(job.model)
    cap = job.options.max_tokens or min(info.max_output_tokens if info else 4096, 4096)
    return estimate_tokens(chars, cap)


def load_job(rt: Runtime, job_id: str) -> Job:
    return rt.records.load(job_id)


def run_job(rt: Runtime, job_id: Any) -> Outcome:
    """Run one delivery of `job_id`. Never raises for a job's own failure: it ends as a result."""
    if not isinstance(job_id, str) or not job_id or len(job_id) > 128:
        log.error("refused a task whose job id is not a string of 1-128 characters")
        return Outcome("skipped")
    try:
        job = load_job(rt, job_id)
    except InvalidJob as exc:
        finish_without_lease(rt, job_id, exc)
        return Outcome("failed")
    state, lease = rt.leases.acquire(job_id)
    if state != ACQUIRED or lease is None:
        return Outcome("skipped")  # finished already, or another attempt is running it
    try:
        with job_context(job.job_id, job.provider, job.model, lease.attempt):  # every log line names its job
            return Attempt(rt, job, lease).run()
    finally:
        rt.leases.forget(lease)


def finish_without_lease(rt: Runtime, job_id: str, error: MultiLLMError, job: Job | None = None) -> int:
    """An error result for a job no attempt holds (unreadable, or past its deadline), so no caller is
    left waiting. Refused (LEASE_LOST) if an attempt holds it after all."""
    result = error_result(job_id, error, job)
    seq = rt.records.finish_unowned(job_id, result)
    if seq > 0:
        account(rt, result)
    return seq


def account(rt: Runtime, result: JobResult) -> None:
    """Metrics and usage analytics for a stored result."""
    metrics.record_result(result)
    record_usage(rt.redis, result)


class Attempt:
    """One attempt at a job, holding its lease."""

    def __init__(self, rt: Runtime, job: Job, lease: Lease) -> None:
        self.rt, self.job, self.lease = rt, job, lease
        s = rt.settings
        self.pub = Publisher(rt.redis, job.job_id, lease.owner, lease.attempt,
                             replay_max=s.replay_max, ttl=s.replay_ttl_s, batcher=rt.batcher)
        self.timings = Timings(submitted_at=job.submitted_at, started_at=time.time())
        self.outcome = ChatResult(provider=job.provider, model=job.model)

    def run(self) -> Outcome:
        job = self.job
        try:
            self._check_can_start()
            self._stream()
            return self._succeed()
        except QuotaWait as wait:
            return self._hand_back(wait.wait_s)
        except LeaseLost:
            log.warning("job %s attempt %s lost its lease; stopping", job.job_id, self.lease.attempt)
            return Outcome("skipped")
        except JobCancelled as exc:
            return self._fail(exc, "cancelled")
        except CircuitOpen as exc:
            return self._fall_back_or_fail(exc) if job.fallback else self._retry_or_fail(exc)
        except RetryableError as exc:
            self._record(exc)
            return self._retry_or_fail(exc)
        except ProviderError as exc:
            self._record(exc)
            return self._fall_back_or_fail(exc)
        except MultiLLMError as exc:
            return self._fail(exc, "failed")
        except redis.RedisError:
            raise  # Redis unreachable: nothing can be recorded; the task is retried (workers/tasks.py)
        except Exception as exc:  # a bug must end the job, not the worker
            log.exception("job %s failed unexpectedly", job.job_id)
            return self._fail(MultiLLMError(f"internal error: {type(exc).__name__}"), "failed")

    def _record(self, exc: ProviderError | None) -> None:
        """Feed rolling statistics and the circuit breaker with this call's outcome."""
        ok = exc is None
        t = self.timings
        ttft = t.first_token_at - t.started_at if t.first_token_at and t.started_at else None
        outcome = CallOutcome(ok, time.time() - (t.started_at or time.time()), ttft, None if ok else exc.code)
        record_outcome(self.rt.redis, self.job.provider, outcome)
        if ok or isinstance(exc, RetryableError):  # a bad request says nothing about the provider's health
            self.rt.circuit.record(self.job.provider, ok)

    def _check_can_start(self) -> None:
        job = self.job
        if not self.rt.circuit.allow(job.provider):
            raise CircuitOpen("circuit open after repeated failures", provider=job.provider,
                              model=job.model, job_id=job.job_id)
        if self.rt.redis.exists(constants.cancel(job.job_id)):
            raise JobCancelled(f"job {job.job_id}: cancelled before it started")
        if self.lease.attempt > job.max_attempts + CRASH_ALLOWANCE:  # a job that kills its worker every time
            raise DeadlineExceeded(f"job {job.job_id}: gave up after {self.lease.attempt - 1} attempts")
        if time.time() >= job.deadline_at:
            raise DeadlineExceeded(f"job {job.job_id}: deadline of {job.deadline_s:g}s passed before it ran")

    def _stream(self) -> None:
        job, rt = self.job, self.rt
        ps = rt.settings.provider(job.provider)
        api_key = rt.api_key(job)
        rule = rule_for(ps, api_key, rt.settings.rate_limit)
        reservation = f"{job.job_id}:{self.lease.attempt}"
        with rt.quota.reserved(rule, reservation, job_tokens(job), inline_wait_s=rt.settings.quota_inline_wait_s,
                               deadline_at=job.deadline_at, sleep=self._wait_for_quota) as held, \
                watching(lambda response: held.settle(parse_rate_limit_headers(response.headers))):
            self._emit("start", provider=job.provider, model=job.model)
            try:
                self._call(api_key)
            except RateLimited as exc:  # the whole fleet backs off together
                rt.quota.cool_down(rule, exc.retry_after or 1.0)
                raise
            finally:
                used = self.outcome.usage
                if used.total_tokens:
                    rt.quota.reconcile(rule, reservation, TokenCount(used.input_tokens, used.output_tokens))

    def _wait_for_quota(self, seconds: float) -> None:
        metrics.record_quota_wait(self.job.provider, seconds)
        time.sleep(seconds)

    def _call(self, api_key: str) -> None:
        job, rt = self.job, self.rt
        base_url = rt.settings.provider(job.provider).base_url or get_spec(job.provider).default_base_url
        timeouts = rt.settings.timeouts(total=max(0.001, job.deadline_at - time.time()))
        provider = create_provider(job.provider, api_key, base_url=base_url, timeouts=timeouts,
                                   client=rt.http_client(base_url))
        # closing(): a cancel or deadline raised mid-stream closes the provider connection at once.
        with closing(provider.stream_chat(job.messages, job.options, job_id=job.job_id)) as events:
            for event in events:
                self._on_event(event)
                if time.time() >= job.deadline_at:
                    raise DeadlineExceeded(f"job {job.job_id}: deadline of {job.deadline_s:g}s passed mid-stream")

    def _on_event(self, event: StreamEvent) -> None:
        out = self.outcome
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

    def _emit(self, kind: str, **fields: Any) -> None:
        """Publish and wait for Redis (start, retry, fallback)."""
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

    def _result(self, status: str, error: dict[str, Any] | None = None) -> JobResult:
        job, out = self.job, self.outcome
        self.timings.finished_at = time.time()
        info = get_spec(job.provider).find_model(job.model)
        cost = info.cost(out.usage.input_tokens, out.usage.output_tokens) if info else 0.0
        return JobResult(
            job_id=job.job_id, status=status, provider=job.provider, model=job.model,  # type: ignore[arg-type]
            tenant=job.tenant, attempts=self.lease.attempt, text=out.text if not error else "",
            tool_calls=out.tool_calls if not error else [], usage=out.usage, cost_usd=round(cost, 8),
            finish_reason=out.finish_reason, error=error, timings=self.timings,
            path=[*job.path, f"{job.provider}/{job.model}"],
        )

    def _finish(self, kind: str, result: JobResult, **fields: Any) -> None:
        s = self.rt.settings
        if self.pub.finish(kind, result.model_dump_json(), s.result_ttl_s, **fields) > 0:
            account(self.rt, result)  # only the attempt that stored the result counts it

    def _succeed(self) -> Outcome:
        self._refused(self.pub.flush())  # every chunk is in the log before the job counts as done
        self._record(None)
        result = self._result("succeeded")
        self._finish("done", result, finish_reason=result.finish_reason, text=result.text,
                     usage=result.usage.model_dump())
        return Outcome("succeeded")

    def _fail(self, exc: MultiLLMError, status: str) -> Outcome:
        error = exc.to_dict()
        self._finish("cancelled" if status == "cancelled" else "error", self._result(status, error), error=error)
        return Outcome(status)

    def _fall_back_or_fail(self, exc: ProviderError) -> Outcome:
        """Move the job to the next provider in the current order, if the error and the job allow it."""
        job, rt = self.job, self.rt
        if not (exc.fallback and job.fallback):
            return self._fail(exc, "failed")
        order = read_order(rt.redis, list(rt.settings.providers))
        down = {p for p in order if rt.circuit.state(p) == "open"}
        hop = next_hop([*job.path, f"{job.provider}/{job.model}"], job.tier, order, rt.settings.tier_map(), down)
        if hop is None:
            return self._fail(exc, "failed")
        provider, model = hop
        metrics.record_fallback(job.provider, job.model)
        try:
            self._emit("fallback", error=exc.to_dict(), provider=provider, model=model)
        except JobCancelled as cancelled:
            return self._fail(cancelled, "cancelled")
        except LeaseLost:
            return Outcome("skipped")
        moved = job.model_copy(update={"provider": provider, "model": model,
                                       "path": [*job.path, f"{job.provider}/{job.model}"]})
        moved.options = moved.options.model_copy(update={"model": model})
        rt.redis.set(constants.job(job.job_id), moved.model_dump_json(), keepttl=True)
        rt.redis.delete(attempts_key(job.job_id), failures_key(job.job_id))  # the next provider starts afresh
        rt.leases.release(self.lease, resume_in=0)
        return Outcome("fallback", next_provider=provider)

    def _hand_back(self, wait_s: float) -> Outcome:
        """Quota says wait longer than a slot should be held: back to the queue, not an attempt."""
        metrics.record_quota_wait(self.job.provider, wait_s)
        self.rt.redis.decr(attempts_key(self.job.job_id))
        self.rt.leases.release(self.lease, resume_in=wait_s)
        return Outcome("retry", retry_in=wait_s)

    def _retry_or_fail(self, exc: ProviderError) -> Outcome:
        delay = backoff_delay(self.lease.attempt, exc.retry_after)
        left = self.job.deadline_at - time.time()
        # Only provider failures count against max_attempts; attempts cut short by a dying worker do not.
        failures = int(self.rt.redis.incr(failures_key(self.job.job_id)))
        self.rt.redis.expire(failures_key(self.job.job_id), 86_400)
        if not worth_retrying(failures, self.job.max_attempts, delay, left):
            return self._fall_back_or_fail(exc)
        metrics.record_retry(self.job.provider, self.job.model, exc.code)
        try:
            self._emit("retry", error=exc.to_dict(), delay_s=round(delay, 3))
        except JobCancelled as cancelled:
            return self._fail(cancelled, "cancelled")
        except LeaseLost:
            return Outcome("skipped")
        self.rt.leases.release(self.lease, resume_in=delay)
        return Outcome("retry", retry_in=delay)

