"""The Gemini protocol against recorded-shape bodies, through httpx.MockTransport.

Chunk and error shapes follow googleapis/python-genai `types.py` and `_api_client.py`, and vercel/ai's
recorded Gemini streams (`data: <json>\\r\\n\\r\\n`, usage on every chunk, finishReason on the last).
"""

from __future__ import annotations

import dataclasses
import json
import logging

import httpx
import pytest

from multillm.common import errors
from multillm.common.providers import create_provider
from multillm.common.providers.catalog import GOOGLE
from multillm.common.providers.gemini import GeminiProvider
from multillm.common.schemas import ChatOptions, ImagePart, Message, TextPart, Tool, ToolCall

KEY = "AIzaSyTest0123456789abcdefghij"
USER = [Message(role="user", content="What is the weather in Paris?")]
WEATHER = Tool(name="get_weather", description="Current weather",
               parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def chunk(*parts: dict, finish: str | None = None, usage: dict | None = None) -> dict:
    candidate: dict = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out: dict = {"candidates": [candidate], "modelVersion": "gemini-2.0-flash"}
    if usage:
        out["usageMetadata"] = usage
    return out


def usage(prompt: int, candidates: int | None = None, **more: int) -> dict:
    data = {"promptTokenCount": prompt, "totalTokenCount": prompt + (candidates or 0), **more}
    if candidates is not None:
        data["candidatesTokenCount"] = candidates
    return data


def sse(*chunks: dict) -> bytes:
    return "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()


def provider(handler):
    return create_provider("google", KEY, client=httpx.Client(transport=httpx.MockTransport(handler)))


def responding(body: bytes, status: int = 200, headers: dict | None = None):
    def handler(request: httpx.Request) -> httpx.Response:
        handler.requests.append(request)
        return httpx.Response(status, content=body, headers={"content-type": "text/event-stream", **(headers or {})})
    handler.requests = []
    return handler


def sent(handler) -> dict:
    return json.loads(handler.requests[-1].content)


HELLO = sse(chunk({"text": "Hel"}, usage=usage(8)), chunk({"text": "lo"}, finish="STOP", usage=usage(8, 2)))


def test_request_maps_contents_system_config_tools_and_results():
    handler = responding(HELLO)
    messages = [
        Message(role="system", content="Answer in French."),
        Message(role="user", content=[TextPart(text="Weather here?"),
                                      ImagePart(url="data:image/png;base64,iVBORw0KGgo="),
                                      ImagePart(url="https://example.com/paris.jpg")]),
        Message(role="assistant", content="Checking.", tool_calls=[
            ToolCall(id="call_0", name="get_weather", arguments='{"city": "Paris"}'),
            ToolCall(id="call_1", name="get_time", arguments="{}")]),
        Message(role="tool", tool_call_id="call_0", content='{"temp": 18}'),
        Message(role="tool", tool_call_id="call_1", content="noon"),
        Message(role="user", content="Thanks"),
    ]
    opts = ChatOptions(model="gemini-2.5-flash", system_prompt="Be brief.", temperature=1.4, top_p=0.9,
                       max_tokens=200, frequency_penalty=0.1, presence_penalty=0.2, stop=["END"], json_mode=True,
                       tools=[WEATHER, Tool(name="get_time")], tool_choice="get_weather")
    list(provider(handler).stream_chat(messages, opts))
    assert sent(handler) == {
        "contents": [
            {"role": "user", "parts": [
                {"text": "Weather here?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"fileUri": "https://example.com/paris.jpg", "mimeType": "image/jpeg"}}]},
            {"role": "model", "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": {"temp": 18}}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "noon"}}}]},
            {"role": "user", "parts": [{"text": "Thanks"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief.\n\nAnswer in French."}]},
        "generationConfig": {"temperature": 1.4, "maxOutputTokens": 200, "topP": 0.9, "frequencyPenalty": 0.1,
                             "presencePenalty": 0.2, "stopSequences": ["END"],
                             "responseMimeType": "application/json"},
        # A parameterless tool is declared without `parameters`: Gemini refuses an empty OBJECT schema.
        "tools": [{"functionDeclarations": [
            {"name": "get_weather", "description": "Current weather", "parameters": WEATHER.parameters},
            {"name": "get_time"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
    }
    request = handler.requests[-1]
    assert str(request.url) == ("https://generativelanguage.googleapis.com/v1beta/models/"
                                "gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert request.headers["x-goog-api-key"] == KEY
    assert "authorization" not in request.headers and KEY not in str(request.url)


def test_minimal_request_has_no_empty_sections():
    handler = responding(HELLO)
    list(provider(handler).stream_chat(USER))
    assert sent(handler) == {"contents": [{"role": "user", "parts": [{"text": USER[0].content}]}]}


@pytest.mark.parametrize(("choice", "mode"), [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")])
def test_tool_choice_keywords(choice, mode):
    handler = responding(HELLO)
    list(provider(handler).stream_chat(USER, ChatOptions(tools=[WEATHER], tool_choice=choice)))
    assert sent(handler)["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_tool_result_without_an_earlier_call_is_refused():
    orphan = [*USER, Message(role="tool", tool_call_id="call_9", content="18C")]
    with pytest.raises(errors.ConfigurationError, match="call_9"):
        list(provider(responding(HELLO)).stream_chat(orphan))


def test_unsupported_parameters_are_dropped_with_a_warning(caplog):
    spec = dataclasses.replace(GOOGLE, unsupported=frozenset({"presence_penalty"}))
    client = httpx.Client(transport=httpx.MockTransport(handler := responding(HELLO)))
    with caplog.at_level(logging.WARNING, "multillm.providers"):
        list(GeminiProvider(spec, KEY, client=client).stream_chat(USER, ChatOptions(presence_penalty=0.5)))
    assert "generationConfig" not in sent(handler) and "does not support presence_penalty" in caplog.text


def test_stream_yields_text_usage_then_finish_skipping_thoughts():
    body = sse(chunk({"text": "Thinking about Paris", "thought": True}, usage=usage(8)),
               chunk({"text": "Bon"}, usage=usage(8, 1, thoughtsTokenCount=30)),
               chunk({"text": "jour"}, finish="STOP",
                     usage=usage(8, 3, thoughtsTokenCount=30, cachedContentTokenCount=4)))
    events = list(provider(responding(body)).stream_chat(USER))
    assert [e.type for e in events] == ["delta", "delta", "usage", "finish"]
    assert "".join(e.text for e in events) == "Bonjour"
    u = events[2].usage
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens, u.cached_input_tokens) == (8, 33, 30, 4)
    assert (events[3].finish_reason, events[3].native_finish_reason) == ("stop", "STOP")


def test_function_calls_become_whole_tool_calls_with_made_up_ids():
    body = sse(chunk({"text": "Let me check. "}, usage=usage(8)),
               chunk({"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                     {"functionCall": {"name": "get_time"}}, finish="STOP", usage=usage(8, 9)))
    events = list(provider(responding(body)).stream_chat(USER, ChatOptions(tools=[WEATHER])))
    calls = [e.tool_call for e in events if e.type == "tool_call"]
    assert [(c.id, c.name, c.parsed_arguments()) for c in calls] == [
        ("call_0", "get_weather", {"city": "Paris"}), ("call_1", "get_time", {})]
    assert events[-1].finish_reason == "tool_calls" and events[-1].native_finish_reason == "STOP"


@pytest.mark.parametrize(("native", "finish"), [
    ("STOP", "stop"), ("OTHER", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
    ("RECITATION", "content_filter"), ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"),
    ("SPII", "content_filter"), ("LANGUAGE", "content_filter"), ("IMAGE_SAFETY", "content_filter"),
    ("MALFORMED_FUNCTION_CALL", "error"), ("SOMETHING_NEW", "stop"),
])
def test_finish_reasons_map(native, finish):
    body = sse(chunk({"text": "x"}, usage=usage(1)), chunk(finish=native, usage=usage(1, 1)))
    event = list(provider(responding(body)).stream_chat(USER))[-1]
    assert (event.finish_reason, event.native_finish_reason) == (finish, native)


def test_max_tokens_may_arrive_without_parts():
    body = sse(chunk({"text": "Par"}), {"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS"}]})
    result = provider(responding(body)).chat(USER)
    assert (result.text, result.finish_reason) == ("Par", "length")


def test_safety_finish_without_text_is_content_filtered():
    body = sse({"candidates": [{"finishReason": "SAFETY", "safetyRatings": [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]}]})
    with pytest.raises(errors.ContentFiltered) as caught:
        list(provider(responding(body)).stream_chat(USER))
    assert caught.value.provider_code == "SAFETY"


def test_blocked_prompt_is_content_filtered():
    body = sse({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage(5)})
    with pytest.raises(errors.ContentFiltered) as caught:
        list(provider(responding(body)).stream_chat(USER))
    assert caught.value.provider_code == "PROHIBITED_CONTENT"


def google_error(code: int, status: str, *details: dict, message: str = "something") -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status,
                                 "details": list(details)}}).encode()


RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}
QUOTA_FAILURE = {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
    {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
     "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}
KEY_INVALID = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
               "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}


@pytest.mark.parametrize(("status", "body", "cls"), [
    (429, google_error(429, "RESOURCE_EXHAUSTED", QUOTA_FAILURE, RETRY_INFO), errors.RateLimited),
    (503, google_error(503, "UNAVAILABLE", message="The model is overloaded."), errors.ProviderUnavailable),
    (500, google_error(500, "INTERNAL"), errors.ProviderUnavailable),
    (504, google_error(504, "DEADLINE_EXCEEDED"), errors.ProviderTimeout),
    (400, google_error(400, "INVALID_ARGUMENT", KEY_INVALID, message="API key not valid."),
     errors.AuthenticationError),
    (401, google_error(401, "UNAUTHENTICATED"), errors.AuthenticationError),
    (403, google_error(403, "PERMISSION_DENIED"), errors.PermissionDenied),
    (400, google_error(400, "FAILED_PRECONDITION"), errors.PermissionDenied),
    (400, google_error(400, "INVALID_ARGUMENT"), errors.InvalidRequest),
    (404, google_error(404, "NOT_FOUND"), errors.InvalidRequest),
    (502, b"<html>Bad Gateway</html>", errors.ProviderUnavailable),
])
def test_error_bodies_map_by_status_name(status, body, cls):
    handler = responding(body, status, {"content-type": "application/json"})
    with pytest.raises(cls) as caught:
        list(provider(handler).stream_chat(USER))
    error = caught.value
    assert type(error) is cls and error.status == status and error.provider == "google"
    assert KEY not in str(error)


def test_resource_exhausted_carries_retry_delay():
    handler = responding(google_error(429, "RESOURCE_EXHAUSTED", QUOTA_FAILURE, RETRY_INFO), 429,
                         {"content-type": "application/json"})
    with pytest.raises(errors.RateLimited) as caught:
        provider(handler).chat(USER, ChatOptions(stream=False))
    assert caught.value.retry_after == pytest.approx(34.4)
    assert caught.value.provider_code == "RESOURCE_EXHAUSTED"


def test_error_wrapped_in_a_list_is_understood():
    body = b"[" + google_error(503, "UNAVAILABLE") + b"]"
    with pytest.raises(errors.ProviderUnavailable):
        list(provider(responding(body, 503, {"content-type": "application/json"})).stream_chat(USER))


@pytest.mark.parametrize(("code", "status", "cls"), [
    (503, "UNAVAILABLE", errors.ProviderUnavailable),
    (429, "RESOURCE_EXHAUSTED", errors.RateLimited),
    (500, "INTERNAL", errors.ProviderUnavailable),
    (400, "INVALID_ARGUMENT", errors.InvalidRequest),
])
def test_mid_stream_error_chunk_raises_via_the_mapper(code, status, cls):
    body = sse(chunk({"text": "Par"}, usage=usage(8))) + b"data: " + google_error(code, status) + b"\r\n\r\n"
    seen = []
    with pytest.raises(cls) as caught:
        seen.extend(provider(responding(body)).stream_chat(USER, job_id="job-3"))
    assert type(caught.value) is cls and [e.text for e in seen] == ["Par"]
    assert (caught.value.status, caught.value.model, caught.value.job_id) == (code, "gemini-2.0-flash", "job-3")


def test_stream_without_finish_reason_is_interrupted():
    body = sse(chunk({"text": "Par"}, usage=usage(8)), chunk({"text": "is"}, usage=usage(8, 2)))
    with pytest.raises(errors.StreamInterrupted):
        list(provider(responding(body)).stream_chat(USER))


def test_stream_cut_mid_chunk_is_interrupted():
    with pytest.raises(errors.StreamInterrupted):
        list(provider(responding(HELLO[:-20])).stream_chat(USER))


def test_non_streaming_response_is_parsed():
    body = chunk({"text": "Checking."}, {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                 finish="STOP", usage=usage(20, 8, cachedContentTokenCount=4))
    handler = responding(json.dumps(body).encode(), 200, {"content-type": "application/json"})
    result = provider(handler).chat(USER, ChatOptions(stream=False, model="gemini-2.5-pro", tools=[WEATHER]))
    assert handler.requests[-1].url.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert not handler.requests[-1].url.params
    assert (result.text, result.finish_reason, result.model) == ("Checking.", "tool_calls", "gemini-2.5-pro")
    assert [(c.id, c.name, c.parsed_arguments()) for c in result.tool_calls] == [
        ("call_0", "get_weather", {"city": "Paris"})]
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.cached_input_tokens) == (20, 8, 4)


def test_model_list_follows_page_tokens_and_drops_the_prefix():
    pages = {None: {"models": [{"name": "models/gemini-2.0-flash", "inputTokenLimit": 1048576}],
                    "nextPageToken": "p2"},
             "p2": {"models": [{"name": "models/gemini-new"}]}}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1beta/models" and request.headers["x-goog-api-key"] == KEY
        return httpx.Response(200, json=pages[request.url.params.get("pageToken")])
    models = provider(handler).get_models()
    assert [m.id for m in models] == ["gemini-2.0-flash", "gemini-new"]
    assert models[0].context_length == 1_048_576
