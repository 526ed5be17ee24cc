"""Errors and rate-limit headers of the five OpenAI-compatible providers, each in its own shape.

OpenAI `{"error":{"message","type","param","code"}}` and `x-ratelimit-*` headers with durations
like "6m0s" (openai-python `_exceptions.py`, platform docs); OpenRouter `{"error":{"code":<int>,
"message","metadata"}}` (openrouter.ai/docs/errors); xAI `{"code":"<status text>","error"}`;
Hugging Face `{"error":"..."}` on auth failures; GitHub Models `{"error":{"code","message","details"}}`
and `x-ratelimit-timeremaining` (github/gh-models `internal/azuremodels`).
"""

from __future__ import annotations

import math
from typing import Any

from multillm.producers.simulator.quota import QuotaDecision
from multillm.producers.simulator.wire import STATUS, ErrorReply

ERROR_TYPES = {"invalid": "invalid_request_error", "context": "invalid_request_error", "auth": "invalid_request_error",
               "auth_missing": "invalid_request_error", "not_found": "invalid_request_error",
               "permission": "request_forbidden", "rate_limit": "requests"}
ERROR_CODES = {"context": "context_length_exceeded", "auth": "invalid_api_key", "not_found": "model_not_found",
               "rate_limit": "rate_limit_exceeded"}
XAI_CODES = {400: "Client specified an invalid argument", 401: "Unauthenticated",
             403: "The caller does not have permission to execute the specified operation",
             404: "Some requested entity was not found", 429: "Too many requests", 500: "Internal error",
             502: "Bad gateway", 503: "The service is currently unavailable"}


def error_reply(provider: str, kind: str, message: str) -> ErrorReply:
    kind = "auth" if kind == "bad_key" else kind
    status = 503 if kind == "overloaded" else STATUS[kind]  # only Anthropic has 529
    if provider == "openrouter":
        return _openrouter(kind, status, message)
    if provider == "grok":
        return ErrorReply(status, {"code": XAI_CODES.get(status, "Internal error"), "error": message})
    if provider == "llama" and kind in ("auth", "auth_missing"):
        message = "Invalid username or password."
        return ErrorReply(status, {"error": message}, {"x-error-message": message})
    if provider == "github" and kind in ("auth", "auth_missing", "rate_limit", "not_found"):
        return _github(kind, status, message)
    error = {"message": message, "type": ERROR_TYPES.get(kind, "server_error"),
             "param": "messages" if kind == "context" else None, "code": ERROR_CODES.get(kind)}
    return ErrorReply(status, {"error": error})


def _openrouter(kind: str, status: int, message: str) -> ErrorReply:
    if kind == "not_found":  # OpenRouter refuses an unknown model id with 400
        status = 400
    error: dict[str, Any] = {"code": status, "message": message}
    if kind == "context":  # the upstream provider's own error travels in metadata.raw
        raw = {"error": {"message": message, "type": "invalid_request_error", "code": "context_length_exceeded"}}
        error["metadata"] = {"provider_name": "Simulator", "raw": raw}
    return ErrorReply(status, {"error": error})


def _github(kind: str, status: int, message: str) -> ErrorReply:
    if kind == "not_found":  # GitHub answers an unknown model with 400 unknown_model
        return ErrorReply(400, {"error": {"code": "unknown_model", "message": message, "details": message}})
    code = "RateLimitReached" if kind == "rate_limit" else "unauthorized"
    return ErrorReply(status, {"error": {"code": code, "message": message, "details": message}})


def duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def rate_headers(provider: str, decision: QuotaDecision) -> dict[str, str]:
    x = "x-ratelimit-"
    reset = duration(decision.reset_s)
    headers: dict[str, str] = {}
    if decision.limit_requests is not None:
        headers.update({f"{x}limit-requests": str(decision.limit_requests),
                        f"{x}remaining-requests": str(decision.remaining_requests), f"{x}reset-requests": reset})
    if decision.limit_tokens is not None:
        headers.update({f"{x}limit-tokens": str(decision.limit_tokens),
                        f"{x}remaining-tokens": str(decision.remaining_tokens), f"{x}reset-tokens": reset})
    if provider == "github" and not decision.allowed:
        headers[f"{x}timeremaining"] = str(math.ceil(decision.retry_after_s))
    return headers
