"""Server-sent event framing, and JSON templates that keep the per-chunk cost to one small
`json.dumps`: a chunk's constant fields are encoded once per stream, then each token's values are
pasted into the slots."""

from __future__ import annotations

import json
from typing import Any

SLOT = "\x00"  # a string value json.dumps always escapes, so it cannot clash with real content
_ENCODED_SLOT = json.dumps(SLOT)


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))  # the providers send compact JSON


def data_event(data: Any, end: str = "\n\n") -> bytes:
    return f"data: {dumps(data)}{end}".encode()


def named_event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {dumps(data)}\n\n".encode()


class Template:
    """`prefix + JSON(shape) + suffix` where each `SLOT` string in `shape` is filled by `render`."""

    __slots__ = ("_parts",)

    def __init__(self, shape: Any, prefix: str = "data: ", suffix: str = "\n\n") -> None:
        parts = dumps(shape).split(_ENCODED_SLOT)
        parts[0], parts[-1] = prefix + parts[0], parts[-1] + suffix
        self._parts = parts

    def render(self, *values: Any) -> bytes:
        parts = self._parts
        if len(values) != len(parts) - 1:
            raise ValueError(f"template has {len(parts) - 1} slots, got {len(values)} values")
        out = [parts[0]]
        for value, part in zip(values, parts[1:], strict=True):
            out.append(json.dumps(value))
            out.append(part)
        return "".join(out).encode()
