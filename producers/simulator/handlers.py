"""The simulator's request path, the same for every provider: credentials, the body, the
provider's own refusals, a fault, the quota, then the answer in that provider's wire format."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from multillm.producers.simulator.anthropic_format import AnthropicFormat
from multillm.producers.simulator.config import SimulatorConfig
from multillm.producers.simulator.faults import STATUS_FAULTS, UnknownFault, choose_fault, drawn_fault, requested_fault
from multillm.producers.simulator.gemini_format import GeminiFormat
from multillm.producers.simulator.openai_format import OpenAIFormat
from multillm.producers.simulator.plan import Ask, make_plan
from multillm.producers.simulator.providers import PROVIDERS
from multillm.producers.simulator.quota import Quota, QuotaDecision
from multillm.producers.simulator.sse import dumps
from multillm.producers.simulator.stats import Stats
from multillm.producers.simulator.streaming import send_completion, send_stream
from multillm.producers.simulator.wire import MESSAGES, WireFormat

FORMATS: dict[str, WireFormat] = {"openai": OpenAIFormat(), "anthropic": AnthropicFormat(), "gemini": GeminiFormat()}
BAD_BODY = (ValueError, TypeError, AttributeError, KeyError)  # what a malformed body raises while being read


class Simulator:
    """State shared by all requests: config, stats, quota windows. Runs on one event loop."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.stats = Stats()
        self.quota = Quota()
        self.rng = random.Random(self.config.seed)
        self.stopping = asyncio.Event()

    def configure(self, changes: dict[str, Any]) -> SimulatorConfig:
        """Merge `changes` into the config (raises pydantic.ValidationError) and return it."""
        config = self.config.merged(changes)
        if config.seed != self.config.seed:
            self.rng.seed(config.seed)
        self.config = config
        return config

    def reset(self) -> None:
        self.stats = Stats()
        self.quota.reset()

    # ---- chat ------------------------------------------------------------------------------------
    async def chat(self, request: web.Request, provider: str, model: str | None = None,
                   stream: bool | None = None) -> web.StreamResponse:
        self.stats.requests[provider] += 1
        fmt = FORMATS[PROVIDERS[provider].protocol]
        key, denied = self._key(fmt, request)
        if key is None:
            return self.error(provider, denied or "auth_missing")
        try:
            body = await request.json()
            ask = fmt.parse(body, model)
            refused = fmt.refusal(PROVIDERS[provider], ask, body)
            fault = choose_fault(self.config, provider, ask.prompt, request.headers.get("x-simulator-fault"), self.rng)
        except UnknownFault as exc:
            return self.error(provider, "invalid", str(exc))
        except BAD_BODY as exc:
            return self.error(provider, "invalid", f"Invalid request body: {exc}")
        if refused is not None:
            return self.error(provider, *refused)
        if fault is not None:
            self.stats.faults[fault] += 1
        return await self._answer(request, provider, fmt, key, ask, fault, ask.stream if stream is None else stream)

    async def _answer(self, request: web.Request, provider: str, fmt: WireFormat, key: str, ask: Ask,
                      fault: str | None, stream: bool) -> web.StreamResponse:
        limits = self.config.limits(provider)
        if fault == "429":
            return self.rate_limited(provider, QuotaDecision.exhausted(self.config.retry_after_s, limits.rpm, limits.tpm))
        if fault in STATUS_FAULTS:
            info = PROVIDERS[provider].model(ask.model)
            message = fmt.context_message(info, ask.prompt_tokens) if fault == "context" else f"Simulated {fault} error."
            return self.error(provider, STATUS_FAULTS[fault], message)
        tokens = ask.prompt_tokens + int(ask.max_tokens or self.config.default_max_tokens)
        decision = self.quota.take(provider, key, limits.rpm, limits.tpm, tokens)
        if decision is not None and not decision.allowed:
            return self.rate_limited(provider, decision)
        plan = make_plan(self.config, provider, ask, fault, request.headers)
        headers = fmt.response_headers(plan)
        if decision is not None:
            headers.update(fmt.rate_headers(provider, decision))
        if stream:
            return await send_stream(self, request, fmt, plan, ask.include_usage, headers)
        return await send_completion(self, request, fmt, plan, headers)

    @staticmethod
    def _key(fmt: WireFormat, request: web.Request) -> tuple[str | None, str | None]:
        key, denied = fmt.api_key(request.headers, request.query)
        if key is not None and "invalid" in key:
            return None, "bad_key"
        return key, denied

    # ---- errors --------------------------------------------------------------------------------
    def error(self, provider: str, kind: str, message: str = "", retry_after_s: float | None = None,
              headers: dict[str, str] | None = None) -> web.Response:
        fmt = FORMATS[PROVIDERS[provider].protocol]
        reply = fmt.error(provider, kind, message or MESSAGES.get(kind, "Error."), retry_after_s)
        return web.json_response(reply.body, status=reply.status, headers={**reply.headers, **(headers or {})},
                                 dumps=dumps)

    def rate_limited(self, provider: str, decision: QuotaDecision) -> web.Response:
        """429 with the provider's headers: retry-after (and -ms for OpenAI-style clients), its rate-limit
        headers, and for Gemini the RetryInfo in the body instead."""
        self.stats.rate_limited[provider] += 1
        spec = PROVIDERS[provider]
        fmt = FORMATS[spec.protocol]
        wait = decision.retry_after_s
        headers = fmt.rate_headers(provider, decision)
        if spec.protocol != "gemini":
            headers["retry-after"] = str(max(1, math.ceil(wait)))
        if spec.protocol == "openai":
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        message = f"Rate limit reached for {spec.name}. Please try again in {wait:.3f}s."
        return self.error(provider, "rate_limit", message, wait, headers)

    # ---- other provider endpoints ----------------------------------------------------------------
    async def models(self, request: web.Request, provider: str) -> web.Response:
        """The model list; a provider forced to fail (provider_faults) fails here too."""
        self.stats.requests[provider] += 1
        self.stats.model_lists[provider] += 1
        spec = PROVIDERS[provider]
        key, denied = self._key(FORMATS[spec.protocol], request)
        if key is None:
            return self.error(provider, denied or "auth_missing")
        try:
            fault = requested_fault("", request.headers.get("x-simulator-fault"))
            if fault is None and provider in self.config.provider_faults:
                fault = drawn_fault(self.config, provider, self.rng)
            body = FORMATS[spec.protocol].models(spec, request.query)
        except (UnknownFault, *BAD_BODY) as exc:
            return self.error(provider, "invalid", str(exc))
        if fault in STATUS_FAULTS and fault != "context":
            self.stats.faults[fault] += 1
            if fault == "429":
                return self.rate_limited(provider, QuotaDecision.exhausted(self.config.retry_after_s))
            return self.error(provider, STATUS_FAULTS[fault], f"Simulated {fault} error.")
        return web.json_response(body, dumps=dumps)

    async def count_tokens(self, request: web.Request, provider: str, model: str | None = None) -> web.Response:
        """Anthropic `/v1/messages/count_tokens` and Gemini `:countTokens`, in the simulator's count."""
        self.stats.token_counts[provider] += 1
        fmt = FORMATS[PROVIDERS[provider].protocol]
        key, denied = self._key(fmt, request)
        if key is None:
            return self.error(provider, denied or "auth_missing")
        try:
            body = await request.json()
            if fmt.protocol == "gemini" and isinstance(body.get("generateContentRequest"), dict):
                body = body["generateContentRequest"]  # the other documented shape of :countTokens
            ask = fmt.parse(body, model)
        except BAD_BODY as exc:
            return self.error(provider, "invalid", f"Invalid request body: {exc}")
        refused = fmt.refusal(PROVIDERS[provider], ask, {**body, "max_tokens": 1})
        if refused is not None and refused[0] in ("not_found", "invalid"):
            return self.error(provider, *refused)
        if fmt.protocol == "gemini":
            return web.json_response({"totalTokens": ask.prompt_tokens}, dumps=dumps)
        return web.json_response({"input_tokens": ask.prompt_tokens}, dumps=dumps)

    # ---- control API -----------------------------------------------------------------------------
    async def get_config(self, _: web.Request) -> web.Response:
        return web.json_response(self.config.model_dump(mode="json"))

    async def put_config(self, request: web.Request) -> web.Response:
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object of config fields")
            config = self.configure(changes)
        except (ValueError, ValidationError) as exc:  # ValidationError is a ValueError; named for the reader
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(config.model_dump(mode="json"))

    async def get_stats(self, _: web.Request) -> web.Response:
        return web.json_response(self.stats.as_dict())

    async def post_reset(self, _: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})
