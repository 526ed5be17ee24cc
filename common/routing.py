"""Routing: a job names a provider and model, a model tier, or `auto` with a policy; on a failure
that may fall back, the next provider in the current fallback order takes it, with its own model
for the tier.

Tiers map to one model per provider (override with MULTILLM_TIERS, a JSON object of tier ->
{provider: model}). Policies order candidates: `health` (the beat's fallback order), `latency`
(lowest p50 of recent traffic) or `cost` (cheapest known price for the tier's model, from
`model_facts`; a model with no known price comes last).
"""

from __future__ import annotations

from typing import Any, Literal

from multillm.common.errors import ConfigurationError
from multillm.common.model_facts import model_facts
from multillm.common.providers.catalog import SPECS

Policy = Literal["health", "latency", "cost"]

TIERS: dict[str, dict[str, str]] = {
    "fast": {
        "openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest", "google": "gemini-2.0-flash",
        "openrouter": "openai/gpt-4o-mini", "llama": "meta-llama/Llama-3.1-8B-Instruct", "grok": "grok-3-mini",
        "github": "openai/gpt-4.1-mini",
    },
    "smart": {
        "openai": "gpt-4.1", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-pro",
        "openrouter": "anthropic/claude-3.5-sonnet", "llama": "meta-llama/Llama-3.3-70B-Instruct",
        "grok": "grok-4", "github": "openai/gpt-4.1",
    },
    "vision": {
        "openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "google": "gemini-2.5-flash",
        "openrouter": "openai/gpt-4o-mini", "grok": "grok-4", "github": "openai/gpt-4o",
    },
}


def check_tiers(tiers: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Providers must be known; any model id is accepted (checked against the live list when used)."""
    for tier, models in tiers.items():
        for provider, model in models.items():
            if provider not in SPECS:
                raise ConfigurationError(f"MULTILLM_TIERS: {tier}: unknown provider {provider!r}")
            if not model.strip():
                raise ConfigurationError(f"MULTILLM_TIERS: {tier}.{provider}: empty model id")
    return tiers


def model_for(tier: str, provider: str, tiers: dict[str, dict[str, str]]) -> str | None:
    if tier not in tiers:
        raise ConfigurationError(f"tier: {tier!r} is not one of {', '.join(tiers)}")
    return tiers[tier].get(provider)


def candidates(tier: str, order: list[str], policy: Policy, tiers: dict[str, dict[str, str]],
               health: dict[str, dict[str, Any]] | None = None) -> list[tuple[str, str]]:
    """(provider, model) pairs for a tier, best first under the policy."""
    pairs = [(p, m) for p in order if (m := model_for(tier, p, tiers))]
    if policy == "cost":
        def price(pair: tuple[str, str]) -> float:
            prices = model_facts(*pair).prices
            return prices.input + prices.output if prices else float("inf")
        return sorted(pairs, key=price)
    if policy == "latency" and health:
        def latency(pair: tuple[str, str]) -> float:
            p50 = (health.get(pair[0]) or {}).get("p50_s")
            return p50 if p50 is not None else float("inf")
        return sorted(pairs, key=latency)
    return pairs


def next_hop(path: list[str], tier: str | None, order: list[str], tiers: dict[str, dict[str, str]],
             down: set[str]) -> tuple[str, str] | None:
    """The next provider (and model) not yet tried, in the current order, skipping providers down."""
    tried = {hop.split("/", 1)[0] for hop in path}
    for provider in order:
        if provider in tried or provider in down:
            continue
        if tier is None:
            return provider, SPECS[provider].default_model
        model = model_for(tier, provider, tiers)
        if model:
            return provider, model
    return None
