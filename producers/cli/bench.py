"""`multillm bench`: measure, print, and write the figures into BENCHMARKS.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from multillm.common.errors import ConfigurationError
from multillm.producers.bench.batch import bench_batch
from multillm.producers.bench.fanout import bench_fanout
from multillm.producers.bench.gateway import bench_gateway, litellm_command
from multillm.producers.bench.peers import import_litellm
from multillm.producers.bench.quota import bench_quota
from multillm.producers.bench.quota_wait import bench_quota_wait
from multillm.producers.bench.redis_memory import bench_redis_memory
from multillm.producers.bench.soak import bench_soak
from multillm.producers.bench.tables import TABLES
from multillm.producers.bench.throughput import (
    POOLS,
    bench_capacity_pools,
    bench_overhead,
    bench_throughput,
    machine,
    require_pool,
)
from multillm.producers.bench.token_estimate import bench_token_estimate
from multillm.producers.cli.exits import one_line_errors


@one_line_errors
def bench(
    what: Annotated[str, typer.Argument(
        help="overhead, throughput, capacity, quota, quota-wait, batch, fanout, redis-memory, gateway, tokens, soak, all")]
    = "all",
    out: Annotated[Path | None, typer.Option(help="Append the figures as JSON lines to this file")] = None,
    jobs: Annotated[int, typer.Option(help="Jobs per system and round (throughput); streams per system (gateway)")] = 2000,
    rounds: Annotated[int, typer.Option(help="Rounds of the throughput and fan-out runs (medians)")] = 3,
    streams: Annotated[int, typer.Option(help="Concurrent streams for the capacity run")] = 1000,
    pool: Annotated[str, typer.Option(help="Worker pool for the capacity run: threads, prefork, gevent or all")] = "all",
    prefork_children: Annotated[int, typer.Option(help="Child processes of the prefork capacity run")] = 64,
    rate: Annotated[float, typer.Option(help="Chunks per second for the fan-out run")] = 10_000,
    fanout_jobs: Annotated[int, typer.Option(help="Jobs the fan-out chunks are spread over")] = 100,
    seconds: Annotated[float, typer.Option(help="Seconds of publishing per fan-out run")] = 10,
    publishers: Annotated[int, typer.Option(help="Publisher processes of the fan-out run")] = 4,
    consumers: Annotated[int, typer.Option(help="Consumer processes of the fan-out run")] = 2,
    markdown: Annotated[bool, typer.Option(help="Also print each figure as a BENCHMARKS.md table")] = False,
    lines: Annotated[int, typer.Option(help="Lines for the batch run")] = 10_000,
    minutes: Annotated[float, typer.Option(help="Duration of the chaos soak (soak is not part of all)")] = 10,
    jobs_per_minute: Annotated[int, typer.Option(help="Jobs submitted per minute during the chaos soak")] = 240,
) -> None:
    """Measure the queue path against a direct client on the same simulator, in one run.

    Example: multillm bench throughput --markdown   (peers need: pip install -e '.\\[bench]')
    """
    pools = list(POOLS) if pool == "all" else [pool]
    runs = {
        "overhead": lambda: bench_overhead(),
        "throughput": lambda: bench_throughput(jobs=jobs, rounds=rounds),
        "capacity": lambda: {"rows": bench_capacity_pools(pools, streams=streams, prefork_children=prefork_children)},
        "quota": lambda: {"rows": bench_quota()},
        "quota-wait": lambda: {"rows": bench_quota_wait()},
        "batch": lambda: bench_batch(lines=lines),
        "fanout": lambda: bench_fanout(rate=rate, jobs=fanout_jobs, seconds=seconds, publishers=publishers,
                                       consumers=consumers, rounds=rounds),
        "tokens": lambda: bench_token_estimate(),
        "redis-memory": lambda: bench_redis_memory(),
        "gateway": lambda: bench_gateway(jobs=jobs),
        "soak": lambda: bench_soak(minutes=minutes, jobs_per_minute=jobs_per_minute, echo=typer.echo),
    }
    if what not in runs and what != "all":
        raise ConfigurationError(f"WHAT: {what!r} is not one of {', '.join(runs)} or all")
    chosen = [n for n in runs if n != "soak"] if what == "all" else [what]
    _check_peers(chosen, pools)  # before minutes of other runs
    typer.echo(f"machine: {machine()}")
    for name in chosen:
        figures = {"bench": name, **runs[name]()}
        line = json.dumps(figures, default=lambda v: round(v, 3) if isinstance(v, float) else v)
        typer.echo(line)
        if markdown and name in TABLES:
            typer.echo(TABLES[name](figures))
        if out:
            with out.open("a") as f:
                f.write(line + "\n")
        if figures.get("ok") is False:  # the soak lost, duplicated or mismatched something
            raise typer.Exit(1)


def _check_peers(chosen: list[str], pools: list[str]) -> None:
    """Fail at once, naming the install command, when a chosen run needs a peer that is missing."""
    if "throughput" in chosen:
        import_litellm()
    if "gateway" in chosen:
        litellm_command()
    if "capacity" in chosen:
        for pool in pools:
            require_pool(pool)
