"""`multillm health`."""

from __future__ import annotations

from typing import Annotated, Any

import redis
import typer
from rich.table import Table

from multillm.common.provider_health import read_health, read_order
from multillm.common.providers import SPECS
from multillm.common.settings import get_settings
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import console, print_json
from multillm.producers.client import resolve_redis_url


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def health_document(order: list[str], known: dict[str, Any]) -> dict[str, Any]:
    """`--json`: the fallback order and each provider's figures (status `unknown` before any are known)."""
    return {"order": order, "providers": [{"rank": rank, "provider": p, **(known.get(p) or {"status": "unknown"})}
                                          for rank, p in enumerate(order, 1)]}


@one_line_errors
def health(as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False) -> None:
    """Show each provider's status, score, latency, error rate, circuit and place in the fallback order.

    Example: multillm health
    Example: multillm health --json | jq '.providers[0].provider'
    """
    client = redis.Redis.from_url(resolve_redis_url(None, get_settings()))
    order = read_order(client, list(SPECS))
    known = read_health(client)
    if as_json:
        print_json(health_document(order, known))
        return
    if not known:
        typer.echo("no health data yet: the beat writes it every MULTILLM_HEALTH_INTERVAL_S (is `multillm up` running?)")
    table = Table(title="Provider health")
    for column in ("#", "provider", "status", "score", "success", "p50 s", "p95 s", "ttft p50 s", "429 share",
                   "circuit", "probe", "samples"):
        table.add_column(column, justify="left" if column in ("provider", "status", "circuit") else "right")
    colours = {"healthy": "green", "degraded": "yellow", "down": "red"}
    for rank, provider in enumerate(order, 1):
        h = known.get(provider)
        if h is None:
            table.add_row(str(rank), provider, "unknown", *["-"] * 9)
            continue
        status = f"[{colours.get(h['status'], 'white')}]{h['status']}[/]"
        probe = {True: "ok", False: "failed", None: "-"}[h["probe_ok"]]
        table.add_row(str(rank), provider, status, f"{h['score']:.2f}", f"{h['success_rate']:.0%}", _s(h["p50_s"]),
                      _s(h["p95_s"]), _s(h["ttft_p50_s"]), f"{h['rate_limited_share']:.0%}", h["circuit"], probe,
                      str(h["samples"]))
    console().print(table)
