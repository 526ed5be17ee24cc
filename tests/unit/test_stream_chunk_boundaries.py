"""Where the network splits a stream must not change what the stream means.

For each of the three wire protocols a recorded-shape SSE body is delivered in pieces cut at
hypothesis-chosen byte offsets (inside `\\r\\n`, inside a multi-byte UTF-8 character, inside a
keep-alive comment, inside JSON) and must yield exactly the events of the body delivered whole.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multillm.common.providers import create_provider
from multillm.common.schemas import ChatOptions, Message, Tool

USER = [Message(role="user", content="Météo à Paris ?")]
TOOLS = ChatOptions(tools=[Tool(name="get_weather", parameters={"type": "object",
                                                              "properties": {"city": {"type": "string"}}})])
UNICODE = "Héllo wörld — 日本語 🌍🇫🇷 ok"  # 2-, 3- and 4-byte characters, and a flag of two code points


class PiecesStream(httpx.SyncByteStream):
    """A response body delivered exactly in the given pieces, as a socket might."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(points) if b > a]


def events(provider_id: str, key: str, pieces: list[bytes], options: ChatOptions) -> list[dict]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=PiecesStream(pieces))
    client = httpx.Client(transport=httpx.MockTransport(handler))
    provider = create_provider(provider_id, key, client=client)
    return [e.model_dump() for e in provider.stream_chat(USER, options)]


def openai_body() -> bytes:
    def data(delta: dict, finish: str | None = None) -> str:
        chunk = {"id": "gen-1", "object": "chat.completion.chunk", "provider": "OpenAI",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    usage = {"id": "gen-1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 12, "cost": 0.1}}
    return "".join([
        ": OPENROUTER PROCESSING\n\n",
        data({"role": "assistant", "content": ""}),
        ": OPENROUTER PROCESSING\n\n",
        *[data({"content": piece}) for piece in (UNICODE[:7], UNICODE[7:18], UNICODE[18:])],
        data({"tool_calls": [call]}),
        data({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}),
        data({"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]}),
        data({}, "tool_calls"),
        f"data: {json.dumps(usage)}\n\n",
        "data: [DONE]\n\n",
    ]).encode()


def anthropic_body() -> bytes:
    def event(data: dict) -> str:
        return f"event: {data['type']}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    def delta(index: int, delta: dict) -> str:
        return event({"type": "content_block_delta", "index": index, "delta": delta})
    return "".join([
        event({"type": "message_start", "message": {"id": "msg_1", "role": "assistant", "content": [],
                                                    "usage": {"input_tokens": 9, "output_tokens": 1}}}),
        event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        event({"type": "ping"}),
        *[delta(0, {"type": "text_delta", "text": piece}) for piece in (UNICODE[:5], UNICODE[5:20], UNICODE[20:])],
        event({"type": "content_block_stop", "index": 0}),
        event({"type": "content_block_start", "index": 1,
               "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"city": "Pa'}),
        delta(1, {"type": "input_json_delta", "partial_json": 'ris"}'}),
        event({"type": "content_block_stop", "index": 1}),
        event({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}}),
        event({"type": "message_stop"}),
    ]).encode()


def gemini_body() -> bytes:
    def data(parts: list[dict], finish: str | None = None, output: int = 0) -> str:
        candidate: dict = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        chunk = {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": output}}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\r\n\r\n"
    return "".join([
        data([{"text": "Je réfléchis…", "thought": True}]),
        data([{"text": UNICODE[:9]}], output=3),
        data([{"text": UNICODE[9:]}], output=8),
        data([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}], "STOP", 12),
    ]).encode()


CASES = {
    "openai": ("openrouter", "sk-or-test-0123456789abcdef", openai_body()),
    "anthropic": ("anthropic", "sk-ant-test-0123456789abcdef", anthropic_body()),
    "gemini": ("google", "AIzaSyTest0123456789abcdefghij", gemini_body()),
}
WHOLE = {name: events(pid, key, [body], TOOLS) for name, (pid, key, body) in CASES.items()}


def test_whole_bodies_are_what_the_property_compares_against():
    for name, expected in WHOLE.items():
        text = "".join(e["text"] for e in expected if e["type"] == "delta")
        assert text == UNICODE, name
        calls = [e["tool_call"] for e in expected if e["type"] == "tool_call"]
        assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Paris"})]
        assert expected[-1]["finish_reason"] == "tool_calls"


def test_bodies_contain_the_awkward_bytes():
    assert b"\r\n" in CASES["gemini"][2] and b": OPENROUTER PROCESSING" in CASES["openai"][2]
    assert all("🌍".encode() in body for _, _, body in CASES.values())


def cuts_for(body: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(min_value=1, max_value=len(body) - 1), max_size=40)


def property_for(name: str):
    provider_id, key, body = CASES[name]

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(cuts=cuts_for(body))
    def check(cuts: list[int]) -> None:
        assert events(provider_id, key, split(body, cuts), TOOLS) == WHOLE[name]
    return check


test_openai_compat_split_anywhere_yields_the_same_events = property_for("openai")
test_anthropic_split_anywhere_yields_the_same_events = property_for("anthropic")
test_gemini_split_anywhere_yields_the_same_events = property_for("gemini")


def test_every_single_byte_cut_yields_the_same_events():
    """The exhaustive one-cut case, so inside-`\\r\\n` and inside-a-character cuts are always tried."""
    for name, (provider_id, key, body) in CASES.items():
        for cut in range(1, len(body)):
            assert events(provider_id, key, split(body, [cut]), TOOLS) == WHOLE[name], (name, cut)


def test_byte_at_a_time_yields_the_same_events():
    for name, (provider_id, key, body) in CASES.items():
        assert events(provider_id, key, [body[i:i + 1] for i in range(len(body))], TOOLS) == WHOLE[name], name
