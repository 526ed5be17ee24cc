"""A local server that speaks all seven providers' wire formats, for tests, benchmarks and demos.

    with SimulatorServer(config=SimulatorConfig(ttft_ms=0)) as sim:
        openai.OpenAI(base_url=sim.base_urls()["openai"], api_key="any-key")

Faults by header `x-simulator-fault: NAME` or a `[[fault:NAME]]` marker in the last user message;
control API under `/_simulator/` (config, stats, reset). A token is a whitespace-separated word.
A request for JSON output (OpenAI `response_format`, Gemini `responseMimeType` with a schema) gets
deterministic JSON that fits the schema (`json_mode.py`, `schema_values.py`).
"""

from .config import FAULTS, SIMULATED_KEY, QuotaLimits, SimulatorConfig
from .handlers import Simulator
from .server import PREFIXES, SimulatorServer, base_urls, make_app, serve
from .text import answer_words, count_tokens

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
