"""The provider interface (the seed's `LLMProvider`) and the declarations every provider makes.

A provider is a declaration (`ProviderSpec`: name, URLs, headers, models it knows facts about) plus
one of three wire protocols (OpenAI-compatible, Anthropic Messages, Gemini). The decrypted key and
the base URL are passed in; provider code never reads settings or the environment.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from multillm.common.errors import ConfigurationError, UnknownModelError
from multillm.common.providers.assembly import collect
from multillm.common.redact import register
from multillm.common.schemas import ChatOptions, ChatResult, Message, ProviderConfig, ProviderEvent


@dataclass(frozen=True)
class ModelInfo:
    """A model the catalogue knows facts about: its limits and what it accepts."""

    id: str
    label: str
    context_length: int
    max_output_tokens: int
    vision: bool = False
    tools: bool = True
    # Reasoning models (OpenAI o-series) take `max_completion_tokens` and reject sampling parameters.
    reasoning: bool = False


@dataclass(frozen=True)
class LiveModel:
    """One entry of a provider's live model list, with whatever limits and prices (USD per million
    tokens) the list itself states; None where it says nothing."""

    id: str
    context_length: int | None = None
    max_output_tokens: int | None = None
    input_price: float | None = None
    output_price: float | None = None


@dataclass(frozen=True)
class ProviderSpec:
    """Everything that makes one provider different from another speaking the same protocol."""

    id: str
    name: str
    label: str
    description: str
    protocol: str  # "openai", "anthropic" or "gemini"
    env_prefix: str  # OPENAI -> OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_CONCURRENCY ...
    default_base_url: str
    models: tuple[ModelInfo, ...]
    key_env: str = ""
    chat_path: str = "/chat/completions"
    models_path: str = "/models"
    headers: tuple[tuple[str, str], ...] = ()
    key_pattern: str = r"^\S{8,}$"
    supports_streaming: bool = True
    supports_system_prompt: bool = True
    # Parameters the provider refuses; mapped options naming them are dropped with a warning.
    unsupported: frozenset[str] = field(default_factory=frozenset)

    @property
    def api_key_env(self) -> str:
        return self.key_env or f"{self.env_prefix}_API_KEY"

    @property
    def base_url_env(self) -> str:
        return f"{self.env_prefix}_BASE_URL"

    @property
    def default_model(self) -> str:
        return self.models[0].id

    def find_model(self, model_id: str) -> ModelInfo | None:
        return next((m for m in self.models if m.id == model_id), None)


@dataclass(frozen=True)
class Timeouts:
    """Seconds. `idle` is the longest gap between chunks; `first_token` bounds the wait for content."""

    connect: float = 10.0
    first_token: float = 60.0
    idle: float = 30.0
    total: float = 600.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.idle, write=self.idle, pool=self.connect)


class LLMProvider(ABC):
    """The seed's interface in Python naming. One instance per (provider, key, base URL)."""

    protocol: ClassVar[str]

    def __init__(
        self,
        spec: ProviderSpec,
        api_key: str,
        *,
        base_url: str | None = None,
        timeouts: Timeouts | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.spec = spec
        self._api_key = api_key
        register(api_key)  # whatever echoes it back (an error body, a header dump) is masked
        self.base_url = (base_url or spec.default_base_url).rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self._client = client or httpx.Client(timeout=self.timeouts.httpx())
        self._models_cache: tuple[float, list[LiveModel]] | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"<{type(self).__name__} {self.spec.id} {self.base_url}>"

    # The seed's descriptive fields.
    id = property(lambda self: self.spec.id)
    name = property(lambda self: self.spec.name)
    label = property(lambda self: self.spec.label)
    description = property(lambda self: self.spec.description)
    model = property(lambda self: self.spec.default_model)
    available_models = property(lambda self: list(self.spec.models))
    max_tokens = property(lambda self: max(m.max_output_tokens for m in self.spec.models))
    supports_streaming = property(lambda self: self.spec.supports_streaming)
    supports_system_prompt = property(lambda self: self.spec.supports_system_prompt)
    max_context_length = property(lambda self: max(m.context_length for m in self.spec.models))

    MODELS_TTL: ClassVar[float] = 3600.0  # the seed: model lists are cached for one hour

    def close(self) -> None:
        self._client.close()

    def validate_config(self, config: ProviderConfig) -> bool:
        """Check the key's format, then make the cheapest authenticated call (the model list), which
        must list the configured model."""
        import re

        if not re.match(self.spec.key_pattern, config.api_key.get_secret_value()):
            raise ConfigurationError(f"api_key: not a well-formed {self.spec.name} key")
        listed = [m.id for m in self._fetch_models(self._headers_for(config.api_key.get_secret_value()))]
        if config.model not in listed:
            raise UnknownModelError(unlisted_message(self.spec.name, config.model, listed))
        return True

    def get_models(self) -> list[LiveModel]:
        """The provider's live model list, with the limits and prices it states; cached 1 h in this
        instance (the Redis cache every process shares is `common/model_list.py`)."""
        now = time.monotonic()
        if self._models_cache and now - self._models_cache[0] < self.MODELS_TTL:
            return self._models_cache[1]
        models = self._fetch_models(self._headers_for(self._api_key))
        self._models_cache = (now, models)
        return models

    def count_tokens(self, messages: Sequence[Message], options: ChatOptions) -> int | None:
        """The provider's own count of a request's input tokens, where it has an endpoint for it
        (Anthropic, Gemini); None where it has none."""
        return None

    def stream_chat(
        self, messages: Sequence[Message], options: ChatOptions | None = None, *, job_id: str = ""
    ) -> Generator[ProviderEvent, None, None]:
        """Stream events: deltas, tool-call deltas then whole tool calls, usage, one finish. Closing the
        generator closes the provider connection."""
        options = options or ChatOptions()
        self._check_messages(messages)
        yield from self._stream(list(messages), options, job_id)

    def chat(
        self, messages: Sequence[Message], options: ChatOptions | None = None, *, job_id: str = ""
    ) -> ChatResult:
        """One complete answer. With `stream=False` the provider's non-streaming endpoint is used."""
        options = options or ChatOptions()
        self._check_messages(messages)
        model = options.model or self.spec.default_model
        if options.stream:
            return collect(self.spec.id, model, self._stream(list(messages), options, job_id))
        return self._complete(list(messages), options, job_id)

    def _check_messages(self, messages: Sequence[Message]) -> None:
        if not messages:
            raise ConfigurationError("messages: at least one message is required")

    @abstractmethod
    def _headers_for(self, api_key: str) -> dict[str, str]: ...

    @abstractmethod
    def _fetch_models(self, headers: dict[str, str]) -> list[LiveModel]: ...

    @abstractmethod
    def _stream(self, messages: list[Message], options: ChatOptions, job_id: str) -> Iterator[ProviderEvent]: ...

    @abstractmethod
    def _complete(self, messages: list[Message], options: ChatOptions, job_id: str) -> ChatResult: ...


def unlisted_message(provider_name: str, model: str, listed: Sequence[str]) -> str:
    """The error for a model id the provider's live list does not have, naming the closest ids."""
    import difflib

    close = difflib.get_close_matches(model, list(listed), n=3, cutoff=0.4)
    hint = f"; closest: {', '.join(close)}" if close else ""
    return f"model: {model!r} is not in {provider_name}'s model list ({len(listed)} models){hint}"
