"""Anthropic Messages as the API sends it: named events, `ping`, tool_use blocks streamed as
`input_json_delta.partial_json`, cumulative `output_tokens` in `message_delta`, `event: error`
mid-stream, `{"type":"error","error":{...},"request_id"}` bodies and `anthropic-ratelimit-*`
headers with RFC 3339 resets (anthropic-sdk-python `_streaming.py`, `types/raw_message_stream_event.py`,
`_exceptions.py`; docs.anthropic.com api/errors, api/rate-limits)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from multillm.producers.simulator.plan import Ask, Plan, ToolSpec
from multillm.producers.simulator.providers import SimModel, SimProvider
from multillm.producers.simulator.quota import QuotaDecision
from multillm.producers.simulator.sse import SLOT, Template, named_event
from multillm.producers.simulator.text import count_tokens
from multillm.producers.simulator.wire import STATUS, ErrorReply, Stream, WireFormat

ERROR_TYPES = {"invalid": "invalid_request_error", "context": "invalid_request_error",
               "version_missing": "invalid_request_error", "auth": "authentication_error",
               "auth_missing": "authentication_error", "bad_key": "authentication_error", "permission": "permission_error",
               "not_found": "not_found_error", "rate_limit": "rate_limit_error", "overloaded": "overloaded_error"}
STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


class AnthropicFormat(WireFormat):
    protocol = "anthropic"

    def api_key(self, headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str | None, str | None]:
        auth = headers.get("authorization", "")
        key = headers.get("x-api-key") or (auth[7:].strip() if auth[:7].lower() == "bearer " else "")
        if not key:
            return None, "auth_missing"
        return (key, None) if headers.get("anthropic-version") else (None, "version_missing")

    def parse(self, body: Mapping[str, Any], model: str | None) -> Ask:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        texts = [_text(m.get("content")) for m in messages] + [_text(body.get("system"))]
        users = [t for m, t in zip(messages, texts, strict=False) if m.get("role") == "user" and t]
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
        return Ask(
            model=str(body.get("model") or ""),
            prompt=users[-1] if users else "",
            prompt_tokens=sum(map(count_tokens, texts)),
            empty=not messages,
            max_tokens=body.get("max_tokens"),
            tools=[ToolSpec(str(t.get("name", "")), t.get("input_schema") or {}) for t in tools],
            tool_choice=_tool_choice(body.get("tool_choice")),
            after_tool=bool(messages) and _is_tool_result(messages[-1]),
            stream=bool(body.get("stream")),
        )

    def refusal(self, spec: SimProvider, ask: Ask, body: Mapping[str, Any]) -> tuple[str, str] | None:
        if not body.get("max_tokens"):
            return "invalid", "max_tokens: Field required"
        refused = super().refusal(spec, ask, body)
        info = spec.find_model(ask.model)
        if refused or info is None:
            return refused
        if int(body["max_tokens"]) > info.max_output_tokens:
            return "invalid", (f"max_tokens: {body['max_tokens']} > {info.max_output_tokens}, which is the maximum "
                               f"allowed number of output tokens for {info.id}")
        if float(body.get("temperature") or 0) > 1:
            return "invalid", "temperature: range: 0..1"
        return None

    def context_message(self, info: SimModel, tokens: int) -> str:
        return f"prompt is too long: {tokens} tokens > {info.context_length} maximum"

    def error(self, provider: str, kind: str, message: str, retry_after_s: float | None = None) -> ErrorReply:
        if kind == "version_missing":
            message = "anthropic-version: header is required"
        elif kind == "auth_missing":
            message = "x-api-key header is required"
        request_id = "req_simulator"
        body = {"type": "error", "error": {"type": ERROR_TYPES.get(kind, "api_error"), "message": message},
                "request_id": request_id}
        headers = {"request-id": request_id}
        if STATUS[kind] >= 500:
            headers["x-should-retry"] = "true"
        return ErrorReply(STATUS[kind], body, headers)

    def rate_headers(self, provider: str, decision: QuotaDecision) -> dict[str, str]:
        a = "anthropic-ratelimit-"
        reset = (datetime.now(UTC) + timedelta(seconds=decision.reset_s)).isoformat(timespec="seconds")
        reset = reset.replace("+00:00", "Z")
        headers: dict[str, str] = {}
        if decision.limit_requests is not None:
            headers.update({f"{a}requests-limit": str(decision.limit_requests),
                            f"{a}requests-remaining": str(decision.remaining_requests), f"{a}requests-reset": reset})
        if decision.limit_tokens is not None:
            headers.update({f"{a}tokens-limit": str(decision.limit_tokens),
                            f"{a}tokens-remaining": str(decision.remaining_tokens), f"{a}tokens-reset": reset})
        return headers

    def response_headers(self, plan: Plan) -> dict[str, str]:
        return {"request-id": f"req_{plan.id[:24]}"}

    def completion(self, plan: Plan) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": plan.text}] if plan.chunks else []
        if plan.tool_name:
            content = [{**_tool_block(plan), "input": json.loads(plan.tool_arguments)}]
        return _message(plan, content, STOP[plan.finish], plan.completion_tokens)

    def stream(self, plan: Plan, include_usage: bool) -> Stream:
        head = named_event("message_start", {"type": "message_start", "message": _message(plan, [], None, 1)})
        tokens: list[bytes] = []
        if plan.tool_name or plan.chunks:
            block = _tool_block(plan) if plan.tool_name else {"type": "text", "text": ""}
            head += named_event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
            head += named_event("ping", {"type": "ping"})
            delta = {"type": "input_json_delta", "partial_json": SLOT} if plan.tool_name else {"type": "text_delta", "text": SLOT}
            template = Template({"type": "content_block_delta", "index": 0, "delta": delta},
                                prefix="event: content_block_delta\ndata: ")
            tokens = [template.render(v) for v in (plan.argument_fragments if plan.tool_name else plan.chunks)]
        tail = named_event("content_block_stop", {"type": "content_block_stop", "index": 0}) if tokens else b""
        tail += named_event("message_delta", {"type": "message_delta",
                                              "delta": {"stop_reason": STOP[plan.finish], "stop_sequence": None},
                                              "usage": {"output_tokens": plan.completion_tokens}})
        tail += named_event("message_stop", {"type": "message_stop"})
        return Stream(head=head, tokens=tokens, tail=tail)

    def midstream_error(self, plan: Plan) -> bytes:
        return named_event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                                     "request_id": f"req_{plan.id[:24]}"})

    def malformed(self, plan: Plan) -> bytes:
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_de\n\n'

    def models(self, spec: SimProvider, query: Mapping[str, str]) -> Any:
        """One page: `limit` (default 20), `after_id`, `before_id` as the API takes them."""
        ids = [m.id for m in spec.models]
        start = ids.index(query["after_id"]) + 1 if query.get("after_id") in ids else 0
        end = ids.index(query["before_id"]) if query.get("before_id") in ids else len(ids)
        limit = max(1, min(1000, int(query.get("limit") or 20)))
        page = spec.models[start:end][:limit]
        data = [{"type": "model", "id": m.id, "display_name": m.label, "created_at": "2025-02-24T00:00:00Z"}
                for m in page]
        return {"data": data, "has_more": start + len(page) < end,
                "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}


def _text(content: Any) -> str:
    if isinstance(content, list):  # text blocks (system may be a list of them too)
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return content if isinstance(content, str) else ""


def _is_tool_result(message: Mapping[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def _tool_choice(choice: Any) -> str | None:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        return str(choice.get("name") or "") or None
    return {"any": "any", "none": "none"}.get(str(kind))


def _tool_block(plan: Plan) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{plan.id[:24]}", "name": plan.tool_name, "input": {}}


def _message(plan: Plan, content: list[dict[str, Any]], stop: str | None, output: int) -> dict[str, Any]:
    usage = {"input_tokens": plan.prompt_tokens, "output_tokens": output, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0, "service_tier": "standard"}
    return {"id": f"msg_{plan.id[:24]}", "type": "message", "role": "assistant", "model": plan.model,
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}
