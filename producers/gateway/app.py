"""The gateway application: Starlette on uvicorn, stateless (everything lives in Redis), so any
number of processes run behind a load balancer.

Starlette rather than FastAPI: the requests are validated by multillm's own pydantic schemas
(`wire.py`), so FastAPI's layer would only add work per request; in a quick streamed-requests/s
comparison on this 2-core machine (a 20-chunk SSE endpoint, 64 concurrent clients) Starlette and
FastAPI, on uvicorn and on granian, were all within the noise of a shared machine (60-120 req/s,
bound by the load generator), so the smaller stack won. uvicorn is the server the ASGI ecosystem
documents and tests against.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from multillm.common.errors import MultiLLMError
from multillm.common.settings import Settings
from multillm.producers.client import MultiLLM
from multillm.producers.gateway import batches, chat, console, jobs, providers
from multillm.producers.gateway.errors import GatewayError, from_error
from multillm.producers.gateway.middleware import GatewayMiddleware

log = logging.getLogger("multillm.gateway")


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await request.app.state.aredis.ping()
    except (aioredis.RedisError, OSError):
        return GatewayError(503, "Redis is not reachable", type="server_error", code="not_ready").response()
    return JSONResponse({"status": "ready"})


async def metrics(_: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def on_gateway_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return exc.response()


async def on_multillm_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, MultiLLMError)
    return from_error(exc).response()


async def on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return GatewayError(exc.status_code, str(exc.detail), code=code).response()


async def on_unexpected(_: Request, exc: Exception) -> Response:
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return GatewayError(500, "internal error", type="server_error", code="internal_error").response()


ROUTES = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics),
    Route("/v1/models", chat.list_models),
    Route("/v1/models/{model_id:path}", chat.get_model),
    Route("/v1/chat/completions", chat.completions, methods=["POST"]),
    Route("/v1/jobs", jobs.create, methods=["POST"]),
    Route("/v1/jobs/{job_id}", jobs.read, methods=["GET"]),
    Route("/v1/jobs/{job_id}", jobs.cancel, methods=["DELETE"]),
    Route("/v1/jobs/{job_id}/events", jobs.events, methods=["GET"]),
    Route("/v1/batches", batches.index, methods=["GET"]),
    Route("/v1/batches/{batch_id}", batches.read, methods=["GET"]),
    Route("/v1/providers", providers.index, methods=["GET"]),
    Route("/v1/usage", providers.usage, methods=["GET"]),
    *console.ROUTES,
]


def create_app(settings: Settings, redis_url: str) -> Starlette:
    """The ASGI app; it holds one producer client and one asyncio Redis pool for its life."""
    middleware = [
        Middleware(GatewayMiddleware, routes=ROUTES),
        Middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                   allow_headers=["authorization", "content-type", "x-request-id", "last-event-id"],
                   expose_headers=["x-request-id", "retry-after"], max_age=600),
    ]
    handlers: dict[Any, Any] = {GatewayError: on_gateway_error, MultiLLMError: on_multillm_error,
                                HTTPException: on_http_error, Exception: on_unexpected}
    app = Starlette(routes=ROUTES, middleware=middleware, exception_handlers=handlers)
    app.state.settings = settings
    app.state.client = MultiLLM(redis_url, settings=settings)
    app.state.aredis = aioredis.Redis.from_url(redis_url)
    return app
