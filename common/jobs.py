"""The job a caller submits and the result it ends with (its stream messages: `multillm.common.stream`)."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from multillm.common.schemas import ChatOptions, FinishReason, Message, Text, ToolCall, Usage

JobStatus = Literal["succeeded", "failed", "cancelled"]


def new_job_id() -> str:
    return uuid.uuid4().hex


class Job(BaseModel):
    """A chat job as accepted: never holds a key (workers resolve keys themselves)."""

    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(default_factory=new_job_id, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    provider: Text = Field(max_length=64)
    model: Text = Field(max_length=256)
    messages: list[Message] = Field(min_length=1)
    options: ChatOptions = Field(default_factory=ChatOptions)
    tenant: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    deadline_s: float = Field(default=300.0, gt=0, le=86_400)
    max_attempts: int = Field(default=4, ge=1, le=50)
    metadata: dict[Text, Text] = Field(default_factory=dict)  # bounded by MULTILLM_MAX_METADATA_*
    submitted_at: float = Field(default_factory=time.time)
    # Routing: the tier the model was chosen for (so a fallback picks that tier's model), whether
    # the job may move to another provider, and the provider/model hops tried so far.
    tier: Text | None = Field(default=None, max_length=64)
    fallback: bool = False
    path: list[Text] = Field(default_factory=list, max_length=64)
    # A conversation of the tenant whose history is sent before `messages` (common/conversations.py),
    # and whether the response cache may answer (common/cache.py); None: the tenant's default.
    conversation: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$")
    cache: Literal["off", "on", "always"] | None = None

    @model_validator(mode="after")
    def _model_in_options(self) -> Job:
        self.options = self.options.model_copy(update={"model": self.model})
        return self

    @property
    def deadline_at(self) -> float:
        return self.submitted_at + self.deadline_s


class Timings(BaseModel):
    submitted_at: float
    started_at: float | None = None
    first_token_at: float | None = None
    finished_at: float | None = None


class JobResult(BaseModel):
    """How a job ended: stored once, with a TTL, whatever the number of deliveries."""

    job_id: str
    status: JobStatus
    provider: str
    model: str
    tenant: str = "default"
    attempts: int = 1
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None  # None: the model's price is unknown (never counted as 0)
    finish_reason: FinishReason | None = None
    error: dict[str, Any] | None = None
    timings: Timings
    path: list[str] = Field(default_factory=list)
    cached: bool = False  # answered from the response cache: no provider call, no cost
    conversation: dict[str, Any] | None = None  # the conversation's id, turns sent and what was trimmed
