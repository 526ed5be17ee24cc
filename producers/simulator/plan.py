"""One request as the simulator understands it (`Ask`, whatever the wire format) and everything
about its response (`Plan`), decided before the first byte is sent."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multillm.producers.simulator.config import SimulatorConfig
from multillm.producers.simulator.json_mode import json_answer
from multillm.producers.simulator.text import answer_words, as_chunks, count_tokens, json_fragments, reasoning_chunks

TOOL_WORD = "weather"  # a user message naming it makes the model call a tool


@dataclass(frozen=True)
class ToolSpec:
    name: str
    parameters: dict[str, Any]


@dataclass
class Ask:
    """A chat request, normalised. `tool_choice`: None (auto), "none", "any" or a tool name."""

    model: str
    prompt: str  # the text of the last message: it seeds the answer and may carry a fault marker
    prompt_tokens: int
    empty: bool = False  # no messages at all
    max_tokens: int | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: str | None = None
    after_tool: bool = False  # the last message is a tool result: answer in words
    stream: bool = False
    include_usage: bool = True
    json_output: bool = False  # the request asks for JSON (json_mode.py says which fields do)
    json_schema: dict[str, Any] | None = None  # the shape it must have; None: any JSON object


@dataclass
class Plan:
    provider: str
    model: str
    prompt_tokens: int
    chunks: list[str]
    finish: str  # stop, length, tool_calls or content_filter
    ttft_s: float
    gap_s: float
    fault: str | None = None
    tool_name: str | None = None
    tool_arguments: str = ""  # JSON text
    reasoning: list[str] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def completion_tokens(self) -> int:
        """Answer tokens: the words, or the words of the tool-call arguments; reasoning excluded."""
        return len(self.chunks) + count_tokens(self.tool_arguments)

    @property
    def reasoning_tokens(self) -> int:
        return len(self.reasoning)

    @property
    def argument_fragments(self) -> list[str]:
        return json_fragments(self.tool_arguments)


def tool_arguments(schema: Mapping[str, Any], prompt: str = "") -> dict[str, Any]:
    """Arguments satisfying a JSON schema's required properties (all of them when none is required).
    An enum's value depends on the prompt (its first value without one), so a forced tool used as a
    classifier answers differently for different requests, and the same for the same request."""
    props = schema.get("properties") or {}
    names = schema.get("required") or list(props)
    return {name: _value(props.get(name) or {}, f"{prompt}|{name}" if prompt else "") for name in names}


def _value(schema: Mapping[str, Any], seed: str) -> Any:
    if schema.get("enum"):
        options = list(schema["enum"])
        return options[hashlib.sha256(seed.encode()).digest()[0] % len(options)] if seed else options[0]
    kind = str(schema.get("type", "string")).lower()  # Gemini writes types in capitals
    if kind == "object":
        return tool_arguments(schema, seed)
    if kind == "array":
        return [_value(schema.get("items") or {}, seed)]
    return {"integer": 1, "number": 1.5, "boolean": True}.get(kind, "Paris")


def chosen_tool(ask: Ask) -> ToolSpec | None:
    if not ask.tools or ask.tool_choice == "none" or ask.after_tool:
        return None
    named = next((t for t in ask.tools if t.name == ask.tool_choice), None)
    if named is not None:
        return named
    if ask.tool_choice == "any" or TOOL_WORD in ask.prompt.lower():
        return ask.tools[0]
    return None


def make_plan(config: SimulatorConfig, provider: str, ask: Ask, fault: str | None,
              headers: Mapping[str, str]) -> Plan:
    ttft_ms = _number(headers.get("x-simulator-ttft-ms"), config.ttft_ms)
    tps = _number(headers.get("x-simulator-tps"), config.tokens_per_second)
    plan = Plan(provider, ask.model, ask.prompt_tokens, [], "stop", ttft_ms / 1000, 1 / tps if tps > 0 else 0.0, fault)
    if provider == "grok" and ask.model.endswith("mini"):  # xAI's reasoning model shows its thinking
        plan.reasoning = reasoning_chunks(ask.prompt)
    tool = chosen_tool(ask)
    if fault == "content_filter":
        plan.finish = "content_filter"
    elif tool is not None:
        plan.finish, plan.tool_name = "tool_calls", tool.name
        plan.tool_arguments = json.dumps(tool_arguments(tool.parameters, ask.prompt))
    elif ask.json_output:  # a whole document however long, unless max_tokens cuts it
        plan.chunks, plan.finish = json_answer(ask.prompt, ask.json_schema, ask.max_tokens)
    else:
        limit = ask.max_tokens or config.default_max_tokens
        plan.chunks = as_chunks(answer_words(ask.prompt, min(limit, config.default_max_tokens)))
        plan.finish = "length" if limit < config.default_max_tokens else "stop"
    return plan


def _number(text: str | None, default: float) -> float:
    try:
        return max(0.0, float(text)) if text else default
    except ValueError:
        return default
