"""One error tree for everything a provider call or a job can end with.

    MultiLLMError
    ├── ConfigurationError            bad settings or input at the edge (never retried)
    │   └── UnknownProviderError / UnknownModelError
    ├── TenantRateLimited             a caller over its RATE_LIMIT_* at submit; nothing enqueued
    ├── ConversationBusy              another job of the conversation is unfinished; nothing enqueued
    ├── ProviderError                 a provider call failed; carries provider, model, job id
    │   ├── RetryableError            worth another attempt on the same provider
    │   │   ├── RateLimited           429 / RESOURCE_EXHAUSTED; retry_after + RateLimitInfo
    │   │   ├── ProviderUnavailable   5xx, Anthropic 529 overloaded
    │   │   │   └── CircuitOpen       not sent: the provider's circuit is open
    │   │   ├── ProviderTimeout
    │   │   │   ├── ConnectTimeout
    │   │   │   ├── FirstTokenTimeout
    │   │   │   └── IdleTimeout
    │   │   └── StreamInterrupted     connection dropped, malformed chunk, mid-stream server error
    │   └── TerminalError             the same request will fail again on this provider
    │       ├── AuthenticationError   401: key missing or wrong        (fallback allowed)
    │       ├── PermissionDenied      403 / 402: key lacks access       (fallback allowed)
    │       ├── InvalidRequest        400 / 404 / 422                   (no fallback)
    │       │   └── ContextLengthExceeded                               (fallback allowed)
    │       ├── ContentFiltered       safety / refusal                  (fallback allowed)
    │       └── RateLimitExceeded     not sent: a RATE_LIMIT_* window has no slot before the job's
    │                                 deadline; code rate_limited, the configured message (fallback allowed)
    └── JobError                      how a job ended that is not a provider's doing
        ├── JobCancelled
        ├── DeadlineExceeded
        └── InvalidJob                a record no worker can run (unreadable, unknown provider, ...)

    Steer                             not an error: tells the worker what to do with this delivery
    ├── LeaseLost                     another attempt owns the job: stop and write nothing
    └── QuotaWait                     the quota wait is longer than a slot should be held: back to the queue

`retryable` says whether another attempt on the same provider may succeed; `fallback` whether the
job may move to another provider. Messages name provider, model and job, never a key: a provider's
error text is redacted (multillm.common.redact) when the error is made, and `to_dict`, the form that
is stored and published, redacts its message again. A
RateLimitExceeded's message is the operator's configured one, word for word.

Steer is a branch of its own, as Celery keeps Retry, Reject and Ignore apart from task errors: no
job ends with one and none is stored, so `except MultiLLMError` never swallows one. JobCancelled is
not a Steer: a cancelled job ends with a stored result (status cancelled) like any other error.
"""

from __future__ import annotations

from typing import Any, ClassVar

from multillm.common.ratelimit_headers import RateLimitInfo
from multillm.common.redact import redact


class MultiLLMError(Exception):
    """Root of every error multillm raises on purpose."""

    code: ClassVar[str] = "error"
    retryable: ClassVar[bool] = False
    fallback: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "type": type(self).__name__,
            "message": redact(str(self)),
            "retryable": self.retryable,
            "fallback": self.fallback,
        }


class ConfigurationError(MultiLLMError):
    """Bad settings or bad input, found before anything was sent."""

    code = "configuration"


class UnknownProviderError(ConfigurationError):
    code = "unknown_provider"


class UnknownModelError(ConfigurationError):
    code = "unknown_model"


class TenantRateLimited(MultiLLMError):
    """A tenant sent more jobs than its RateLimitConfig allows; the message is the configured one."""

    code = "tenant_rate_limited"

    def __init__(self, message: str, *, tenant: str, provider: str, retry_after: float) -> None:
        self.tenant, self.provider, self.retry_after = tenant, provider, retry_after
        super().__init__(f"{message} (tenant {tenant!r}, provider {provider}: retry in {retry_after:.1f}s)")

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "tenant": self.tenant, "provider": self.provider, "retry_after": self.retry_after}


