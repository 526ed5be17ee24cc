"""The shapes everything agrees on: messages, chat options, provider events and results.

Everything here is pydantic and crosses process boundaries as JSON. Options forbid unknown fields so
a misspelt parameter is an error at the edge, never silently lost.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Role = Literal["system", "user", "assistant", "tool"]
MAX_SCHEMA_CHARS = 64_000  # as for tool schemas (sanitize.py)
MAX_SCHEMA_DEPTH = 64  # nesting of a JSON Schema; real ones stay under ten
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error", "cancelled"]


def valid_unicode(text: str) -> str:
    """Refuse a lone surrogate (`"\\ud800"` in JSON): it cannot be encoded, so it could not be stored or sent."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"a lone surrogate at character {exc.start}: text must be valid Unicode") from None
    return text


Text = Annotated[str, AfterValidator(valid_unicode)]


def json_document(value: Any, max_depth: int = MAX_SCHEMA_DEPTH) -> Any:
    """Refuse a value that is not plain JSON, nests deeper than `max_depth` or holds a lone surrogate.
    Walked with a stack, not recursion: a 100,000-deep document must get this error, not RecursionError."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, path = stack.pop()
        if depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels (at {path[:60]}...)")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    raise ValueError(f"{path or 'top'}: object keys must be strings")
                stack.append((valid_unicode(key), depth, path))
                stack.append((child, depth + 1, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, f"{path}.{i}") for i, child in enumerate(item))
        elif isinstance(item, str):
            valid_unicode(item)
        elif not isinstance(item, int | float | bool) and item is not None:
            raise ValueError(f"{path or 'top'}: {type(item).__name__} is not a JSON value")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(Strict):
    type: Literal["text"] = "text"
    text: Text


class ImagePart(Strict):
    """An image for multimodal models: a `data:` URL or an http(s) URL."""

    type: Literal["image"] = "image"
    url: Text
    detail: Literal["auto", "low", "high"] | None = None

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not url.startswith(("data:image/", "https://", "http://")):
            raise ValueError("must be a data:image/... URL or an http(s) URL")
        return url

    def data(self) -> tuple[str, str] | None:
        """(media type, base64 data) for a data URL, else None."""
        if not self.url.startswith("data:"):
            return None
        head, _, payload = self.url.partition(",")
        return head[5:].split(";")[0], payload


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ToolCall(Strict):
    """A complete call the model asked for; `arguments` is the JSON text the model produced."""

    id: Text = Field(max_length=256)
    name: Text = Field(max_length=256)
    arguments: Text = "{}"

    def parsed_arguments(self) -> Any:
        return json.loads(self.arguments or "{}")


class Message(Strict):
    role: Role
    content: Text | list[ContentPart] = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: Text | None = Field(default=None, max_length=256)
    name: Text | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _consistent(self) -> Message:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if self.role != "assistant" and not self.content:
            raise ValueError(f"a {self.role} message needs content")
        return self

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    def images(self) -> list[ImagePart]:
        return [] if isinstance(self.content, str) else [p for p in self.content if isinstance(p, ImagePart)]


class Tool(Strict):
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: Text = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    @field_validator("parameters")
    @classmethod
    def _plain_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        return json_document(value)


class ChatOptions(Strict):
    """The seed's ProviderConfig without the key: what a caller may set for one chat."""

    model: Text | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    stop: list[Text] | None = Field(default=None, max_length=4)
    seed: int | None = None  # best-effort determinism: OpenAI-compatible `seed`, Gemini `generationConfig.seed`
    system_prompt: Text | None = None
    stream: bool = True
    tools: list[Tool] | None = None
    tool_choice: Literal["auto", "none", "required"] | Text | None = None
    json_mode: bool = False
    # A JSON Schema (type object) the answer must follow; implies JSON mode. OpenAI-compatible:
    # `response_format` json_schema (strict, so objects closed and every property required); Gemini:
    # `responseJsonSchema`; Anthropic: a forced tool whose input is the answer, returned as text.
    response_schema: dict[str, Any] | None = None

    @field_validator("response_schema")
    @classmethod
    def _object_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        json_document(value)
        if str(value.get("type", "")).lower() != "object":
            raise ValueError("must be a JSON Schema of type object")
        if len(json.dumps(value)) > MAX_SCHEMA_CHARS:
            raise ValueError(f"schema larger than {MAX_SCHEMA_CHARS:,} characters")
        return value

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ProviderConfig(ChatOptions):
    """The seed's ProviderConfig: options plus the key and a required model."""

    api_key: SecretStr
    model: str


class Usage(Strict):
    """Tokens as OpenAI counts them: `input_tokens` includes cache reads and writes, `output_tokens`
    includes reasoning. `cost_usd` is the cost the provider itself reported (OpenRouter), if any."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class ToolCallDelta(Strict):
    """A fragment of a tool call as it streams; `index` ties fragments together."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ProviderEvent(Strict):
    """One thing that happened in a provider stream, in the provider's own order."""

    type: Literal["delta", "tool_call_delta", "tool_call", "usage", "finish", "error"]
    text: str = ""
    tool_call_delta: ToolCallDelta | None = None
    tool_call: ToolCall | None = None
    usage: Usage | None = None
    finish_reason: FinishReason | None = None
    native_finish_reason: str | None = None
    error: dict[str, Any] | None = None


class ChatResult(Strict):
    """What one complete chat produced."""

    provider: str
    model: str
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    finish_reason: FinishReason | None = None
    native_finish_reason: str | None = None
