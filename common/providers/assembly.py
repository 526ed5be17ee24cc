"""Turning a stream of events into complete tool calls and a complete result."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from multillm.common.schemas import ChatResult, ProviderEvent, ToolCall, ToolCallDelta, Usage


class ToolCallAssembler:
    """Joins tool-call fragments by index. OpenAI sends `id`/`name` only in the first fragment and
    the arguments in pieces (openai-python `chat_completion_chunk.py`); Anthropic sends
    `input_json_delta.partial_json` pieces per content block."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, delta: ToolCallDelta) -> None:
        call = self._calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
        if delta.id:
            call["id"] = delta.id
        if delta.name:
            call["name"] = delta.name
        call["arguments"] += delta.arguments

    def __bool__(self) -> bool:
        return bool(self._calls)

    def complete(self) -> list[ToolCall]:
        calls = [
            ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"] or "{}")
            for i, c in sorted(self._calls.items())
        ]
        self._calls.clear()
        return calls


def with_assembled_tool_calls(events: Iterable[ProviderEvent]) -> Iterator[ProviderEvent]:
    """Pass every event through; before the finish event, emit each assembled tool call whole."""
    assembler = ToolCallAssembler()
    for event in events:
        if event.type == "tool_call_delta" and event.tool_call_delta is not None:
            assembler.add(event.tool_call_delta)
        elif event.type == "finish" and assembler:
            for call in assembler.complete():
                yield ProviderEvent(type="tool_call", tool_call=call)
        yield event


def collect(provider: str, model: str, events: Iterable[ProviderEvent]) -> ChatResult:
    """Fold a stream (already assembled) into one result."""
    text: list[str] = []
    result = ChatResult(provider=provider, model=model)
    for event in events:
        if event.type == "delta":
            text.append(event.text)
        elif event.type == "tool_call" and event.tool_call:
            result.tool_calls.append(event.tool_call)
        elif event.type == "usage" and event.usage:
            result.usage = event.usage
        elif event.type == "finish":
            result.finish_reason = event.finish_reason
            result.native_finish_reason = event.native_finish_reason
    result.text = "".join(text)
    return result


def merge_usage(old: Usage | None, new: Usage) -> Usage:
    """Providers report cumulative counts, sometimes split over events; keep the largest of each."""
    if old is None:
        return new
    return Usage(
        input_tokens=max(old.input_tokens, new.input_tokens),
        output_tokens=max(old.output_tokens, new.output_tokens),
        cached_input_tokens=max(old.cached_input_tokens, new.cached_input_tokens),
        cache_write_tokens=max(old.cache_write_tokens, new.cache_write_tokens),
        reasoning_tokens=max(old.reasoning_tokens, new.reasoning_tokens),
        cost_usd=new.cost_usd if new.cost_usd is not None else old.cost_usd,
    )
