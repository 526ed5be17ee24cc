"""Gemini generateContent / streamGenerateContent?alt=sse as Google sends it: each `data:` a whole
GenerateContentResponse ending in CRLF CRLF, cumulative usageMetadata on every chunk, finishReason
on the last, functionCall parts whole (googleapis/python-genai `types.py`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .engine import Plan, count_tokens

STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 529: "UNAVAILABLE"}
FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}


def parse(body: dict[str, Any]) -> dict[str, Any]:
    contents = body.get("contents") or []
    texts = [_text(c.get("parts")) for c in contents]
    system = _text((body.get("systemInstruction") or {}).get("parts"))
    last_user = next((_text(c.get("parts")) for c in reversed(contents) if c.get("role", "user") == "user"), "")
    tools = [{"name": f.get("name"), "parameters": f.get("parameters") or {}}
             for t in body.get("tools") or [] for f in t.get("functionDeclarations") or []]
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    config = body.get("generationConfig") or {}
    return {"messages": contents, "prompt": last_user, "prompt_tokens": sum(map(count_tokens, texts)) + count_tokens(system),
            "max_tokens": config.get("maxOutputTokens"), "tools": tools, "tool_choice": "any" if mode == "ANY" else None,
            "include_usage": True}


def _text(parts: Any) -> str:
    return " ".join(str(p.get("text", "")) for p in parts or [] if isinstance(p, dict))


def error_body(status: int, message: str, retry_after: float | None = None, key_invalid: bool = False) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if key_invalid:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com"})
    if retry_after is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:.3f}s"})
    return {"error": {"code": status if status != 529 else 503, "message": message,
                      "status": STATUS.get(status, "INTERNAL"), "details": details}}


def _usage(plan: Plan, output: int) -> dict[str, Any]:
    return {"promptTokenCount": plan.prompt_tokens, "candidatesTokenCount": output,
            "totalTokenCount": plan.prompt_tokens + output}


def _response(plan: Plan, parts: list[dict[str, Any]], output: int, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if not parts:
        candidate.pop("content")
    if finish:
        candidate["finishReason"] = finish
        if finish == "SAFETY":
            candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                                           "blocked": True}]
    return {"candidates": [candidate], "usageMetadata": _usage(plan, output), "modelVersion": plan.model,
            "responseId": "sim-response"}


def _data(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\r\n\r\n".encode()


def stream_parts(plan: Plan) -> Iterator[tuple[str, bytes]]:
    finish = FINISH[plan.finish]
    if plan.tool:
        part = {"functionCall": {"name": plan.tool["name"], "args": json.loads(plan.tool["arguments"])}}
        yield "token", _data(_response(plan, [part], plan.completion_tokens, finish))
        return
    if plan.finish == "content_filter":
        yield "token", _data(_response(plan, [], 0, finish))
        return
    for i, text in enumerate(plan.chunks):
        last = i == len(plan.chunks) - 1
        yield "token", _data(_response(plan, [{"text": text}], i + 1, finish if last else None))


def midstream_error() -> bytes:
    return _data(error_body(503, "The model is overloaded. Please try again later."))


def completion(plan: Plan) -> dict[str, Any]:
    if plan.tool:
        parts = [{"functionCall": {"name": plan.tool["name"], "args": json.loads(plan.tool["arguments"])}}]
    else:
        parts = [{"text": plan.text}] if plan.text else []
    return _response(plan, parts, plan.completion_tokens, FINISH[plan.finish])


def models(ids: list[str], contexts: dict[str, int], outputs: dict[str, int]) -> dict[str, Any]:
    return {"models": [{"name": f"models/{m}", "version": "001", "displayName": m, "description": m,
                        "inputTokenLimit": contexts[m], "outputTokenLimit": outputs[m],
                        "supportedGenerationMethods": ["generateContent", "countTokens"],
                        "temperature": 1.0, "topP": 0.95, "topK": 40, "maxTemperature": 2.0} for m in ids]}
