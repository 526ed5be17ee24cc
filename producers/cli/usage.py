"""`multillm usage`."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import redis
import typer
from rich.table import Table

from multillm.common.errors import ConfigurationError
from multillm.common.settings import get_settings
from multillm.common.usage import read_usage
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import console
from multillm.producers.client import resolve_redis_url


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"{field}: {text!r} is not a date like 2026-11-24") from None


@one_line_errors
def usage(
    since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD); default: 7 days ago")] = None,
    until: Annotated[str | None, typer.Option(help="Last day; default: today (UTC)")] = None,
    by: Annotated[str, typer.Option(help="provider, model or tenant")] = "provider",
    output: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document (as --format json)")] = False,
) -> None:
    """Requests, errors, tokens, cost and latency per provider, model or tenant, per day range.

    Example: multillm usage --since 2026-11-01 --by model --format csv --out usage.csv
    Example: multillm usage --by tenant --json
    """
    output = "json" if as_json else output
    if by not in ("provider", "model", "tenant"):
        raise ConfigurationError("--by: must be provider, model or tenant")
    if output not in ("table", "csv", "json"):
        raise ConfigurationError("--format: must be table, csv or json")
    today = datetime.now(UTC).date()
    first = _day(since, "--since") if since else today - timedelta(days=7)
    last = _day(until, "--until") if until else today
    client = redis.Redis.from_url(resolve_redis_url(None, get_settings()))
    rows = read_usage(client, first, last, by)
    if output == "json":
        text = json.dumps(rows, indent=2)
    elif output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[by, "requests", "errors", "input_tokens", "output_tokens",
                                                    "cost_usd", "unpriced", "avg_latency_ms"])
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    else:
        table = Table(title=f"Usage {first} to {last}, by {by}")
        for column in (by, "requests", "errors", "input_tokens", "output_tokens", "cost_usd", "unpriced",
                       "avg_latency_ms"):
            table.add_column(column, justify="left" if column == by else "right")
        for row in rows:  # cost_usd None: no request had a known price
            table.add_row(*("unknown" if k == "cost_usd" and v is None else str(v) for k, v in row.items()))
        console().print(table)
        return
    if out:
        out.write_text(text)
    else:
        typer.echo(text)
