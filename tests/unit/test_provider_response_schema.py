"""`response_schema` on each protocol, through httpx.MockTransport: OpenAI-compatible `response_format`
json_schema, Gemini `responseJsonSchema`, Anthropic a forced tool whose input comes back as text."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import ValidationError

from multillm.common import errors
from multillm.common.providers import create_provider
from multillm.common.providers.anthropic import JSON_TOOL
from multillm.common.schemas import ChatOptions, Message, Tool

USER = [Message(role="user", content="Grade this answer")]
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["verdict"],
          "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]}}}
ANSWER = {"verdict": "fail"}


def recording(body: bytes, content_type: str = "text/event-stream"):
    def handler(request: httpx.Request) -> httpx.Response:
        handler.sent.append(json.loads(request.content))
        return httpx.Response(200, content=body, headers={"content-type": content_type})
    handler.sent = []
    return handler


def provider(provider_id: str, handler):
    return create_provider(provider_id, "sk-test-0123456789abcdef", client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_the_option_takes_only_object_schemas():
    with pytest.raises(ValidationError, match="type object"):
        ChatOptions(response_schema={"type": "string"})
    with pytest.raises(ValidationError, match="larger than"):
        ChatOptions(response_schema={"type": "object", "description": "x" * 70_000})


@pytest.mark.parametrize("provider_id", ["openai", "openrouter", "llama", "grok", "github"])
def test_openai_compatible_sends_a_strict_json_schema_response_format(provider_id):
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": json.dumps(ANSWER)}, "finish_reason": "stop"}]}
    handler = recording(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
    result = provider(provider_id, handler).chat(USER, ChatOptions(response_schema=SCHEMA, json_mode=True))
    assert handler.sent[0]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "response", "schema": SCHEMA, "strict": True}}
    assert json.loads(result.text) == ANSWER


def test_gemini_sends_the_mime_type_and_the_json_schema():
    chunk = {"candidates": [{"content": {"role": "model", "parts": [{"text": json.dumps(ANSWER)}]},
                             "finishReason": "STOP", "index": 0}]}
    handler = recording(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
    result = provider("google", handler).chat(USER, ChatOptions(response_schema=SCHEMA))
    assert handler.sent[0]["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    assert json.loads(result.text) == ANSWER


def anthropic_stream(*pieces: str) -> bytes:
    events = [
        {"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "content": [],
                                              "model": "claude-3-5-haiku-latest",
                                              "usage": {"input_tokens": 9, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL, "input": {}}},
        *[{"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": p}}
          for p in pieces],
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}},
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def test_anthropic_forces_a_tool_and_streams_its_input_back_as_the_text():
    handler = recording(anthropic_stream('{"verdict"', ': "fail"}'))
    result = provider("anthropic", handler).chat(USER, ChatOptions(response_schema=SCHEMA))
    sent = handler.sent[0]
    assert sent["tools"] == [{"name": JSON_TOOL, "input_schema": SCHEMA, "description": "Give the answer as this tool's input."}]
    assert sent["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert json.loads(result.text) == ANSWER and result.tool_calls == [] and result.finish_reason == "stop"


def test_anthropic_without_streaming_returns_the_tool_input_as_text():
    body = {"id": "m", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL, "input": ANSWER}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 9, "output_tokens": 5}}
    handler = recording(json.dumps(body).encode(), "application/json")
    result = provider("anthropic", handler).chat(USER, ChatOptions(response_schema=SCHEMA, stream=False))
    assert json.loads(result.text) == ANSWER and result.tool_calls == [] and result.finish_reason == "stop"


def test_anthropic_refuses_a_schema_together_with_tools():
    tool = Tool(name="lookup", parameters={"type": "object", "properties": {}})
    with pytest.raises(errors.ConfigurationError, match="response_schema"):
        provider("anthropic", recording(b"")).chat(USER, ChatOptions(response_schema=SCHEMA, tools=[tool]))


def test_anthropic_ordinary_tool_calls_stay_tool_calls():
    stream = anthropic_stream('{"verdict": "pass"}').replace(JSON_TOOL.encode(), b"get_weather")
    tool = Tool(name="get_weather", parameters={"type": "object", "properties": {}})
    result = provider("anthropic", recording(stream)).chat(USER, ChatOptions(tools=[tool]))
    assert result.text == "" and [c.name for c in result.tool_calls] == ["get_weather"]
    assert result.finish_reason == "tool_calls"
