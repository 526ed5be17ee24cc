"""The Anthropic Messages protocol against recorded-shape bodies, through httpx.MockTransport.

Event and error shapes follow anthropic-sdk-python `_streaming.py`, `types/raw_message_*_event.py`
and the API's documented error object; JSON is sometimes space-padded before the final brace.
"""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from multillm.common import errors
from multillm.common.providers import create_provider
from multillm.common.schemas import ChatOptions, ImagePart, Message, TextPart, Tool, ToolCall

KEY = "sk-ant-test-0123456789abcdef"
USER = [Message(role="user", content="What is the weather in Paris?")]
WEATHER = Tool(name="get_weather", description="Current weather",
               parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def sse(*events: dict, stop: bool = True) -> bytes:
    """Anthropic's framing: an `event:` line naming the type, then its `data:` JSON."""
    if stop:
        events = (*events, {"type": "message_stop"})
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def message_start(input_tokens: int = 12, **usage: int) -> dict:
    return {"type": "message_start", "message": {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1, **usage}}}


def text_block(index: int, *pieces: str) -> list[dict]:
    return [{"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
            *[{"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}}
              for p in pieces],
            {"type": "content_block_stop", "index": index}]


def tool_block(index: int, call_id: str, name: str, *pieces: str) -> list[dict]:
    return [{"type": "content_block_start", "index": index,
             "content_block": {"type": "tool_use", "id": call_id, "name": name, "input": {}}},
            *[{"type": "content_block_delta", "index": index,
               "delta": {"type": "input_json_delta", "partial_json": p}} for p in pieces],
            {"type": "content_block_stop", "index": index}]


def message_delta(stop_reason: str | None, output_tokens: int = 9) -> dict:
    return {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens}}


def provider(handler):
    return create_provider("anthropic", KEY, client=httpx.Client(transport=httpx.MockTransport(handler)))


def responding(body: bytes, status: int = 200, headers: dict | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        handler.requests.append(request)
        return httpx.Response(status, content=body, headers={"content-type": "text/event-stream", **(headers or {})})
    handler.requests = []
    return handler


def sent(handler) -> dict:
    return json.loads(handler.requests[-1].content)


HELLO = sse(message_start(), *text_block(0, "Hel", "lo"), message_delta("end_turn"))


def test_request_maps_system_images_tools_and_tool_results():
    handler = responding(HELLO)
    messages = [
        Message(role="system", content="Answer in French."),
        Message(role="user", content=[TextPart(text="Weather here?"),
                                      ImagePart(url="data:image/png;base64,iVBORw0KGgo="),
                                      ImagePart(url="https://example.com/paris.jpg")]),
        Message(role="assistant", content="Checking.", tool_calls=[
            ToolCall(id="toolu_1", name="get_weather", arguments='{"city": "Paris"}'),
            ToolCall(id="toolu_2", name="get_weather", arguments='{"city": "Lyon"}')]),
        Message(role="tool", tool_call_id="toolu_1", content="18C"),
        Message(role="tool", tool_call_id="toolu_2", content="21C"),
        Message(role="user", content="Thanks"),
    ]
    opts = ChatOptions(model="claude-sonnet-4-5", system_prompt="Be brief.", temperature=0.3, top_p=0.9,
                       max_tokens=200, stop=["END"], tools=[WEATHER], tool_choice="get_weather")
    list(provider(handler).stream_chat(messages, opts))
    assert sent(handler) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 200,
        "system": "Be brief.\n\nAnswer in French.",
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather here?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/paris.jpg"}}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Lyon"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "21C"}]},
            {"role": "user", "content": "Thanks"},
        ],
        "temperature": 0.3,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "tools": [{"name": "get_weather", "description": "Current weather",
                   "input_schema": WEATHER.parameters}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "stream": True,
    }
    request = handler.requests[-1]
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("choice", "wire"), [("auto", {"type": "auto"}), ("none", {"type": "none"}),
                                              ("required", {"type": "any"})])
def test_tool_choice_keywords(choice, wire):
    handler = responding(HELLO)
    list(provider(handler).stream_chat(USER, ChatOptions(tools=[WEATHER], tool_choice=choice)))
    assert sent(handler)["tool_choice"] == wire


@pytest.mark.parametrize(("model", "expected"), [
    ("claude-3-5-haiku-latest", 4096),  # catalog says 8192: capped
    ("claude-3-haiku-20240307", 4096),
    ("claude-some-future-model", 4096),  # not in the catalog
])
def test_max_tokens_is_always_sent(model, expected):
    handler = responding(HELLO)
    list(provider(handler).stream_chat(USER, ChatOptions(model=model)))
    assert sent(handler)["max_tokens"] == expected


