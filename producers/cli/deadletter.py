"""`multillm deadletter`: the queue messages workers could not read."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated

import redis
import typer
from rich.console import Console
from rich.table import Table

from multillm.common import deadletter as dead
from multillm.common.settings import get_settings
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.client import resolve_redis_url


@one_line_errors
def deadletter(
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Empty the list after showing it")] = False,
) -> None:
    """Show messages workers moved off their queues because they could not read them (redacted, cut short).

    Example: multillm deadletter --limit 5 --json
    """
    client = redis.Redis.from_url(resolve_redis_url(None, get_settings()))
    found = dead.entries(client, limit)
    if as_json:
        for entry in found:
            typer.echo(json.dumps(entry, ensure_ascii=False))
    elif not found:
        typer.echo("no dead letters")
    else:
        table = Table(title=f"Dead letters (newest {len(found)})")
        for column in ("time", "queue", "bytes", "reason", "body"):
            table.add_column(column, overflow="fold")
        for entry in found:
            when = datetime.fromtimestamp(entry["ts"], UTC).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(when, entry["queue"], str(entry["bytes"]), entry["reason"], entry["body"][:200])
        Console(file=sys.stdout, soft_wrap=not sys.stdout.isatty()).print(table)
    if clear:
        typer.echo(f"cleared {dead.clear(client)}", err=True)
