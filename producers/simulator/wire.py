"""What a wire format must provide; one implementation per protocol (OpenAI-compatible, Anthropic
Messages, Gemini). Everything provider-specific the server needs goes through this interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from multillm.producers.simulator.plan import Ask, Plan
from multillm.producers.simulator.providers import SimModel, SimProvider
from multillm.producers.simulator.quota import QuotaDecision

# Error kinds and the HTTP status each usually has; a format may answer differently.
STATUS = {"invalid": 400, "context": 400, "version_missing": 400, "auth": 401, "auth_missing": 401, "bad_key": 401,
          "permission": 403, "not_found": 404, "rate_limit": 429, "server": 500, "bad_gateway": 502,
          "unavailable": 503, "overloaded": 529}
MESSAGES = {
    "invalid": "Invalid request.",
    "context": "This model's maximum context length was exceeded. Please reduce the length of the messages.",
    "auth": "Incorrect API key provided.",
    "bad_key": "Incorrect API key provided.",
    "auth_missing": "No API key provided.",
    "permission": "You are not allowed to use this model.",
    "rate_limit": "Rate limit reached; please try again later.",
    "server": "The server had an error while processing your request.",
    "bad_gateway": "Bad gateway.",
    "unavailable": "The service is temporarily unavailable.",
    "overloaded": "Overloaded",
}


@dataclass(frozen=True)
class ErrorReply:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """A streamed answer in pieces the server paces: `early` right after the headers (OpenRouter's
    processing comment), then after the time to first token `head`, one piece per token with the
    token rate between them, and `tail` (finish, usage, terminator)."""

    head: bytes
    tokens: list[bytes]
    tail: bytes
    early: bytes = b""


class WireFormat(ABC):
    protocol: ClassVar[str]
    stream_type: ClassVar[str] = "text/event-stream; charset=utf-8"

    @abstractmethod
    def api_key(self, headers: Mapping[str, str], query: Mapping[str, str]) -> tuple[str | None, str | None]:
        """(key, None) or (None, error kind) for a request without usable credentials."""

    @abstractmethod
    def parse(self, body: Mapping[str, Any], model: str | None) -> Ask:
        """The request; `model` comes from the URL for formats that put it there."""

    def refusal(self, spec: SimProvider, ask: Ask, body: Mapping[str, Any]) -> tuple[str, str] | None:
        """(error kind, message) when the provider would refuse this request before answering."""
        if ask.empty:
            return "invalid", "messages: at least one message is required"
        info = spec.find_model(ask.model)
        if info is None:
            return "not_found", f"The model `{ask.model}` does not exist or you do not have access to it."
        if ask.prompt_tokens > info.context_length:
            return "context", self.context_message(info, ask.prompt_tokens)
        return None

    def context_message(self, info: SimModel, tokens: int) -> str:
        return (f"This model's maximum context length is {info.context_length} tokens. However, your messages "
                f"resulted in {tokens} tokens. Please reduce the length of the messages.")

    @abstractmethod
    def error(self, provider: str, kind: str, message: str, retry_after_s: float | None = None) -> ErrorReply:
        """The provider's error for `kind` ("bad_key": a key the provider rejects; "auth": the 401 fault)."""

    @abstractmethod
    def rate_headers(self, provider: str, decision: QuotaDecision) -> dict[str, str]: ...

    def response_headers(self, plan: Plan) -> dict[str, str]:
        """Headers of every successful answer (request ids and the like)."""
        return {}

    @abstractmethod
    def completion(self, plan: Plan) -> Any:
        """The whole answer of the non-streaming endpoint."""

    @abstractmethod
    def stream(self, plan: Plan, include_usage: bool) -> Stream: ...

    @abstractmethod
    def midstream_error(self, plan: Plan) -> bytes:
        """An error event after HTTP 200 and some chunks have been sent."""

    @abstractmethod
    def malformed(self, plan: Plan) -> bytes:
        """An event whose data is not JSON."""

    @abstractmethod
    def models(self, spec: SimProvider, query: Mapping[str, str]) -> Any:
        """The models endpoint's answer, listing the simulator's own models."""
