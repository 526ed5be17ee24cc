"""`multillm tenants create|list|revoke`: the gateway's tenants and their API keys."""

from __future__ import annotations

from typing import Annotated

import redis
import typer
from rich.table import Table

from multillm.common.settings import get_settings
from multillm.common.tenants import Tenants
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import console, print_json
from multillm.producers.client import resolve_redis_url

tenants_app = typer.Typer(help="Gateway tenants: API keys (stored hashed) and what each may use.", no_args_is_help=True)


def _tenants() -> Tenants:
    return Tenants(redis.Redis.from_url(resolve_redis_url(None, get_settings())))


@tenants_app.command("create")
@one_line_errors
def create(
    name: Annotated[str, typer.Argument(help="Tenant name: letters, digits, '_', '.', '-'")],
    shared_keys: Annotated[bool, typer.Option(
        "--shared-keys", help="May use the operator's provider keys when it has none in the vault")] = False,
) -> None:
    """Create a tenant and print its API key: shown once, stored only as a hash.

    Example: multillm tenants create acme --shared-keys
    """
    typer.echo(_tenants().create(name, shared_keys=shared_keys))


@tenants_app.command("list")
@one_line_errors
def list_tenants(as_json: Annotated[bool, typer.Option("--json", help="A JSON list of the tenants")] = False) -> None:
    """List tenants with masked keys.

    Example: multillm tenants list --json
    """
    records = _tenants().list()
    if as_json:
        print_json([{"name": r.name, "key": r.key_hint, "shared_keys": r.shared_keys, "created_at": r.created_at}
                    for r in records])
        return
    table = Table("tenant", "key", "shared keys")
    for r in records:
        table.add_row(r.name, r.key_hint, "yes" if r.shared_keys else "no")
    console().print(table)


@tenants_app.command("revoke")
@one_line_errors
def revoke(name: Annotated[str, typer.Argument(help="Tenant name")]) -> None:
    """Revoke a tenant's key at once (its jobs stay until they expire).

    Example: multillm tenants revoke acme
    """
    if not _tenants().revoke(name):
        typer.echo(f"error: no tenant {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {name}")
