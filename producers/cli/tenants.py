"""`multillm tenants`: the gateway's tenants and their API keys (`create|list|revoke`), and per-tenant
request limits and spend budgets stored in Redis and enforced when a job is accepted, whatever the
submitting process's environment (`limit|show|clear`)."""

from __future__ import annotations

import re
from typing import Annotated

import redis
import typer
from rich.table import Table

from multillm.common.errors import ConfigurationError
from multillm.common.settings import get_settings
from multillm.common.tenant_limits import TenantLimit, TenantLimits, TenantState
from multillm.common.tenants import Tenants
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import console, print_json
from multillm.producers.client import resolve_redis_url

tenants_app = typer.Typer(help="Gateway tenants (API keys, stored hashed), and per-tenant request limits and "
                               "spend budgets enforced at accept.", no_args_is_help=True)
TENANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # as a job's tenant field


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


def _limits() -> TenantLimits:
    return TenantLimits(redis.Redis.from_url(resolve_redis_url(None, get_settings())))


def _tenant(name: str) -> str:
    if not TENANT.match(name):
        raise ConfigurationError(f"TENANT: {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
    return name


@tenants_app.command("limit")
@one_line_errors
def limit(
    tenant: Annotated[str, typer.Argument(help="The tenant a job names")],
    requests: Annotated[int | None, typer.Option(help="Jobs accepted per window")] = None,
    window_ms: Annotated[int | None, typer.Option(help="The window of --requests, in ms")] = None,
    budget_usd: Annotated[float | None, typer.Option(help="USD the tenant's jobs may cost in all")] = None,
) -> None:
    """Set a tenant's request limit and/or spend budget; every producer's submit is checked against them.

    Example: multillm tenants limit acme --requests 100 --window-ms 60000 --budget-usd 25
    """
    wanted = TenantLimit(_tenant(tenant), requests, window_ms, budget_usd).check()  # before connecting
    store = _limits()
    store.set(wanted)
    _print([store.state(tenant)], as_json=False)


@tenants_app.command("show")
@one_line_errors
def show(
    tenant: Annotated[str | None, typer.Argument(help="One tenant; default: every tenant with limits")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of the tenants' limits")] = False,
) -> None:
    """Each tenant's limits, jobs accepted in its window and spend so far.

    Example: multillm tenants show acme --json
    """
    store = _limits()
    names = [_tenant(tenant)] if tenant else store.tenants()
    _print([store.state(n) for n in names], as_json=as_json)


@tenants_app.command("clear")
@one_line_errors
def clear(
    tenant: Annotated[str, typer.Argument(help="The tenant")],
    spend: Annotated[bool, typer.Option(help="Also reset what the tenant has spent to 0")] = False,
) -> None:
    """Remove a tenant's limits (and, with --spend, its spend so far).

    Example: multillm tenants clear acme --spend
    """
    store = _limits()
    store.clear(_tenant(tenant))
    if spend:
        store.reset_spend(tenant)
    typer.echo(f"cleared {tenant}")


def _print(states: list[TenantState], *, as_json: bool) -> None:
    if as_json:
        print_json([{"tenant": s.limit.tenant, "requests": s.limit.requests, "window_ms": s.limit.window_ms,
                     "budget_usd": s.limit.budget_usd, "accepted_in_window": s.accepted_in_window,
                     "spent_usd": round(s.spent_usd, 8)} for s in states])
        return
    table = Table(title="Tenant limits (enforced at accept)")
    for column in ("tenant", "requests / window", "accepted in window", "spent / budget"):
        table.add_column(column)
    for s in states:
        lim = s.limit
        window = f"{lim.requests} / {lim.window_ms / 1000:g}s" if lim.requests and lim.window_ms else "none"
        budget = f"${s.spent_usd:.4f} / ${lim.budget_usd:g}" if lim.budget_usd is not None else f"${s.spent_usd:.4f} / none"
        table.add_row(lim.tenant, window, str(s.accepted_in_window), budget)
    console().print(table)
