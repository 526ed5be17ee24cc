"""The jobs API: submit and get an id at once, read the status and result, follow the stream
protocol over SSE (`id:` is the message's `seq`; `Last-Event-ID` resumes after it), cancel.

Ids are the caller's own (or new ones), inside its tenant's namespace; every message and result
shows the caller's id, never the namespaced one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from multillm.producers.gateway.auth import authenticate, external_id, internal_id, owned_job
from multillm.producers.gateway.body import parse_body
from multillm.producers.gateway.errors import GatewayError
from multillm.producers.gateway.submit import submission, submit
from multillm.producers.gateway.wire import JobRequest
from multillm.producers.handle import JobHandle

PING_S = 15


def job_body(handle: JobHandle, tenant: str, status: str) -> dict[str, Any]:
    result = handle.stored_result()
    body: dict[str, Any] = {"id": external_id(tenant, handle.job_id), "object": "job", "status": status, "result": None}
    if result is not None:
        body["result"] = {**result.model_dump(mode="json"), "job_id": body["id"]}
    return body


async def create(request: Request) -> Response:
    tenant = await authenticate(request)
    job = await parse_body(request, JobRequest)
    job_id = internal_id(tenant.name, job.id or uuid.uuid4().hex)
    handle = await anyio.to_thread.run_sync(submit, request.app.state.client, tenant, submission(job_id, job))
    status = await anyio.to_thread.run_sync(handle.status)
    return JSONResponse({"id": external_id(tenant.name, handle.job_id), "object": "job", "status": status}, status_code=202)


async def read(request: Request) -> Response:
    tenant = await authenticate(request)
    handle = request.app.state.client.job(await owned_job(request, tenant, request.path_params["job_id"]))
    status = await anyio.to_thread.run_sync(handle.status)
    return JSONResponse(await anyio.to_thread.run_sync(job_body, handle, tenant.name, status))


async def cancel(request: Request) -> Response:
    tenant = await authenticate(request)
    handle = request.app.state.client.job(await owned_job(request, tenant, request.path_params["job_id"]))
    cancelled = await anyio.to_thread.run_sync(handle.cancel)
    status = await anyio.to_thread.run_sync(handle.status)
    return JSONResponse({"id": external_id(tenant.name, handle.job_id), "object": "job", "cancelled": cancelled,
                         "status": status})


def last_event_id(request: Request) -> int:
    raw = request.headers.get("last-event-id", "0").strip() or "0"
    if not raw.isdigit():
        raise GatewayError(400, "last-event-id: must be a message seq (a whole number)", param="last-event-id")
    return int(raw)


async def events(request: Request) -> Response:
    tenant = await authenticate(request)
    handle = request.app.state.client.job(await owned_job(request, tenant, request.path_params["job_id"]))
    after = last_event_id(request)
    shown = external_id(tenant.name, handle.job_id)

    async def stream() -> AsyncIterator[dict[str, Any]]:
        async for message in handle.astream(after=after):
            data = message.model_copy(update={"job_id": shown}).model_dump_json(exclude_none=True)
            yield {"id": str(message.seq), "data": data}

    return EventSourceResponse(stream(), ping=PING_S)
