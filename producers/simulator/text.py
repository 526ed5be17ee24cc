"""Deterministic answers and the simulator's token count.

A token is a whitespace-separated word, everywhere: prompt estimates, usage, quota. So a test can
check usage exactly with `count_tokens`. Answers are words drawn by a generator seeded with a hash
of the prompt: the same prompt always gets the same answer, streamed or not.
"""

from __future__ import annotations

import hashlib
import random

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
