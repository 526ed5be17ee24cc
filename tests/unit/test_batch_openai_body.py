"""OpenAI Batch request lines: every body field honoured, or the line refused naming the field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.common.errors import ConfigurationError
from multillm.producers.batch.input import parse_line
from multillm.producers.batch.openai_body import ACCEPTED

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def line(**body: object) -> str:
    body.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return json.dumps({"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "gpt-4o-mini", **body}})


def test_every_supported_field_reaches_the_chat_options():
    parsed = parse_line(line(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}},
                             response_format={"type": "json_schema", "json_schema": {
                                 "name": "r", "schema": {"type": "object", "properties": {}}}},
                             seed=7, stop="END", temperature=0.2, top_p=0.9, frequency_penalty=0.1,
                             presence_penalty=0.2, max_completion_tokens=50, n=1), 1)
    o = parsed.options
    assert o["tools"] == [{"name": "get_weather", "description": "Weather now",
                           "parameters": WEATHER["function"]["parameters"]}]
    assert o["tool_choice"] == "get_weather" and o["response_schema"] == {"type": "object", "properties": {}}
    assert (o["seed"], o["stop"], o["temperature"], o["top_p"], o["max_tokens"]) == (7, "END", 0.2, 0.9, 50)
    assert parse_line(line(response_format={"type": "json_object"}), 1).options == {"json_mode": True}


def test_image_parts_tool_calls_and_roles_are_kept():
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
    ]
    parsed = parse_line(line(messages=messages), 1)
    assert parsed.messages[0] == {"role": "system", "content": "Be brief."}
    assert parsed.messages[1]["content"][1] == {"type": "image", "url": "https://example.com/a.png", "detail": "low"}
    assert parsed.messages[2]["tool_calls"] == [{"id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}]
    assert parsed.messages[3]["tool_call_id"] == "call_1"


@pytest.mark.parametrize(("body", "field"), [
    ({"logprobs": True}, "body.logprobs"), ({"n": 2}, "body.n"), ({"stream": True}, "body.stream"),
    ({"tools": [{"type": "web_search"}]}, "body.tools.0"),
    ({"response_format": {"type": "yaml"}}, "body.response_format.type"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
     "body.messages.0.content.0.type"),
    ({"messages": [{"role": "user", "content": "x", "audio": {"id": "a"}}]}, "body.messages.0.audio"),
    ({"temperature": 9}, "body.temperature"),
])
def test_an_unsupported_field_refuses_the_line_naming_it(body, field):
    with pytest.raises(ConfigurationError, match=f"line 3: {field.replace('.', '[.]')}"):
        parse_line(line(**body), 3)


@given(st.text(st.characters(categories=["Ll"]), min_size=1, max_size=20).filter(lambda k: k not in ACCEPTED))
def test_any_unknown_body_field_is_refused_by_name(key):
    with pytest.raises(ConfigurationError, match=f"body[.]{key}"):
        parse_line(line(**{key: 1}), 1)
