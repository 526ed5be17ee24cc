"""The simulator's JSON mode through the providers' own SDKs (openai's `response_format` parse path,
google-genai's `response_schema`) and through multillm's providers on all three protocols."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Literal

import httpx
import openai
import pytest
from google import genai
from google.genai import types as genai_types
from pydantic import BaseModel

from multillm.common.providers import create_provider
from multillm.common.schemas import ChatOptions, Message
from multillm.producers.simulator import SimulatorConfig, SimulatorServer, count_tokens

pytestmark = pytest.mark.integration


class Verdict(BaseModel):
    verdict: Literal["pass", "fail"]
    reason: str


class Grades(BaseModel):
    grades: list[Verdict]
    overall: float


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(host="127.0.0.1", port=0, config=SimulatorConfig(ttft_ms=0, tokens_per_second=0)) as server:
        yield server


def oai(sim: SimulatorServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_urls()["openai"], api_key="sdk-key", max_retries=0)


@pytest.mark.parametrize("shape", [Verdict, Grades])
def test_openai_sdk_parses_the_structured_answer(sim, shape):
    messages = [{"role": "user", "content": "Grade: Paris / Paris"}]
    whole = oai(sim).chat.completions.parse(model="gpt-4o-mini", messages=messages, response_format=shape)
    parsed = whole.choices[0].message.parsed
    assert isinstance(parsed, shape) and whole.choices[0].finish_reason == "stop"
    assert whole.usage.completion_tokens == count_tokens(whole.choices[0].message.content)
    with oai(sim).chat.completions.stream(model="gpt-4o-mini", messages=messages, response_format=shape) as stream:
        streamed = stream.get_final_completion()
    assert streamed.choices[0].message.parsed == parsed  # the same request, the same JSON


def test_openai_sdk_json_object_needs_the_word_json(sim):
    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        oai(sim).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
                                         response_format={"type": "json_object"})
    reply = oai(sim).chat.completions.create(model="gpt-4o-mini", response_format={"type": "json_object"},
                                             messages=[{"role": "user", "content": "Hi, in JSON"}])
    assert isinstance(json.loads(reply.choices[0].message.content), dict)


def test_google_sdk_parses_the_structured_answer(sim):
    options = genai_types.HttpOptions(base_url=sim.url + "/google", api_version="v1beta")
    client = genai.Client(api_key="sdk-key", http_options=options)
    config = genai_types.GenerateContentConfig(response_mime_type="application/json", response_schema=Verdict)
    whole = client.models.generate_content(model="gemini-2.0-flash", contents="Grade: Paris / Paris", config=config)
    assert isinstance(whole.parsed, Verdict)
    streamed = "".join(c.text or "" for c in client.models.generate_content_stream(
        model="gemini-2.0-flash", contents="Grade: Paris / Paris", config=config))
    assert Verdict.model_validate_json(streamed) == whole.parsed


@pytest.mark.parametrize("provider", ["openai", "grok", "anthropic", "google"])
@pytest.mark.parametrize("stream", [True, False])
def test_multillm_providers_get_schema_shaped_text(sim, provider, stream):
    client = create_provider(provider, "sim-key", base_url=sim.base_urls()[provider], client=httpx.Client(timeout=10))
    options = ChatOptions(response_schema=Verdict.model_json_schema() | {"additionalProperties": False},
                          max_tokens=200, stream=stream)
    result = client.chat([Message(role="user", content="Grade: Paris / Paris")], options)
    assert isinstance(Verdict.model_validate_json(result.text), Verdict) and result.finish_reason == "stop"
    assert result.tool_calls == []
