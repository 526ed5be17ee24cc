"""Turning pydantic's errors into one line that names the field and the problem."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from multillm.common.errors import ConfigurationError

T = TypeVar("T", bound=BaseModel)


def describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        loc = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-")) or "input"
        parts.append(f"{loc}: {error['msg']}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse(model: type[T], data: Any) -> T:
    """`model.model_validate(data)`, with a ConfigurationError naming the bad fields."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(describe(exc)) from None
