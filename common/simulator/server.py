"""The simulator's HTTP server: all seven providers on one port, each under a path prefix that
mirrors its real base URL, so `<X>_BASE_URL=http://127.0.0.1:PORT/<provider>...` is all a client needs.

Control API: GET/PUT /_simulator/config, GET /_simulator/stats, POST /_simulator/reset.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ..providers.catalog import SPECS
from . import wire_anthropic, wire_gemini, wire_openai
from .engine import FAULTS, Plan, Quota, SimulatorConfig, Stats, answer_words, choose_fault, split_chunks, tool_arguments

PREFIXES = {"openai": "/openai/v1", "anthropic": "/anthropic", "google": "/google/v1beta",
            "openrouter": "/openrouter/api/v1", "llama": "/llama/v1", "grok": "/grok/v1", "github": "/github"}
STATUS_FAULTS = {"429": 429, "500": 500, "502": 502, "503": 503, "529": 529, "401": 401, "403": 403, "400": 400}


def base_urls(root: str) -> dict[str, str]:
    """Each provider's base URL on a simulator at `root` (http://host:port)."""
    return {p: root.rstrip("/") + prefix for p, prefix in PREFIXES.items()}


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.stats = Stats.empty()
        self.quota = Quota()
        self.rng = random.Random(self.config.seed)
        self.stopping = asyncio.Event()

    # ---- helpers shared by every protocol -------------------------------------------------
    def key_of(self, provider: str, request: web.Request) -> str | None:
        h = request.headers
        auth = h.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") and auth[7:] else None
        if SPECS[provider].protocol == "anthropic":  # x-api-key, or a bearer token as newer SDKs send
            return (h.get("x-api-key") or bearer) if h.get("anthropic-version") else None
        if SPECS[provider].protocol == "gemini":
            return h.get("x-goog-api-key") or request.query.get("key")
        return bearer

    def error(self, provider: str, status: int, message: str, *, code: str | None = None,
              retry_after: float | None = None, headers: dict[str, str] | None = None) -> web.Response:
        protocol = SPECS[provider].protocol
        if protocol == "anthropic":
            body = wire_anthropic.error_body(status, message)
        elif protocol == "gemini":
            body = wire_gemini.error_body(status, message, retry_after if status == 429 else None,
                                          key_invalid=code == "API_KEY_INVALID")
            status = 400 if code == "API_KEY_INVALID" else (503 if status == 529 else status)
        else:
            body = wire_openai.error_body(provider, 503 if status == 529 else status, message, code)
            status = 503 if status == 529 else status
        out = dict(headers or {})
        if retry_after is not None:
            out["retry-after"] = str(max(1, round(retry_after + 0.4999)))
            out["retry-after-ms"] = str(int(retry_after * 1000))
        return web.json_response(body, status=status, headers=out)

    def quota_headers(self, provider: str, left_r: int, left_t: int, reset_s: float) -> dict[str, str]:
        c = self.config
        if left_r < 0:
            return {}
        limit_r, limit_t = c.quota_rpm or 10**9, c.quota_tpm or 10**12
        if SPECS[provider].protocol == "anthropic":
            reset = (datetime.now(UTC) + timedelta(seconds=reset_s)).isoformat().replace("+00:00", "Z")
            return wire_anthropic.rate_headers(limit_r, left_r, limit_t, left_t, reset)
        if SPECS[provider].protocol == "gemini":
            return {}
        return wire_openai.rate_headers(limit_r, left_r, limit_t, left_t, reset_s)

    def plan(self, provider: str, req: dict[str, Any], model: str, fault: str | None, request: web.Request) -> Plan:
        c = self.config
        limit = int(req.get("max_tokens") or c.default_max_tokens)
        natural = c.default_max_tokens
        words = answer_words(req["prompt"], min(limit, natural))
        finish = "length" if limit < natural else "stop"
        tool = None
        tools = req.get("tools") or []
        forced = req.get("tool_choice")
        wants_tool = tools and (forced not in (None, "auto", "none") or "weather" in req["prompt"].lower())
        if wants_tool and forced != "none":
            chosen = next((t for t in tools if isinstance(forced, str) and t.get("name") == forced), tools[0])
            if isinstance(forced, dict):  # OpenAI {"type":"function","function":{"name"}}
                name = (forced.get("function") or {}).get("name")
                chosen = next((t for t in tools if t.get("name") == name), tools[0])
            tool = {"name": chosen.get("name"), "arguments": json.dumps(tool_arguments(chosen.get("parameters") or {}))}
            finish, words = "tool_calls", answer_words(req["prompt"], 8)
        if fault == "content_filter":
            finish, words, tool = "content_filter", [], None
        ttft = float(request.headers.get("x-simulator-ttft-ms", c.ttft_ms)) / 1000
        tps = float(request.headers.get("x-simulator-tps", c.tokens_per_second))
        return Plan(provider, model, req["prompt_tokens"], split_chunks(words), finish, fault, ttft,
                    1.0 / tps if tps > 0 else 0.0, tool)

    # ---- the request path -------------------------------------------------------------------
    async def chat(self, request: web.Request, provider: str, model: str | None = None,
                   stream: bool | None = None) -> web.StreamResponse:
        self.stats.requests[provider] += 1
        key = self.key_of(provider, request)
        spec = SPECS[provider]
        if not key or "invalid" in key:
            code = "API_KEY_INVALID" if spec.protocol == "gemini" else None
            return self.error(provider, 401, "Incorrect API key provided." if key else "Missing API key.", code=code)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self.error(provider, 400, "The request body is not valid JSON.")
        parse = {"anthropic": wire_anthropic.parse, "gemini": wire_gemini.parse}.get(spec.protocol, wire_openai.parse)
        req = parse(body)
        model = model or req.get("model")
        if stream is None:
            stream = req["stream"]
        refusal = self.refuse(provider, req, model, body)
        if refusal is not None:
            return refusal
        fault = choose_fault(self.config, provider, req["prompt"], request.headers.get("x-simulator-fault"), self.rng)
        if fault:
            self.stats.faults[fault] += 1
        tokens = req["prompt_tokens"] + int(req.get("max_tokens") or self.config.default_max_tokens)
        allowed, wait, left_r, left_t = self.quota.check(self.config, provider, key, tokens)
        if not allowed or fault == "429":
            self.stats.rate_limited[provider] += 1
            retry = wait if not allowed else self.config.retry_after_s
            return self.error(provider, 429, "Rate limit reached; please retry later.", retry_after=retry,
                              headers=self.quota_headers(provider, max(0, left_r), max(0, left_t), retry))
        if fault in STATUS_FAULTS:
            return self.error(provider, STATUS_FAULTS[fault], f"Simulated {fault} error.")
        if fault == "context":
            return self.context_error(provider)
        assert model is not None
        plan = self.plan(provider, req, model, fault, request)
        headers = self.quota_headers(provider, left_r, left_t, 60.0)
        if stream:
            return await self.stream(request, provider, plan, req["include_usage"], headers)
        await asyncio.sleep(plan.ttft_s)
        return web.json_response(self.completion(provider, plan), headers=headers)

    def refuse(self, provider: str, req: dict[str, Any], model: str | None, body: dict[str, Any]) -> web.Response | None:
        spec = SPECS[provider]
        if not req["messages"]:
            return self.error(provider, 400, "messages: at least one message is required.")
        info = spec.find_model(model or "")
        if info is None:
            return self.error(provider, 404, f"The model `{model}` does not exist or you do not have access to it.")
        if spec.protocol == "anthropic" and not body.get("max_tokens"):
            return self.error(provider, 400, "max_tokens: Field required")
        if req["prompt_tokens"] > info.context_length:
            return self.context_error(provider)
        return None

    def context_error(self, provider: str) -> web.Response:
        message = "This model's maximum context length was exceeded. Please reduce the length of the messages."
        return self.error(provider, 400, message, code="context_length_exceeded")

    def completion(self, provider: str, plan: Plan) -> dict[str, Any]:
        job = uuid.uuid4().hex
        protocol = SPECS[provider].protocol
        if protocol == "anthropic":
            return wire_anthropic.completion(plan, job)
        if protocol == "gemini":
            return wire_gemini.completion(plan)
        return wire_openai.completion(provider, plan, job)

    def parts(self, provider: str, plan: Plan, include_usage: bool) -> Any:
        job = uuid.uuid4().hex
        protocol = SPECS[provider].protocol
        if protocol == "anthropic":
            return wire_anthropic.stream_parts(plan, job), wire_anthropic.midstream_error()
        if protocol == "gemini":
            return wire_gemini.stream_parts(plan), wire_gemini.midstream_error()
        return wire_openai.stream_parts(provider, plan, job, include_usage), wire_openai.midstream_error(provider)

    async def stream(self, request: web.Request, provider: str, plan: Plan, include_usage: bool,
                     headers: dict[str, str]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache",
                                               **headers})
        await response.prepare(request)
        self.stats.concurrent_streams += 1
        self.stats.peak_concurrent_streams = max(self.stats.peak_concurrent_streams, self.stats.concurrent_streams)
        try:
            await self.write_stream(request, response, provider, plan, include_usage)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.stats.concurrent_streams -= 1
        return response

    async def write_stream(self, request: web.Request, response: web.StreamResponse, provider: str, plan: Plan,
                           include_usage: bool) -> None:
        pieces, error_event = self.parts(provider, plan, include_usage)
        if plan.fault == "stall":
            await self.pause(self.config.stall_s)
            return
        await self.pause(plan.ttft_s)
        tokens = 0
        for kind, data in pieces:
            if kind == "token":
                if tokens and plan.gap_s:
                    await self.pause(plan.gap_s)
                tokens += 1
                if tokens == 3 and plan.fault in ("stall_mid", "drop", "malformed", "midstream_error"):
                    await self.fault_mid_stream(request, response, plan.fault, error_event)
                    return
            await response.write(data)
        await response.write_eof()

    async def fault_mid_stream(self, request: web.Request, response: web.StreamResponse, fault: str, error_event: bytes) -> None:
        if fault == "stall_mid":
            await self.pause(self.config.stall_s)
        elif fault == "drop":
            if request.transport is not None:
                request.transport.abort()
        elif fault == "malformed":
            await response.write(b'data: {"choices": [{"delta": {"content": "unterminated\n\n')
            await response.write_eof()
        else:
            await response.write(error_event)
            await response.write_eof()

    async def pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    # ---- models and control --------------------------------------------------------------------
    async def models(self, request: web.Request, provider: str) -> web.Response:
        self.stats.requests[provider] += 1
        if not self.key_of(provider, request):
            return self.error(provider, 401, "Missing API key.")
        down = [f for f in self.config.provider_faults.get(provider, []) if f in STATUS_FAULTS]
        if down:  # a provider made to fail fails everywhere, model lists included
            return self.error(provider, STATUS_FAULTS[down[0]], f"Simulated {down[0]} error.")
        spec = SPECS[provider]
        ids = [m.id for m in spec.models]
        contexts = {m.id: m.context_length for m in spec.models}
        if spec.protocol == "anthropic":
            return web.json_response(wire_anthropic.models(ids))
        if spec.protocol == "gemini":
            outputs = {m.id: m.max_output_tokens for m in spec.models}
            return web.json_response(wire_gemini.models(ids, contexts, outputs))
        return web.json_response(wire_openai.models(provider, ids, contexts))

    async def get_config(self, _: web.Request) -> web.Response:
        return web.json_response(self.config.model_dump())

    async def put_config(self, request: web.Request) -> web.Response:
        changes = await request.json()
        unknown = [f for f in changes.get("faults", []) + [f for v in changes.get("provider_faults", {}).values() for f in v]
                   if f not in FAULTS]
        if unknown:
            return web.json_response({"error": f"unknown faults: {unknown}; known: {list(FAULTS)}"}, status=400)
        try:
            self.config = SimulatorConfig.model_validate({**self.config.model_dump(), **changes})
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.config.model_dump())

    async def get_stats(self, _: web.Request) -> web.Response:
        return web.json_response(self.stats.as_dict())

    async def reset(self, _: web.Request) -> web.Response:
        self.stats = Stats.empty()
        self.quota.reset()
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        r = app.router
        for provider, prefix in PREFIXES.items():
            spec = SPECS[provider]
            if spec.protocol == "gemini":
                r.add_post(prefix + "/models/{target}", self._gemini(provider))
            else:
                r.add_post(prefix + spec.chat_path, self._bound(self.chat, provider))
            r.add_get(prefix + spec.models_path, self._bound(self.models, provider))
        r.add_get("/_simulator/config", self.get_config)
        r.add_put("/_simulator/config", self.put_config)
        r.add_get("/_simulator/stats", self.get_stats)
        r.add_post("/_simulator/reset", self.reset)
        app.on_shutdown.append(self._on_shutdown)
        return app

    @staticmethod
    def _bound(method: Any, provider: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await method(request, provider)
        return handler

    def _gemini(self, provider: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            model, _, method = request.match_info["target"].partition(":")
            if method not in ("generateContent", "streamGenerateContent"):
                return self.error(provider, 404, f"Method {method!r} not found.")
            return await self.chat(request, provider, model=model, stream=method == "streamGenerateContent")
        return handler

    async def _on_shutdown(self, _: web.Application) -> None:
        self.stopping.set()


class SimulatorServer:
    """The simulator on its own event loop in a background thread: for tests and embedding."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: SimulatorConfig | None = None) -> None:
        self.host, self.port = host, port
        self.simulator = Simulator(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulator", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_urls(self) -> dict[str, str]:
        return base_urls(self.url)

    def start(self) -> SimulatorServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self.simulator.stopping = asyncio.Event()
        self._runner = web.AppRunner(self.simulator.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=4096)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._runner is not None:
            self._loop.call_soon_threadsafe(self.simulator.stopping.set)
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve(host: str, port: int, config: SimulatorConfig) -> None:
    """Run in the foreground until interrupted."""
    simulator = Simulator(config)

    async def main() -> None:
        simulator.stopping = asyncio.Event()
        runner = web.AppRunner(simulator.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port, backlog=4096).start()
        try:
            await asyncio.Event().wait()
        finally:
            simulator.stopping.set()
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
