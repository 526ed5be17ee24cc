"""Before the call: the model against the live list, the prompt counted, limits checked, the
reservation sized; then routing's cost policy over known prices."""

from __future__ import annotations

import fakeredis
import httpx
import pytest

from multillm.common.errors import ConfigurationError, ContextLengthExceeded, UnknownModelError
from multillm.common.jobs import Job
from multillm.common.model_facts import ModelFacts
from multillm.common.preflight import check_limits, prepare_call
from multillm.common.routing import candidates
from multillm.common.settings import load_settings
from multillm.common.tokens import ESTIMATE, TokenCount


def job(provider: str = "openai", model: str = "gpt-5", **options: object) -> Job:
    return Job.model_validate({"provider": provider, "model": model, "options": options,
                               "messages": [{"role": "user", "content": "Hello there, how are you today?"}]})


def facts(context: int | None = 100, output: int | None = 50) -> ModelFacts:
    return ModelFacts("openai", "m", context, output, "override", None, "unknown")


def test_max_tokens_above_the_output_limit_is_refused_naming_the_field():
    with pytest.raises(ConfigurationError, match=r"options\.max_tokens: 60 exceeds gpt-5's output limit of 50 \(override\)"):
        check_limits(job(max_tokens=60), facts(), TokenCount(10, "o200k_base"))


def test_an_exactly_counted_prompt_beyond_the_context_is_refused_an_estimate_is_not():
    with pytest.raises(ContextLengthExceeded, match=r"90 prompt tokens .* \+ max_tokens 20 exceed"):
        check_limits(job(max_tokens=20), facts(), TokenCount(90, "o200k_base"))
    check_limits(job(max_tokens=20), facts(), TokenCount(90, ESTIMATE))
    check_limits(job("google", "gemini-2.5-pro", max_tokens=20), facts(), TokenCount(90, "google count endpoint"))


def models_then_chat(ids: list[str]):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "data": [{"id": i} for i in ids]})
    return lambda base_url: httpx.Client(transport=httpx.MockTransport(handler))


SETTINGS = load_settings({"OPENAI_API_KEY": "sk-" + "a" * 24, "OPENAI_BASE_URL": "https://api.example.test/v1"})


def test_the_reservation_is_the_counted_prompt_and_the_output_cap():
    tokens = prepare_call(fakeredis.FakeRedis(), SETTINGS, job(max_tokens=30), "sk-" + "a" * 24, models_then_chat(["gpt-5"]))
    assert (tokens.input, tokens.output) == (15, 30)
    default_cap = prepare_call(fakeredis.FakeRedis(), SETTINGS, job("openai", "gpt-4o"), "sk-" + "a" * 24,
                               models_then_chat(["gpt-4o"]))
    assert default_cap.output == 4096


def test_a_model_the_list_lacks_is_refused_before_any_call():
    with pytest.raises(UnknownModelError, match="closest: gpt-5"):
        prepare_call(fakeredis.FakeRedis(), SETTINGS, job(model="gpt-5x"), "sk-" + "a" * 24, models_then_chat(["gpt-5"]))


def test_the_cost_policy_puts_models_without_a_known_price_last():
    tiers = {"fast": {"llama": "llama3.2:1b", "openai": "gpt-4o", "google": "gemini-2.0-flash"}}
    assert candidates("fast", ["llama", "openai", "google"], "cost", tiers) == [
        ("google", "gemini-2.0-flash"), ("openai", "gpt-4o"), ("llama", "llama3.2:1b")]
