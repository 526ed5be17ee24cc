"""The simulator's HTTP server: all seven providers on one port, each under a path prefix followed
by the path of its real base URL, so `<X>_BASE_URL=http://127.0.0.1:PORT/<provider>...` is all a
client needs (`base_urls`).

Control API: GET/PUT /_simulator/config, GET /_simulator/stats, POST /_simulator/reset.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from multillm.producers.simulator.config import SimulatorConfig
from multillm.producers.simulator.handlers import Simulator
from multillm.producers.simulator.providers import PROVIDERS
from multillm.producers.simulator.urls import PREFIXES, base_urls

SHUTDOWN_TIMEOUT_S = 5.0  # streams notice the stop within SHORT_PAUSE_S; this only bounds stragglers
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(sim: Simulator) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    for provider, prefix in PREFIXES.items():
        _provider_routes(app.router, sim, provider, prefix)
    app.router.add_get("/_simulator/config", sim.get_config)
    app.router.add_put("/_simulator/config", sim.put_config)
    app.router.add_get("/_simulator/stats", sim.get_stats)
    app.router.add_post("/_simulator/reset", sim.post_reset)

    async def started(_: web.Application) -> None:
        sim.stopping = asyncio.Event()  # bound to this loop

    async def stopping(_: web.Application) -> None:
        sim.stopping.set()  # stalls and paced streams end now

    app.on_startup.append(started)
    app.on_shutdown.append(stopping)
    return app


def _provider_routes(router: web.UrlDispatcher, sim: Simulator, provider: str, prefix: str) -> None:
    spec = PROVIDERS[provider]

    async def chat(request: web.Request) -> web.StreamResponse:
        return await sim.chat(request, provider)

    async def models(request: web.Request) -> web.StreamResponse:
        return await sim.models(request, provider)

    async def gemini(request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].partition(":")
        if method == "countTokens":
            return await sim.count_tokens(request, provider, model)
        if method not in ("generateContent", "streamGenerateContent"):
            return sim.error(provider, "not_found", f"Method {method!r} is not found.")
        return await sim.chat(request, provider, model=model, stream=method == "streamGenerateContent")

    async def count(request: web.Request) -> web.StreamResponse:
        return await sim.count_tokens(request, provider)

    router.add_get(prefix + spec.models_path, models)
    if spec.protocol == "gemini":
        router.add_post(prefix + "/models/{target}", gemini)
        return
    router.add_post(prefix + spec.chat_path, chat)
    if spec.protocol == "anthropic":
        router.add_post(prefix + spec.chat_path + "/count_tokens", count)
    if provider == "github":  # organisation-attributed inference
        router.add_post(prefix + "/orgs/{org}" + spec.chat_path, chat)


async def _start_site(sim: Simulator, host: str, port: int) -> tuple[web.AppRunner, int]:
    # handler_cancellation: a client that hangs up ends its handler, so an abandoned stall frees its slot.
    runner = web.AppRunner(make_app(sim), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    server: Any = site._server  # aiohttp exposes the bound port only here
    return runner, int(server.sockets[0].getsockname()[1])


class SimulatorServer:
    """The simulator on its own event loop in a background thread, for tests and embedding.

    `with SimulatorServer(config=SimulatorConfig(ttft_ms=0)) as sim: sim.base_urls()["openai"]`
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: SimulatorConfig | None = None) -> None:
        self.host, self.port = host, port
        self.simulator = Simulator(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_urls(self) -> dict[str, str]:
        return base_urls(self.url)

    def start(self) -> SimulatorServer:
        if self._runner is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulator", daemon=True)
        self._thread.start()
        try:
            self._runner, self.port = self._call(_start_site(self.simulator, self.host, self.port))
        except BaseException:
            self._close_loop()
            raise
        return self

    def stop(self) -> None:
        """End every stream (stalls included), release the port, stop the thread."""
        if self._runner is not None:
            self._call(self._runner.cleanup(), timeout=SHUTDOWN_TIMEOUT_S + 5)
            self._runner = None
        self._close_loop()

    def configure(self, **changes: Any) -> SimulatorConfig:
        """Merge config changes while running, like PUT /_simulator/config."""
        return self._call(_run(lambda: self.simulator.configure(changes))) if self._loop else \
            self.simulator.configure(changes)

    def stats(self) -> dict[str, Any]:
        return self._call(_run(self.simulator.stats.as_dict)) if self._loop else self.simulator.stats.as_dict()

    def reset(self) -> None:
        self._call(_run(self.simulator.reset)) if self._loop else self.simulator.reset()

    def _call(self, coro: Awaitable[Any], timeout: float = 10.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)  # type: ignore[arg-type]

    def _close_loop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


async def _run(function: Callable[[], Any]) -> Any:
    """Run `function` on the simulator's loop, so it never races a request."""
    return function()


def serve(host: str, port: int, config: SimulatorConfig | None = None) -> None:
    """Run the simulator in the foreground until interrupted (the CLI)."""
    sim = Simulator(config)

    async def main() -> None:
        runner, _ = await _start_site(sim, host, port)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
