"""A local server that speaks all seven providers' wire formats, for tests, benchmarks and demos.

    with SimulatorServer(config=SimulatorConfig(ttft_ms=0)) as sim:
        openai.OpenAI(base_url=sim.base_urls()["openai"], api_key="any-key")

Faults by header `x-simulator-fault: NAME` or a `[[fault:NAME]]` marker in the last user message;
control API under `/_simulator/` (config, stats, reset). Its own model lists (`providers.py`); a
token is a whitespace-separated word, except prompt tokens on the OpenAI wire (o200k_base, `text.py`).
A request for JSON output (OpenAI `response_format`, Gemini `responseMimeType` with a schema) gets
deterministic JSON that fits the schema (`json_mode.py`, `schema_values.py`).
"""

from importlib import import_module
from typing import Any

# Lazy (PEP 562): `multillm.producers.simulator.urls` and `.config` must import without aiohttp, which
# only the server needs (the `simulator` extra).
_HOME = {"FAULTS": "config", "SIMULATED_KEY": "config", "QuotaLimits": "config", "SimulatorConfig": "config",
         "Simulator": "handlers", "PREFIXES": "urls", "base_urls": "urls", "SimulatorServer": "server",
         "make_app": "server", "serve": "server", "answer_words": "text", "count_tokens": "text"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = [
    "FAULTS",
    "PREFIXES",
    "SIMULATED_KEY",
    "QuotaLimits",
    "Simulator",
    "SimulatorConfig",
    "SimulatorServer",
    "answer_words",
    "base_urls",
    "count_tokens",
    "make_app",
    "serve",
]
