"""The Anthropic Messages protocol (Claude).

Wire format: anthropic-sdk-python `types/message_create_params.py`, `types/stop_reason.py`,
`_streaming.py`. Quirks handled here: the system prompt is a top-level field and `messages` hold only
user/assistant turns; `max_tokens` is required; temperature is 0-1 (a larger value is refused here,
not clamped, so the caller learns their setting means something else on this provider); there is no
JSON mode flag, so `json_mode` is refused rather than approximated, while `response_schema` becomes
the documented substitute, a forced tool whose input schema is the shape (its input comes back as the
answer's text, so callers see JSON text as from the other protocols); tool results travel as
`tool_result` blocks inside a user turn; `message_delta.usage.output_tokens` is cumulative.

Usage is normalised to OpenAI's meaning: `input_tokens` counts every prompt token, cached reads and
cache writes included (Anthropic reports them apart), `cached_input_tokens` the cache reads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from multillm.common.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentFiltered,
    ContextLengthExceeded,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from multillm.common.providers.assembly import merge_usage, with_assembled_tool_calls
from multillm.common.providers.base import LiveModel, LLMProvider
from multillm.common.providers.transport import Call, class_for_status, iter_sse, open_stream, parse_event_json, request_json
from multillm.common.schemas import (
    ChatOptions,
    ChatResult,
    FinishReason,
    ImagePart,
    Message,
    ProviderEvent,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)

log = logging.getLogger("multillm.providers")

DEFAULT_MAX_TOKENS = 4096  # quota reserves the same cap (preflight.DEFAULT_OUTPUT_CAP)
MAX_TEMPERATURE = 1.0
STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# `error.type` values (anthropic-sdk `types/shared/error_type.py`); they decide before the status.
ERROR_TYPES: dict[str, type[ProviderError]] = {
    "overloaded_error": ProviderUnavailable,
    "api_error": ProviderUnavailable,
    "rate_limit_error": RateLimited,
    "timeout_error": ProviderTimeout,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDenied,
    "billing_error": PermissionDenied,
    "not_found_error": InvalidRequest,
    "request_too_large": ContextLengthExceeded,
    "invalid_request_error": InvalidRequest,
}
STATUS_ERRORS: dict[int, type[ProviderError]] = {
    413: ContextLengthExceeded,
    529: ProviderUnavailable,  # overloaded (anthropic-sdk `_client.py`)
}
TOOL_CHOICES = {"auto": "auto", "none": "none", "required": "any"}
JSON_TOOL = "json_response"  # the forced tool that carries a `response_schema` answer


def make_error(status: int, body: Any, headers: httpx.Headers) -> ProviderError:
    """An error from `{"type":"error","error":{"type","message"},"request_id"}`, by type then status."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"message": str(body)[:300] if body else ""}
    kind = error.get("type")
    # A mid-stream error arrives with HTTP 200: only its type can classify it.
    cls = ERROR_TYPES.get(str(kind)) or STATUS_ERRORS.get(status) or class_for_status(500 if status == 200 else status)
    message = str(error.get("message") or f"HTTP {status}")
    request_id = body.get("request_id") if isinstance(body, dict) else None
    if request_id or headers.get("request-id"):
        message += f" (request {request_id or headers.get('request-id')})"
    return cls(message, status=status if status != 200 else None, provider_code=None if kind is None else str(kind))


def _raise_for(call: Call, body: Any) -> ProviderError:
    error = make_error(200, body, httpx.Headers())
    error.provider, error.model, error.job_id = call.provider, call.model, call.job_id
    return error


