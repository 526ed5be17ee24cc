"""`multillm cache stats|clear`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from multillm.producers.cli.chat import open_client
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import console, print_json

cache_app = typer.Typer(help="The response cache: figures per tenant, and clearing it.", no_args_is_help=True)
TenantOption = Annotated[str | None, typer.Option(help="One tenant; default: every tenant")]


@cache_app.command("stats")
@one_line_errors
def stats(tenant: TenantOption = None,
          as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False) -> None:
    """Entries, bytes, hits, misses and stores of the response cache, per tenant.

    Example: multillm cache stats --tenant acme
    """
    with open_client() as client:
        rows = [client.cache.stats(t) for t in ([tenant] if tenant else client.cache.tenants())]
    if as_json:
        print_json({"tenants": rows})
        return
    table = Table(title="Response cache")
    for column in ("tenant", "entries", "bytes", "hits", "misses", "stores", "hit_rate"):
        table.add_column(column, justify="left" if column == "tenant" else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console().print(table)


@cache_app.command("clear")
@one_line_errors
def clear(tenant: TenantOption = None) -> None:
    """Delete cached answers (and their figures) of one tenant or of every tenant.

    Example: multillm cache clear --tenant acme
    """
    with open_client() as client:
        deleted = sum(client.cache.clear(t) for t in ([tenant] if tenant else client.cache.tenants()))
    typer.echo(f"deleted {deleted} cached answers")
