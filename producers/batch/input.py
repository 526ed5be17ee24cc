"""Batch input: dataset lines in either format, and the provider/model targets they go to.

Input lines are either the OpenAI Batch API format (`custom_id`, `method`, `url`, `body`; every body
field honoured or the line refused naming it: `openai_body.py`) or the
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
from multillm.common.schemas import ChatOptions, Message
from multillm.common.validation import parse
from multillm.producers.batch.openai_body import chat_from_body

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
        if not isinstance(body, dict):
            raise ConfigurationError(f"line {number}: body must be an object")
        messages, options = chat_from_body(body, f"line {number}: body")
        _check(messages, options, number)
        return Line(str(data.get("custom_id") or f"line-{number}"), messages, options,
                    data.get("expected"), data.get("metadata") or {})
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigurationError(f"line {number}: prompt must be a non-empty string")
    options = {k: data[k] for k in CHAT_OPTION_FIELDS if data.get(k) is not None}
    return Line(str(data.get("id") or data.get("custom_id") or f"line-{number}"),
                [{"role": "user", "content": prompt}], options, data.get("expected"), data.get("metadata") or {})


def _check(messages: list[dict[str, Any]], options: dict[str, Any], number: int) -> None:
    """The schemas the queue uses, so a bad line is refused here with its number, not at submit."""
    for i, message in enumerate(messages):
        try:
            parse(Message, message)
        except ConfigurationError as exc:
            raise ConfigurationError(f"line {number}: body.messages.{i}.{exc}") from None
    try:
        parse(ChatOptions, options)
    except ConfigurationError as exc:
        raise ConfigurationError(f"line {number}: body.{exc}") from None


def read_lines(path: Path) -> Iterator[Line]:
    with path.open() as f:
        for number, text in enumerate(f, 1):
            if text.strip():
                yield parse_line(text, number)


def parse_targets(providers: list[str], models: list[str]) -> list[Target]:
    """`--models` entries are `provider=model` (several per provider allowed, any id the provider
    lists) or a bare model id, which goes to the chosen providers whose catalogue names it, or to the
    only provider chosen."""
    chosen: dict[str, list[str]] = {p: [] for p in providers}
    for entry in models:
        provider, _, model = entry.partition("=") if "=" in entry else ("", "", entry)
        if provider:
            get_spec(provider)
        owners = [provider] if provider else [p for p in providers if get_spec(p).find_model(model)]
        if not owners and len(providers) == 1:
            owners = list(providers)
        if not owners or not model.strip():
            raise ConfigurationError(f"--models: {entry!r}: name its provider (provider=model); no chosen "
                                     f"provider's catalogue names it")
        for p in owners:
            chosen.setdefault(p, []).append(model)
    return [Target(p, m) for p, ms in chosen.items() for m in (ms or [get_spec(p).default_model])]
