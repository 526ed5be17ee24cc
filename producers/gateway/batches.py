"""`GET /v1/batches` and `GET /v1/batches/{id}`: the caller's batch runs with their progress, and one
run's rows (prompt x provider/model: answer, expected, verdict and reason) with its report figures.

A batch belongs to the tenant its jobs ran as (`BatchRun(tenant=...)`); another tenant's batch is a
404, as for jobs.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from multillm.producers.batch.report import figures_of
from multillm.producers.batch.state import batch_info, batch_rows, list_batches
from multillm.producers.gateway.auth import authenticate
from multillm.producers.gateway.errors import not_found

BATCH_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


async def index(request: Request) -> Response:
    tenant = await authenticate(request)
    found = await anyio.to_thread.run_sync(list_batches, request.app.state.client.redis, tenant.name)
    return JSONResponse({"object": "list", "data": [{"object": "batch", **b} for b in found]})


def batch_body(client: redis.Redis, tenant: str, batch_id: str) -> dict[str, Any] | None:
    info = batch_info(client, batch_id) if BATCH_ID.match(batch_id) else None
    if info is None or info["tenant"] != tenant:
        return None
    rows = batch_rows(client, batch_id)
    found = figures_of(rows)
    return {"object": "batch", **info, "scoring": found[0].how if found else None,
            "figures": [f.row() for f in found], "rows": rows}


async def read(request: Request) -> Response:
    tenant = await authenticate(request)
    batch_id = request.path_params["batch_id"]
    body = await anyio.to_thread.run_sync(batch_body, request.app.state.client.redis, tenant.name, batch_id)
    if body is None:
        raise not_found(f"batch {batch_id!r}", "id")
    return JSONResponse(body)