def test_penalties_are_dropped_with_a_warning(caplog):
    handler = responding(HELLO)
    with caplog.at_level(logging.WARNING, "multillm.providers"):
        list(provider(handler).stream_chat(USER, ChatOptions(frequency_penalty=0.5, presence_penalty=0.2)))
    body = sent(handler)
    assert "frequency_penalty" not in body and "presence_penalty" not in body
    assert "does not support frequency_penalty" in caplog.text and "does not support presence_penalty" in caplog.text


def test_temperature_above_one_is_refused_before_sending():
    handler = responding(HELLO)
    with pytest.raises(errors.ConfigurationError, match="temperature"):
        list(provider(handler).stream_chat(USER, ChatOptions(temperature=1.5)))
    assert handler.requests == []
    list(provider(handler).stream_chat(USER, ChatOptions(temperature=1.0)))
    assert sent(handler)["temperature"] == 1.0


def test_json_mode_is_refused_because_anthropic_has_none():
    handler = responding(HELLO)
    with pytest.raises(errors.ConfigurationError, match="json_mode"):
        provider(handler).chat(USER, ChatOptions(json_mode=True))
    assert handler.requests == []


def test_tool_call_arguments_that_are_not_an_object_are_refused():
    bad = [*USER, Message(role="assistant", tool_calls=[ToolCall(id="t", name="get_weather", arguments="[1")])]
    with pytest.raises(errors.ConfigurationError, match="arguments"):
        list(provider(responding(HELLO)).stream_chat(bad))


def test_stream_yields_text_usage_then_finish_ignoring_ping_and_thinking():
    thinking = [{"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
                {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
                {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "x"}},
                {"type": "content_block_stop", "index": 0}]
    body = sse(message_start(10, cache_read_input_tokens=100, cache_creation_input_tokens=5),
               {"type": "ping"}, *thinking, *text_block(1, "Bon", "jour"), message_delta("end_turn", 15))
    events = list(provider(responding(body)).stream_chat(USER))
    assert [e.type for e in events] == ["delta", "delta", "usage", "finish"]
    assert "".join(e.text for e in events) == "Bonjour"
    usage = events[2].usage
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (115, 100, 15)
    assert (events[3].finish_reason, events[3].native_finish_reason) == ("stop", "end_turn")


def test_space_padded_json_is_accepted():
    body = HELLO.replace(b"}\n", b"   }\n")
    assert body.count(b"   }\n") == 7
    assert provider(responding(body)).chat(USER).text == "Hello"


def test_tool_use_blocks_are_assembled_into_whole_calls():
    body = sse(message_start(), *text_block(0, "Let me check."),
               *tool_block(1, "toolu_01A", "get_weather", '{"ci', 'ty": "Pa', 'ris"}'),
               *tool_block(2, "toolu_01B", "get_time"), message_delta("tool_use"))
    events = list(provider(responding(body)).stream_chat(USER, ChatOptions(tools=[WEATHER])))
    deltas = [e.tool_call_delta for e in events if e.type == "tool_call_delta"]
    assert {d.index for d in deltas} == {1, 2}
    result = provider(responding(body)).chat(USER, ChatOptions(tools=[WEATHER]))
    assert result.text == "Let me check." and result.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.parsed_arguments()) for c in result.tool_calls] == [
        ("toolu_01A", "get_weather", {"city": "Paris"}), ("toolu_01B", "get_time", {})]


@pytest.mark.parametrize(("native", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"),
])
def test_stop_reasons_map_to_finish_reasons(native, finish):
    body = sse(message_start(), *text_block(0, "x"), message_delta(native))
    event = list(provider(responding(body)).stream_chat(USER))[-1]
    assert (event.finish_reason, event.native_finish_reason) == (finish, native)


def test_refusal_without_text_is_content_filtered():
    body = sse(message_start(), message_delta("refusal", 0))
    with pytest.raises(errors.ContentFiltered) as caught:
        list(provider(responding(body)).stream_chat(USER))
    assert caught.value.provider_code == "refusal"


def error_body(kind: str, message: str = "something") -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message},
                       "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}).encode()


@pytest.mark.parametrize(("status", "kind", "cls"), [
    (400, "invalid_request_error", errors.InvalidRequest),
    (401, "authentication_error", errors.AuthenticationError),
    (402, "billing_error", errors.PermissionDenied),
    (403, "permission_error", errors.PermissionDenied),
    (404, "not_found_error", errors.InvalidRequest),
    (413, "request_too_large", errors.ContextLengthExceeded),
    (429, "rate_limit_error", errors.RateLimited),
    (500, "api_error", errors.ProviderUnavailable),
    (504, "timeout_error", errors.ProviderTimeout),
    (529, "overloaded_error", errors.ProviderUnavailable),
])
def test_error_bodies_map_by_type(status, kind, cls):
    handler = responding(error_body(kind), status, {"content-type": "application/json", "retry-after": "7"})
    with pytest.raises(cls) as caught:
        list(provider(handler).stream_chat(USER))
    error = caught.value
    assert type(error) is cls
    assert (error.status, error.provider_code, error.provider) == (status, kind, "anthropic")
    assert "req_011CSHoEeqs5C35K2UUqR7Fy" in str(error) and KEY not in str(error)
    assert error.retry_after == 7.0