class ConversationBusy(MultiLLMError):
    """A job was submitted on a conversation while an earlier job of it had not finished: the turns
    would interleave, so the new job is refused before anything is enqueued."""

    code = "conversation_busy"


class ProviderError(MultiLLMError):
    """A provider call failed."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        job_id: str = "",
        status: int | None = None,
        provider_code: str | None = None,
        rate_limit: RateLimitInfo | None = None,
    ) -> None:
        self.detail = redact(message)  # provider error text may echo the request, key included
        self.provider = provider
        self.model = model
        self.job_id = job_id
        self.status = status
        self.provider_code = provider_code
        self.rate_limit = rate_limit or RateLimitInfo()
        super().__init__(self.detail)

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        job = f" job {self.job_id}" if self.job_id else ""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{where}{job}{status}: {self.detail}" if where or job else f"{self.detail}{status}"

    @property
    def retry_after(self) -> float | None:
        return self.rate_limit.retry_after

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(
            provider=self.provider,
            model=self.model,
            status=self.status,
            provider_code=self.provider_code,
            retry_after=self.retry_after,
        )
        return data


class RetryableError(ProviderError):
    code = "retryable"
    retryable = True
    fallback = True


class RateLimited(RetryableError):
    code = "rate_limited"


class ProviderUnavailable(RetryableError):
    code = "unavailable"


class CircuitOpen(ProviderUnavailable):
    """Not sent: the provider failed repeatedly and its circuit is open."""

    code = "circuit_open"


class ProviderTimeout(RetryableError):
    code = "timeout"


class ConnectTimeout(ProviderTimeout):
    code = "connect_timeout"


class FirstTokenTimeout(ProviderTimeout):
    code = "first_token_timeout"


class IdleTimeout(ProviderTimeout):
    code = "idle_timeout"


class StreamInterrupted(RetryableError):
    code = "stream_interrupted"


class TerminalError(ProviderError):
    code = "terminal"


class AuthenticationError(TerminalError):
    code = "authentication"
    fallback = True


class PermissionDenied(TerminalError):
    code = "permission_denied"
    fallback = True


class InvalidRequest(TerminalError):
    code = "invalid_request"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"
    fallback = True


class ContentFiltered(TerminalError):
    code = "content_filtered"
    fallback = True


class RateLimitExceeded(TerminalError):
    """A configured request window (RATE_LIMIT_*, <PREFIX>_RATE_LIMIT_*) has no slot before the job's
    deadline. Nothing was sent; the message is the window's configured one (the seed's
    RateLimitConfig.message), and `retry_after` the seconds until a slot frees."""

    code = "rate_limited"
    fallback = True  # another provider's window may have room

    def __str__(self) -> str:
        return self.detail


class JobError(MultiLLMError):
    code = "job_error"


class JobCancelled(JobError):
    code = "cancelled"


class DeadlineExceeded(JobError):
    code = "deadline_exceeded"


class InvalidJob(JobError):
    """A job record that cannot run: unreadable, malformed, or naming no known provider."""

    code = "invalid_job"


class Steer(Exception):
    """Tells the worker what to do with this delivery; never stored, never shown to a caller."""


class LeaseLost(Steer):
    """Another attempt owns the job now; this one stops without writing anything."""


class QuotaWait(Steer):
    """The wait is longer than a worker slot should be held: hand the job back to the queue."""

    def __init__(self, wait_s: float, reason: str) -> None:
        super().__init__(f"quota {reason}: wait {wait_s:.2f}s")
        self.wait_s = wait_s
        self.reason = reason


def error_class_for_code(code: str) -> type[MultiLLMError]:
    """The class whose `code` is `code` (used to rebuild errors read back from Redis)."""
    stack: list[type[MultiLLMError]] = [MultiLLMError]
    while stack:
        cls = stack.pop()
        if cls.code == code:
            return cls
        stack.extend(cls.__subclasses__())
    return MultiLLMError
