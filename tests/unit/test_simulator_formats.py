"""The three wire formats, without a server: every streamed piece is well-formed, pieces add up to
the whole answer, and errors take each provider's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from multillm.producers.simulator import SimulatorConfig, count_tokens
from multillm.producers.simulator.handlers import FORMATS
from multillm.producers.simulator.plan import Ask, Plan, ToolSpec, make_plan, tool_arguments
from multillm.producers.simulator.providers import PROVIDERS as SPECS
from multillm.producers.simulator.sse import SLOT, Template

WEATHER = ToolSpec("get_weather", {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def plan_for(provider: str, prompt: str = "Tell me about rivers", **ask: Any) -> Plan:
    model = ask.pop("model", SPECS[provider].default_model)
    return make_plan(SimulatorConfig(), provider, Ask(model=model, prompt=prompt, prompt_tokens=4, **ask), None, {})


def events(data: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of each SSE event; comments skipped, [DONE] kept as a string."""
    out = []
    for block in data.decode().replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        name = next((line[7:] for line in lines if line.startswith("event: ")), None)
        payload = "".join(line[6:] for line in lines if line.startswith("data: "))
        out.append((name, payload if payload == "[DONE]" else json.loads(payload)))
    return out


def whole_stream(provider: str, plan: Plan) -> bytes:
    pieces = FORMATS[SPECS[provider].protocol].stream(plan, include_usage=True)
    return pieces.early + pieces.head + b"".join(pieces.tokens) + pieces.tail


def test_a_template_renders_the_same_json_as_dumping():
    template = Template({"a": SLOT, "b": [1, {"c": SLOT}]}, prefix="data: ", suffix="\n\n")
    rendered = template.render('quote " and \n newline', 7)
    assert json.loads(rendered[6:]) == {"a": 'quote " and \n newline', "b": [1, {"c": 7}]}
    with pytest.raises(ValueError):
        template.render("one")


@pytest.mark.parametrize(("schema", "expected"), [
    (WEATHER.parameters, {"city": "Paris"}),
    ({"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}, "unit": {"type": "string", "enum": ["c", "f"]}}},
     {"n": 1, "unit": "c"}),
    ({"properties": {"tags": {"type": "array", "items": {"type": "string"}}, "x": {"type": "boolean"}}, "required": ["tags"]},
     {"tags": ["Paris"]}),
])
def test_tool_arguments_satisfy_the_schema(schema, expected):
    assert tool_arguments(schema) == expected


@pytest.mark.parametrize("provider", ["openai", "openrouter", "llama", "grok", "github"])
def test_openai_compatible_streams_add_up_to_the_completion(provider):
    plan = plan_for(provider, max_tokens=10)
    parsed = events(whole_stream(provider, plan))
    assert parsed[-1] == (None, "[DONE]")
    chunks = [data for _, data in parsed[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    whole = FORMATS["openai"].completion(plan)
    assert text == whole["choices"][0]["message"]["content"] and count_tokens(text) == 10
    assert chunks[-1]["usage"] == whole["usage"] and chunks[-1]["choices"] == []
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"


def test_openai_tool_call_fragments_carry_id_and_name_only_first():
    plan = plan_for("openai", "weather in Paris?", tools=[WEATHER])
    deltas = [d["choices"][0]["delta"] for _, d in events(whole_stream("openai", plan))[:-1] if d["choices"]]
    calls = [c for d in deltas for c in d.get("tool_calls") or []]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "get_weather"
    assert all("id" not in c and "name" not in c["function"] for c in calls[1:]) and len(calls) > 2
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}


def test_anthropic_stream_events_in_order_with_cumulative_usage():
    plan = plan_for("anthropic", max_tokens=5)
    parsed = events(whole_stream("anthropic", plan))
    names = [name for name, _ in parsed]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(name == data["type"] for name, data in parsed)
    text = "".join(d["delta"]["text"] for n, d in parsed if n == "content_block_delta")
    assert text == FORMATS["anthropic"].completion(plan)["content"][0]["text"]
    assert parsed[-2][1]["usage"]["output_tokens"] == 5 and parsed[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_gemini_chunks_carry_cumulative_usage_and_end_with_crlf():
    plan = plan_for("google", max_tokens=4)
    data = whole_stream("google", plan)
    assert data.endswith(b"\r\n\r\n") and b"\n\n" not in data.replace(b"\r\n\r\n", b"")
    chunks = [d for _, d in events(data)]
    assert [c["usageMetadata"]["candidatesTokenCount"] for c in chunks] == [1, 2, 3, 4]
    assert [c["candidates"][0].get("finishReason") for c in chunks] == [None, None, None, "MAX_TOKENS"]


@pytest.mark.parametrize(("provider", "shape"), [
    ("openai", lambda b: b["error"]["code"] == "invalid_api_key"),
    ("openrouter", lambda b: b["error"]["code"] == 401),
    ("grok", lambda b: isinstance(b["error"], str) and b["code"] == "Unauthenticated"),
    ("llama", lambda b: b == {"error": "Invalid username or password."}),
    ("github", lambda b: b["error"]["code"] == "unauthorized"),
    ("anthropic", lambda b: b["type"] == "error" and b["error"]["type"] == "authentication_error"),
    ("google", lambda b: b["error"]["details"][0]["reason"] == "API_KEY_INVALID"),
])
def test_a_rejected_key_in_each_providers_shape(provider, shape):
    reply = FORMATS[SPECS[provider].protocol].error(provider, "bad_key", "bad key")
    assert reply.status == (400 if provider == "google" else 401) and shape(reply.body)


@pytest.mark.parametrize("provider", list(SPECS))
def test_mid_stream_errors_and_malformed_chunks(provider):
    fmt = FORMATS[SPECS[provider].protocol]
    plan = plan_for(provider)
    error = events(fmt.midstream_error(plan))[0]
    assert "error" in error[1] and (error[0] == "error" if provider == "anthropic" else error[0] is None)
    with pytest.raises(json.JSONDecodeError):
        events(fmt.malformed(plan))
