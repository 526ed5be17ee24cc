"""`POST /v1/chat/completions` and `GET /v1/models`, in OpenAI's shapes.

A streamed completion waits for the job's first text, tool call or end before sending headers, so
an error that comes first (an unknown model at the provider, no key, a rate limit) is a real HTTP
status the client's SDK understands; after that, errors arrive as an `error` event in the stream,
as OpenAI sends them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from multillm.common.stream import StreamMessage
from multillm.producers.gateway.auth import authenticate, internal_id
from multillm.producers.gateway.body import parse_body
from multillm.producers.gateway.errors import GatewayError, from_job_error, not_found
from multillm.producers.gateway.submit import submission, submit
from multillm.producers.gateway.wire import ChatCompletionRequest, ChunkWriter, StreamRestarted, completion_body, model_list

WAIT_MARGIN_S = 30.0  # beyond the job deadline: a worker ends every job by then (DeadlineExceeded)
PING_S = 15  # SSE comment lines keep proxies from closing a quiet stream


async def list_models(request: Request) -> Response:
    await authenticate(request)
    return JSONResponse({"object": "list", "data": model_list(request.app.state.settings.tier_map())})


async def get_model(request: Request) -> Response:
    await authenticate(request)
    wanted = request.path_params["model_id"]
    found = [m for m in model_list(request.app.state.settings.tier_map()) if m["id"] == wanted]
    if not found:
        raise not_found(f"model {wanted!r}", "model")
    return JSONResponse(found[0])


async def completions(request: Request) -> Response:
    tenant = await authenticate(request)
    chat = await parse_body(request, ChatCompletionRequest)
    external = uuid.uuid4().hex
    handle = await anyio.to_thread.run_sync(submit, request.app.state.client, tenant,
                                            submission(internal_id(tenant.name, external), chat))
    completion_id = f"chatcmpl-{external}"
    timeout = request.app.state.settings.job_deadline_s + WAIT_MARGIN_S
    if not chat.stream:
        result = await handle.aresult(timeout=timeout)
        if result.status != "succeeded":
            raise from_job_error(result.error or {"code": result.status})
        return JSONResponse(completion_body(completion_id, result))
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    writer = ChunkWriter(completion_id, int(time.time()), include_usage)
    messages = handle.astream(timeout=timeout)
    first = await _until_content(messages)
    return EventSourceResponse(_chunks(writer, first, messages), ping=PING_S)


async def _until_content(messages: AsyncIterator[StreamMessage]) -> list[StreamMessage]:
    """Messages up to the first that the client sees; a job that ended in error by then is an HTTP error."""
    taken: list[StreamMessage] = []
    try:
        async for message in messages:
            taken.append(message)
            if message.type in ("error", "cancelled"):
                raise from_job_error(message.error or {"code": message.type})
            if message.type in ("delta", "tool_call", "done"):
                break
    except BaseException:
        await messages.aclose()  # type: ignore[attr-defined]
        raise
    return taken


async def _chunks(writer: ChunkWriter, first: list[StreamMessage],
                  rest: AsyncIterator[StreamMessage]) -> AsyncIterator[dict[str, Any]]:
    try:
        for message in first:
            for chunk in writer.on(message):
                yield {"data": json.dumps(chunk)}
        async for message in rest:
            if message.type in ("error", "cancelled"):
                yield {"data": json.dumps(from_job_error(message.error or {"code": message.type}).body())}
                return
            for chunk in writer.on(message):
                yield {"data": json.dumps(chunk)}
        yield {"data": "[DONE]"}
    except StreamRestarted as exc:
        error = GatewayError(502, str(exc), type="server_error", code="stream_restarted")
        yield {"data": json.dumps(error.body())}
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
