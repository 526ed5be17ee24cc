"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with the status code
OpenAI's SDKs map to their exception classes (400 BadRequest, 401 Authentication, 403
PermissionDenied, 404 NotFound, 413, 429 RateLimit with `retry-after`, 5xx InternalServer).

multillm's errors are translated in exactly two places: `from_error` for what the producer API
raises at submit, and `from_job_error` for the error a job ended with (its `code`, never its text).
"""

from __future__ import annotations

import math
import re
from typing import Any

from starlette.responses import JSONResponse

from multillm.common.errors import (
    ConfigurationError,
    JobError,
    MultiLLMError,
    TenantRateLimited,
    UnknownModelError,
    UnknownProviderError,
)

PARAM = re.compile(r"^([A-Za-z_][\w.\-]*): ")

# A job's error code -> (HTTP status, OpenAI error type). Provider-side key problems are the
# operator's or the tenant's stored key, not the gateway key, so 403 rather than 401.
JOB_ERRORS: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "invalid_request_error"),
    "context_length_exceeded": (400, "invalid_request_error"),
    "content_filtered": (400, "invalid_request_error"),
    "configuration": (400, "invalid_request_error"),
    "authentication": (403, "permission_error"),
    "permission_denied": (403, "permission_error"),
    "cancelled": (409, "invalid_request_error"),
    "rate_limited": (429, "rate_limit_error"),
    "unavailable": (503, "server_error"),
    "circuit_open": (503, "server_error"),
    "timeout": (504, "server_error"),
    "connect_timeout": (504, "server_error"),
    "first_token_timeout": (504, "server_error"),
    "idle_timeout": (504, "server_error"),
    "deadline_exceeded": (504, "server_error"),
}


class GatewayError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"retry-after": str(max(1, math.ceil(self.retry_after)))} if self.retry_after is not None else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def param_of(message: str) -> str | None:
    """The field a multillm error message names first (`options.temperature: ...` -> `temperature`)."""
    match = PARAM.match(message)
    return match.group(1).removeprefix("options.") if match else None


def from_error(exc: MultiLLMError) -> GatewayError:
    """An error the producer API raised at submit, or while the gateway waited for a job."""
    if isinstance(exc, TenantRateLimited):
        return GatewayError(429, str(exc), type="requests", code="rate_limit_exceeded", retry_after=exc.retry_after)
    if isinstance(exc, UnknownModelError | UnknownProviderError):
        return GatewayError(404, str(exc), code="model_not_found", param="model")
    if isinstance(exc, ConfigurationError):
        return GatewayError(400, str(exc), code=exc.code, param=param_of(str(exc)))
    if isinstance(exc, JobError):  # no end of the job within the wait
        return GatewayError(504, str(exc), type="server_error", code=exc.code)
    return GatewayError(500, "internal error", type="server_error", code=exc.code)


def from_job_error(error: dict[str, Any]) -> GatewayError:
    """The error a job ended with."""
    code = str(error.get("code") or "error")
    status, kind = JOB_ERRORS.get(code, (502, "server_error"))
    retry_after = error.get("retry_after") if status == 429 else None
    if code == "unknown_model":  # OpenAI's shape for a model it does not have
        return GatewayError(404, str(error.get("message") or code), code="model_not_found", param="model")
    return GatewayError(status, str(error.get("message") or code), type=kind, code=code,
                        retry_after=float(retry_after) if retry_after is not None else (1.0 if status == 429 else None))


def not_found(what: str, param: str | None = None) -> GatewayError:
    return GatewayError(404, f"{what} not found", code="not_found", param=param)
