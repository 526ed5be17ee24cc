"""HTTP and SSE for every protocol: one place where transport failures become our errors.

Timeouts: `connect` is httpx's; the socket read timeout is the idle gap between chunks; the wait for
the first content is checked against `first_token` on every chunk that arrives (keep-alive comments
included), so a provider that only sends `: OPENROUTER PROCESSING` forever still times out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

# The public EventSource hides comment lines, and we must see every chunk (keep-alives too) to
# enforce the first-token deadline, so we drive httpx-sse's own decoders over the byte stream.
from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from httpx_sse._models import ServerSentEvent

from multillm.common.errors import (
    AuthenticationError,
    ConnectTimeout,
    FirstTokenTimeout,
    IdleTimeout,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from multillm.common.providers.base import Timeouts
from multillm.common.ratelimit_headers import RateLimitInfo, parse_rate_limit_headers

ErrorFactory = Callable[[int, Any, httpx.Headers], ProviderError]

STATUS_ERRORS: dict[int, type[ProviderError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    402: PermissionDenied,  # OpenRouter: out of credits
    403: PermissionDenied,
    404: InvalidRequest,
    408: ProviderTimeout,
    409: ProviderUnavailable,
    413: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
}


def class_for_status(status: int) -> type[ProviderError]:
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return ProviderUnavailable if status >= 500 else InvalidRequest


@dataclass
class Call:
    """What we know about one provider call, for error messages and timeouts."""

    provider: str
    model: str
    job_id: str
    timeouts: Timeouts
    started: float = field(default_factory=time.monotonic)
    got_content: bool = False
    rate_limit: RateLimitInfo = field(default_factory=RateLimitInfo)

    def error(self, cls: type[ProviderError], message: str, **kw: Any) -> ProviderError:
        return cls(message, provider=self.provider, model=self.model, job_id=self.job_id, **kw)

    def check_first_token(self) -> None:
        if not self.got_content and time.monotonic() - self.started > self.timeouts.first_token:
            raise self.error(FirstTokenTimeout, f"no content within {self.timeouts.first_token:g}s")

    def check_total(self) -> None:
        if time.monotonic() - self.started > self.timeouts.total:
            raise self.error(IdleTimeout, f"stream exceeded {self.timeouts.total:g}s in total")


@contextmanager
def translated(call: Call) -> Iterator[None]:
    """Translate httpx's exceptions into the error tree; the only place that does."""
    try:
        yield
    except ProviderError:
        raise
    except httpx.ConnectTimeout as exc:
        raise call.error(ConnectTimeout, f"connect timed out after {call.timeouts.connect:g}s") from exc
    except httpx.TimeoutException as exc:
        if call.got_content:
            raise call.error(IdleTimeout, f"no chunk for {call.timeouts.idle:g}s") from exc
        raise call.error(FirstTokenTimeout, f"no content within {call.timeouts.idle:g}s") from exc
    except httpx.ConnectError as exc:
        raise call.error(ProviderUnavailable, f"cannot connect: {type(exc).__name__}") from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise call.error(StreamInterrupted, f"connection dropped: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise call.error(StreamInterrupted, f"transport failed: {type(exc).__name__}") from exc


def read_json_body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:500] if response.content else None


def check_status(call: Call, response: httpx.Response, make_error: ErrorFactory) -> None:
    """Record rate-limit headers; on an error status, raise what the protocol makes of the body."""
    call.rate_limit = parse_rate_limit_headers(response.headers)
    if response.status_code < 400:
        return
    body = read_json_body(response)
    error = make_error(response.status_code, body, response.headers)
    error.provider, error.model, error.job_id = call.provider, call.model, call.job_id
    if error.status is None:
        error.status = response.status_code
    error.rate_limit = call.rate_limit.with_retry_after(error.rate_limit.retry_after or call.rate_limit.retry_after)
    raise error


def iter_sse(call: Call, response: httpx.Response) -> Iterator[ServerSentEvent]:
    """Every event of an SSE body, checking the first-token and total deadlines on each chunk."""
    lines = SSELineDecoder()
    decoder = SSEDecoder()
    for text in response.iter_text():
        call.check_first_token()
        call.check_total()
        for line in lines.decode(text):
            event = decoder.decode(line.rstrip("\n"))
            if event is not None:
                yield event
    for line in lines.flush():
        event = decoder.decode(line)
        if event is not None:
            yield event
    final = decoder.decode("")
    if final is not None:
        yield final


def parse_event_json(call: Call, data: str) -> Any:
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise call.error(StreamInterrupted, "malformed chunk: not JSON") from exc


@contextmanager
def open_stream(
    client: httpx.Client, call: Call, make_error: ErrorFactory, method: str, url: str, **kw: Any
) -> Iterator[httpx.Response]:
    """Send a request, check its status, and yield the streaming response; errors translated."""
    kw.setdefault("timeout", call.timeouts.httpx())
    with translated(call), client.stream(method, url, **kw) as response:
        check_status(call, response, make_error)
        yield response


def request_json(
    client: httpx.Client, call: Call, make_error: ErrorFactory, method: str, url: str, **kw: Any
) -> Any:
    """A whole request and its JSON body; errors translated."""
    with open_stream(client, call, make_error, method, url, **kw) as response, translated(call):
        body = read_json_body(response)
    return body
