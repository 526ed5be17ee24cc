"""`multillm serve`: the HTTP gateway (OpenAI-compatible chat completions and the jobs API)."""

from __future__ import annotations

from typing import Annotated

import typer

from multillm.common.settings import get_settings
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.client import resolve_redis_url


@one_line_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
) -> None:
    """Serve the gateway: tenants call it with `Authorization: Bearer <key>` from `multillm tenants create`.

    Stateless: run as many as you like behind a load balancer, all on the same REDIS_URL.

    Example: multillm serve --host 0.0.0.0 --port 8080
    """
    import uvicorn  # the gateway extra: imported here so the core install's `multillm` starts without it

    from multillm.producers.gateway import create_app

    settings = get_settings()
    app = create_app(settings, resolve_redis_url(None, settings))
    # uvicorn's access log prints paths with query strings; the gateway logs its own line per request.
    # No log_config: uvicorn's own lines go through the root handlers, which mask keys (common/logs.py).
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None, log_level=settings.log_level,
                server_header=False, timeout_graceful_shutdown=30)
