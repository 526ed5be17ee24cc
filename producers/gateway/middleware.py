"""What every response gets, whatever route served it: an `x-request-id` (the caller's, if it is a
sane token, else a new one) that every log line written meanwhile carries too; security headers;
a count and a duration in the metrics by route template and tenant; one access log line without
query string or headers, so no key can reach a log.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from multillm.common.logs import request_context

log = logging.getLogger("multillm.gateway")
REQUEST_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "cache-control": "no-store",
}

REQUESTS = Counter("multillm_gateway_requests_total", "Gateway requests by route, method, tenant and status",
                   ["route", "method", "tenant", "status"])
LATENCY = Histogram("multillm_gateway_request_seconds", "Gateway request duration, to the last byte (streams included)",
                    ["route", "method"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


def route_of(routes: list[BaseRoute], scope: Scope) -> str:
    """The route template (`/v1/jobs/{job_id}`), so metrics do not get a label per job id."""
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "other"))
    return "unmatched"


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        route = route_of(self.routes, scope)
        status = 500
        start = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        with request_context(request_id):
            try:
                await self.app(scope, receive, send_with_headers)
            finally:
                elapsed = time.perf_counter() - start
                tenant = str(scope.get("state", {}).get("tenant", "-"))
                REQUESTS.labels(route, scope["method"], tenant, str(status)).inc()
                LATENCY.labels(route, scope["method"]).observe(elapsed)
                log.info("%s %s %d %.1fms tenant=%s", scope["method"], route, status, elapsed * 1000, tenant)