class AnthropicProvider(LLMProvider):
    protocol = "anthropic"

    def _headers_for(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key, "content-type": "application/json", **dict(self.spec.headers)}

    def _fetch_models(self, headers: dict[str, str]) -> list[LiveModel]:
        """Every page of `GET /v1/models` (`has_more`, `last_id` -> `after_id`); ids only."""
        call = Call(self.spec.id, "", "", self.timeouts)
        ids: list[str] = []
        params: dict[str, Any] = {"limit": 1000}
        for _ in range(100):  # a bound against a server that always says has_more
            body = request_json(self._client, call, make_error, "GET", self.base_url + self.spec.models_path,
                                headers=headers, params=params)
            if not isinstance(body, dict):
                break
            ids += [str(m["id"]) for m in body.get("data") or [] if isinstance(m, dict) and "id" in m]
            if not body.get("has_more") or not body.get("last_id"):
                break
            params = {"limit": 1000, "after_id": body["last_id"]}
        return [LiveModel(i) for i in ids]

    def count_tokens(self, messages: Sequence[Message], options: ChatOptions) -> int | None:
        """`POST /v1/messages/count_tokens`: the request's body without `max_tokens` and `stream`
        (docs.anthropic.com api/messages-count-tokens); answers `{"input_tokens": N}`."""
        body = self.request_body(list(messages), options, stream=False)
        body.pop("max_tokens", None)
        body.pop("stream", None)
        call = Call(self.spec.id, body["model"], "", self.timeouts)
        answer = request_json(self._client, call, make_error, "POST", self.base_url + self.spec.chat_path + "/count_tokens",
                              headers=self._headers_for(self._api_key), json=body)
        return int(answer["input_tokens"]) if isinstance(answer, dict) and "input_tokens" in answer else None

    def request_body(self, messages: list[Message], options: ChatOptions, stream: bool) -> dict[str, Any]:
        model = options.model or self.spec.default_model
        if options.json_mode:
            raise ConfigurationError("json_mode: the Anthropic Messages API has no JSON mode; ask for JSON in "
                                     "the prompt or give response_schema (sent as a forced tool)")
        if options.response_schema and options.tools:
            raise ConfigurationError("response_schema: on Anthropic it is sent as a forced tool, so it cannot be "
                                     "combined with tools")
        if options.temperature is not None and options.temperature > MAX_TEMPERATURE:
            raise ConfigurationError(f"temperature: Anthropic accepts 0 to 1, got {options.temperature:g}")
        system = [options.system_prompt] if options.system_prompt else []
        system += [m.text() for m in messages if m.role == "system"]
        body: dict[str, Any] = {"model": model, "max_tokens": self._max_tokens(model, options),
                                "messages": _messages([m for m in messages if m.role != "system"])}
        if system:
            body["system"] = "\n\n".join(system)
        self._sampling(body, options)
        if options.stop:
            body["stop_sequences"] = options.stop
        if options.tools:
            body["tools"] = [_tool(t.name, t.description, t.parameters) for t in options.tools]
        if options.tool_choice:
            kind = TOOL_CHOICES.get(options.tool_choice)
            body["tool_choice"] = {"type": kind} if kind else {"type": "tool", "name": options.tool_choice}
        if options.response_schema:
            body["tools"] = [_tool(JSON_TOOL, "Give the answer as this tool's input.", options.response_schema)]
            body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
        if stream:
            body["stream"] = True
        return body

    def _max_tokens(self, model: str, options: ChatOptions) -> int:
        if options.max_tokens is not None:
            return options.max_tokens
        info = self.spec.find_model(model)
        return min(info.max_output_tokens, DEFAULT_MAX_TOKENS) if info else DEFAULT_MAX_TOKENS

    def _sampling(self, body: dict[str, Any], options: ChatOptions) -> None:
        params = {
            "temperature": options.temperature,
            "top_p": options.top_p,
            "frequency_penalty": options.frequency_penalty,
            "presence_penalty": options.presence_penalty,
            "seed": options.seed,
        }
        for name, value in params.items():
            if value is None:
                continue
            if name in self.spec.unsupported:
                log.warning("%s/%s does not support %s; dropped", self.spec.id, body["model"], name)
                continue
            body[name] = value

    def _stream(self, messages: list[Message], options: ChatOptions, job_id: str) -> Iterator[ProviderEvent]:
        body = self.request_body(messages, options, stream=True)
        call = Call(self.spec.id, body["model"], job_id, self.timeouts)
        url = self.base_url + self.spec.chat_path
        with open_stream(self._client, call, make_error, "POST", url, json=body,
                         headers=self._headers_for(self._api_key)) as response:
            yield from with_assembled_tool_calls(self._events(call, response, bool(options.response_schema)))

    def _events(self, call: Call, response: httpx.Response, json_answer: bool) -> Iterator[ProviderEvent]:
        state = _StreamState(call, json_answer)
        for sse in iter_sse(call, response):
            if sse.event == "ping":
                continue
            yield from state.feed(parse_event_json(call, sse.data))
        yield from state.finish()

    def _complete(self, messages: list[Message], options: ChatOptions, job_id: str) -> ChatResult:
        body = self.request_body(messages, options, stream=False)
        call = Call(self.spec.id, body["model"], job_id, self.timeouts)
        data = request_json(self._client, call, make_error, "POST", self.base_url + self.spec.chat_path,
                            json=body, headers=self._headers_for(self._api_key))
        if not isinstance(data, dict) or data.get("type") == "error":
            raise _raise_for(call, data)
        blocks = [b for b in data.get("content") or [] if isinstance(b, dict)]
        text = "".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text")
        native = data.get("stop_reason")
        finish = STOP_REASONS.get(native or "end_turn", "stop")
        if options.response_schema:  # the forced tool's input is the answer
            answer = [b for b in blocks if b.get("type") == "tool_use" and b.get("name") == JSON_TOOL]
            blocks = [b for b in blocks if b not in answer]
            text = json.dumps(answer[0].get("input") or {}) if answer else text
            finish = "stop" if native == "tool_use" else finish
        if finish == "content_filter" and not text:
            raise call.error(ContentFiltered, "the model refused to answer", provider_code=native)
        return ChatResult(
            provider=self.spec.id,
            model=str(data.get("model") or body["model"]),
            text=text,
            tool_calls=[ToolCall(id=str(b["id"]), name=str(b["name"]), arguments=json.dumps(b.get("input") or {}))
                        for b in blocks if b.get("type") == "tool_use"],
            usage=_usage(data.get("usage") or {}),
            finish_reason=finish,
            native_finish_reason=native,
        )


