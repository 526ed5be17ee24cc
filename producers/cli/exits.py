"""How every command fails: one clear line on stderr and a non-zero exit; the traceback only with
LOG_LEVEL=debug. The line is redacted (multillm.common.redact): a provider's error text may echo the
key it was sent."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import typer
from kombu.exceptions import OperationalError

from multillm.common.errors import MultiLLMError
from multillm.common.redact import redact

F = TypeVar("F", bound=Callable[..., Any])
USAGE_CODES = {"configuration", "unknown_provider", "unknown_model"}


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
        except (redis.RedisError, OperationalError) as exc:  # kombu's, when a publish finds no broker
            raise _fail(f"Redis unreachable ({type(exc).__name__}: {exc}); check REDIS_URL or `multillm up`", 1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]
