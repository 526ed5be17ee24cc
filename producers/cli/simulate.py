"""`multillm simulate`."""

from __future__ import annotations

from typing import Annotated

import typer

from ...common.errors import ConfigurationError
from ...common.providers import SPECS
from ...common.simulator import FAULTS, SIMULATED_KEY, SimulatorConfig, base_urls, serve
from .errors import one_line_errors


@one_line_errors
def simulate(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8900,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    print_env: Annotated[bool, typer.Option("--print-env", help="Print the exports that point every provider here")] = False,
    ttft_ms: Annotated[float, typer.Option(help="Time to first token")] = 30.0,
    tokens_per_second: Annotated[float, typer.Option(help="Token rate; 0 = as fast as possible")] = 200.0,
    max_tokens: Annotated[int, typer.Option(help="Answer length when a request sets no max_tokens")] = 32,
    fault_rate: Annotated[float, typer.Option(help="Share of requests that get a random fault")] = 0.0,
    faults: Annotated[str, typer.Option(help=f"Faults to draw from: {', '.join(FAULTS)}")] = "429,503,drop",
    quota_rpm: Annotated[int | None, typer.Option(help="Requests per minute per provider and key")] = None,
    quota_tpm: Annotated[int | None, typer.Option(help="Tokens per minute per provider and key")] = None,
    retry_after: Annotated[float, typer.Option(help="retry-after of injected 429s, seconds")] = 1.0,
) -> None:
    """Serve all seven providers' APIs locally: streaming, tools, errors, rate limits, faults.

    Example: multillm simulate --port 8900 --fault-rate 0.05 --faults 429,529,drop
    Example: eval "$(multillm simulate --port 8900 --print-env)"
    A request picks a fault with a `[[fault:NAME]]` marker in its prompt or an x-simulator-fault header.
    """
    root = f"http://{host}:{port}"
    if print_env:
        for provider, url in base_urls(root).items():
            spec = SPECS[provider]
            typer.echo(f"export {spec.base_url_env}={url}")
            typer.echo(f"export {spec.api_key_env}={SIMULATED_KEY}")
        return
    chosen = [f.strip() for f in faults.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown:
        raise ConfigurationError(f"--faults: unknown {', '.join(unknown)} (known: {', '.join(FAULTS)})")
    config = SimulatorConfig(ttft_ms=ttft_ms, tokens_per_second=tokens_per_second, default_max_tokens=max_tokens,
                             fault_rate=fault_rate, faults=chosen, quota_rpm=quota_rpm, quota_tpm=quota_tpm,
                             retry_after_s=retry_after)
    typer.echo(f"simulating 7 providers on {root} (Ctrl-C to stop)", err=True)
    serve(host, port, config)
