"""`multillm models`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from multillm.common.providers import create_provider, get_spec
from multillm.common.settings import get_settings
from multillm.producers.cli.exits import one_line_errors


@one_line_errors
def models(
    provider: Annotated[str, typer.Option("--provider", "-p", help="Provider id")] = "openai",
    live: Annotated[bool, typer.Option(help="Ask the provider (needs its key); default: the catalog")] = False,
) -> None:
    """List a provider's models with context length, output limit and price per million tokens.

    Example: multillm models --provider anthropic --live
    """
    spec = get_spec(provider)
    listed = spec.models
    if live:
        settings = get_settings()
        ps = settings.provider(provider)
        key = ps.api_key.get_secret_value() if ps.api_key else ""
        client = create_provider(provider, key, base_url=ps.base_url, timeouts=settings.timeouts())
        try:
            listed = tuple(client.get_models())
        finally:
            client.close()
    table = Table(title=f"{spec.label} models")
    for column in ("model", "context", "max output", "$/M in", "$/M out", "vision", "tools"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for m in listed:
        table.add_row(m.id, f"{m.context_length:,}", f"{m.max_output_tokens:,}", f"{m.input_price:g}",
                      f"{m.output_price:g}", "yes" if m.vision else "", "yes" if m.tools else "")
    Console().print(table)
