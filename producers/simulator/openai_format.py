"""OpenAI Chat Completions as OpenAI, OpenRouter, Hugging Face (llama), xAI (grok) and GitHub
Models send it.

Shapes: openai-python `types/chat/chat_completion_chunk.py`, `chat_completion.py`, `_streaming.py`.
Quirks: OpenRouter's `: OPENROUTER PROCESSING` comments, `provider`, `native_finish_reason`, usage
`cost`, integer error codes and mid-stream errors after HTTP 200 (openrouter.ai/docs/api-reference/
streaming, /errors); xAI's `{"code","error"}` errors and `reasoning_content`; Hugging Face's string
errors with `x-error-message` and TGI's empty ids; GitHub's (Azure's) `prompt_filter_results` chunk
with no choices and `{"error":{"code","message","details"}}` errors (github/gh-models azuremodels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from multillm.producers.simulator.json_mode import openai_json, schema_problem
from multillm.producers.simulator.openai_errors import error_reply, rate_headers
from multillm.producers.simulator.openai_models import list_models
from multillm.producers.simulator.plan import Ask, Plan, ToolSpec
from multillm.producers.simulator.providers import SimProvider
from multillm.producers.simulator.quota import QuotaDecision
from multillm.producers.simulator.sse import SLOT, Template, data_event
from multillm.producers.simulator.text import openai_prompt_tokens
from multillm.producers.simulator.wire import ErrorReply, Stream, WireFormat

DONE = b"data: [DONE]\n\n"
FINGERPRINTS = {"openai": "fp_sim0001", "github": "fp_sim0001", "grok": "fp_sim0002", "llama": "3.2.1-sim"}


class OpenAIFormat(WireFormat):
    protocol = "openai"

    def api_key(self, headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str | None, str | None]:
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        return (key, None) if key else (None, "auth_missing")

    def parse(self, body: Mapping[str, Any], model: str | None) -> Ask:
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        users = [m for m in messages if m.get("role") == "user"]
        tools = [t.get("function") or {} for t in body.get("tools") or [] if isinstance(t, dict)]
        json_output, json_schema = openai_json(body)
        return Ask(
            model=str(body.get("model") or ""),
            prompt=_text(users[-1].get("content")) if users else "",
            prompt_tokens=openai_prompt_tokens(messages),
            empty=not messages,
            max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
            tools=[ToolSpec(str(f.get("name", "")), f.get("parameters") or {}) for f in tools],
            tool_choice=_tool_choice(body.get("tool_choice")),
            after_tool=bool(messages) and messages[-1].get("role") == "tool",
            stream=bool(body.get("stream")),
            include_usage=bool((body.get("stream_options") or {}).get("include_usage")
                               or (body.get("usage") or {}).get("include")),  # OpenRouter's own switch
            json_output=json_output,
            json_schema=json_schema,
        )

    def refusal(self, spec: SimProvider, ask: Ask, body: Mapping[str, Any]) -> tuple[str, str] | None:
        if not ask.model:
            return "invalid", "you must provide a model parameter"
        refused = super().refusal(spec, ask, body)
        info = spec.find_model(ask.model)
        if refused or info is None or spec.id != "openai":
            return refused
        if info.reasoning and "max_tokens" in body:  # o-series (openai-python completion_create_params.py)
            return "invalid", "Unsupported parameter: 'max_tokens' is not supported with this model. " \
                              "Use 'max_completion_tokens' instead."
        if (ask.max_tokens or 0) > info.max_output_tokens:
            return "invalid", (f"max_tokens is too large: {ask.max_tokens}. This model supports at most "
                               f"{info.max_output_tokens} completion tokens, whereas you provided {ask.max_tokens}.")
        return _format_refusal(body) if ask.json_output else None

    def error(self, provider: str, kind: str, message: str, retry_after_s: float | None = None) -> ErrorReply:
        return error_reply(provider, kind, message)

    def rate_headers(self, provider: str, decision: QuotaDecision) -> dict[str, str]:
        return rate_headers(provider, decision)

    def response_headers(self, plan: Plan) -> dict[str, str]:
        if plan.provider == "openrouter":
            return {"x-generation-id": _id(plan)}
        return {"x-request-id": f"req_{plan.id}", "openai-processing-ms": str(int(plan.ttft_s * 1000))}

    def completion(self, plan: Plan) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": plan.text if plan.chunks else None,
                                   "refusal": None, "annotations": []}
        if plan.tool_name:
            message["tool_calls"] = [{"id": f"call_{plan.id[:24]}", "type": "function",
                                      "function": {"name": plan.tool_name, "arguments": plan.tool_arguments}}]
        if plan.reasoning:
            message["reasoning_content"] = "".join(plan.reasoning)
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish}
        if plan.provider == "openrouter":
            choice["native_finish_reason"] = plan.finish
        return {**_base(plan, "chat.completion"), "choices": [choice], "usage": _usage(plan)}

    def stream(self, plan: Plan, include_usage: bool) -> Stream:
        base = _base(plan, "chat.completion.chunk")
        if include_usage:
            base["usage"] = None  # every chunk says so when a usage chunk will follow (include_usage)
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        head = _chunk(base, first, None)
        tokens: list[bytes] = []
        if plan.reasoning:
            tokens += _render(base, {"reasoning_content": SLOT}, plan.reasoning)
        if plan.tool_name:
            call = {"index": 0, "id": f"call_{plan.id[:24]}", "type": "function",
                    "function": {"name": plan.tool_name, "arguments": ""}}
            head = _chunk(base, {**first, "content": None, "tool_calls": [call]}, None)
            fragment = {"tool_calls": [{"index": 0, "function": {"arguments": SLOT}}]}
            tokens += _render(base, fragment, plan.argument_fragments)
        else:
            tokens += _render(base, {"content": SLOT}, plan.chunks)
        if plan.provider == "github":
            head = data_event(_prompt_filter_results()) + head
        tail = _chunk(base, {}, plan.finish)
        if include_usage:
            tail += data_event({**base, "choices": [], "usage": _usage(plan)})
        early = b": OPENROUTER PROCESSING\n\n" if plan.provider == "openrouter" else b""
        return Stream(head=head, tokens=tokens, tail=tail + DONE, early=early)

    def midstream_error(self, plan: Plan) -> bytes:
        if plan.provider == "openrouter":  # HTTP 200 was sent: the status travels as `code`
            error = {**_base(plan, "chat.completion.chunk"), "error": {"code": 502, "message": "Provider returned error"},
                     "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}
        elif plan.provider == "grok":
            error = {"code": "Internal error", "error": "The stream was interrupted by an internal error."}
        elif plan.provider == "llama":  # TGI: {"error","error_type"}
            error = {"error": "Request failed during generation: Server error: CUDA out of memory.",
                     "error_type": "generation"}
        else:
            error = {"error": {"message": "The server had an error while processing your request. Sorry about that!",
                               "type": "server_error", "param": None, "code": None}}
        return data_event(error)

    def malformed(self, plan: Plan) -> bytes:
        return b'data: {"id":"chatcmpl-' + plan.id.encode() + b'","choices":[{"delta":{"content":"unterminated\n\n'

    def models(self, spec: SimProvider, query: Mapping[str, str]) -> Any:
        return list_models(spec)


def _format_refusal(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """OpenAI's checks of `response_format` (platform.openai.com/docs/guides/structured-outputs)."""
    fmt = body["response_format"]
    if fmt.get("type") == "json_object":
        said = " ".join(_text(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict))
        if "json" not in said.lower():
            return "invalid", ("'messages' must contain the word 'json' in some form, to use 'response_format' "
                               "of type 'json_object'.")
        return None
    spec = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), Mapping) else {}
    if not spec.get("name") or not isinstance(spec.get("schema"), Mapping):
        return "invalid", "Missing required parameter: 'response_format.json_schema.name' or '.schema'."
    problem = schema_problem(spec["schema"]) if spec.get("strict") else None
    return ("invalid", f"Invalid schema for response_format '{spec['name']}': {problem}") if problem else None


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts: only text parts count
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _tool_choice(choice: Any) -> str | None:
    if isinstance(choice, dict):  # {"type": "function", "function": {"name": ...}}
        return str((choice.get("function") or {}).get("name") or "") or None
    return {"none": "none", "required": "any"}.get(str(choice))


