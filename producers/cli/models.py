"""`multillm models`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from multillm.common.providers import create_provider, get_spec
from multillm.common.settings import get_settings
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import console, print_json


@one_line_errors
def models(
    provider: Annotated[str, typer.Option("--provider", "-p", help="Provider id")] = "openai",
    live: Annotated[bool, typer.Option(help="Ask the provider (needs its key); default: the catalog")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False,
) -> None:
    """List a provider's models with context length, output limit and price per million tokens.

    Example: multillm models --provider anthropic --live
    Example: multillm models -p google --json
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
    if as_json:
        print_json({"provider": spec.id, "models": [
            {"id": m.id, "context_length": m.context_length, "max_output_tokens": m.max_output_tokens,
             "input_price": m.input_price, "output_price": m.output_price, "vision": m.vision, "tools": m.tools}
            for m in listed]})
        return
    table = Table(title=f"{spec.label} models")
    for column in ("model", "context", "max output", "$/M in", "$/M out", "vision", "tools"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for m in listed:
        table.add_row(m.id, f"{m.context_length:,}", f"{m.max_output_tokens:,}", f"{m.input_price:g}",
                      f"{m.output_price:g}", "yes" if m.vision else "", "yes" if m.tools else "")
    console().print(table)
