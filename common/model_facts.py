"""What multillm knows about a model, and where each fact came from.

Limits (context length, output limit), first found wins: a local override (`MULTILLM_MODELS`, a JSON
or YAML file), the provider's live model list, the catalogue, genai-prices' context window. Prices
(USD per million tokens): an override, then genai-prices' offline snapshot, then the live list's
own prices (OpenRouter, Hugging Face). A fact no source has is None: "unknown", never 0.

A job's cost is what the provider reported when it reports one (OpenRouter's `usage.cost`), else the
override's prices, else genai-prices, which prices cache reads and writes and reasoning tokens as the
provider does; a model with no known price costs None.

    models:                         # MULTILLM_MODELS=models.yaml
      llama:
        gemma: {context_length: 8192, max_output_tokens: 2048, input_price: 0, output_price: 0}
      openai:
        gpt-5: {cached_input_price: 0.125}
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from multillm.common.errors import ConfigurationError
from multillm.common.providers.base import LiveModel
from multillm.common.providers.catalog import SPECS
from multillm.common.schemas import Usage

log = logging.getLogger("multillm.models")

# multillm provider -> genai-prices provider id; None: let genai-prices find it by the model id.
PRICE_PROVIDERS: dict[str, str | None] = {"openai": "openai", "anthropic": "anthropic", "google": "google",
                                          "openrouter": "openrouter", "grok": "x-ai", "github": None, "llama": None}


class ModelOverride(BaseModel):
    """Local facts about one model; each field given replaces what any other source says."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    context_length: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    input_price: float | None = Field(default=None, ge=0)
    output_price: float | None = Field(default=None, ge=0)
    cached_input_price: float | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class Prices:
    """USD per million tokens. `cached_input`: cache reads (None: charged as input)."""

    input: float
    output: float
    cached_input: float | None = None


@dataclass(frozen=True)
class ModelFacts:
    provider: str
    model: str
    context_length: int | None
    max_output_tokens: int | None
    limits_source: str  # override, live list, catalogue, price data, unknown
    prices: Prices | None
    price_source: str  # override, price data, live list, unknown


def load_overrides(path: str | None) -> dict[tuple[str, str], ModelOverride]:
    """`{provider: {model: {field: value}}}` from a JSON or YAML file; errors name the field."""
    return _load(path) if path else {}


@lru_cache(maxsize=8)
def _load(path: str) -> dict[tuple[str, str], ModelOverride]:
    try:
        text = Path(path).read_text()
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"MULTILLM_MODELS: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError("MULTILLM_MODELS: the file must map provider -> model -> facts")
    overrides: dict[tuple[str, str], ModelOverride] = {}
    for provider, models in data.items():
        if provider not in SPECS:
            raise ConfigurationError(f"MULTILLM_MODELS: {provider!r} is not one of {', '.join(SPECS)}")
        if not isinstance(models, dict):
            raise ConfigurationError(f"MULTILLM_MODELS: {provider}: must map model ids to facts")
        for model, facts in models.items():
            try:
                overrides[(provider, str(model))] = ModelOverride.model_validate(facts or {})
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(str(p) for p in problem["loc"])
                raise ConfigurationError(f"MULTILLM_MODELS: {provider}.{model}.{where}: {problem['msg']}") from None
    return overrides


def price_data(provider: str, model: str) -> Any | None:
    """genai-prices' model entry (offline snapshot), or None when it does not know the model."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    for ref, provider_id in _price_refs(provider, model):
        try:
            return snapshot.find_provider_model(ref, None, provider_id, None)[1]
        except LookupError:
            continue
    return None


def _price_refs(provider: str, model: str) -> list[tuple[str, str | None]]:
    """(model id, genai-prices provider) pairs to look up. GitHub's `publisher/name` is the
    publisher's model; the Llama provider (the Hugging Face router or a self-hosted server) has no
    list price of its own: its prices come from the router's live list or an override."""
    if provider == "llama":
        return []
    if provider == "github" and "/" in model:
        publisher, name = model.split("/", 1)
        return [(name, publisher.lower()), (name, None)]
    return [(model, PRICE_PROVIDERS.get(provider))]


