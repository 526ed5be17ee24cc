"""Limits and prices with their sources; costs from genai-prices, overrides and reported costs."""

from __future__ import annotations

import json

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from hypothesis import given
from hypothesis import strategies as st

from multillm.common.errors import ConfigurationError
from multillm.common.model_facts import job_cost, load_overrides, model_facts
from multillm.common.providers import LiveModel
from multillm.common.schemas import Usage


@pytest.mark.parametrize(("provider", "model", "priced_as"), [
    ("openai", "gpt-5", "openai"), ("anthropic", "claude-sonnet-4-5", "anthropic"), ("google", "gemini-2.5-pro", "google"),
    ("grok", "grok-4", "x-ai")])
def test_cost_matches_genai_prices(provider, model, priced_as):
    usage = Usage(input_tokens=12_000, output_tokens=800)
    expected = float(calc_price(PriceUsage(input_tokens=12_000, output_tokens=800), model, provider_id=priced_as).total_price)
    assert job_cost(provider, model, usage) == pytest.approx(expected) and expected > 0


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-5"), ("anthropic", "claude-sonnet-4-5"),
                                                  ("google", "gemini-2.5-pro")])
def test_cached_input_tokens_are_priced_apart(provider, model):
    plain = job_cost(provider, model, Usage(input_tokens=10_000, output_tokens=100))
    cached = job_cost(provider, model, Usage(input_tokens=10_000, cached_input_tokens=8_000, output_tokens=100))
    assert cached is not None and plain is not None and cached < plain
    facts = model_facts(provider, model)
    assert facts.prices and facts.prices.cached_input is not None
    saved = 8_000 * (facts.prices.input - facts.prices.cached_input) / 1e6
    assert plain - cached == pytest.approx(saved, rel=1e-6)


def test_anthropic_cache_writes_cost_more_than_plain_input():
    plain = job_cost("anthropic", "claude-sonnet-4-5", Usage(input_tokens=10_000, output_tokens=0))
    written = job_cost("anthropic", "claude-sonnet-4-5", Usage(input_tokens=10_000, cache_write_tokens=10_000))
    assert written == pytest.approx(plain * 1.25)


def test_reasoning_tokens_are_output_tokens_priced_as_output():
    with_reasoning = job_cost("openai", "gpt-5", Usage(input_tokens=100, output_tokens=1_000, reasoning_tokens=900))
    assert with_reasoning == job_cost("openai", "gpt-5", Usage(input_tokens=100, output_tokens=1_000))


def test_a_reported_cost_is_used_as_is():
    assert job_cost("openrouter", "deepseek/deepseek-chat", Usage(input_tokens=10, output_tokens=5, cost_usd=0.0123)) == 0.0123


def test_an_unknown_price_is_null_never_zero():
    assert job_cost("llama", "llama3.2:1b", Usage(input_tokens=10, output_tokens=5)) is None
    assert model_facts("llama", "llama3.2:1b").price_source == "unknown"


def test_overrides_win_and_say_so(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("llama:\n  gemma: {context_length: 8192, max_output_tokens: 1024, input_price: 0.1, output_price: 0.2}\n"
                    "openai:\n  gpt-5: {context_length: 1000}\n")
    overrides = load_overrides(str(path))
    facts = model_facts("llama", "gemma", None, overrides)
    assert (facts.context_length, facts.max_output_tokens, facts.limits_source) == (8192, 1024, "override")
    assert facts.price_source == "override"
    assert job_cost("llama", "gemma", Usage(input_tokens=1_000_000, output_tokens=1_000_000), overrides) == pytest.approx(0.3)
    gpt5 = model_facts("openai", "gpt-5", None, overrides)
    assert gpt5.context_length == 1000 and gpt5.limits_source == "override" and gpt5.price_source == "price data"


def test_sources_in_order_live_list_then_catalogue_then_price_data():
    live = LiveModel("gpt-4o", context_length=64_000, max_output_tokens=None)
    assert model_facts("openai", "gpt-4o", live).limits_source == "live list"
    assert model_facts("openai", "gpt-4o").limits_source == "catalogue"
    assert model_facts("openai", "gpt-5").limits_source == "price data"
    assert model_facts("llama", "x", LiveModel("x", input_price=0.5, output_price=1.0)).price_source == "live list"


def test_a_bad_override_file_names_the_field(tmp_path):
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"openai": {"gpt-5": {"context_length": -1}}}))
    with pytest.raises(ConfigurationError, match=r"MULTILLM_MODELS: openai\.gpt-5\.context_length"):
        load_overrides(str(path))
    path.write_text(json.dumps({"openai": {"gpt-5": {"contxt": 1}}}))
    with pytest.raises(ConfigurationError, match=r"openai\.gpt-5\.contxt"):
        load_overrides(str(path))
    path.write_text(json.dumps({"nobody": {}}))
    with pytest.raises(ConfigurationError, match="'nobody' is not one of"):
        load_overrides(str(path))


@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7))
def test_cost_is_never_negative_and_grows_with_output(inputs, cached, outputs):
    usage = Usage(input_tokens=inputs, cached_input_tokens=min(cached, inputs), output_tokens=outputs)
    cost = job_cost("openai", "gpt-4o-mini", usage)
    more = job_cost("openai", "gpt-4o-mini", usage.model_copy(update={"output_tokens": outputs + 1000}))
    assert cost is not None and more is not None and 0 <= cost < more


def test_override_prices_need_input_and_output_and_cache_reads_default_to_input(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("openai:\n  gpt-5: {cached_input_price: 0.01}\n  my-fine-tune: {input_price: 3.0, output_price: 12.0}\n")
    overrides = load_overrides(str(path))
    assert model_facts("openai", "gpt-5", None, overrides).price_source == "price data"
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=500_000, output_tokens=0)
    assert job_cost("openai", "my-fine-tune", usage, overrides) == pytest.approx(3.0)
