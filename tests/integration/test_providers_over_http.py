"""Each of the seven provider clients against the simulator over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from multillm.common import errors
from multillm.common.providers import SPECS, Timeouts, create_provider
from multillm.common.schemas import ChatOptions, Message, Tool
from multillm.producers.simulator import SimulatorConfig, SimulatorServer, count_tokens
from multillm.producers.simulator.text import openai_prompt_tokens

PROVIDERS = list(SPECS)
WEATHER = Tool(name="get_weather", parameters={"type": "object", "properties": {"city": {"type": "string"}},
                                                "required": ["city"]})


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(config=SimulatorConfig(ttft_ms=0, tokens_per_second=0, stall_s=30)) as server:
        yield server


def client(sim: SimulatorServer, provider: str, key: str = "test-key-123456", **timeouts: float):
    return create_provider(provider, key, base_url=sim.base_urls()[provider], timeouts=Timeouts(**timeouts))


def ask(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streamed_text_usage_and_finish(sim, provider):
    events = list(client(sim, provider).stream_chat(ask("Tell me about rivers"), ChatOptions(max_tokens=12)))
    text = "".join(e.text for e in events if e.type == "delta")
    usage = next(e.usage for e in events if e.type == "usage")
    assert count_tokens(text) == 12 == usage.output_tokens
    if SPECS[provider].protocol == "openai":  # the OpenAI wire bills o200k tokens with the chat's overhead
        assert usage.input_tokens == openai_prompt_tokens([{"role": "user", "content": "Tell me about rivers"}])
    else:
        assert usage.input_tokens == count_tokens("Tell me about rivers")
    assert events[-1].type == "finish" and events[-1].finish_reason == "length"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streamed_and_whole_answers_agree(sim, provider):
    c = client(sim, provider)
    streamed = c.chat(ask("Same answer?"), ChatOptions(max_tokens=40))
    whole = c.chat(ask("Same answer?"), ChatOptions(max_tokens=40, stream=False))
    assert streamed.text == whole.text and streamed.finish_reason == whole.finish_reason == "stop"
    assert streamed.usage == whole.usage


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p != "llama"] + ["llama"])
def test_tool_call_deltas_are_assembled(sim, provider):
    model = next(m.id for m in SPECS[provider].models if m.tools)
    result = client(sim, provider).chat(ask("What is the weather in Paris?"), ChatOptions(model=model, tools=[WEATHER]))
    assert result.finish_reason == "tool_calls"
    assert [(c.name, c.parsed_arguments()) for c in result.tool_calls] == [("get_weather", {"city": "Paris"})]


ERRORS = [("401", errors.AuthenticationError), ("403", errors.PermissionDenied), ("400", errors.InvalidRequest),
          ("429", errors.RateLimited), ("500", errors.ProviderUnavailable), ("503", errors.ProviderUnavailable),
          ("529", errors.ProviderUnavailable), ("context", errors.InvalidRequest),
          ("content_filter", errors.ContentFiltered), ("midstream_error", errors.ProviderUnavailable),
          ("malformed", errors.StreamInterrupted), ("drop", errors.StreamInterrupted)]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("fault", "cls"), ERRORS)
def test_every_error_class_from_each_error_shape(sim, provider, fault, cls):
    with pytest.raises(cls) as caught:
        list(client(sim, provider).stream_chat(ask(f"[[fault:{fault}]] go"), ChatOptions(max_tokens=20)))
    error = caught.value
    assert error.provider == provider and "test-key" not in str(error)
    if fault == "429":
        assert error.retry_after is not None and error.retry_after > 0
    if fault == "context" and provider in ("openai", "llama", "github"):
        assert isinstance(error, errors.ContextLengthExceeded)  # OpenAI's error shape has a code that says so


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_key_is_an_authentication_error(sim, provider):
    with pytest.raises(errors.AuthenticationError):
        list(client(sim, provider, key="invalid-key-000").stream_chat(ask("hi")))


def test_openrouter_keepalive_comments_before_the_first_chunk(sim):
    result = client(sim, "openrouter").chat(ask("Keep alive"), ChatOptions(max_tokens=5))
    assert count_tokens(result.text) == 5


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
def test_first_token_timeout(sim, provider):
    with pytest.raises(errors.FirstTokenTimeout):
        list(client(sim, provider, idle=0.5, first_token=0.5).stream_chat(ask("[[fault:stall]]")))


@pytest.mark.parametrize("provider", ["openrouter", "anthropic", "google"])
def test_idle_timeout_between_chunks(sim, provider):
    with pytest.raises(errors.IdleTimeout):
        list(client(sim, provider, idle=0.5).stream_chat(ask("[[fault:stall_mid]]"), ChatOptions(max_tokens=20)))


def test_connect_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):  # fill the accept backlog so the next connection attempt hangs
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(listener.getsockname())
        fillers.append(s)
    base = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    provider = create_provider("openai", "k" * 20, base_url=base, timeouts=Timeouts(connect=0.3, idle=0.3))
    try:
        with pytest.raises((errors.ConnectTimeout, errors.FirstTokenTimeout)):
            list(provider.stream_chat(ask("hi")))
    finally:
        for s in [*fillers, listener]:
            s.close()


def test_a_refused_connection_is_unavailable():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    provider = create_provider("grok", "k" * 20, base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(errors.ProviderUnavailable):
        list(provider.stream_chat(ask("hi")))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_models_and_validate_config(sim, provider):
    from multillm.common.schemas import ProviderConfig

    c = client(sim, provider)
    listed = {m.id for m in c.get_models()}
    assert listed > {m.id for m in SPECS[provider].models}  # the simulator lists more than the catalogue
    assert c.get_models() is c.get_models()  # cached for an hour
    good_key = {"openai": "sk-" + "a" * 20, "anthropic": "sk-ant-" + "a" * 20, "google": "A" * 39,
                "openrouter": "sk-or-" + "a" * 20, "llama": "hf_" + "a" * 20, "grok": "xai-" + "a" * 20,
                "github": "ghp_" + "a" * 36}[provider]
    assert c.validate_config(ProviderConfig(api_key=good_key, model=SPECS[provider].default_model))
    with pytest.raises(errors.ConfigurationError, match="api_key"):
        c.validate_config(ProviderConfig(api_key="nope", model=SPECS[provider].default_model))
    with pytest.raises(errors.UnknownModelError, match="closest"):
        c.validate_config(ProviderConfig(api_key=good_key, model=SPECS[provider].default_model + "x"))
