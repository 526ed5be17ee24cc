"""How every command fails: one clear line on stderr and a non-zero exit; the traceback only with
LOG_LEVEL=debug."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import typer

from multillm.common.errors import MultiLLMError

F = TypeVar("F", bound=Callable[..., Any])


def one_line_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MultiLLMError as exc:
            if logging.getLogger("multillm").isEnabledFor(logging.DEBUG):
                logging.getLogger("multillm").exception("command failed")
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2 if exc.code in {"configuration", "unknown_provider", "unknown_model"} else 1) from None
        except redis.RedisError as exc:  # unreachable, wrong password, or full (maxmemory, noeviction)
            if logging.getLogger("multillm").isEnabledFor(logging.DEBUG):
                logging.getLogger("multillm").exception("command failed")
            what = "unreachable" if isinstance(exc, redis.ConnectionError | redis.TimeoutError) else "refused the command"
            typer.echo(f"error: Redis {what}: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except BrokenPipeError:
            sys.stderr.close()
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]
