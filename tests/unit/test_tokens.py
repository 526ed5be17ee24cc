"""Counting input tokens before the call: encodings, the providers' count endpoints, the estimate."""

from __future__ import annotations

import json

import httpx
import pytest

from multillm.common.providers import create_provider
from multillm.common.schemas import ChatOptions, Message
from multillm.common.tokens import ESTIMATE, chat_tokens, count_tokens, openai_encoding

HELLO = [Message(role="user", content="Hello there, how are you today?")]


@pytest.mark.parametrize(("provider", "model", "encoding"), [
    ("openai", "gpt-4o-mini", "o200k_base"), ("openai", "gpt-5", "o200k_base"), ("openai", "o3-mini", "o200k_base"),
    ("openai", "gpt-4", "cl100k_base"), ("openai", "gpt-3.5-turbo", "cl100k_base"),
    ("github", "openai/gpt-4.1", "o200k_base"), ("openrouter", "openai/gpt-5", "o200k_base"),
    ("github", "meta/Llama-3.3-70B-Instruct", None), ("grok", "grok-4", None), ("llama", "gemma", None)])
def test_openai_family_models_get_their_encoding(provider, model, encoding):
    assert openai_encoding(provider, model) == encoding


def test_openai_chat_accounting_counts_messages_names_and_the_reply_priming():
    # "Hello there, how are you today?" is 8 o200k tokens; "user" 1; 3 per message; 3 priming the reply.
    assert chat_tokens(HELLO, ChatOptions()) == 8 + 1 + 3 + 3
    named = [Message(role="user", content="Hello there, how are you today?", name="ann")]
    assert chat_tokens(named, ChatOptions()) == 15 + 1 + 1
    assert chat_tokens(HELLO, ChatOptions(system_prompt="Be brief.")) == 15 + 3 + 1 + 3


def test_exact_for_openai_models_an_estimate_for_others():
    assert count_tokens("openai", "gpt-5", HELLO).method == "o200k_base"
    other = count_tokens("grok", "grok-4", HELLO)
    assert other.method == ESTIMATE and not other.exact and other.tokens == 15


def test_anthropic_count_endpoint_is_asked_with_the_request_body():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, json.loads(request.content)))
        return httpx.Response(200, json={"input_tokens": 42})
    client = create_provider("anthropic", "sk-ant-" + "a" * 24, base_url="https://api.example.test",
                             client=httpx.Client(transport=httpx.MockTransport(handler)))
    counted = count_tokens("anthropic", "claude-haiku-4-5", HELLO, ChatOptions(system_prompt="Be brief."), client)
    assert (counted.tokens, counted.method) == (42, "anthropic count endpoint")
    path, body = seen[0]
    assert path == "/v1/messages/count_tokens" and body["model"] == "claude-haiku-4-5" and body["system"] == "Be brief."
    assert "max_tokens" not in body and "stream" not in body


def test_gemini_count_endpoint_gets_the_whole_request():
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.url.path.endswith("/models/gemma-3-27b-it:countTokens")
        assert body["generateContentRequest"]["model"] == "models/gemma-3-27b-it"
        return httpx.Response(200, json={"totalTokens": 7})
    client = create_provider("google", "A" * 39, base_url="https://api.example.test/v1beta",
                             client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert count_tokens("google", "gemma-3-27b-it", HELLO, None, client).tokens == 7


def test_a_refused_count_endpoint_falls_back_to_the_estimate():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"type": "error", "error": {"type": "permission_error", "message": "no"}})
    client = create_provider("anthropic", "sk-ant-" + "a" * 24, base_url="https://api.example.test",
                             client=httpx.Client(transport=httpx.MockTransport(handler)))
    counted = count_tokens("anthropic", "claude-sonnet-4-5", HELLO, None, client)
    assert counted.method == ESTIMATE and counted.tokens == 15


def test_the_chars_over_4_estimate_was_about_a_third_short_on_the_sample_dataset():
    from multillm.producers.bench.token_estimate import bench_token_estimate

    figures = bench_token_estimate()  # BENCHMARKS.md, "Counting tokens before the call"
    assert (figures["prompts"], figures["o200k_tokens"], figures["chars_over_4_tokens"]) == (12, 222, 143)
    assert round(figures["total_error_pct"]) == -36 and round(figures["worst_error_pct"]) == -43
