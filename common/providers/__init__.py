"""The seven providers behind one interface; the registry is built once at import."""

from __future__ import annotations

import httpx

from multillm.common.errors import UnknownProviderError
from multillm.common.providers.anthropic import AnthropicProvider
from multillm.common.providers.base import LiveModel, LLMProvider, ModelInfo, ProviderSpec, Timeouts
from multillm.common.providers.catalog import SPECS
from multillm.common.providers.gemini import GeminiProvider
from multillm.common.providers.openai_compat import OpenAICompatProvider

PROTOCOLS: dict[str, type[LLMProvider]] = {
    "openai": OpenAICompatProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
}


def get_spec(provider_id: str) -> ProviderSpec:
    try:
        return SPECS[provider_id]
    except KeyError:
        known = ", ".join(SPECS)
        raise UnknownProviderError(f"provider: {provider_id!r} is not one of {known}") from None


def create_provider(
    provider_id: str,
    api_key: str,
    *,
    base_url: str | None = None,
    timeouts: Timeouts | None = None,
    client: httpx.Client | None = None,
) -> LLMProvider:
    """A client for one provider, with the key and base URL given by the caller."""
    spec = get_spec(provider_id)
    return PROTOCOLS[spec.protocol](spec, api_key, base_url=base_url, timeouts=timeouts, client=client)


__all__ = [
    "PROTOCOLS",
    "SPECS",
    "AnthropicProvider",
    "GeminiProvider",
    "LLMProvider",
    "LiveModel",
    "ModelInfo",
    "OpenAICompatProvider",
    "ProviderSpec",
    "Timeouts",
    "create_provider",
    "get_spec",
]
