"""The `multillm` command."""

from __future__ import annotations

import logging

import typer

from multillm.common.logs import install_secret_filter
from multillm.common.settings import get_settings
from multillm.producers.cli.batch import batch_app
from multillm.producers.cli.bench import bench
from multillm.producers.cli.cache import cache_app
from multillm.producers.cli.chat import cancel, chat, result, stream, submit
from multillm.producers.cli.conversations import conversations_app
from multillm.producers.cli.deadletter import deadletter
from multillm.producers.cli.health import health
from multillm.producers.cli.keys import keygen, keys_app
from multillm.producers.cli.models import models
from multillm.producers.cli.quotas import quotas
from multillm.producers.cli.serve import serve
from multillm.producers.cli.simulate import simulate
from multillm.producers.cli.system import up, worker
from multillm.producers.cli.tenants import tenants_app
from multillm.producers.cli.tokens import tokens
from multillm.producers.cli.usage import usage

app = typer.Typer(
    name="multillm",
    help="LLM chat jobs for many callers through per-provider Celery queues on Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for command in (chat, submit, stream, result, cancel, models, tokens, up, worker, serve, simulate, bench, quotas, keygen,
                health, usage, deadletter):
    app.command()(command)
app.add_typer(keys_app, name="keys")
app.add_typer(batch_app, name="batch")
app.add_typer(conversations_app, name="conversations")
app.add_typer(cache_app, name="cache")
app.add_typer(tenants_app, name="tenants")


@app.callback()
def _setup() -> None:
    try:
        level = get_settings().log_level.upper()
    except Exception:  # settings errors are reported by the command that needs them
        level = "INFO"
    logging.basicConfig(level=getattr(logging, level, logging.INFO), format="%(levelname)s %(name)s: %(message)s")
    install_secret_filter()
    if level != "DEBUG":
        logging.getLogger("httpx").setLevel(logging.WARNING)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
