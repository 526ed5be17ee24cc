"""`multillm up` and `multillm worker`."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from multillm.common import constants
from multillm.common.errors import ConfigurationError
from multillm.common.providers import SPECS, get_spec
from multillm.common.settings import get_settings
from multillm.producers.cli.exits import one_line_errors
from multillm.producers.local.embedded import clear_state, find_running, python_module, read_state, write_state
from multillm.producers.local.system import EmbeddedSystem, SystemOptions


def parse_providers(text: str) -> list[str]:
    names = list(SPECS) if text == "all" else [p.strip() for p in text.split(",") if p.strip()]
    for name in names:
        get_spec(name)
    return names


def _stop_on_sigterm() -> threading.Event:
    stopped = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stopped


@one_line_errors
def up(
    providers: Annotated[str, typer.Option(help="Comma-separated provider ids, or all")] = "all",
    concurrency: Annotated[int | None, typer.Option(help="Slots per worker; default <PREFIX>_CONCURRENCY")] = None,
    log_dir: Annotated[Path | None, typer.Option(help="Write each process's log here")] = None,
    ttft_ms: Annotated[int | None, typer.Option(help="Simulator: time to first token")] = None,
    tokens_per_second: Annotated[float | None, typer.Option(help="Simulator: token rate")] = None,
) -> None:
    """Start Redis (unless REDIS_URL is set), the simulator for providers without a key, and a
    worker per provider; Ctrl-C stops all of it.

    Example: multillm up --providers openai,anthropic --log-dir /tmp/multillm-logs
    """
    if read_state():
        raise ConfigurationError(f"a system is already running (Redis at {find_running()}); stop it first")
    sim_args = [a for flag, v in (("--ttft-ms", ttft_ms), ("--tokens-per-second", tokens_per_second))
                if v is not None for a in (flag, str(v))]
    options = SystemOptions(providers=parse_providers(providers), concurrency=concurrency,
                            simulator_args=sim_args, log_dir=log_dir, beat=True)
    stopped = _stop_on_sigterm()
    console = Console(stderr=True)
    with EmbeddedSystem(get_settings(), options) as system:
        write_state({"pid": os.getpid(), "redis_url": system.redis_url, "simulator_url": system.simulator_url})
        try:
            console.print(f"[bold]multillm is up[/] — Redis {system.redis_url}")
            for provider in options.providers:
                where = "simulator" if provider in system.simulated else "provider API"
                console.print(f"  worker for [cyan]{constants.queue(provider)}[/] → {where}")
            console.print("  beat: health check every MULTILLM_HEALTH_INTERVAL_S, writes the fallback order")
            console.print(f"Flower: celery -A multillm.workers --broker={system.redis_url} flower --port=5555")
            console.print("Ctrl-C to stop.")
            while not stopped.wait(1.0):
                dead = [n for n, p in system.workers.items() if p.poll() is not None]
                for name in dead:
                    console.print(f"[yellow]worker {name} exited; restarting[/]")
                    provider = name.split("-")[0]
                    del system.workers[name]
                    system.start_worker(provider)
        finally:
            clear_state()
            console.print("stopping…")


@one_line_errors
def worker(
    provider: Annotated[str, typer.Option("--provider", "-p", help="The provider whose queue to serve")],
    concurrency: Annotated[int | None, typer.Option(help="Slots; default <PREFIX>_CONCURRENCY")] = None,
    pool: Annotated[str | None, typer.Option(help="threads (default), prefork, gevent, solo")] = None,
) -> None:
    """Run a Celery worker for one provider's queue in the foreground.

    Example: OPENAI_CONCURRENCY=200 multillm worker --provider openai
    """
    settings = get_settings()
    get_spec(provider)
    redis_url = settings.redis_url or find_running()
    if not redis_url:
        raise ConfigurationError("REDIS_URL: not set and no `multillm up` is running")
    n = concurrency or settings.provider(provider).concurrency
    queues = f"{constants.queue(provider)},{constants.HEALTH_QUEUE}"
    args = python_module("celery", "-A", "multillm.workers", "worker", "-Q", queues,
                         "-P", pool or settings.worker_pool, "-c", str(n), "-n", f"{provider}@%h",
                         "--without-gossip", "--without-mingle", "-l", settings.log_level)
    sys.stdout.flush()
    os.execvpe(args[0], args, dict(os.environ, REDIS_URL=redis_url))
