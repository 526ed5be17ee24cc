"""The Gemini protocol (Google AI `generateContent` / `streamGenerateContent?alt=sse`).

Wire format: googleapis/python-genai `models.py`, `types.py`, `_api_client.py`. Quirks handled here:
the model is in the URL; turns are `contents[{role: "user"|"model", parts}]` and the system prompt is
`systemInstruction`; every SSE `data:` is a whole GenerateContentResponse (lines end `\\r\\n`), with
cumulative `usageMetadata` and `finishReason` only on the last; `functionCall` parts arrive whole and
carry no id, so ids are made up from their order (`call_0`, `call_1`, ...); a tool result must name
its function, which is recovered from the assistant turn that asked for it; thought-summary parts
(`thought: true`) are not answer text; an object schema without properties is refused, so such a
tool is declared without `parameters`.

Usage is normalised to OpenAI's meaning: `output_tokens` includes the thinking tokens (Gemini
reports `candidatesTokenCount` without them, and bills them as output), `reasoning_tokens` is
their share; `input_tokens` adds `toolUsePromptTokenCount` to `promptTokenCount`.
"""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Iterator, Sequence
from itertools import chain
from typing import Any
from urllib.parse import urlsplit

import httpx

from multillm.common.errors import (
    AuthenticationError,
    ConfigurationError,
    ContentFiltered,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from multillm.common.providers.assembly import collect, with_assembled_tool_calls
from multillm.common.providers.base import LiveModel, LLMProvider
from multillm.common.providers.transport import Call, class_for_status, iter_sse, open_stream, parse_event_json, request_json
from multillm.common.ratelimit_headers import RateLimitInfo, parse_duration
from multillm.common.schemas import (
    ChatOptions,
    ChatResult,
    FinishReason,
    ImagePart,
    Message,
    ProviderEvent,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)

log = logging.getLogger("multillm.providers")

FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "OTHER": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MAX_TOKENS": "length",
    **{r: "content_filter" for r in ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
                                     "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION")},
    **{r: "error" for r in ("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
                            "MISSING_THOUGHT_SIGNATURE", "MALFORMED_RESPONSE")},
}
# `error.status` (google.rpc.Code names); they decide before the HTTP status.
ERROR_STATUSES: dict[str, type[ProviderError]] = {
    "RESOURCE_EXHAUSTED": RateLimited,
    "UNAVAILABLE": ProviderUnavailable,
    "INTERNAL": ProviderUnavailable,
    "DEADLINE_EXCEEDED": ProviderTimeout,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDenied,
    "FAILED_PRECONDITION": PermissionDenied,  # e.g. free tier not offered in the caller's region
    "INVALID_ARGUMENT": InvalidRequest,
    "NOT_FOUND": InvalidRequest,
}
AUTH_REASONS = frozenset({"API_KEY_INVALID"})  # google.rpc.ErrorInfo.reason on a 400 for a bad key
TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
GENERATION_FIELDS = {
    "temperature": "temperature",
    "max_tokens": "maxOutputTokens",
    "top_p": "topP",
    "frequency_penalty": "frequencyPenalty",
    "presence_penalty": "presencePenalty",
    "seed": "seed",
    "stop": "stopSequences",
}


def make_error(status: int, body: Any, headers: httpx.Headers) -> ProviderError:
    """An error from `{"error":{"code","message","status","details"}}`, by `status` name then HTTP status."""
    if isinstance(body, list) and body and isinstance(body[0], dict):  # non-SSE streams wrap it in a list
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"message": str(body)[:300] if body else ""}
    if status == 200:  # mid-stream: the body's code is the status
        status = error["code"] if isinstance(error.get("code"), int) else 500
    name = error.get("status")
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    cls = ERROR_STATUSES.get(str(name)) or class_for_status(status)
    if _detail(details, "google.rpc.ErrorInfo").get("reason") in AUTH_REASONS:
        cls = AuthenticationError
    retry_after = parse_duration(str(_detail(details, "google.rpc.RetryInfo").get("retryDelay") or ""))
    return cls(str(error.get("message") or f"HTTP {status}"), status=status,
               provider_code=None if name is None else str(name), rate_limit=RateLimitInfo(retry_after=retry_after))


def _detail(details: list[dict[str, Any]], type_name: str) -> dict[str, Any]:
    """The detail whose `@type` is `type.googleapis.com/<type_name>`, or {}."""
    return next((d for d in details if str(d.get("@type", "")).endswith("/" + type_name)), {})


def _raise_for(call: Call, body: Any) -> ProviderError:
    error = make_error(200, body, httpx.Headers())
    error.provider, error.model, error.job_id = call.provider, call.model, call.job_id
    return error


