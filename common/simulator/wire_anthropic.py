"""Anthropic Messages as the API sends it: event names, ping, tool_use blocks with
input_json_delta, cumulative usage in message_delta (anthropic-sdk-python `_streaming.py`,
`types/raw_message_stream_event.py`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .engine import Plan, count_tokens

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               502: "api_error", 503: "api_error", 529: "overloaded_error"}
STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def parse(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or []
    system = body.get("system") or ""
    system_text = system if isinstance(system, str) else " ".join(b.get("text", "") for b in system)
    texts = [_text(m.get("content")) for m in messages] + [system_text]
    last_user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    tools = [{"name": t.get("name"), "parameters": t.get("input_schema") or {}} for t in body.get("tools") or []]
    choice = body.get("tool_choice") or {}
    forced = choice.get("name") if choice.get("type") == "tool" else ("any" if choice.get("type") == "any" else None)
    return {"model": body.get("model"), "messages": messages, "prompt": last_user,
            "prompt_tokens": sum(count_tokens(t) for t in texts), "max_tokens": body.get("max_tokens"),
            "tools": tools, "tool_choice": forced, "stream": bool(body.get("stream")), "include_usage": True}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(b.get("text") or b.get("content") or "") for b in content if isinstance(b, dict))
    return content or ""


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
            "request_id": "req_simulator"}


def rate_headers(limit_r: int, left_r: int, limit_t: int, left_t: int, reset_iso: str) -> dict[str, str]:
    a = "anthropic-ratelimit-"
    return {f"{a}requests-limit": str(limit_r), f"{a}requests-remaining": str(left_r), f"{a}requests-reset": reset_iso,
            f"{a}tokens-limit": str(limit_t), f"{a}tokens-remaining": str(left_t), f"{a}tokens-reset": reset_iso}


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _message(plan: Plan, job: str, content: list[dict[str, Any]], stop: str | None, output: int) -> dict[str, Any]:
    return {"id": f"msg_{job[:24]}", "type": "message", "role": "assistant", "model": plan.model, "content": content,
            "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": plan.prompt_tokens, "output_tokens": output,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}


def stream_parts(plan: Plan, job: str) -> Iterator[tuple[str, bytes]]:
    yield "meta", _event("message_start", {"type": "message_start", "message": _message(plan, job, [], None, 1)})
    if plan.tool:
        block = {"type": "tool_use", "id": f"toolu_{job[:20]}", "name": plan.tool["name"], "input": {}}
        yield "meta", _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
        args = plan.tool["arguments"]
        for i in range(0, len(args), 8):
            delta = {"type": "input_json_delta", "partial_json": args[i:i + 8]}
            yield "token", _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
    else:
        block = {"type": "text", "text": ""}
        yield "meta", _event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
        yield "meta", _event("ping", {"type": "ping"})
        for text in plan.chunks:
            delta = {"type": "text_delta", "text": text}
            yield "token", _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
    yield "meta", _event("content_block_stop", {"type": "content_block_stop", "index": 0})
    delta = {"type": "message_delta", "delta": {"stop_reason": STOP[plan.finish], "stop_sequence": None},
             "usage": {"output_tokens": plan.completion_tokens}}
    yield "meta", _event("message_delta", delta)
    yield "meta", _event("message_stop", {"type": "message_stop"})


def midstream_error() -> bytes:
    return _event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def completion(plan: Plan, job: str) -> dict[str, Any]:
    if plan.tool:
        content = [{"type": "tool_use", "id": f"toolu_{job[:20]}", "name": plan.tool["name"],
                    "input": json.loads(plan.tool["arguments"])}]
    else:
        content = [{"type": "text", "text": plan.text}] if plan.text else []
    return _message(plan, job, content, STOP[plan.finish], plan.completion_tokens)


def models(ids: list[str]) -> dict[str, Any]:
    data = [{"type": "model", "id": m, "display_name": m, "created_at": "2024-10-22T00:00:00Z"} for m in ids]
    return {"data": data, "has_more": False, "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}
