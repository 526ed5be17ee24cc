"""A local server that speaks all seven providers' wire formats, for tests, benchmarks and demos."""

from .engine import FAULTS, SIMULATED_KEY, SimulatorConfig, count_tokens
from .server import PREFIXES, Simulator, SimulatorServer, base_urls, serve

__all__ = [
    "FAULTS",
    "PREFIXES",
    "SIMULATED_KEY",
    "Simulator",
    "SimulatorConfig",
    "SimulatorServer",
    "base_urls",
    "count_tokens",
    "serve",
]