@pytest.mark.parametrize(("status", "cls"), [(529, errors.ProviderUnavailable),
                                             (413, errors.ContextLengthExceeded),
                                             (502, errors.ProviderUnavailable),
                                             (401, errors.AuthenticationError)])
def test_error_without_a_json_body_maps_by_status(status, cls):
    handler = responding(b"<html>bad gateway</html>", status, {"content-type": "text/html"})
    with pytest.raises(cls) as caught:
        provider(handler).chat(USER, ChatOptions(stream=False))
    assert type(caught.value) is cls and caught.value.status == status


def test_rate_limit_headers_ride_on_the_error():
    headers = {"content-type": "application/json", "retry-after": "12",
               "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-tokens-remaining": "1500",
               "anthropic-ratelimit-input-tokens-remaining": "1000"}
    with pytest.raises(errors.RateLimited) as caught:
        list(provider(responding(error_body("rate_limit_error"), 429, headers)).stream_chat(USER))
    info = caught.value.rate_limit
    assert (info.retry_after, info.remaining_requests, info.remaining_tokens, info.remaining_input_tokens) == (
        12.0, 0, 1500, 1000)


@pytest.mark.parametrize(("kind", "cls"), [
    ("overloaded_error", errors.ProviderUnavailable),
    ("rate_limit_error", errors.RateLimited),
    ("api_error", errors.ProviderUnavailable),
    ("invalid_request_error", errors.InvalidRequest),
    ("mystery_error", errors.ProviderUnavailable),  # unknown type mid-stream: a server-side failure
])
def test_mid_stream_error_event_raises_by_type(kind, cls):
    error = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    body = sse(message_start(), *text_block(0, "Par")[:2], error, stop=False)
    seen = []
    with pytest.raises(cls) as caught:
        seen.extend(provider(responding(body)).stream_chat(USER, job_id="job-7"))
    assert type(caught.value) is cls
    assert [e.text for e in seen] == ["Par"]
    assert (caught.value.provider, caught.value.model, caught.value.job_id) == (
        "anthropic", "claude-3-5-haiku-latest", "job-7")


def test_stream_without_message_stop_is_interrupted():
    body = sse(message_start(), *text_block(0, "Par"), message_delta("end_turn"), stop=False)
    with pytest.raises(errors.StreamInterrupted):
        list(provider(responding(body)).stream_chat(USER))


def test_stream_cut_inside_a_tool_block_is_interrupted():
    body = sse(message_start(), *tool_block(0, "toolu_1", "get_weather", '{"city": "Pa')[:2], stop=False)
    with pytest.raises(errors.StreamInterrupted):
        list(provider(responding(body)).stream_chat(USER))


def test_malformed_event_is_interrupted():
    body = HELLO.replace(b'"text": "lo"}', b'"text": "lo"')
    with pytest.raises(errors.StreamInterrupted):
        list(provider(responding(body)).stream_chat(USER))


MESSAGE = {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 20, "output_tokens": 8, "cache_read_input_tokens": 4,
              "cache_creation_input_tokens": 0},
}


def test_non_streaming_message_is_parsed():
    handler = responding(json.dumps(MESSAGE).encode(), 200, {"content-type": "application/json"})
    result = provider(handler).chat(USER, ChatOptions(stream=False, tools=[WEATHER]))
    assert "stream" not in sent(handler)
    assert (result.text, result.finish_reason, result.native_finish_reason) == ("Checking.", "tool_calls", "tool_use")
    assert result.model == "claude-3-5-haiku-20241022"
    assert [(c.id, c.name, c.parsed_arguments()) for c in result.tool_calls] == [
        ("toolu_1", "get_weather", {"city": "Paris"})]
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.cached_input_tokens) == (24, 8, 4)


def test_non_streaming_refusal_without_text_is_content_filtered():
    body = {**MESSAGE, "content": [], "stop_reason": "refusal"}
    handler = responding(json.dumps(body).encode(), 200, {"content-type": "application/json"})
    with pytest.raises(errors.ContentFiltered):
        provider(handler).chat(USER, ChatOptions(stream=False))


def test_model_list_follows_pages():
    pages = {None: {"data": [{"type": "model", "id": "claude-sonnet-4-5"}], "has_more": True,
                    "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"},
             "claude-sonnet-4-5": {"data": [{"type": "model", "id": "claude-new"}], "has_more": False,
                                   "first_id": "claude-new", "last_id": "claude-new"}}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/models" and request.headers["x-api-key"] == KEY
        return httpx.Response(200, json=pages[request.url.params.get("after_id")])
    models = provider(handler).get_models()
    assert [m.id for m in models] == ["claude-sonnet-4-5", "claude-new"]
    assert models[0].max_output_tokens is None and models[1].context_length is None  # the list states no limits