class GeminiProvider(LLMProvider):
    protocol = "gemini"

    def _headers_for(self, api_key: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key, **dict(self.spec.headers)}

    def _fetch_models(self, headers: dict[str, str]) -> list[LiveModel]:
        """Every page of `GET /models` (`nextPageToken` -> `pageToken`), without the `models/` prefix,
        with `inputTokenLimit` and `outputTokenLimit`."""
        call = Call(self.spec.id, "", "", self.timeouts)
        names: list[LiveModel] = []
        params: dict[str, Any] = {"pageSize": 1000}
        for _ in range(100):  # a bound against a server that never stops paging
            body = request_json(self._client, call, make_error, "GET", self.base_url + self.spec.models_path,
                                headers=headers, params=params)
            if not isinstance(body, dict):
                break
            names += [LiveModel(str(m["name"]).removeprefix("models/"), _limit(m.get("inputTokenLimit")),
                                _limit(m.get("outputTokenLimit")))
                      for m in body.get("models") or [] if isinstance(m, dict) and "name" in m]
            if not body.get("nextPageToken"):
                break
            params = {"pageSize": 1000, "pageToken": body["nextPageToken"]}
        return names

    def count_tokens(self, messages: Sequence[Message], options: ChatOptions) -> int | None:
        """`POST /models/{model}:countTokens` with the whole request as `generateContentRequest`
        (ai.google.dev api/tokens); answers `{"totalTokens": N}`."""
        model = options.model or self.spec.default_model
        request = {"model": f"models/{model}", **self.request_body(list(messages), options)}
        call = Call(self.spec.id, model, "", self.timeouts)
        url = self.base_url + self.spec.chat_path.format(model=model).replace(":generateContent", ":countTokens")
        answer = request_json(self._client, call, make_error, "POST", url, headers=self._headers_for(self._api_key),
                              json={"generateContentRequest": request})
        return int(answer["totalTokens"]) if isinstance(answer, dict) and "totalTokens" in answer else None

    def url(self, model: str, stream: bool) -> str:
        path = self.spec.chat_path.format(model=model)
        return self.base_url + (path.replace(":generateContent", ":streamGenerateContent") if stream else path)

    def request_body(self, messages: list[Message], options: ChatOptions) -> dict[str, Any]:
        system = [options.system_prompt] if options.system_prompt else []
        system += [m.text() for m in messages if m.role == "system"]
        body: dict[str, Any] = {"contents": _contents([m for m in messages if m.role != "system"])}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        config = self._generation_config(options)
        if config:
            body["generationConfig"] = config
        if options.tools:
            body["tools"] = [{"functionDeclarations": [_declaration(t) for t in options.tools]}]
        if options.tool_choice:
            mode = TOOL_MODES.get(options.tool_choice)
            calling = {"mode": mode} if mode else {"mode": "ANY", "allowedFunctionNames": [options.tool_choice]}
            body["toolConfig"] = {"functionCallingConfig": calling}
        return body

    def _generation_config(self, options: ChatOptions) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for name, field in GENERATION_FIELDS.items():
            value = getattr(options, name)
            if value is None:
                continue
            if name in self.spec.unsupported:
                log.warning("%s/%s does not support %s; dropped", self.spec.id,
                            options.model or self.spec.default_model, name)
                continue
            config[field] = value
        if options.json_mode or options.response_schema:
            config["responseMimeType"] = "application/json"
        if options.response_schema:  # JSON Schema as is; `responseSchema` would take only an OpenAPI subset
            config["responseJsonSchema"] = options.response_schema
        return config

    def _stream(self, messages: list[Message], options: ChatOptions, job_id: str) -> Iterator[ProviderEvent]:
        model = options.model or self.spec.default_model
        body = self.request_body(messages, options)
        call = Call(self.spec.id, model, job_id, self.timeouts)
        with open_stream(self._client, call, make_error, "POST", self.url(model, stream=True), params={"alt": "sse"},
                         json=body, headers=self._headers_for(self._api_key)) as response:
            yield from with_assembled_tool_calls(self._events(call, response))

    def _events(self, call: Call, response: httpx.Response) -> Iterator[ProviderEvent]:
        state = _StreamState(call)
        for sse in iter_sse(call, response):
            yield from state.feed(parse_event_json(call, sse.data))
        yield from state.finish()

    def _complete(self, messages: list[Message], options: ChatOptions, job_id: str) -> ChatResult:
        """The whole response has the shape of one stream chunk, so the stream's reader folds it."""
        model = options.model or self.spec.default_model
        body = self.request_body(messages, options)
        call = Call(self.spec.id, model, job_id, self.timeouts)
        data = request_json(self._client, call, make_error, "POST", self.url(model, stream=False),
                            json=body, headers=self._headers_for(self._api_key))
        state = _StreamState(call)
        return collect(self.spec.id, model, with_assembled_tool_calls(chain(state.feed(data), state.finish())))


