"""The simulator's fidelity: the providers' own SDKs parse everything it sends."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from multillm.common.simulator import SimulatorConfig, SimulatorServer

OPENAI_COMPATIBLE = {"openai": "gpt-4o-mini", "openrouter": "openai/gpt-4o-mini",
                     "llama": "meta-llama/Llama-3.1-8B-Instruct", "grok": "grok-3-mini", "github": "openai/gpt-4.1-mini"}
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config=SimulatorConfig(ttft_ms=0, tokens_per_second=0)) as server:
        yield server


def oai(sim: SimulatorServer, provider: str) -> openai.OpenAI:
    base = sim.base_urls()[provider]
    if provider == "github":
        base += "/inference"
    return openai.OpenAI(base_url=base, api_key="sdk-key", max_retries=0)


@pytest.mark.parametrize("provider", list(OPENAI_COMPATIBLE))
def test_openai_sdk_streams_the_same_text_as_it_completes(sim, provider):
    client, model = oai(sim, provider), OPENAI_COMPATIBLE[provider]
    messages = [{"role": "user", "content": "Tell me about rivers"}]
    whole = client.chat.completions.create(model=model, messages=messages, max_tokens=20)
    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=20, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content and text
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens == 20
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason


@pytest.mark.parametrize("provider", ["openai", "openrouter"])
def test_openai_sdk_assembles_streamed_tool_calls(sim, provider):
    client = oai(sim, provider)
    with client.chat.completions.stream(model=OPENAI_COMPATIBLE[provider], tools=[WEATHER_TOOL],
                                        messages=[{"role": "user", "content": "What is the weather in Paris?"}]) as s:
        final = s.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert final.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert '"city"' in call.function.arguments


@pytest.mark.parametrize(("fault", "cls"), [
    ("401", openai.AuthenticationError), ("403", openai.PermissionDeniedError), ("400", openai.BadRequestError),
    ("429", openai.RateLimitError), ("500", openai.InternalServerError), ("503", openai.InternalServerError),
])
def test_openai_sdk_maps_each_simulated_error(sim, fault, cls):
    with pytest.raises(cls):
        oai(sim, "openai").chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                                   extra_headers={"x-simulator-fault": fault})


def test_openai_sdk_raises_on_a_mid_stream_error(sim):
    stream = oai(sim, "openai").chat.completions.create(
        model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "x"}],
        extra_headers={"x-simulator-fault": "midstream_error"})
    with pytest.raises(openai.APIError):
        list(stream)


def test_openai_sdk_reads_model_lists(sim):
    assert "gpt-4o" in [m.id for m in oai(sim, "openai").models.list()]


def ant(sim: SimulatorServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_urls()["anthropic"], api_key="sdk-key", max_retries=0)


def test_anthropic_sdk_stream_helper_matches_the_message(sim):
    client = ant(sim)
    kwargs = {"model": "claude-3-5-haiku-latest", "max_tokens": 20, "messages": [{"role": "user", "content": "Rivers"}]}
    whole = client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == whole.content[0].text == final.content[0].text
    assert final.usage.output_tokens == whole.usage.output_tokens == 20 and final.stop_reason == "max_tokens"


def test_anthropic_sdk_assembles_tool_use(sim):
    tool = {"name": "get_weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}
    with ant(sim).messages.stream(model="claude-3-5-haiku-latest", max_tokens=100, tools=[tool],
                                  messages=[{"role": "user", "content": "Weather in Paris?"}]) as stream:
        final = stream.get_final_message()
    block = final.content[0]
    assert final.stop_reason == "tool_use" and block.type == "tool_use" and block.input == {"city": "Paris"}


@pytest.mark.parametrize(("fault", "cls"), [
    ("401", anthropic.AuthenticationError), ("429", anthropic.RateLimitError), ("400", anthropic.BadRequestError),
    ("529", anthropic.InternalServerError), ("500", anthropic.InternalServerError),
])
def test_anthropic_sdk_maps_each_simulated_error(sim, fault, cls):
    with pytest.raises(cls):
        ant(sim).messages.create(model="claude-3-5-haiku-latest", max_tokens=5, messages=[{"role": "user", "content": "x"}],
                                 extra_headers={"x-simulator-fault": fault})


def test_anthropic_sdk_raises_on_an_error_event(sim):
    with pytest.raises(anthropic.APIStatusError), ant(sim).messages.stream(
        model="claude-3-5-haiku-latest", max_tokens=20, messages=[{"role": "user", "content": "x"}],
        extra_headers={"x-simulator-fault": "midstream_error"}) as stream:
        list(stream.text_stream)


def test_anthropic_sdk_reads_model_lists(sim):
    assert "claude-sonnet-4-5" in [m.id for m in ant(sim).models.list()]


def gem(sim: SimulatorServer) -> genai.Client:
    options = genai_types.HttpOptions(base_url=sim.url + "/google", api_version="v1beta")
    return genai.Client(api_key="sdk-key", http_options=options)


def test_genai_sdk_streams_the_same_text_as_it_generates(sim):
    client = gem(sim)
    config = genai_types.GenerateContentConfig(max_output_tokens=20)
    whole = client.models.generate_content(model="gemini-2.0-flash", contents="Rivers", config=config)
    chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents="Rivers", config=config))
    assert "".join(c.text or "" for c in chunks) == whole.text
    assert chunks[-1].usage_metadata.candidates_token_count == whole.usage_metadata.candidates_token_count == 20
    assert chunks[-1].candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS


def test_genai_sdk_reads_function_calls_and_safety(sim):
    client = gem(sim)
    tool = genai_types.Tool(function_declarations=[genai_types.FunctionDeclaration(
        name="get_weather", parameters=genai_types.Schema(type="OBJECT", properties={"city": genai_types.Schema(type="STRING")},
                                                          required=["city"]))])
    reply = client.models.generate_content(model="gemini-2.0-flash", contents="Weather in Paris?",
                                           config=genai_types.GenerateContentConfig(tools=[tool]))
    assert reply.function_calls[0].name == "get_weather" and reply.function_calls[0].args == {"city": "Paris"}
    blocked = client.models.generate_content(model="gemini-2.0-flash", contents="[[fault:content_filter]]")
    assert blocked.candidates[0].finish_reason == genai_types.FinishReason.SAFETY


@pytest.mark.parametrize(("fault", "cls", "code"), [
    ("429", genai_errors.ClientError, 429), ("400", genai_errors.ClientError, 400),
    ("503", genai_errors.ServerError, 503), ("500", genai_errors.ServerError, 500),
])
def test_genai_sdk_maps_each_simulated_error(sim, fault, cls, code):
    client = gem(sim)  # keep a reference: a collected Client closes its connection pool
    with pytest.raises(cls) as caught:
        client.models.generate_content(model="gemini-2.0-flash", contents=f"[[fault:{fault}]]")
    assert caught.value.code == code


def test_genai_sdk_reads_model_lists(sim):
    client = gem(sim)
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-pro" in names
