"""The OpenAI-compatible protocol against recorded-shape bodies, through httpx.MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest

from multillm.common import errors
from multillm.common.providers import create_provider
from multillm.common.schemas import ChatOptions, Message, Tool

USER = [Message(role="user", content="What is the weather in Paris?")]


def sse(*chunks: object, done: bool = True) -> bytes:
    body = "".join(f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks)
    return (body + ("data: [DONE]\n\n" if done else "")).encode()


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


USAGE = {"id": "c1", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3,
                                               "prompt_tokens_details": {"cached_tokens": 2}}}


def provider(handler, provider_id: str = "openai"):
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return create_provider(provider_id, "sk-test-0123456789abcdef", client=client)


def streaming(body: bytes, status: int = 200, headers: dict | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        handler.request = request
        return httpx.Response(status, content=body, headers={"content-type": "text/event-stream", **(headers or {})})
    return handler


def test_request_maps_every_common_option():
    handler = streaming(sse(chunk({"content": "hi"}, "stop")))
    opts = ChatOptions(model="gpt-4o", temperature=0.2, max_tokens=50, top_p=0.9, frequency_penalty=0.1,
                       presence_penalty=0.3, stop=["END"], system_prompt="Be brief.", json_mode=True)
    list(provider(handler).stream_chat(USER, opts))
    sent = json.loads(handler.request.content)
    assert sent == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": USER[0].content}],
        "temperature": 0.2, "top_p": 0.9, "frequency_penalty": 0.1, "presence_penalty": 0.3, "stop": ["END"],
        "max_tokens": 50, "response_format": {"type": "json_object"},
        "stream": True, "stream_options": {"include_usage": True},
    }
    assert handler.request.headers["authorization"] == "Bearer sk-test-0123456789abcdef"


def test_reasoning_models_get_max_completion_tokens_and_lose_sampling_params(caplog):
    handler = streaming(sse(chunk({"content": "ok"}, "stop")))
    list(provider(handler).stream_chat(USER, ChatOptions(model="o3-mini", max_tokens=10, temperature=1.0)))
    sent = json.loads(handler.request.content)
    assert sent["max_completion_tokens"] == 10 and "max_tokens" not in sent and "temperature" not in sent
    assert "does not support temperature" in caplog.text


def test_stream_yields_text_usage_then_finish():
    handler = streaming(sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
                            chunk({"content": "lo"}), chunk({}, "stop"), USAGE))
    events = list(provider(handler).stream_chat(USER))
    assert [e.type for e in events] == ["delta", "delta", "usage", "finish"]
    assert "".join(e.text for e in events) == "Hello"
    assert events[2].usage.input_tokens == 7 and events[2].usage.cached_input_tokens == 2
    assert events[3].finish_reason == "stop"


def test_tool_call_fragments_are_assembled_into_whole_calls():
    first = {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                             "function": {"name": "get_weather", "arguments": ""}}]}
    parts = [{"tool_calls": [{"index": 0, "function": {"arguments": piece}}]} for piece in ('{"ci', 'ty": "Pa', 'ris"}')]
    handler = streaming(sse(chunk(first), *[chunk(p) for p in parts], chunk({}, "tool_calls")))
    tools = [Tool(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}}})]
    result = provider(handler).chat(USER, ChatOptions(tools=tools, tool_choice="get_weather"))
    assert result.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.parsed_arguments()) for c in result.tool_calls] == [("call_1", "get_weather", {"city": "Paris"})]
    sent = json.loads(handler.request.content)
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_openrouter_keepalive_comments_are_ignored():
    body = b": OPENROUTER PROCESSING\n\n" + sse(chunk({"content": "ok"}, "stop"))
    assert provider(streaming(body), "openrouter").chat(USER).text == "ok"


@pytest.mark.parametrize(("status", "body", "cls"), [
    (401, {"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}},
     errors.AuthenticationError),
    (403, {"error": {"message": "no", "type": "permission_error"}}, errors.PermissionDenied),
    (400, {"error": {"message": "too long", "code": "context_length_exceeded"}}, errors.ContextLengthExceeded),
    (400, {"error": {"message": "bad", "type": "invalid_request_error"}}, errors.InvalidRequest),
    (429, {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}, errors.RateLimited),
    (429, {"error": {"message": "no money", "type": "insufficient_quota", "code": "insufficient_quota"}},
     errors.PermissionDenied),
    (500, {"error": {"message": "oops", "type": "server_error"}}, errors.ProviderUnavailable),
    (503, {"error": {"code": 503, "message": "no provider"}}, errors.ProviderUnavailable),  # OpenRouter
    (402, {"error": {"code": 402, "message": "credits"}}, errors.PermissionDenied),  # OpenRouter
    (400, {"code": "Client specified an invalid argument", "error": "bad"}, errors.InvalidRequest),  # xAI
    (401, {"error": "Invalid username or password."}, errors.AuthenticationError),  # Hugging Face router
])
def test_error_shapes_map_to_the_error_tree(status, body, cls):
    handler = streaming(json.dumps(body).encode(), status, {"content-type": "application/json", "retry-after": "3"})
    with pytest.raises(cls) as caught:
        list(provider(handler).stream_chat(USER))
    assert type(caught.value) is cls
    assert caught.value.status == status and caught.value.provider == "openai"
    assert "sk-test" not in str(caught.value)
    if cls is errors.RateLimited:
        assert caught.value.retry_after == 3.0


def test_rate_limit_headers_ride_on_the_error():
    headers = {"content-type": "application/json", "x-ratelimit-remaining-requests": "0",
               "x-ratelimit-reset-requests": "1m30s", "retry-after-ms": "1500"}
    handler = streaming(b'{"error":{"message":"x","code":"rate_limit_exceeded"}}', 429, headers)
    with pytest.raises(errors.RateLimited) as caught:
        list(provider(handler).stream_chat(USER))
    info = caught.value.rate_limit
    assert (info.remaining_requests, info.reset_requests, info.retry_after) == (0, 90.0, 1.5)


def test_openrouter_mid_stream_error_uses_its_code():
    body = sse(chunk({"content": "par"}), {"error": {"code": 502, "message": "upstream died"}}, done=False)
    with pytest.raises(errors.ProviderUnavailable):
        list(provider(streaming(body), "openrouter").stream_chat(USER))


def test_stream_cut_before_finish_is_interrupted():
    with pytest.raises(errors.StreamInterrupted):
        list(provider(streaming(sse(chunk({"content": "par"}), done=False))).stream_chat(USER))


def test_malformed_chunk_is_interrupted():
    with pytest.raises(errors.StreamInterrupted):
        list(provider(streaming(sse("{not json", chunk({}, "stop")))).stream_chat(USER))


def test_content_filter_without_text_is_an_error():
    with pytest.raises(errors.ContentFiltered):
        list(provider(streaming(sse(chunk({}, "content_filter")))).stream_chat(USER))


def test_non_streaming_completion():
    body = {"id": "x", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    handler = streaming(json.dumps(body).encode(), 200, {"content-type": "application/json"})
    result = provider(handler).chat(USER, ChatOptions(stream=False))
    assert (result.text, result.finish_reason, result.usage.output_tokens) == ("Hi", "length", 1)
    assert "stream" not in json.loads(handler.request.content)


def test_github_models_list_is_a_bare_array():
    def handler(request):
        assert request.url.path == "/catalog/models"
        return httpx.Response(200, json=[{"id": "openai/gpt-4.1", "publisher": "OpenAI",
                                          "limits": {"max_input_tokens": 1_047_576, "max_output_tokens": 32_768}}])
    models = provider(handler, "github").get_models()
    assert [m.id for m in models] == ["openai/gpt-4.1"] and models[0].context_length == 1_047_576
    assert models[0].max_output_tokens == 32_768 and models[0].input_price is None
