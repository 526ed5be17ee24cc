"""The models endpoints of the OpenAI-compatible providers, listing the simulator.s own models (providers.py).

OpenAI `{object:"list", data:[{id, object, created, owned_by}]}`; OpenRouter's detailed entries
(openrouter.ai/docs/api-reference/list-available-models); Hugging Face's `providers` per model
(huggingface/hub-docs `hub-api.md`); GitHub's catalog, a bare JSON array (docs.github.com
rest/models/catalog).
"""

from __future__ import annotations

from typing import Any

from multillm.producers.simulator.providers import SimModel, SimProvider

CREATED = 1_700_000_000
OWNERS = {"openai": "system", "grok": "xai", "llama": "meta-llama"}


def list_models(spec: SimProvider) -> Any:
    if spec.id == "github":
        return [_github(m) for m in spec.models]
    if spec.id == "openrouter":
        return {"data": [_openrouter(m) for m in spec.models]}
    entries = [{"id": m.id, "object": "model", "created": CREATED, "owned_by": OWNERS.get(spec.id, spec.id)}
               for m in spec.models]
    if spec.id == "llama":
        for entry, model in zip(entries, spec.models, strict=True):
            entry["providers"] = [_hf_provider(model)]
    return {"object": "list", "data": entries}


def _per_token(price_per_million: float) -> str:
    return f"{price_per_million / 1_000_000:.10f}".rstrip("0").rstrip(".") or "0"


def _openrouter(m: SimModel) -> dict[str, Any]:
    inputs = ["text", "image"] if m.vision else ["text"]
    parameters = ["max_tokens", "temperature", "top_p", "stop", "frequency_penalty", "presence_penalty"]
    return {
        "id": m.id, "canonical_slug": m.id, "name": m.label, "created": CREATED, "description": m.label,
        "context_length": m.context_length,
        "architecture": {"modality": "+".join(inputs) + "->text", "input_modalities": inputs,
                         "output_modalities": ["text"], "tokenizer": "Other", "instruct_type": None},
        "pricing": {"prompt": _per_token(m.input_price), "completion": _per_token(m.output_price),
                    "request": "0", "image": "0"},
        "top_provider": {"context_length": m.context_length, "max_completion_tokens": m.max_output_tokens,
                         "is_moderated": False},
        "per_request_limits": None,
        "supported_parameters": parameters + (["tools", "tool_choice"] if m.tools else []),
    }


def _hf_provider(m: SimModel) -> dict[str, Any]:
    return {"provider": "simulator", "status": "live", "context_length": m.context_length,
            "pricing": {"input": m.input_price, "output": m.output_price}, "supports_tools": m.tools,
            "supports_structured_output": True}


def _github(m: SimModel) -> dict[str, Any]:
    publisher, _, name = m.id.partition("/")
    return {
        "id": m.id, "name": m.label, "publisher": publisher, "registry": "azure-openai", "summary": m.label,
        "html_url": f"https://github.com/marketplace/models/{m.id}", "version": "1", "rate_limit_tier": "low",
        "capabilities": ["streaming"] + (["tool-calling"] if m.tools else []),
        "limits": {"max_input_tokens": m.context_length, "max_output_tokens": m.max_output_tokens},
        "supported_input_modalities": ["text", "image"] if m.vision else ["text"],
        "supported_output_modalities": ["text"], "tags": [name.split("-")[0].lower()],
    }
