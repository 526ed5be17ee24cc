"""The stream protocol's message: what every consumer of a job's channel and replay log reads."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from multillm.common.schemas import FinishReason, ToolCall, Usage

MessageType = Literal["start", "delta", "tool_call", "usage", "retry", "fallback", "error", "cancelled", "done"]
TERMINAL: frozenset[str] = frozenset({"done", "error", "cancelled"})


class StreamMessage(BaseModel):
    """One message on a job's channel and replay log. `seq` starts at 1 and has no gaps.

    A `start` with a higher `attempt` means an earlier attempt failed part-way: consumers drop the
    text they gathered from earlier attempts. Exactly one terminal message (done, error, cancelled)
    ends the stream.
    """

    model_config = ConfigDict(extra="allow")
    seq: int
    job_id: str
    type: MessageType
    attempt: int = 1
    ts: float = 0.0
    provider: str | None = None
    model: str | None = None
    text: str = ""
    tool_call: ToolCall | None = None
    usage: Usage | None = None
    finish_reason: FinishReason | None = None
    error: dict[str, Any] | None = None
    delay_s: float | None = None

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL
