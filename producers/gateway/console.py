"""The web console's static files: `/` (the page), `/console.css` and `/js/*`, with a content security
policy that lets the page load its own scripts and styles and talk to this gateway only (the API's
policy, `default-src 'none'`, would block the page itself).

Named routes rather than a catch-all mount at `/`, so an unknown API path stays a 404 in OpenAI's
error shape for every method.
"""

from __future__ import annotations

import os

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from multillm.producers.console import STATIC

POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class ConsoleFiles(StaticFiles):
    def file_response(self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["content-security-policy"] = POLICY
        return response


async def page(_: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"content-security-policy": POLICY})


async def stylesheet(_: Request) -> Response:
    return FileResponse(STATIC / "console.css", headers={"content-security-policy": POLICY})


ROUTES: list[BaseRoute] = [
    Route("/", page, methods=["GET"]),
    Route("/console.css", stylesheet, methods=["GET"]),
    Mount("/js", ConsoleFiles(directory=STATIC / "js"), name="console-js"),
]
