"""The OpenAI Chat Completions protocol, shared by OpenAI, OpenRouter, Llama (Hugging Face), Grok
and GitHub Models; they differ only by their `ProviderSpec`.

Wire format: openai-python `types/chat/*` and `_streaming.py`. Quirks handled here: the usage chunk
with `choices: []` sent only with `stream_options.include_usage`; OpenRouter's `: OPENROUTER
PROCESSING` comments and mid-stream `data: {"error": ...}` events (openrouter.ai/docs/errors); xAI's
`{"code": "...", "error": "..."}` error shape; Hugging Face's `{"error": "..."}` string errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx

from multillm.common.errors import ContentFiltered, ContextLengthExceeded, PermissionDenied, ProviderError, StreamInterrupted
from multillm.common.providers.assembly import with_assembled_tool_calls
from multillm.common.providers.base import LiveModel, LLMProvider
from multillm.common.providers.transport import Call, class_for_status, iter_sse, open_stream, parse_event_json, request_json
from multillm.common.schemas import ChatOptions, ChatResult, FinishReason, Message, ProviderEvent, ToolCall, ToolCallDelta, Usage

log = logging.getLogger("multillm.providers")

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "eos_token": "stop",  # TGI
    "stop_sequence": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}
REASONING_DROPS = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
# OpenAI's reasoning families, for ids the catalogue does not name (platform docs, "Reasoning models":
# o1, o3, o4-mini, gpt-5): they take `max_completion_tokens` and refuse sampling parameters.
REASONING_IDS = re.compile(r"^(openai/)?(o\d|gpt-5(?!-chat))")
ERROR_CODES: dict[str, type[ProviderError]] = {
    "context_length_exceeded": ContextLengthExceeded,
    "string_above_max_length": ContextLengthExceeded,
    "content_filter": ContentFiltered,
    "content_policy_violation": ContentFiltered,
    "insufficient_quota": PermissionDenied,  # a 429 that retrying cannot fix
}


def make_error(status: int, body: Any, headers: httpx.Headers) -> ProviderError:
    """An error from any of the OpenAI-compatible error shapes, by status and structured fields."""
    message, code = _error_fields(body)
    if status == 200 and isinstance(code, int):  # OpenRouter mid-stream: the code is the status
        status = code
    elif status == 200:
        status = 500
    cls = ERROR_CODES.get(str(code), None) or class_for_status(status)
    text = headers.get("x-error-message") or message or f"HTTP {status}"
    return cls(text, status=status, provider_code=None if code is None else str(code))


def _error_fields(body: Any) -> tuple[str, Any]:
    if not isinstance(body, dict):
        return (str(body)[:300] if body else "", None)
    error = body.get("error")
    if isinstance(error, dict):  # OpenAI, OpenRouter
        return str(error.get("message", "")), error.get("code") or error.get("type")
    if isinstance(error, str):  # xAI {"code","error"}; HF/TGI {"error","error_type"}
        return error, body.get("code") or body.get("error_type")
    return str(body)[:300], None


class OpenAICompatProvider(LLMProvider):
    protocol = "openai"

    def _headers_for(self, api_key: str) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}  # a keyless self-hosted server
        return {**auth, **dict(self.spec.headers)}

    def _fetch_models(self, headers: dict[str, str]) -> list[LiveModel]:
        call = Call(self.spec.id, "", "", self.timeouts)
        body = request_json(self._client, call, make_error, "GET", self.base_url + self.spec.models_path,
                            headers=headers)
        items = body.get("data", []) if isinstance(body, dict) else body  # GitHub: a bare array
        return [_live_model(item) for item in items if isinstance(item, dict) and "id" in item]

    def request_body(self, messages: list[Message], options: ChatOptions, stream: bool) -> dict[str, Any]:
        model = options.model or self.spec.default_model
        body: dict[str, Any] = {"model": model, "messages": self._messages(messages, options)}
        params = {
            "temperature": options.temperature,
            "top_p": options.top_p,
            "frequency_penalty": options.frequency_penalty,
            "presence_penalty": options.presence_penalty,
            "stop": options.stop,
            "seed": options.seed,
        }
        info = self.spec.find_model(model)
        reasoning = info.reasoning if info else bool(REASONING_IDS.match(model))
        drops = set(self.spec.unsupported) | (set(REASONING_DROPS) if reasoning else set())
        for name, value in params.items():
            if value is None:
                continue
            if name in drops:
                log.warning("%s/%s does not support %s; dropped", self.spec.id, model, name)
                continue
            body[name] = value
        if options.max_tokens is not None:
            # o-series reject max_tokens and take max_completion_tokens (openai-python params).
            body["max_completion_tokens" if reasoning else "max_tokens"] = options.max_tokens
        if options.tools:
            body["tools"] = [{"type": "function", "function": t.model_dump()} for t in options.tools]
        if options.tool_choice:
            body["tool_choice"] = _tool_choice(options.tool_choice)
        if options.response_schema:  # structured outputs (openai-python `response_format_json_schema.py`)
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "response", "schema": options.response_schema, "strict": True}}
        elif options.json_mode:
            body["response_format"] = {"type": "json_object"}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _messages(self, messages: list[Message], options: ChatOptions) -> list[dict[str, Any]]:
        out = [{"role": "system", "content": options.system_prompt}] if options.system_prompt else []
        return out + [_message(m) for m in messages]

    def _stream(self, messages: list[Message], options: ChatOptions, job_id: str) -> Iterator[ProviderEvent]:
        body = self.request_body(messages, options, stream=True)
        call = Call(self.spec.id, body["model"], job_id, self.timeouts)
        url = self.base_url + self.spec.chat_path
        with open_stream(self._client, call, make_error, "POST", url, json=body,
                         headers=self._headers_for(self._api_key)) as response:
            yield from with_assembled_tool_calls(self._events(call, response))

    def _events(self, call: Call, response: httpx.Response) -> Iterator[ProviderEvent]:
        finish: ProviderEvent | None = None
        usage: Usage | None = None
        text_seen = False
        done = False
        for sse in iter_sse(call, response):
            if sse.data == "[DONE]":
                done = True
                break
            chunk = parse_event_json(call, sse.data)
            if not isinstance(chunk, dict) or "error" in chunk:
                raise _stream_error(call, chunk)
            if chunk.get("usage"):
                usage = _usage(chunk["usage"])
            for choice in chunk.get("choices") or []:
                for event in _choice_events(choice):
                    call.got_content = True
                    text_seen = text_seen or bool(event.text)
                    if event.type == "finish":
                        finish = event
                    else:
                        yield event
        if finish is None and not done:
            raise call.error(StreamInterrupted, "stream ended before a finish reason")
        if usage is not None:
            yield ProviderEvent(type="usage", usage=usage)
        finish = finish or ProviderEvent(type="finish", finish_reason="stop", native_finish_reason=None)
        if finish.finish_reason == "content_filter" and not text_seen:
            raise call.error(ContentFiltered, "the provider's content filter blocked the answer")
        yield finish

    def _complete(self, messages: list[Message], options: ChatOptions, job_id: str) -> ChatResult:
        body = self.request_body(messages, options, stream=False)
        call = Call(self.spec.id, body["model"], job_id, self.timeouts)
        data = request_json(self._client, call, make_error, "POST", self.base_url + self.spec.chat_path,
                            json=body, headers=self._headers_for(self._api_key))
        if not isinstance(data, dict) or "error" in data:  # xAI may send errors with HTTP 200
            raise _stream_error(call, data)
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        native = choice.get("finish_reason")
        return ChatResult(
            provider=self.spec.id,
            model=str(data.get("model") or body["model"]),
            text=message.get("content") or message.get("refusal") or "",
            tool_calls=[
                ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"].get("arguments") or "{}")
                for c in message.get("tool_calls") or []
            ],
            usage=_usage(data.get("usage") or {}),
            finish_reason=FINISH_REASONS.get(native or "stop", "stop"),
            native_finish_reason=native,
        )


def _stream_error(call: Call, chunk: Any) -> ProviderError:
    error = make_error(200, chunk, httpx.Headers())
    error.provider, error.model, error.job_id = call.provider, call.model, call.job_id
    return error


def _choice_events(choice: dict[str, Any]) -> Iterator[ProviderEvent]:
    delta = choice.get("delta") or {}
    text = delta.get("content") or delta.get("refusal") or choice.get("text")  # Together via HF: `text`
    if text:
        yield ProviderEvent(type="delta", text=text)
    for fragment in delta.get("tool_calls") or []:
        function = fragment.get("function") or {}
        yield ProviderEvent(
            type="tool_call_delta",
            tool_call_delta=ToolCallDelta(
                index=fragment.get("index", 0),
                id=fragment.get("id"),
                name=function.get("name"),
                arguments=function.get("arguments") or "",
            ),
        )
    native = choice.get("finish_reason")
    if native:
        yield ProviderEvent(type="finish", finish_reason=FINISH_REASONS.get(native, "stop"),
                          native_finish_reason=native)


def _live_model(item: dict[str, Any]) -> LiveModel:
    """An entry of a model list with the limits and prices it states: OpenRouter's `context_length`,
    `top_provider.max_completion_tokens` and `pricing` in USD per token (openrouter.ai/docs models);
    Hugging Face's `providers[]` with `context_length` and `pricing` per million (hub-docs hub-api.md);
    GitHub's `limits` (docs.github.com rest/models/catalog). A plain OpenAI list states none."""
    top, limits, pricing = (_object(item.get(name)) for name in ("top_provider", "limits", "pricing"))
    hosts = [h for h in item.get("providers") or [] if isinstance(h, dict)]
    hf: dict[str, Any] = hosts[0] if hosts else {}
    hf_pricing = _object(hf.get("pricing"))
    return LiveModel(
        id=str(item["id"]),
        context_length=_count(item.get("context_length") or limits.get("max_input_tokens") or hf.get("context_length")),
        max_output_tokens=_count(top.get("max_completion_tokens") or limits.get("max_output_tokens")),
        input_price=_price(pricing.get("prompt"), 1e6) if pricing else _price(hf_pricing.get("input"), 1.0),
        output_price=_price(pricing.get("completion"), 1e6) if pricing else _price(hf_pricing.get("output"), 1.0),
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    try:
        return int(value) if value is not None and int(value) > 0 else None
    except (TypeError, ValueError):
        return None


def _price(value: Any, per_million: float) -> float | None:
    try:
        return round(float(value) * per_million, 6) if value is not None else None
    except (TypeError, ValueError):
        return None


def _usage(data: dict[str, Any]) -> Usage:
    prompt_details = data.get("prompt_tokens_details") or {}
    completion_details = data.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=int(data.get("prompt_tokens") or 0),
        output_tokens=int(data.get("completion_tokens") or 0),
        cached_input_tokens=int(prompt_details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        # OpenRouter states what the call cost (openrouter.ai/docs usage accounting): used as is.
        cost_usd=float(data["cost"]) if isinstance(data.get("cost"), int | float) else None,
    )


def _tool_choice(choice: str) -> Any:
    return choice if choice in ("auto", "none", "required") else {"type": "function", "function": {"name": choice}}


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if isinstance(message.content, str):
        out["content"] = message.content or (None if message.tool_calls else "")
    else:
        out["content"] = [_part(p) for p in message.content]
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.name:
        out["name"] = message.name
    return out


def _part(part: Any) -> dict[str, Any]:
    if part.type == "text":
        return {"type": "text", "text": part.text}
    image: dict[str, Any] = {"url": part.url}
    if part.detail:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}
