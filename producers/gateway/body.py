"""Reading a request body as JSON within the size limit, and validating it with a schema."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from multillm.common.validation import parse
from multillm.producers.gateway.errors import GatewayError

T = TypeVar("T", bound=BaseModel)


async def read_json(request: Request) -> Any:
    """The request body as JSON; 413 past MULTILLM_GATEWAY_MAX_BODY_BYTES, counted as it arrives."""
    limit = request.app.state.settings.gateway_max_body_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise GatewayError(413, f"request body larger than {limit} bytes", code="request_too_large")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise GatewayError(413, f"request body larger than {limit} bytes", code="request_too_large")
    try:
        return json.loads(body)
    except ValueError:
        raise GatewayError(400, "body: not valid JSON", code="invalid_json") from None


async def parse_body(request: Request, model: type[T]) -> T:
    """The body validated as `model`; a 400 naming the first bad field (via ConfigurationError)."""
    return parse(model, await read_json(request))