class _StreamState:
    """One stream's progress: which content blocks are tool calls, usage so far, how it ended."""

    def __init__(self, call: Call, json_answer: bool = False) -> None:
        self.call = call
        self.json_answer = json_answer  # the JSON_TOOL block is the answer's text
        self.json_blocks: set[int] = set()
        self.tool_blocks: set[int] = set()
        self.usage: Usage | None = None
        self.stop_reason: str | None = None
        self.text_seen = False
        self.stopped = False

    def feed(self, data: Any) -> Iterator[ProviderEvent]:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "error" or not isinstance(data, dict):
            raise _raise_for(self.call, data)
        if kind == "message_start":
            self._add_usage((data.get("message") or {}).get("usage"))
        elif kind == "content_block_start":
            yield from self._block_start(int(data.get("index", 0)), data.get("content_block") or {})
        elif kind == "content_block_delta":
            yield from self._block_delta(int(data.get("index", 0)), data.get("delta") or {})
        elif kind == "message_delta":
            self.stop_reason = (data.get("delta") or {}).get("stop_reason") or self.stop_reason
            self._add_usage(data.get("usage"))
        elif kind == "message_stop":
            self.stopped = True

    def _block_start(self, index: int, block: dict[str, Any]) -> Iterator[ProviderEvent]:
        self.call.got_content = True
        if block.get("type") == "tool_use" and self.json_answer and block.get("name") == JSON_TOOL:
            self.json_blocks.add(index)
        elif block.get("type") == "tool_use":
            self.tool_blocks.add(index)
            delta = ToolCallDelta(index=index, id=block.get("id"), name=block.get("name"))
            yield ProviderEvent(type="tool_call_delta", tool_call_delta=delta)
        elif block.get("type") == "text" and block.get("text"):
            yield from self._text(str(block["text"]))

    def _block_delta(self, index: int, delta: dict[str, Any]) -> Iterator[ProviderEvent]:
        self.call.got_content = True  # thinking counts: the model is working, not stalled
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            yield from self._text(str(delta["text"]))
        elif kind == "input_json_delta" and index in self.json_blocks and delta.get("partial_json"):
            yield from self._text(str(delta["partial_json"]))
        elif kind == "input_json_delta" and index in self.tool_blocks and delta.get("partial_json"):
            fragment = ToolCallDelta(index=index, arguments=str(delta["partial_json"]))
            yield ProviderEvent(type="tool_call_delta", tool_call_delta=fragment)

    def _text(self, text: str) -> Iterator[ProviderEvent]:
        self.text_seen = True
        yield ProviderEvent(type="delta", text=text)

    def _add_usage(self, data: Any) -> None:
        if isinstance(data, dict):
            self.usage = merge_usage(self.usage, _usage(data))

    def finish(self) -> Iterator[ProviderEvent]:
        if not self.stopped:
            raise self.call.error(StreamInterrupted, "stream ended before message_stop")
        if self.usage is not None:
            yield ProviderEvent(type="usage", usage=self.usage)
        reason = STOP_REASONS.get(self.stop_reason or "end_turn", "stop")
        if self.json_blocks and self.stop_reason == "tool_use":
            reason = "stop"  # the forced tool was the answer, not a call to make
        if reason == "content_filter" and not self.text_seen:
            raise self.call.error(ContentFiltered, "the model refused to answer", provider_code=self.stop_reason)
        yield ProviderEvent(type="finish", finish_reason=reason, native_finish_reason=self.stop_reason)


def _usage(data: dict[str, Any]) -> Usage:
    cache_read = int(data.get("cache_read_input_tokens") or 0)
    cache_write = int(data.get("cache_creation_input_tokens") or 0)
    details = data.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(data.get("input_tokens") or 0) + cache_read + cache_write,
        output_tokens=int(data.get("output_tokens") or 0),
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=int(details.get("thinking_tokens") or 0),
    )


def _tool(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    tool: dict[str, Any] = {"name": name, "input_schema": parameters}
    if description:
        tool["description"] = description
    return tool


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """User and assistant turns; each run of tool results becomes one user turn of `tool_result` blocks."""
    out: list[dict[str, Any]] = []
    merging_results = False
    for message in messages:
        if message.role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": _content(message)}
            if merging_results:
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
            merging_results = True
            continue
        merging_results = False
        if message.role == "assistant" and message.tool_calls:
            out.append({"role": "assistant", "content": _assistant_blocks(message)})
        else:
            out.append({"role": message.role, "content": _content(message)})
    return out


def _content(message: Message) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str):
        return message.content
    return [{"type": "text", "text": p.text} if isinstance(p, TextPart) else _image(p) for p in message.content]


def _image(part: ImagePart) -> dict[str, Any]:
    inline = part.data()
    if inline:
        return {"type": "image", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
    return {"type": "image", "source": {"type": "url", "url": part.url}}


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    content = _content(message)
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) and content else []
    if isinstance(content, list):
        blocks = content
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": _arguments(call)})
    return blocks


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        value = call.parsed_arguments()
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ConfigurationError(f"messages: tool call {call.id} arguments are not a JSON object")
    return value