def model_facts(provider: str, model: str, live: LiveModel | None = None,
                overrides: dict[tuple[str, str], ModelOverride] | None = None) -> ModelFacts:
    override = (overrides or {}).get((provider, model))
    info = SPECS[provider].find_model(model) if provider in SPECS else None
    known = price_data(provider, model)
    sources: list[tuple[str, int | None, int | None]] = [
        ("override", override.context_length, override.max_output_tokens) if override else ("override", None, None),
        ("live list", live.context_length, live.max_output_tokens) if live else ("live list", None, None),
        ("catalogue", info.context_length, info.max_output_tokens) if info else ("catalogue", None, None),
        ("price data", getattr(known, "context_window", None), None),
    ]
    context = next((c for _, c, _ in sources if c), None)
    output = next((o for _, _, o in sources if o), None)
    limits_source = next((name for name, c, o in sources if c or o), "unknown")
    prices, price_source = _prices(provider, model, override, live)
    return ModelFacts(provider, model, context, output, limits_source, prices, price_source)


def _prices(provider: str, model: str, override: ModelOverride | None,
            live: LiveModel | None) -> tuple[Prices | None, str]:
    if override and override.input_price is not None and override.output_price is not None:
        return Prices(override.input_price, override.output_price, override.cached_input_price), "override"
    quoted = _quoted_prices(provider, model)
    if quoted is not None:
        return quoted, "price data"
    if live and live.input_price is not None and live.output_price is not None:
        return Prices(live.input_price, live.output_price), "live list"
    return None, "unknown"


def _quoted_prices(provider: str, model: str) -> Prices | None:
    """Per-million prices from genai-prices, priced on 1,000 tokens of each kind so that tiered
    prices (more per token past 200k of context) show their base tier."""
    per_input = _price_of(provider, model, input_tokens=1_000)
    per_output = _price_of(provider, model, output_tokens=1_000)
    if per_input is None or per_output is None:
        return None
    cached = _price_of(provider, model, input_tokens=1_000, cache_read_tokens=1_000)
    return Prices(round(per_input * 1_000, 6), round(per_output * 1_000, 6),
                  None if cached is None else round(cached * 1_000, 6))


def _price_of(provider: str, model: str, **tokens: int) -> float | None:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    for ref, provider_id in _price_refs(provider, model):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an unpriced token kind is a None here, not a warning
                return round(float(calc_price(PriceUsage(**tokens), ref, provider_id=provider_id).total_price), 9)
        except (LookupError, ValueError):
            continue
    return None


def job_cost(provider: str, model: str, usage: Usage,
             overrides: dict[tuple[str, str], ModelOverride] | None = None) -> float | None:
    """USD for one call: the provider's reported cost, else the override's or genai-prices' prices;
    None when the price is unknown (an answer with no usage costs 0)."""
    if usage.cost_usd is not None:
        return round(usage.cost_usd, 8)
    if not usage.input_tokens and not usage.output_tokens:
        return 0.0
    override = (overrides or {}).get((provider, model))
    if override and override.input_price is not None and override.output_price is not None:
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_price = override.cached_input_price if override.cached_input_price is not None else override.input_price
        cost = ((usage.input_tokens - cached) * override.input_price + cached * cached_price
                + usage.output_tokens * override.output_price) / 1_000_000
        return round(cost, 8)
    return _calculated(provider, model, usage)


def _calculated(provider: str, model: str, usage: Usage) -> float | None:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    # genai-prices counts input as we do (cache reads and writes included) and output with reasoning.
    priced = PriceUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                        cache_read_tokens=usage.cached_input_tokens, cache_write_tokens=usage.cache_write_tokens)
    for ref, provider_id in _price_refs(provider, model):
        try:
            total: Decimal = calc_price(priced, ref, provider_id=provider_id).total_price
            return round(float(total), 8)
        except (LookupError, ValueError):
            continue
    log.debug("no price known for %s/%s", provider, model)
    return None