class _StreamState:
    """One stream's progress: usage so far (cumulative, keep the last), tool calls made, how it ended."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.usage: Usage | None = None
        self.native: str | None = None
        self.tool_count = 0
        self.text_seen = False

    def feed(self, chunk: Any) -> Iterator[ProviderEvent]:
        if not isinstance(chunk, dict) or "error" in chunk:
            raise _raise_for(self.call, chunk)
        if isinstance(chunk.get("usageMetadata"), dict):
            self.usage = _usage(chunk["usageMetadata"])
        blocked = (chunk.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            raise self.call.error(ContentFiltered, f"the prompt was blocked ({blocked})", provider_code=str(blocked))
        for candidate in (chunk.get("candidates") or [])[:1]:  # we never ask for more than one
            yield from self._parts((candidate.get("content") or {}).get("parts") or [])
            self.native = candidate.get("finishReason") or self.native

    def _parts(self, parts: list[Any]) -> Iterator[ProviderEvent]:
        for part in parts:
            if not isinstance(part, dict):
                continue
            self.call.got_content = True  # thought parts count: the model is working, not stalled
            if part.get("thought"):
                continue
            if isinstance(part.get("functionCall"), dict):
                yield self._tool_call(part["functionCall"])
            elif part.get("text"):
                self.text_seen = True
                yield ProviderEvent(type="delta", text=str(part["text"]))

    def _tool_call(self, function: dict[str, Any]) -> ProviderEvent:
        index = self.tool_count
        self.tool_count += 1
        delta = ToolCallDelta(index=index, id=str(function.get("id") or f"call_{index}"), name=function.get("name"),
                              arguments=json.dumps(function.get("args") or {}))
        return ProviderEvent(type="tool_call_delta", tool_call_delta=delta)

    def finish(self) -> Iterator[ProviderEvent]:
        if self.native is None:
            raise self.call.error(StreamInterrupted, "stream ended before a finishReason")
        if self.usage is not None:
            yield ProviderEvent(type="usage", usage=self.usage)
        reason = FINISH_REASONS.get(self.native, "stop")
        if self.native == "STOP" and self.tool_count:
            reason = "tool_calls"
        if reason == "content_filter" and not self.text_seen:
            raise self.call.error(ContentFiltered, f"the answer was blocked ({self.native})",
                                  provider_code=self.native)
        yield ProviderEvent(type="finish", finish_reason=reason, native_finish_reason=self.native)


def _limit(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


def _usage(data: dict[str, Any]) -> Usage:
    thoughts = int(data.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(data.get("promptTokenCount") or 0) + int(data.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(data.get("candidatesTokenCount") or 0) + thoughts,
        cached_input_tokens=int(data.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def _declaration(tool: Tool) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    if tool.parameters.get("properties") or tool.parameters.get("type") != "object":
        declaration["parameters"] = tool.parameters
    return declaration


def _contents(messages: list[Message]) -> list[dict[str, Any]]:
    """User and model turns; each run of tool results becomes one user turn of `functionResponse` parts."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, from the assistant turns so far
    merging_results = False
    for message in messages:
        if message.role == "tool":
            part = {"functionResponse": {"name": _tool_name(message, names), "response": _tool_response(message)}}
            if merging_results:
                out[-1]["parts"].append(part)
            else:
                out.append({"role": "user", "parts": [part]})
            merging_results = True
            continue
        merging_results = False
        names.update((call.id, call.name) for call in message.tool_calls)
        calls = [{"functionCall": {"name": c.name, "args": _arguments(c)}} for c in message.tool_calls]
        out.append({"role": "model" if message.role == "assistant" else "user", "parts": _parts(message) + calls})
    return out


def _tool_name(message: Message, names: dict[str, str]) -> str:
    name = names.get(message.tool_call_id or "") or message.name
    if not name:
        raise ConfigurationError(f"messages: tool result {message.tool_call_id} answers no earlier tool call")
    return name


def _tool_response(message: Message) -> dict[str, Any]:
    """`{"result": ...}`: the tool's JSON when its output is JSON, else its text."""
    text = message.text()
    try:
        return {"result": json.loads(text)}
    except json.JSONDecodeError:
        return {"result": text}


def _parts(message: Message) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    return [{"text": p.text} if isinstance(p, TextPart) else _image(p) for p in message.content]


def _image(part: ImagePart) -> dict[str, Any]:
    inline = part.data()
    if inline:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    file: dict[str, Any] = {"fileUri": part.url}
    mime, _ = mimetypes.guess_type(urlsplit(part.url).path)
    if mime:  # optional in FileData; omitted rather than guessed wrong
        file["mimeType"] = mime
    return {"fileData": file}


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        value = call.parsed_arguments()
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise ConfigurationError(f"messages: tool call {call.id} arguments are not a JSON object")
    return value