def _id(plan: Plan) -> str:
    if plan.provider == "openrouter":
        return f"gen-{plan.created}-{plan.id[:20]}"
    return "" if plan.provider == "llama" else f"chatcmpl-{plan.id[:29]}"  # TGI sends an empty id


def _base(plan: Plan, kind: str) -> dict[str, Any]:
    base: dict[str, Any] = {"id": _id(plan), "object": kind, "created": plan.created, "model": plan.model}
    if plan.provider == "openrouter":
        base["provider"] = "Simulator"
    else:
        base["system_fingerprint"] = FINGERPRINTS[plan.provider]
    if plan.provider == "openai":
        base["service_tier"] = "default"
    return base


def _choice(base: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    if finish and "provider" in base:  # OpenRouter
        choice["native_finish_reason"] = finish
    return {**base, "choices": [choice]}


def _chunk(base: dict[str, Any], delta: dict[str, Any], finish: str | None) -> bytes:
    return data_event(_choice(base, delta, finish))


def _render(base: dict[str, Any], delta: dict[str, Any], values: list[str]) -> list[bytes]:
    template = Template(_choice(base, delta, None))
    return [template.render(value) for value in values]


def _usage(plan: Plan) -> dict[str, Any]:
    prompt, completion, reasoning = plan.prompt_tokens, plan.completion_tokens, plan.reasoning_tokens
    usage: dict[str, Any] = {
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion + reasoning,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }
    if plan.provider == "openrouter":
        usage.update(cost=round((prompt + completion) * 1e-7, 9), is_byok=False,
                     cost_details={"upstream_inference_cost": None})
    if plan.provider == "grok":
        usage["num_sources_used"] = 0
    return usage


def _prompt_filter_results() -> dict[str, Any]:
    safe = {"filtered": False, "severity": "safe"}
    results = {"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe}
    return {"choices": [], "created": 0, "id": "", "model": "", "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": results}]}
