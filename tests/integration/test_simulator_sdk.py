"""The simulator's fidelity: the providers' own SDKs (openai, anthropic, google-genai) parse
everything it sends: text, usage, finish reasons, tool calls, errors, mid-stream failures, model lists."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from multillm.producers.simulator import SimulatorConfig, SimulatorServer, count_tokens
from multillm.producers.simulator.text import openai_prompt_tokens

pytestmark = pytest.mark.integration

OPENAI_COMPATIBLE = {"openai": "gpt-4o-mini", "openrouter": "openai/gpt-4o-mini",
                     "llama": "meta-llama/Llama-3.1-8B-Instruct", "grok": "grok-3-mini", "github": "openai/gpt-4.1-mini"}
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                 "parameters": WEATHER_SCHEMA}}
CLAUDE = "claude-3-5-haiku-latest"
GEMINI = "gemini-2.0-flash"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(host="127.0.0.1", port=0, config=SimulatorConfig(ttft_ms=0, tokens_per_second=0)) as server:
        yield server


def oai(sim: SimulatorServer, provider: str, key: str = "sdk-key") -> openai.OpenAI:
    base = sim.base_urls()[provider] + ("/inference" if provider == "github" else "")
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# ---- OpenAI SDK: OpenAI, OpenRouter, Hugging Face, xAI, GitHub ---------------------------------------
@pytest.mark.parametrize("provider", list(OPENAI_COMPATIBLE))
@pytest.mark.parametrize(("max_tokens", "finish"), [(20, "length"), (None, "stop")])
def test_openai_sdk_streams_the_same_text_usage_and_finish_as_it_completes(sim, provider, max_tokens, finish):
    client, model = oai(sim, provider), OPENAI_COMPATIBLE[provider]
    limit = {} if max_tokens is None else {"max_tokens": max_tokens}
    whole = client.chat.completions.create(model=model, messages=ask("Tell me about rivers"), **limit)
    chunks = list(client.chat.completions.create(model=model, messages=ask("Tell me about rivers"), stream=True,
                                                 stream_options={"include_usage": True}, **limit))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert whole.usage.completion_tokens == count_tokens(text) == (max_tokens or 32)
    # OpenAI's own count: o200k_base with the chat's overhead (bpe-openai; openai-cookbook)
    assert whole.usage.prompt_tokens == openai_prompt_tokens([{"role": "user", "content": "Tell me about rivers"}]) == 11
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason == finish


def test_openai_sdk_sees_no_usage_chunk_unless_asked(sim):
    chunks = list(oai(sim, "openai").chat.completions.create(model="gpt-4o", messages=ask("hi"), stream=True))
    assert all(c.choices and c.usage is None for c in chunks)


@pytest.mark.parametrize("provider", list(OPENAI_COMPATIBLE))
def test_openai_sdk_assembles_streamed_tool_calls(sim, provider):
    client, model = oai(sim, provider), OPENAI_COMPATIBLE[provider]
    with client.chat.completions.stream(model=model, tools=[WEATHER_TOOL], messages=ask("What is the weather in Paris?")) as s:
        final = s.get_final_completion()
    whole = client.chat.completions.create(model=model, tools=[WEATHER_TOOL], messages=ask("What is the weather in Paris?"))
    for choice in (final.choices[0], whole.choices[0]):
        call = choice.message.tool_calls[0]
        assert choice.finish_reason == "tool_calls" and call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris"} and call.id.startswith("call_")


def test_openai_sdk_forced_tool_choice_and_tool_results(sim):
    client = oai(sim, "openai")
    forced = client.chat.completions.create(model="gpt-4o", messages=ask("hello"), tools=[WEATHER_TOOL],
                                            tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = forced.choices[0].message.tool_calls[0]
    after = client.chat.completions.create(model="gpt-4o", tools=[WEATHER_TOOL], messages=[
        *ask("weather in Paris?"), forced.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
    assert after.choices[0].finish_reason == "stop" and after.choices[0].message.content


def test_grok_mini_streams_its_reasoning_before_the_answer(sim):
    client = oai(sim, "grok")
    chunks = list(client.chat.completions.create(model="grok-3-mini", messages=ask("why"), stream=True,
                                                 stream_options={"include_usage": True}))
    thoughts = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    whole = client.chat.completions.create(model="grok-3-mini", messages=ask("why"))
    assert thoughts and thoughts == whole.choices[0].message.reasoning_content
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == count_tokens(thoughts)


def test_openrouter_extras_reach_the_sdk(sim):
    chunks = list(oai(sim, "openrouter").chat.completions.create(
        model="openai/gpt-4o-mini", messages=ask("hi"), stream=True, extra_body={"usage": {"include": True}}))
    last_choice = [c for c in chunks if c.choices][-1]
    assert last_choice.provider == "Simulator" and last_choice.choices[0].native_finish_reason == "stop"
    assert chunks[-1].usage.cost > 0


@pytest.mark.parametrize("provider", list(OPENAI_COMPATIBLE))
@pytest.mark.parametrize(("fault", "cls"), [
    ("401", openai.AuthenticationError), ("403", openai.PermissionDeniedError), ("400", openai.BadRequestError),
    ("429", openai.RateLimitError), ("500", openai.InternalServerError), ("502", openai.InternalServerError),
    ("503", openai.InternalServerError), ("529", openai.InternalServerError), ("context", openai.BadRequestError),
])
def test_openai_sdk_maps_each_simulated_error(sim, provider, fault, cls):
    with pytest.raises(cls) as caught:
        oai(sim, provider).chat.completions.create(model=OPENAI_COMPATIBLE[provider], messages=ask("x"),
                                                   extra_headers={"x-simulator-fault": fault})
    if fault == "429":
        assert float(caught.value.response.headers["retry-after"]) >= 1
        assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    if fault == "context" and provider == "openai":
        assert caught.value.code == "context_length_exceeded"


@pytest.mark.parametrize("provider", list(OPENAI_COMPATIBLE))
def test_openai_sdk_refuses_a_bad_key_and_an_unknown_model(sim, provider):
    with pytest.raises(openai.AuthenticationError):
        oai(sim, provider, key="invalid-key").chat.completions.create(model=OPENAI_COMPATIBLE[provider], messages=ask("x"))
    with pytest.raises((openai.NotFoundError, openai.BadRequestError)):  # OpenRouter and GitHub answer 400
        oai(sim, provider).chat.completions.create(model="no-such-model", messages=ask("x"))


@pytest.mark.parametrize("provider", list(OPENAI_COMPATIBLE))
def test_openai_sdk_raises_on_a_mid_stream_error(sim, provider):
    stream = oai(sim, provider).chat.completions.create(
        model=OPENAI_COMPATIBLE[provider], stream=True, messages=ask("x"),
        extra_headers={"x-simulator-fault": "midstream_error"})
    with pytest.raises(openai.APIError):
        list(stream)


def test_openai_sdk_on_broken_streams(sim):
    client = oai(sim, "openai")
    with pytest.raises(openai.APIConnectionError):
        list(client.chat.completions.create(model="gpt-4o", stream=True, messages=ask("[[fault:drop]]")))
    with pytest.raises(json.JSONDecodeError):  # the SDK lets the decoder's error through
        list(client.chat.completions.create(model="gpt-4o", stream=True, messages=ask("[[fault:malformed]]")))
    filtered = list(client.chat.completions.create(model="gpt-4o", stream=True, messages=ask("[[fault:content_filter]]")))
    assert filtered[-1].choices[0].finish_reason == "content_filter"
    assert not "".join(c.choices[0].delta.content or "" for c in filtered)


@pytest.mark.parametrize("provider", ["openai", "openrouter", "llama", "grok"])
def test_openai_sdk_reads_model_lists(sim, provider):
    from multillm.producers.simulator.providers import PROVIDERS as SPECS  # the simulator's own lists

    assert [m.id for m in oai(sim, provider).models.list()] == [m.id for m in SPECS[provider].models]


def test_github_catalog_is_a_bare_array(sim):
    response = httpx.get(sim.base_urls()["github"] + "/catalog/models", headers={"authorization": "Bearer k"})
    assert isinstance(response.json(), list) and response.json()[0]["id"] == "openai/gpt-4.1-mini"


# ---- Anthropic SDK ---------------------------------------------------------------------------------
def ant(sim: SimulatorServer, key: str = "sdk-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_urls()["anthropic"], api_key=key, max_retries=0)


@pytest.mark.parametrize(("max_tokens", "stop"), [(20, "max_tokens"), (100, "end_turn")])
def test_anthropic_sdk_stream_helper_matches_the_message(sim, max_tokens, stop):
    client = ant(sim)
    kwargs = {"model": CLAUDE, "max_tokens": max_tokens, "messages": ask("Rivers"), "system": "Be brief."}
    whole = client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == whole.content[0].text == final.content[0].text
    assert final.usage.output_tokens == whole.usage.output_tokens == count_tokens(text) == min(max_tokens, 32)
    assert final.usage.input_tokens == whole.usage.input_tokens == count_tokens("Rivers Be brief.")
    assert final.stop_reason == whole.stop_reason == stop


def test_anthropic_sdk_assembles_tool_use(sim):
    tool = {"name": "get_weather", "input_schema": WEATHER_SCHEMA}
    kwargs = {"model": CLAUDE, "max_tokens": 100, "tools": [tool], "messages": ask("Weather in Paris?")}
    with ant(sim).messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    whole = ant(sim).messages.create(**kwargs)
    for message in (final, whole):
        block = message.content[0]
        assert message.stop_reason == "tool_use" and block.type == "tool_use" and block.input == {"city": "Paris"}
    forced = ant(sim).messages.create(**{**kwargs, "messages": ask("hi"), "tool_choice": {"type": "any"}})
    assert forced.stop_reason == "tool_use"


@pytest.mark.parametrize(("fault", "cls"), [
    ("401", anthropic.AuthenticationError), ("403", anthropic.PermissionDeniedError), ("429", anthropic.RateLimitError),
    ("400", anthropic.BadRequestError), ("context", anthropic.BadRequestError), ("500", anthropic.InternalServerError),
    ("503", anthropic.InternalServerError), ("529", anthropic.OverloadedError),
])
def test_anthropic_sdk_maps_each_simulated_error(sim, fault, cls):
    with pytest.raises(cls) as caught:
        ant(sim).messages.create(model=CLAUDE, max_tokens=5, messages=ask("x"), extra_headers={"x-simulator-fault": fault})
    if fault == "429":
        assert caught.value.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert int(caught.value.response.headers["retry-after"]) >= 1


def test_anthropic_sdk_refuses_a_bad_key_and_an_unknown_model(sim):
    with pytest.raises(anthropic.AuthenticationError):
        ant(sim, key="invalid-key").messages.create(model=CLAUDE, max_tokens=5, messages=ask("x"))
    with pytest.raises(anthropic.NotFoundError):
        ant(sim).messages.create(model="claude-nope", max_tokens=5, messages=ask("x"))


def test_anthropic_sdk_raises_on_an_error_event(sim):
    with pytest.raises(anthropic.APIStatusError) as caught, ant(sim).messages.stream(
            model=CLAUDE, max_tokens=20, messages=ask("x"), extra_headers={"x-simulator-fault": "midstream_error"}) as s:
        list(s.text_stream)
    assert caught.value.body["error"]["type"] == "overloaded_error"  # status 200: the SDK cannot pick OverloadedError


def test_anthropic_sdk_reads_a_refusal(sim):
    with ant(sim).messages.stream(model=CLAUDE, max_tokens=20, messages=ask("[[fault:content_filter]]")) as s:
        final = s.get_final_message()
    assert final.stop_reason == "refusal" and final.content == []


def test_anthropic_sdk_pages_through_model_lists(sim):
    from multillm.producers.simulator.providers import PROVIDERS as SPECS  # the simulator's own lists

    models = list(ant(sim).models.list(limit=2))  # three pages
    assert [m.id for m in models] == [m.id for m in SPECS["anthropic"].models]
    assert ant(sim).messages.count_tokens(model=CLAUDE, messages=ask("a b c")).input_tokens == 3


# ---- google-genai SDK ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gem(sim: SimulatorServer) -> genai.Client:
    options = genai_types.HttpOptions(base_url=sim.url + "/google", api_version="v1beta")
    return genai.Client(api_key="sdk-key", http_options=options)  # keep it: a collected Client closes its pool


@pytest.mark.parametrize(("max_tokens", "finish"), [(20, "MAX_TOKENS"), (None, "STOP")])
def test_genai_sdk_streams_the_same_text_as_it_generates(gem, max_tokens, finish):
    config = genai_types.GenerateContentConfig(max_output_tokens=max_tokens, system_instruction="Be brief.")
    whole = gem.models.generate_content(model=GEMINI, contents="Rivers", config=config)
    chunks = list(gem.models.generate_content_stream(model=GEMINI, contents="Rivers", config=config))
    text = "".join(c.text or "" for c in chunks)
    assert text == whole.text and count_tokens(text) == (max_tokens or 32)
    assert [c.usage_metadata.candidates_token_count for c in chunks] == list(range(1, len(chunks) + 1))
    assert chunks[-1].usage_metadata.prompt_token_count == whole.usage_metadata.prompt_token_count == 3
    assert chunks[-1].candidates[0].finish_reason == whole.candidates[0].finish_reason == finish
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])


def test_genai_sdk_reads_function_calls_and_safety(gem):
    tool = genai_types.Tool(function_declarations=[genai_types.FunctionDeclaration(
        name="get_weather", parameters=genai_types.Schema(
            type="OBJECT", properties={"city": genai_types.Schema(type="STRING")}, required=["city"]))])
    config = genai_types.GenerateContentConfig(tools=[tool], automatic_function_calling={"disable": True})
    whole = gem.models.generate_content(model=GEMINI, contents="Weather in Paris?", config=config)
    streamed = list(gem.models.generate_content_stream(model=GEMINI, contents="Weather in Paris?", config=config))
    for reply in (whole, streamed[-1]):
        assert reply.function_calls[0].name == "get_weather" and reply.function_calls[0].args == {"city": "Paris"}
    blocked = gem.models.generate_content(model=GEMINI, contents="[[fault:content_filter]]")
    assert blocked.candidates[0].finish_reason == genai_types.FinishReason.SAFETY and blocked.text is None


@pytest.mark.parametrize(("fault", "cls", "code"), [
    ("429", genai_errors.ClientError, 429), ("400", genai_errors.ClientError, 400),
    ("401", genai_errors.ClientError, 401), ("403", genai_errors.ClientError, 403),
    ("context", genai_errors.ClientError, 400), ("500", genai_errors.ServerError, 500),
    ("503", genai_errors.ServerError, 503), ("529", genai_errors.ServerError, 503),
])
def test_genai_sdk_maps_each_simulated_error(gem, fault, cls, code):
    with pytest.raises(cls) as caught:
        gem.models.generate_content(model=GEMINI, contents=f"[[fault:{fault}]]")
    assert caught.value.code == code
    if fault == "429":
        retry = caught.value.details["error"]["details"][0]
        assert retry["@type"].endswith("google.rpc.RetryInfo") and retry["retryDelay"] == "1s"


def test_genai_sdk_refuses_a_bad_key_and_an_unknown_model(sim, gem):
    options = genai_types.HttpOptions(base_url=sim.url + "/google", api_version="v1beta")
    bad = genai.Client(api_key="invalid-key", http_options=options)
    with pytest.raises(genai_errors.ClientError) as caught:
        bad.models.generate_content(model=GEMINI, contents="x")
    assert caught.value.code == 400 and caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    with pytest.raises(genai_errors.ClientError) as caught:
        gem.models.generate_content(model="gemini-nope", contents="x")
    assert caught.value.code == 404


def test_genai_sdk_raises_on_a_mid_stream_error(gem):
    with pytest.raises(genai_errors.ServerError):
        list(gem.models.generate_content_stream(model=GEMINI, contents="[[fault:midstream_error]]"))
    with pytest.raises(genai_errors.UnknownApiResponseError):
        list(gem.models.generate_content_stream(model=GEMINI, contents="[[fault:malformed]]"))


def test_genai_sdk_pages_through_model_lists(gem):
    from multillm.producers.simulator.providers import PROVIDERS as SPECS  # the simulator's own lists

    names = [m.name for m in gem.models.list(config={"page_size": 3})]
    assert names == [f"models/{m.id}" for m in SPECS["google"].models]
    assert gem.models.count_tokens(model=GEMINI, contents="a b c").total_tokens == 3
