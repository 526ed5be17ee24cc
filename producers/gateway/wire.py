"""OpenAI's Chat Completions wire shapes, and the translation to and from multillm's job schemas.

Requests are validated here with `extra="forbid"`, so a parameter multillm does not support (`seed`,
`logprobs`, `n` above 1...) is a 400 naming it rather than silently dropped; what passes becomes the
job's messages and `ChatOptions`, which the producer API validates again like any other submit.
Shapes follow https://platform.openai.com/docs/api-reference/chat (request, response, chunk).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from multillm.common.errors import UnknownModelError
from multillm.common.jobs import JobResult
from multillm.common.providers import SPECS
from multillm.common.schemas import Usage
from multillm.common.stream import StreamMessage


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageURL(Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class TextContent(Strict):
    type: Literal["text"]
    text: str


class ImageContent(Strict):
    type: Literal["image_url"]
    image_url: ImageURL


class FunctionCall(Strict):
    name: str
    arguments: str = "{}"


class ToolCallIn(Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextContent | ImageContent] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    refusal: str | None = None

    def as_job_message(self) -> dict[str, Any]:
        """The multillm message: `developer` is the system role; image parts become image parts."""
        content: Any = self.content or ""
        if isinstance(self.content, list):
            content = [{"type": "text", "text": p.text} if isinstance(p, TextContent)
                       else {"type": "image", "url": p.image_url.url, "detail": p.image_url.detail}
                       for p in self.content]
        message: dict[str, Any] = {"role": "system" if self.role == "developer" else self.role, "content": content}
        if self.tool_calls:
            message["tool_calls"] = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                                     for c in self.tool_calls]
        for field in ("tool_call_id", "name"):
            if getattr(self, field) is not None:
                message[field] = getattr(self, field)
        return message


class FunctionDef(Strict):
    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class ToolIn(Strict):
    type: Literal["function"]
    function: FunctionDef


class ToolChoiceFunction(Strict):
    name: str


class NamedToolChoice(Strict):
    type: Literal["function"]
    function: ToolChoiceFunction


class JsonSchemaFormat(Strict):
    name: str
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("json_schema is required when type is json_schema")
        return self


class StreamOptions(Strict):
    include_usage: bool = False


class ChatCompletionRequest(Strict):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    tools: list[ToolIn] | None = None
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None  # every provider may return several calls; nothing to map
    response_format: ResponseFormat | None = None
    n: Literal[1] = 1
    user: str | None = Field(default=None, max_length=256)
    metadata: dict[str, str] | None = None

    def options(self) -> dict[str, Any]:
        """ChatOptions fields (validated again by the producer API)."""
        choice = self.tool_choice.function.name if isinstance(self.tool_choice, NamedToolChoice) else self.tool_choice
        options: dict[str, Any] = {
            "temperature": self.temperature, "top_p": self.top_p, "stop": self.stop,
            "max_tokens": self.max_completion_tokens or self.max_tokens,
            "frequency_penalty": self.frequency_penalty, "presence_penalty": self.presence_penalty,
            "tool_choice": choice,
            "tools": [{"name": t.function.name, "description": t.function.description,
                       "parameters": t.function.parameters} for t in self.tools] if self.tools else None,
        }
        if self.response_format is not None and self.response_format.type == "json_object":
            options["json_mode"] = True
        elif self.response_format is not None and self.response_format.json_schema is not None:
            options["response_schema"] = self.response_format.json_schema.schema_
        return {k: v for k, v in options.items() if v is not None}

    def job_messages(self) -> list[dict[str, Any]]:
        return [m.as_job_message() for m in self.messages]

    def job_metadata(self) -> dict[str, str]:
        return {**(self.metadata or {}), **({"user": self.user} if self.user else {})}


class JobRequest(ChatCompletionRequest):
    """`POST /v1/jobs`: a chat completion request, run as a job the caller follows by id."""

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,63}$")
    deadline_s: float | None = Field(default=None, gt=0, le=86_400)
    max_attempts: int | None = Field(default=None, ge=1, le=50)


def resolve_model(name: str, tiers: dict[str, dict[str, str]]) -> tuple[str, str | None, str | None]:
    """(provider or "auto", model or None, tier or None) for `provider/model`, a tier name, or `auto`."""
    if name == "auto":
        return "auto", None, None
    if name in tiers:
        return "auto", None, name
    provider, _, model = name.partition("/")
    if provider in SPECS and model:
        return provider, model, None  # any id; checked against the provider's live list (common/model_list.py)
    raise UnknownModelError(f"model: {name!r} is not provider/model, a tier ({', '.join(tiers)}) or auto")


def model_list(tiers: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """`GET /v1/models`: every catalogue model as provider/model, then the tiers and auto."""
    models = [model_entry(f"{spec.id}/{m.id}", spec.id) for spec in SPECS.values() for m in spec.models]
    return models + [model_entry(name, "multillm") for name in [*tiers, "auto"]]


def model_entry(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


def usage_body(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens}


def tool_call_body(call: Any, index: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": call.id, "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments}}
    return body if index is None else {"index": index, **body}


def completion_body(completion_id: str, result: JobResult) -> dict[str, Any]:
    """A `chat.completion` object from a finished job."""
    message: dict[str, Any] = {"role": "assistant", "content": result.text or None, "refusal": None}
    if result.tool_calls:
        message["tool_calls"] = [tool_call_body(c) for c in result.tool_calls]
    return {
        "id": completion_id, "object": "chat.completion", "created": int(result.timings.submitted_at),
        "model": f"{result.provider}/{result.model}", "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": result.finish_reason or "stop"}],
        "usage": usage_body(result.usage),
    }


class StreamRestarted(Exception):
    """The job started another attempt after text was sent: the client cannot take text back."""


class ChunkWriter:
    """Turns one job's stream messages into `chat.completion.chunk` objects, in order."""

    def __init__(self, completion_id: str, created: int, include_usage: bool) -> None:
        self.id, self.created, self.include_usage = completion_id, created, include_usage
        self.model = ""
        self.sent_content = False
        self.tool_calls = 0
        self.usage = Usage()

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    def on(self, message: StreamMessage) -> list[dict[str, Any]]:
        """Chunks for one message; raises StreamRestarted when an attempt restarts after text went out."""
        if message.type == "start":
            if self.sent_content:
                raise StreamRestarted("the provider failed part-way and the job restarted; retry the request")
            first = not self.model
            self.model = f"{message.provider}/{message.model}"
            return [self.chunk({"role": "assistant", "content": ""})] if first else []
        if message.type == "delta" and message.text:
            self.sent_content = True
            return [self.chunk({"content": message.text})]
        if message.type == "tool_call" and message.tool_call is not None:
            self.sent_content = True
            self.tool_calls += 1
            return [self.chunk({"tool_calls": [tool_call_body(message.tool_call, self.tool_calls - 1)]})]
        if message.type == "usage" and message.usage is not None:
            self.usage = message.usage
            return []
        if message.type == "done":
            return self._finish(message)
        return []

    def _finish(self, message: StreamMessage) -> list[dict[str, Any]]:
        reason = message.finish_reason or ("tool_calls" if self.tool_calls else "stop")
        chunks = [self.chunk({}, reason)]
        usage = message.usage or self.usage
        if self.include_usage:
            chunks.append({**self.chunk({}), "choices": [], "usage": usage_body(usage)})
        return chunks
