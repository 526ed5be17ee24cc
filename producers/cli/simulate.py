"""`multillm simulate`: the provider simulator in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from multillm.common.errors import ConfigurationError
from multillm.common.providers import SPECS
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.simulator.config import FAULTS, SIMULATED_KEY, SimulatorConfig
from multillm.producers.simulator.urls import base_urls


@one_line_errors
def simulate(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8900,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    print_env: Annotated[bool, typer.Option("--print-env", help="Print exports pointing every provider here; exit")] = False,
    ttft_ms: Annotated[float, typer.Option(help="Time to first token, milliseconds")] = 30.0,
    tokens_per_second: Annotated[float, typer.Option(help="Token rate; 0 = as fast as possible")] = 200.0,
    max_tokens: Annotated[int, typer.Option(help="Answer length (tokens) when a request asks for no fewer")] = 32,
    fault_rate: Annotated[float, typer.Option(help="Share of requests given a random fault, 0-1")] = 0.0,
    faults: Annotated[str, typer.Option(help=f"Comma-separated faults to draw from: {', '.join(FAULTS)}")] = "429,503,drop",
    quota_rpm: Annotated[int | None, typer.Option(help="Requests per minute per provider and key")] = None,
    quota_tpm: Annotated[int | None, typer.Option(help="Tokens per minute per provider and key")] = None,
    retry_after: Annotated[float, typer.Option(help="retry-after of injected 429s, seconds")] = 1.0,
    stall_s: Annotated[float, typer.Option(help="How long the stall faults last, seconds")] = 600.0,
    seed: Annotated[int, typer.Option(help="Seed of the random fault draws")] = 0,
) -> None:
    """Serve all seven providers' APIs on one port: streaming, tools, errors, rate limits, faults.

    Example: multillm simulate --port 8900 --fault-rate 0.05 --faults 429,529,drop

    Example: eval "$(multillm simulate --port 8900 --print-env)"

    A request asks for a fault with a `\\[\\[fault:NAME]]` marker in its last user message or an
    `x-simulator-fault: NAME` header; `x-simulator-ttft-ms` and `x-simulator-tps` change its timing.
    While it runs: GET/PUT /_simulator/config, GET /_simulator/stats, POST /_simulator/reset.
    """
    root = f"http://{host}:{port}"
    if print_env:
        for provider, url in base_urls(root).items():
            spec = SPECS[provider]
            typer.echo(f"export {spec.base_url_env}={url}")
            typer.echo(f"export {spec.api_key_env}={SIMULATED_KEY}")
        return
    try:
        config = SimulatorConfig(
            ttft_ms=ttft_ms, tokens_per_second=tokens_per_second, default_max_tokens=max_tokens,
            fault_rate=fault_rate, faults=[f.strip() for f in faults.split(",") if f.strip()],  # type: ignore[misc]
            quota_rpm=quota_rpm, quota_tpm=quota_tpm, retry_after_s=retry_after, stall_s=stall_s, seed=seed)
    except ValidationError as exc:
        raise ConfigurationError("; ".join(f"--{_option(e['loc'])}: {e['msg']}" for e in exc.errors())) from None
    try:
        from multillm.producers.simulator.server import serve
    except ImportError as exc:
        hint = "pip install 'multillm[simulator]'"
        raise ConfigurationError(f"the simulator needs the `simulator` extra: {hint} ({exc})") from None
    typer.echo(f"simulating {len(SPECS)} providers on {root} (Ctrl-C to stop)", err=True)
    serve(host, port, config)


def _option(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else "?"
    return {"default_max_tokens": "max-tokens", "retry_after_s": "retry-after"}.get(field, field.replace("_", "-"))
