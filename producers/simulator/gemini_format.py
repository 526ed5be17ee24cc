"""Gemini generateContent / streamGenerateContent?alt=sse as Google sends it: each `data:` a whole
GenerateContentResponse ending in CRLF CRLF, cumulative `usageMetadata` on every chunk,
`finishReason` on the last, functionCall parts whole, and `{"error":{"code","message","status",
"details"}}` errors with `google.rpc.RetryInfo` on 429 (googleapis/python-genai `_api_client.py`,
`types.py`; ai.google.dev/gemini-api/docs/troubleshooting)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from multillm.producers.simulator.json_mode import gemini_json
from multillm.producers.simulator.plan import Ask, Plan, ToolSpec
from multillm.producers.simulator.providers import SimModel, SimProvider
from multillm.producers.simulator.quota import QuotaDecision
from multillm.producers.simulator.sse import SLOT, Template, data_event
from multillm.producers.simulator.text import count_tokens
from multillm.producers.simulator.wire import ErrorReply, Stream, WireFormat

CRLF2 = "\r\n\r\n"
FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}
ERRORS = {  # kind -> (HTTP status, google.rpc status)
    "invalid": (400, "INVALID_ARGUMENT"), "context": (400, "INVALID_ARGUMENT"), "bad_key": (400, "INVALID_ARGUMENT"),
    "auth": (401, "UNAUTHENTICATED"), "auth_missing": (403, "PERMISSION_DENIED"), "permission": (403, "PERMISSION_DENIED"),
    "not_found": (404, "NOT_FOUND"), "rate_limit": (429, "RESOURCE_EXHAUSTED"), "server": (500, "INTERNAL"),
    "bad_gateway": (502, "UNAVAILABLE"), "unavailable": (503, "UNAVAILABLE"), "overloaded": (503, "UNAVAILABLE"),
}
MESSAGES = {
    "bad_key": "API key not valid. Please pass a valid API key.",
    "auth_missing": "Method doesn't allow unregistered callers (callers without established identity). "
                    "Please use API Key or other form of API consumer identity to call this API.",
    "rate_limit": "You exceeded your current quota, please check your plan and billing details.",
    "overloaded": "The model is overloaded. Please try again later.",
}


class GeminiFormat(WireFormat):
    protocol = "gemini"
    stream_type = "text/event-stream"

    def api_key(self, headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str | None, str | None]:
        key = headers.get("x-goog-api-key") or query.get("key")
        return (key, None) if key else (None, "auth_missing")

    def parse(self, body: Mapping[str, Any], model: str | None) -> Ask:
        contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
        texts = [_text(c.get("parts")) for c in contents]
        users = [t for c, t in zip(contents, texts, strict=True) if c.get("role", "user") == "user" and t]
        system = _text((body.get("systemInstruction") or {}).get("parts"))
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        json_output, json_schema = gemini_json(body)
        return Ask(
            model=model or "",
            prompt=users[-1] if users else "",
            prompt_tokens=sum(map(count_tokens, texts)) + count_tokens(system),
            empty=not contents,
            max_tokens=(body.get("generationConfig") or {}).get("maxOutputTokens"),
            tools=[ToolSpec(str(f.get("name", "")), f.get("parameters") or f.get("parametersJsonSchema") or {})
                   for t in body.get("tools") or [] for f in t.get("functionDeclarations") or []],
            tool_choice=_tool_choice(calling),
            after_tool=bool(contents) and any("functionResponse" in p for p in contents[-1].get("parts") or []),
            json_output=json_output,
            json_schema=json_schema,
        )

    def refusal(self, spec: SimProvider, ask: Ask, body: Mapping[str, Any]) -> tuple[str, str] | None:
        if ask.empty:
            return "invalid", "* GenerateContentRequest.contents: contents is not specified\n"
        if spec.find_model(ask.model) is None:
            return "not_found", (f"models/{ask.model} is not found for API version v1beta, or is not supported for "
                                 "generateContent. Call ListModels to see the list of available models and their "
                                 "supported methods.")
        return super().refusal(spec, ask, body)

    def context_message(self, info: SimModel, tokens: int) -> str:
        return f"The input token count ({tokens}) exceeds the maximum number of tokens allowed ({info.context_length})."

    def error(self, provider: str, kind: str, message: str, retry_after_s: float | None = None) -> ErrorReply:
        status, name = ERRORS[kind]
        details: list[dict[str, Any]] = []
        if kind == "bad_key":
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}})
        if kind == "rate_limit":
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": _duration(retry_after_s or 0.0)})
        message = MESSAGES.get(kind, message)
        return ErrorReply(status, {"error": {"code": status, "message": message, "status": name, "details": details}})

    def rate_headers(self, provider: str, decision: QuotaDecision) -> dict[str, str]:
        return {}  # Gemini sends none; the 429 body's RetryInfo says when to come back

    def completion(self, plan: Plan) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": plan.text}] if plan.chunks else []
        if plan.tool_name:
            parts = [{"functionCall": {"name": plan.tool_name, "args": json.loads(plan.tool_arguments)}}]
        return _response(plan, _candidate(plan, parts, FINISH[plan.finish]), plan.completion_tokens)

    def stream(self, plan: Plan, include_usage: bool) -> Stream:
        if not plan.chunks:  # a function call arrives whole; a blocked answer has no parts at all
            return Stream(head=b"", tokens=[], tail=data_event(self.completion(plan), CRLF2))
        shape = _response(plan, _candidate(plan, [{"text": SLOT}], None), 0)
        shape["usageMetadata"].update(candidatesTokenCount=SLOT, totalTokenCount=SLOT)
        middle = Template(shape, suffix=CRLF2)
        shape["candidates"][0]["finishReason"] = FINISH[plan.finish]
        last = Template(shape, suffix=CRLF2)
        tokens = [middle.render(text, i + 1, plan.prompt_tokens + i + 1) for i, text in enumerate(plan.chunks)]
        n = len(plan.chunks)
        tokens[-1] = last.render(plan.chunks[-1], n, plan.prompt_tokens + n)
        return Stream(head=b"", tokens=tokens, tail=b"")

    def midstream_error(self, plan: Plan) -> bytes:
        return data_event(self.error(plan.provider, "overloaded", "").body, CRLF2)

    def malformed(self, plan: Plan) -> bytes:
        return b'data: {"candidates": [{"content": {"parts": [{"text": "unterminated' + CRLF2.encode()

    def models(self, spec: SimProvider, query: Mapping[str, str]) -> Any:
        """One page: `pageSize` (default 50) and the opaque `pageToken` of the previous page."""
        start = int(query.get("pageToken") or 0)
        size = max(1, min(1000, int(query.get("pageSize") or 50)))
        page: dict[str, Any] = {"models": [_model(m) for m in spec.models[start:start + size]]}
        if start + size < len(spec.models):
            page["nextPageToken"] = str(start + size)
        return page


def _text(parts: Any) -> str:
    return " ".join(str(p.get("text", "")) for p in parts or [] if isinstance(p, dict) and "text" in p)


def _tool_choice(calling: Mapping[str, Any]) -> str | None:
    mode = str(calling.get("mode", "")).upper()
    if mode == "ANY":
        names = calling.get("allowedFunctionNames") or []
        return str(names[0]) if names else "any"
    return "none" if mode == "NONE" else None


def _duration(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"  # google.protobuf.Duration in JSON


def _candidate(plan: Plan, parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}} if parts else {}
    if finish:
        candidate["finishReason"] = finish
    if finish == "SAFETY":
        candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                                       "blocked": True}]
    candidate["index"] = 0
    return candidate


def _response(plan: Plan, candidate: dict[str, Any], output: int) -> dict[str, Any]:
    usage = {"promptTokenCount": plan.prompt_tokens, "candidatesTokenCount": output,
             "totalTokenCount": plan.prompt_tokens + output,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": plan.prompt_tokens}]}
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": plan.model, "responseId": plan.id[:22]}


def _model(m: SimModel) -> dict[str, Any]:
    return {"name": f"models/{m.id}", "version": "001", "displayName": m.label, "description": m.label,
            "inputTokenLimit": m.context_length, "outputTokenLimit": m.max_output_tokens,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "temperature": 1.0, "topP": 0.95, "topK": 40, "maxTemperature": 2.0}
