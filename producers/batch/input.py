"""Batch input: dataset lines in either format, and the provider/model targets they go to.

Input lines are either the OpenAI Batch API format (`custom_id`, `method`, `url`, `body`) or the
simple form (`{"prompt": ..., "expected": ..., "id": ..., "metadata": {...}}`, or a bare text line).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multillm.common.errors import ConfigurationError
from multillm.common.providers import get_spec

CHAT_OPTION_FIELDS = ("temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "stop")


@dataclass(frozen=True)
class Line:
    custom_id: str
    messages: list[dict[str, Any]]
    options: dict[str, Any]
    expected: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    provider: str
    model: str

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"


def parse_line(text: str, number: int) -> Line:
    """One input line in either format; errors name the line and field."""
    text = text.strip()
    if not text.startswith("{"):
        return Line(custom_id=f"line-{number}", messages=[{"role": "user", "content": text}], options={})
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"line {number}: not JSON ({exc.msg})") from None
    except RecursionError:  # the json module recurses per nesting level
        raise ConfigurationError(f"line {number}: JSON nested too deeply") from None
    if "body" in data:  # OpenAI Batch API request line
        body = data["body"]
        if not isinstance(body, dict) or not body.get("messages"):
            raise ConfigurationError(f"line {number}: body.messages is required")
        options = {k: body[k] for k in CHAT_OPTION_FIELDS if body.get(k) is not None}
        if "max_completion_tokens" in body:
            options["max_tokens"] = body["max_completion_tokens"]
        return Line(str(data.get("custom_id") or f"line-{number}"), body["messages"], options,
                    data.get("expected"), data.get("metadata") or {})
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigurationError(f"line {number}: prompt must be a non-empty string")
    options = {k: data[k] for k in CHAT_OPTION_FIELDS if data.get(k) is not None}
    return Line(str(data.get("id") or data.get("custom_id") or f"line-{number}"),
                [{"role": "user", "content": prompt}], options, data.get("expected"), data.get("metadata") or {})


def read_lines(path: Path) -> Iterator[Line]:
    with path.open() as f:
        for number, text in enumerate(f, 1):
            if text.strip():
                yield parse_line(text, number)


def parse_targets(providers: list[str], models: list[str]) -> list[Target]:
    """`--models` entries are `provider=model` (several per provider allowed) or a bare model id."""
    chosen: dict[str, list[str]] = {p: [] for p in providers}
    for entry in models:
        provider, _, model = entry.partition("=") if "=" in entry else ("", "", entry)
        owners = [provider] if provider else [p for p in providers if get_spec(p).find_model(model)]
        if not owners:
            raise ConfigurationError(f"--models: {entry!r} is not a model of {', '.join(providers)}")
        for p in owners:
            get_spec(p).model(model)
            chosen.setdefault(p, []).append(model)
    return [Target(p, m) for p, ms in chosen.items() for m in (ms or [get_spec(p).default_model])]
