"""OpenAI's wire shapes at the gateway: requests to jobs, stream messages to chunks, errors to bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multillm.common.errors import ConfigurationError, TenantRateLimited, UnknownModelError
from multillm.common.jobs import Job
from multillm.common.providers import SPECS
from multillm.common.routing import TIERS
from multillm.common.stream import StreamMessage
from multillm.common.validation import parse
from multillm.producers.gateway.errors import JOB_ERRORS, from_error, from_job_error, param_of
from multillm.producers.gateway.wire import ChatCompletionRequest, ChunkWriter, StreamRestarted, model_list, resolve_model

text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)
part = st.one_of(st.builds(lambda t: {"type": "text", "text": t}, text),
                 st.builds(lambda d: {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{d}"}},
                           st.from_regex(r"[A-Za-z0-9+/]{4,20}", fullmatch=True)))
user = st.builds(lambda c: {"role": "user", "content": c}, st.one_of(text, st.lists(part, min_size=1, max_size=3)))
system = st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(["system", "developer"]), text)
call = st.builds(lambda i, n: {"id": i, "type": "function", "function": {"name": n, "arguments": "{}"}},
                 st.from_regex(r"call_[a-z0-9]{4}", fullmatch=True), st.from_regex(r"[a-z_]{1,10}", fullmatch=True))


@st.composite
def conversations(draw: Any) -> list[dict[str, Any]]:
    messages = [*draw(st.lists(system, max_size=1)), draw(user)]
    if draw(st.booleans()):
        calls = draw(st.lists(call, min_size=1, max_size=2, unique_by=lambda c: c["id"]))
        messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        messages += [{"role": "tool", "tool_call_id": c["id"], "content": draw(text)} for c in calls]
    return messages


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_any_openai_conversation_becomes_a_job_the_queue_accepts(messages):
    request = parse(ChatCompletionRequest, {"model": "openai/gpt-4o", "messages": messages})
    job = parse(Job, {"provider": "openai", "model": "gpt-4o", "messages": request.job_messages(),
                      "options": request.options()})
    assert len(job.messages) == len(messages)
    assert all(m.role != "developer" for m in job.messages)
    calls = [c for m in messages for c in m.get("tool_calls") or []]
    assert [c.id for m in job.messages for c in m.tool_calls] == [c["id"] for c in calls]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["model", "messages", "stream", "temperature", "tools", "n", "seed", "stop",
                                        "response_format", "tool_choice", "max_tokens"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
                                 st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))))
def test_a_malformed_request_is_a_configuration_error_naming_a_field(body):
    try:
        request = parse(ChatCompletionRequest, body)
    except ConfigurationError as exc:
        assert param_of(str(exc)) is not None or str(exc).startswith("input")
    else:
        assert request.messages


def test_options_map_to_chat_options():
    request = ChatCompletionRequest.model_validate({
        "model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 9,
        "stop": "END", "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}})
    assert request.options() == {"max_tokens": 9, "stop": "END", "tool_choice": "f",
                                 "tools": [{"name": "f", "description": "", "parameters": {"type": "object"}}],
                                 "response_schema": {"type": "object"}}
    assert ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                                 "response_format": {"type": "json_object"}}).options() == {"json_mode": True}


@pytest.mark.parametrize("field,value", [("seed", 1), ("n", 2), ("logprobs", True)])
def test_unsupported_parameters_are_refused_by_name(field, value):
    with pytest.raises(ConfigurationError) as refused:
        parse(ChatCompletionRequest, {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "x"}], field: value})
    assert param_of(str(refused.value)) == field


def test_models_resolve_as_provider_model_tier_or_auto():
    for provider, spec in SPECS.items():
        for model in spec.models:
            assert resolve_model(f"{provider}/{model.id}", TIERS) == (provider, model.id, None)
    assert resolve_model("smart", TIERS) == ("auto", None, "smart")
    assert resolve_model("auto", TIERS) == ("auto", None, None)
    # Any id under a known provider: the provider's live list decides, when the job runs.
    assert resolve_model("openai/gpt-9", TIERS) == ("openai", "gpt-9", None)
    assert resolve_model("llama/llama3.2:1b", TIERS) == ("llama", "llama3.2:1b", None)
    for unknown in ("gpt-4o", "nobody/model", "openai/"):
        with pytest.raises(UnknownModelError):
            resolve_model(unknown, TIERS)
    ids = [m["id"] for m in model_list(TIERS)]
    assert len(ids) == len(set(ids)) and "openrouter/openai/gpt-4o-mini" in ids


def msg(seq: int, kind: str, **fields: Any) -> StreamMessage:
    return StreamMessage(seq=seq, job_id="j", type=kind, **fields)


def test_stream_messages_become_openai_chunks_in_order():
    writer = ChunkWriter("chatcmpl-1", 0, include_usage=True)
    messages = [msg(1, "start", provider="openai", model="gpt-4o"), msg(2, "delta", text="Hel"), msg(3, "delta", text="lo"),
                msg(4, "tool_call", tool_call={"id": "c1", "name": "f", "arguments": "{}"}),
                msg(5, "usage", usage={"input_tokens": 3, "output_tokens": 2}), msg(6, "done", finish_reason="tool_calls")]
    chunks = [c for m in messages for c in writer.on(m)]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "openai/gpt-4o" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello"
    assert chunks[3]["choices"][0]["delta"]["tool_calls"][0] == {"index": 0, "id": "c1", "type": "function",
                                                                 "function": {"name": "f", "arguments": "{}"}}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 2,
                                                                   "total_tokens": 5}
    json.dumps(chunks)


def test_a_restart_before_any_text_is_invisible_and_after_text_is_refused():
    writer = ChunkWriter("c", 0, include_usage=False)
    writer.on(msg(1, "start", provider="openai", model="gpt-4o"))
    assert writer.on(msg(2, "retry", delay_s=1.0)) == []
    assert writer.on(msg(3, "start", provider="openai", model="gpt-4o", attempt=2)) == []
    writer.on(msg(4, "delta", text="x", attempt=2))
    with pytest.raises(StreamRestarted):
        writer.on(msg(5, "start", provider="openai", model="gpt-4o", attempt=3))


def test_errors_have_openai_shape_and_status():
    body = from_job_error({"code": "rate_limited", "message": "slow down", "retry_after": 2.5})
    assert body.status == 429 and body.response().headers["retry-after"] == "3"
    assert set(body.body()["error"]) == {"message", "type", "param", "code"}
    assert {code: from_job_error({"code": code}).status for code in JOB_ERRORS} == {c: s for c, (s, _) in JOB_ERRORS.items()}
    assert from_job_error({"code": "stream_interrupted"}).status == 502
    limited = from_error(TenantRateLimited("Too many", tenant="a", provider="openai", retry_after=0.2))
    assert limited.status == 429 and limited.response().headers["retry-after"] == "1"
    assert from_error(ConfigurationError("options.temperature: too high")).param == "temperature"
    assert from_error(UnknownModelError("model: nope")).status == 404
