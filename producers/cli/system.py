"""`multillm up` and `multillm worker`."""

from __future__ import annotations

import os
import re
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
from multillm.producers.local.embedded import (
    clear_state,
    find_running,
    home,
    masked_url,
    python_module,
    read_state,
    state_path,
    write_state,
)
from multillm.producers.local.system import EmbeddedSystem, SystemOptions

# Redis's memory sizes: bytes, or k/kb/m/mb/g/gb in any case (redis.conf, "Units").
MEMORY_SIZE = re.compile(r"[1-9]\d*(?:[kmg]b?)?", re.IGNORECASE)


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
    redis_maxmemory: Annotated[str, typer.Option(help="The embedded Redis refuses writes past this")] = "1gb",
    gateway_port: Annotated[int, typer.Option(help="Port of the HTTP gateway on 127.0.0.1 (0: any free port)")] = 8080,
) -> None:
    """Start Redis (unless REDIS_URL is set), the simulator for providers without a key, a worker
    per provider and the HTTP gateway; restart any of them that dies; Ctrl-C stops all of it.

    Example: multillm up --providers openai,anthropic --log-dir /tmp/multillm-logs
    """
    if not MEMORY_SIZE.fullmatch(redis_maxmemory):
        raise ConfigurationError(f"--redis-maxmemory: {redis_maxmemory!r} is not a size such as 512mb or 2gb")
    if read_state():
        raise ConfigurationError(f"a system is already running (Redis at {masked_url(find_running() or '')}); stop it first")
    sim_args = [a for flag, v in (("--ttft-ms", ttft_ms), ("--tokens-per-second", tokens_per_second))
                if v is not None for a in (flag, str(v))]
    options = SystemOptions(providers=parse_providers(providers), concurrency=concurrency, simulator_args=sim_args,
                            log_dir=log_dir, beat=True, data_dir=home() / "redis", redis_maxmemory=redis_maxmemory,
                            gateway_port=gateway_port)
    stopped = _stop_on_sigterm()
    console = Console(stderr=True)
    home().mkdir(mode=0o700, parents=True, exist_ok=True)
    with EmbeddedSystem(get_settings(), options) as system:
        _record(system)
        try:
            _announce(console, system, options)
            while not stopped.wait(1.0):
                _supervise(console, system)
        finally:
            clear_state()
            console.print("stopping…")


def _record(system: EmbeddedSystem) -> None:
    """The state file other commands find the system by (mode 0600: it holds the Redis password)."""
    write_state({"pid": os.getpid(), "redis_url": system.redis_url, "simulator_url": system.simulator_url,
                 "gateway_url": system.gateway_url, "redis_pid": system.redis_process.pid if system.redis_process else None})


def _announce(console: Console, system: EmbeddedSystem, options: SystemOptions) -> None:
    redis_where = f"Redis {masked_url(system.redis_url)}"
    if system.redis_process is not None:
        redis_where += f" (append-only file in {options.data_dir}, maxmemory {options.redis_maxmemory})"
    console.print(f"[bold]multillm is up[/] — {redis_where}")
    for provider in options.providers:
        where = "simulator" if provider in system.simulated else "provider API"
        console.print(f"  worker for [cyan]{constants.queue(provider)}[/] → {where}")
    console.print("  beat: health check every MULTILLM_HEALTH_INTERVAL_S, writes the fallback order")
    console.print(f"Gateway: {system.gateway_url}/v1 (keys: multillm tenants create NAME)")
    console.print(f"REDIS_URL with its password: in {state_path()} (readable by you only)")
    console.print('Flower: celery -A multillm.workers --broker="$REDIS_URL" flower --port=5555')
    console.print("Ctrl-C to stop.")


def _supervise(console: Console, system: EmbeddedSystem) -> None:
    try:
        restarted = system.supervise()
    except ConfigurationError as exc:  # e.g. Redis's port taken meanwhile: try again at the next tick
        console.print(f"[red]restart failed: {exc}[/]")
        return
    for part in restarted:
        console.print(f"[yellow]{part} exited; restarted[/]")
    if "redis" in restarted:
        _record(system)


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
