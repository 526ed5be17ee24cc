"""`multillm bench`: measure, print, and write the figures into BENCHMARKS.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ...common.errors import ConfigurationError
from ..bench import bench_capacity, bench_overhead, bench_throughput, machine
from ..bench_batch import bench_batch
from ..bench_quota import bench_quota
from ..bench_quota_wait import bench_quota_wait
from .errors import one_line_errors


@one_line_errors
def bench(
    what: Annotated[str, typer.Argument(help="overhead, throughput, capacity, quota, batch or all")] = "all",
    out: Annotated[Path | None, typer.Option(help="Append the figures as JSON lines to this file")] = None,
    jobs: Annotated[int, typer.Option(help="Jobs for the throughput run")] = 2000,
    streams: Annotated[int, typer.Option(help="Concurrent streams for the capacity run")] = 1000,
    pool: Annotated[str, typer.Option(help="Worker pool for the capacity run")] = "threads",
    lines: Annotated[int, typer.Option(help="Lines for the batch run")] = 10_000,
) -> None:
    """Measure the queue path against a direct client on the same simulator, in one run.

    Example: multillm bench all --out bench.jsonl
    """
    runs = {
        "overhead": lambda: bench_overhead(),
        "throughput": lambda: bench_throughput(jobs=jobs),
        "capacity": lambda: bench_capacity(streams=streams, pool=pool),
        "quota": lambda: {"rows": bench_quota()},
        "quota-wait": lambda: {"rows": bench_quota_wait()},
        "batch": lambda: bench_batch(lines=lines),
    }
    if what not in runs and what != "all":
        raise ConfigurationError(f"WHAT: {what!r} is not one of {', '.join(runs)} or all")
    chosen = list(runs) if what == "all" else [what]
    typer.echo(f"machine: {machine()}")
    for name in chosen:
        figures = {"bench": name, **runs[name]()}
        line = json.dumps(figures, default=lambda v: round(v, 3) if isinstance(v, float) else v)
        typer.echo(line)
        if out:
            with out.open("a") as f:
                f.write(line + "\n")
