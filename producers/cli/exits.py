"""How every command fails: one clear line on stderr and a non-zero exit; the traceback only with
LOG_LEVEL=debug. The line is redacted (multillm.common.redact): a provider's error text may echo the
key it was sent."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import kombu.exceptions
import redis
import typer

from multillm.common.errors import MultiLLMError
from multillm.common.redact import redact

F = TypeVar("F", bound=Callable[..., Any])
USAGE_CODES = {"configuration", "unknown_provider", "unknown_model"}
PIPELINE_NOTE = re.compile(r"^Command # \d+ \(.*?\) of pipeline caused error: ")


def _fail(message: str, code: int) -> typer.Exit:
    if logging.getLogger("multillm").isEnabledFor(logging.DEBUG):
        logging.getLogger("multillm").exception("command failed")
    typer.echo(f"error: {redact(message)}", err=True)
    return typer.Exit(code)


def one_line_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MultiLLMError as exc:
            raise _fail(str(exc), 2 if exc.code in USAGE_CODES else 1) from None
        except (redis.RedisError, kombu.exceptions.OperationalError) as exc:  # unreachable, wrong password, full
            raise _fail(redis_problem(exc), 1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def redis_problem(exc: Exception) -> str:
    """One line for a Redis failure, from redis-py directly or through Celery's publisher (kombu wraps
    redis-py's error, naming its own pipeline; the cause is what the user can act on)."""
    cause = exc.__cause__ if isinstance(exc.__cause__, redis.RedisError) else exc
    if isinstance(cause, redis.ConnectionError | redis.TimeoutError):
        return f"Redis unreachable: {cause}"
    # redis-py's Pipeline.annotate_exception prefixes the server's reply with the command that failed
    # (here kombu's internal keys); the reply itself is what says why.
    return f"Redis refused the command: {PIPELINE_NOTE.sub('', str(cause))}"
