"""OpenAI Chat Completions as OpenAI, OpenRouter, Hugging Face, xAI and GitHub send it.

Shapes from openai-python `types/chat/chat_completion_chunk.py` / `chat_completion.py`; OpenRouter's
comments, `provider`, `native_finish_reason` and usage `cost` (openrouter.ai/docs/api-reference/
streaming); xAI's `{"code","error"}` errors and `reasoning_content`; HF's string errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .engine import Plan, count_tokens, now_ts

STATUS_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
                404: "invalid_request_error", 429: "requests", 500: "server_error", 502: "server_error",
                503: "server_error"}
STATUS_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def parse(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or []
    texts = [_text(m.get("content")) for m in messages]
    last_user = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    tools = [t.get("function", {}) for t in body.get("tools") or []]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return {"model": body.get("model"), "messages": messages, "prompt": last_user,
            "prompt_tokens": sum(count_tokens(t) for t in texts), "max_tokens": max_tokens, "tools": tools,
            "tool_choice": body.get("tool_choice"), "stream": bool(body.get("stream")),
            "include_usage": bool((body.get("stream_options") or {}).get("include_usage"))}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def error_body(provider: str, status: int, message: str, code: str | None = None) -> dict[str, Any]:
    if provider == "openrouter":
        return {"error": {"code": status, "message": message, "metadata": {"provider_name": "simulator"}}}
    if provider == "grok":
        return {"code": {401: "Unauthorized", 429: "Too Many Requests"}.get(status, "Bad Request"), "error": message}
    if provider == "llama" and status == 401:
        return {"error": "Invalid username or password."}
    return {"error": {"message": message, "type": STATUS_TYPES.get(status, "server_error"), "param": None,
                      "code": code or STATUS_CODES.get(status)}}


def rate_headers(limit_r: int, left_r: int, limit_t: int, left_t: int, reset_s: float) -> dict[str, str]:
    reset = f"{reset_s:.3f}s"
    return {"x-ratelimit-limit-requests": str(limit_r), "x-ratelimit-remaining-requests": str(left_r),
            "x-ratelimit-limit-tokens": str(limit_t), "x-ratelimit-remaining-tokens": str(left_t),
            "x-ratelimit-reset-requests": reset, "x-ratelimit-reset-tokens": reset}


def _base(provider: str, plan: Plan, job: str) -> dict[str, Any]:
    data: dict[str, Any] = {"id": f"chatcmpl-{job}", "object": "chat.completion.chunk", "created": now_ts(),
                            "model": plan.model, "system_fingerprint": "fp_simulator"}
    if provider == "openrouter":
        data["provider"] = "Simulator"
    return data


def _chunk(provider: str, plan: Plan, job: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    if provider == "openrouter" and finish:
        choice["native_finish_reason"] = finish
    data = {**_base(provider, plan, job), "choices": [choice]}
    return f"data: {json.dumps(data)}\n\n".encode()


def usage(plan: Plan, provider: str) -> dict[str, Any]:
    data: dict[str, Any] = {"prompt_tokens": plan.prompt_tokens, "completion_tokens": plan.completion_tokens,
                            "total_tokens": plan.prompt_tokens + plan.completion_tokens,
                            "prompt_tokens_details": {"cached_tokens": 0},
                            "completion_tokens_details": {"reasoning_tokens": 0}}
    if provider == "openrouter":
        data["cost"] = round((plan.prompt_tokens + plan.completion_tokens) * 1e-7, 9)
    return data


def stream_parts(provider: str, plan: Plan, job: str, include_usage: bool) -> Iterator[tuple[str, bytes]]:
    """(kind, bytes) pieces in order: kind 'token' pieces are paced by the server."""
    if provider == "openrouter":
        yield "meta", b": OPENROUTER PROCESSING\n\n"
    yield "meta", _chunk(provider, plan, job, {"role": "assistant", "content": ""})
    if provider == "grok" and plan.model.endswith("mini"):
        yield "meta", _chunk(provider, plan, job, {"reasoning_content": "Thinking."})
    if plan.tool:
        args = plan.tool["arguments"]
        first = {"tool_calls": [{"index": 0, "id": f"call_{job[:12]}", "type": "function",
                                 "function": {"name": plan.tool["name"], "arguments": ""}}]}
        yield "token", _chunk(provider, plan, job, first)
        for i in range(0, len(args), 8):
            piece = {"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 8]}}]}
            yield "token", _chunk(provider, plan, job, piece)
    else:
        for text in plan.chunks:
            yield "token", _chunk(provider, plan, job, {"content": text})
    yield "meta", _chunk(provider, plan, job, {}, plan.finish)
    if include_usage:
        data = {**_base(provider, plan, job), "choices": [], "usage": usage(plan, provider)}
        yield "meta", f"data: {json.dumps(data)}\n\n".encode()
    yield "meta", b"data: [DONE]\n\n"


def midstream_error(provider: str) -> bytes:
    if provider == "openrouter":
        error = {"error": {"code": 502, "message": "upstream provider failed mid-stream"}}
    else:
        error = {"error": {"message": "The server had an error while processing your request.",
                           "type": "server_error", "param": None, "code": None}}
    return f"data: {json.dumps(error)}\n\n".encode()


def completion(provider: str, plan: Plan, job: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if plan.tool else plan.text, "refusal": None}
    if plan.tool:
        message["tool_calls"] = [{"id": f"call_{job[:12]}", "type": "function",
                                  "function": {"name": plan.tool["name"], "arguments": plan.tool["arguments"]}}]
    data = {"id": f"chatcmpl-{job}", "object": "chat.completion", "created": now_ts(), "model": plan.model,
            "system_fingerprint": "fp_simulator",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish}],
            "usage": usage(plan, provider)}
    if provider == "openrouter":
        data["provider"] = "Simulator"
    return data


def models(provider: str, ids: list[str], contexts: dict[str, int]) -> Any:
    if provider == "github":
        return [{"id": m, "name": m.split("/")[-1], "publisher": m.split("/")[0], "registry": "azure-openai",
                 "capabilities": ["streaming", "tool-calling"],
                 "limits": {"max_input_tokens": contexts[m], "max_output_tokens": 4096},
                 "rate_limit_tier": "low"} for m in ids]
    return {"object": "list", "data": [{"id": m, "object": "model", "created": 1_700_000_000,
                                        "owned_by": "simulator", "context_length": contexts[m]} for m in ids]}
