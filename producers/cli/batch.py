"""`multillm batch run|status|cancel|report`."""

from __future__ import annotations

import signal
import threading
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import redis
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from multillm.common.errors import ConfigurationError
from multillm.common.settings import get_settings
from multillm.producers.batch.judge import parse_judge
from multillm.producers.batch.report import SCORERS, fmt, write_report
from multillm.producers.batch.run import BATCH_PREFIX, BatchRun, Target, parse_targets
from multillm.producers.batch.run import Progress as BatchProgress
from multillm.producers.cli.connect import connect
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.cli.output import PIPE_WIDTH, print_json
from multillm.producers.cli.output import console as stdout_console
from multillm.producers.cli.system import parse_providers
from multillm.producers.client import resolve_redis_url

batch_app = typer.Typer(help="Batch evaluation across providers, with a comparison report.", no_args_is_help=True)


def sample_path() -> Path:
    return Path(str(resources.files("multillm.producers.batch") / "data" / "sample.jsonl"))


JUDGE_COLUMNS = ("score", "judged", "judge errors", "judge $")


def print_table(rows: list[dict[str, Any]], console: Console) -> None:
    """The comparison, and in judge mode the judge's figures in a second table so both fit a terminal."""
    if not console.is_terminal:
        console.width = PIPE_WIDTH  # a comparison table is wider than a pipe's 80 columns: never fold it there
    judged = bool(rows) and "judged" in rows[0]
    main = [c for c in (rows[0] if rows else []) if not (judged and c in JUDGE_COLUMNS[1:])]
    console.print(_table("Comparison", rows, main))
    if judged:
        console.print(_table("Judge verdicts", rows, ["provider/model", *JUDGE_COLUMNS]))


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        cells = [fmt(r[column], column) for r in rows]
        if column in ("provider/model", "errors"):
            table.add_column(column, justify="left", overflow="fold", min_width=6)
        else:  # figures are never cut: headings take two lines ("latency", "p50 s") instead
            heading = column.replace(" ", "\n", 1) if " " in column and len(column) > max(map(len, cells), default=0) \
                else column
            width = max([*map(len, cells), *map(len, heading.split("\n"))])
            table.add_column(heading, justify="right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*(fmt(row[c], c) for c in columns))
    return table


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def progress_columns() -> tuple[Any, ...]:
    return (TextColumn("{task.description:<40}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("failed {task.fields[failed]:>3}"), TextColumn("{task.fields[rate]:>9}"),
            TextColumn("ETA {task.fields[eta]}"))


def judge_target(scoring: str, judge: str | None) -> Target | None:
    if scoring == "judge" and not judge:
        raise ConfigurationError("--judge: required with --scoring judge (provider=model, e.g. openai=gpt-4o-mini)")
    if judge and scoring != "judge":
        raise ConfigurationError("--judge: only with --scoring judge")
    return Target(*parse_judge(judge)) if judge else None


@batch_app.command("run")
@one_line_errors
def run(
    input_path: Annotated[Path | None, typer.Argument(help="JSONL: OpenAI Batch format or {prompt, expected}")] = None,
    sample: Annotated[bool, typer.Option(help="Use the sample dataset shipped with multillm")] = False,
    providers: Annotated[str, typer.Option(help="Comma-separated provider ids, or all")] = "all",
    models: Annotated[list[str] | None, typer.Option(help="provider=model (repeat); default: each one's default")] = None,
    out: Annotated[Path, typer.Option(help="Output directory (results.jsonl, report.md/html, PNG plots)")] = Path("out"),
    window: Annotated[int, typer.Option(help="Most jobs in flight at once (answers and verdicts)")] = 500,
    scoring: Annotated[str, typer.Option(help="exact, contains, regex or judge, for lines with `expected`")] = "contains",
    judge: Annotated[str | None, typer.Option(help="The judge for --scoring judge: provider=model")] = None,
    judge_fallback: Annotated[bool, typer.Option(help="Let a failing judge job move to another provider")] = False,
    concurrency: Annotated[int | None, typer.Option(help="Worker slots when an embedded system is started")] = None,
    cache: Annotated[bool, typer.Option("--cache", help="Answers at temperature 0 and verdicts from the response cache")] = False,
    cache_always: Annotated[bool, typer.Option("--cache-always", help="Every answer from the cache, any temperature")] = False,
    tenant: Annotated[str, typer.Option(help="Run the jobs as this tenant (its keys, limits, and its console)")] = "default",
) -> None:
    """Fan every line out to each provider/model through the queues, then compare them.

    Example: multillm batch run --sample --providers all --out out/sample
    Example: multillm batch run prompts.jsonl --providers openai,anthropic --models openai=gpt-4o --out out/run1
    Example: multillm batch run --sample --providers google,grok --scoring judge --judge openai=gpt-4o-mini --out out/judged
    Example: multillm batch run prompts.jsonl --providers openai --cache --out out/again
    """
    if scoring not in SCORERS:
        raise ConfigurationError(f"--scoring: must be one of {', '.join(SCORERS)}")
    referee = judge_target(scoring, judge)
    path = sample_path() if sample or input_path is None else input_path
    if not path.exists():
        raise ConfigurationError(f"INPUT: {path} does not exist")
    names = parse_providers(providers)
    targets = parse_targets(names, models or [])
    workers = names + ([referee.provider] if referee and referee.provider not in names else [])
    console = Console(stderr=True)
    if not console.is_terminal:
        console.width = max(console.width, 130)  # the progress rows do not fit a pipe's 80 columns
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with connect(workers, concurrency=concurrency) as client, Progress(*progress_columns(), console=console) as bar:
        rows = [t.name for t in targets] + ([f"judge {referee.name}"] if referee else [])
        tasks = {name: bar.add_task(name, total=None, failed=0, rate="", eta=eta_text(None)) for name in rows}

        def show(p: BatchProgress) -> None:
            for name, task in tasks.items():
                bar.update(task, completed=p.done.get(name, 0), total=p.total.get(name) or None,
                           failed=p.failed.get(name, 0), rate=f"{p.rate(name):.1f} job/s", eta=eta_text(p.eta_s(name)))

        batch = BatchRun(client, path, targets, out, window=window, on_progress=show, stop_requested=stop.is_set,
                         judge=referee, judge_fallback=judge_fallback, tenant=tenant,
                         cache="always" if cache_always else (True if cache else None))
        show(batch.run())
    if stop.is_set():
        console.print("stopped; what finished is saved. Run the same command again to resume.")
        raise typer.Exit(130)
    table = write_report(out, scoring)
    print_table(table, stdout_console())
    console.print(f"results: {out / 'results.jsonl'}   report: {out / 'report.html'}   matrix: {out / 'matrix.html'}")


@batch_app.command("report")
@one_line_errors
def report(out: Annotated[Path, typer.Argument(help="A batch output directory")],
           scoring: Annotated[str | None, typer.Option(
               help="exact, contains, regex or judge (the verdicts stored by the run); "
                    "default: judge when the run was judged, else contains")] = None) -> None:
    """Rebuild the report (Markdown, HTML, PNG plots) from a run's results.jsonl; nothing is asked again.

    Example: multillm batch report out/sample
    Example: multillm batch report out/judged --scoring contains
    """
    if scoring is not None and scoring not in SCORERS:
        raise ConfigurationError(f"--scoring: must be one of {', '.join(SCORERS)}")
    if not (out / "results.jsonl").exists():
        raise ConfigurationError(f"OUT: {out / 'results.jsonl'} does not exist")
    print_table(write_report(out, scoring), stdout_console())


def _redis() -> redis.Redis:
    return redis.Redis.from_url(resolve_redis_url(None, get_settings()))


@batch_app.command("status")
@one_line_errors
def status(as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False) -> None:
    """List batches known to Redis with their progress.

    Example: multillm batch status
    Example: multillm batch status --json
    """
    client = _redis()
    batches = []
    for key in sorted(client.scan_iter(f"{BATCH_PREFIX}:*")):
        info = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
        batches.append({"batch_id": key.decode().rsplit(":", 1)[1], "state": info.get("state"),
                        "done": int(info.get("done", 0)), "failed": int(info.get("failed", 0)),
                        "input": info.get("input"), "updated": float(info["updated"]) if "updated" in info else None})
        if as_json:
            continue
        typer.echo(f"{key.decode().rsplit(':', 1)[1]}\t{info.get('state')}\tdone {info.get('done', 0)}"
                   f"\tfailed {info.get('failed', 0)}\t{info.get('input')}")
    if as_json:
        print_json({"batches": batches})


@batch_app.command("cancel")
@one_line_errors
def cancel(batch_id: str) -> None:
    """Ask a running batch to stop submitting; jobs already queued still finish.

    Example: multillm batch cancel 3c0f9a1e2b7d4c55
    """
    client = _redis()
    key = f"{BATCH_PREFIX}:{batch_id}"
    if not client.exists(key):
        raise ConfigurationError(f"batch {batch_id}: unknown")
    client.hset(key, "state", "cancelling")
    typer.echo("cancelling")
