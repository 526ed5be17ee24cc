"""Deterministic answers and the simulator's token count."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

import multillm.producers.simulator as simulator
from multillm.producers.simulator import answer_words, count_tokens
from multillm.producers.simulator.text import as_chunks, json_fragments, reasoning_chunks


def test_the_public_surface_is_sorted_and_importable():
    def kind(name: str) -> tuple[int, str]:  # constants, classes, functions: ruff's RUF022 order
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert simulator.__all__ == sorted(simulator.__all__, key=kind)
    assert all(hasattr(simulator, name) for name in simulator.__all__)


def test_a_token_is_a_whitespace_separated_word():
    assert count_tokens("") == 0
    assert count_tokens("one") == 1
    assert count_tokens("  two\twords\n") == 2
    assert count_tokens('{"city": "Paris"}') == 2


def test_the_same_prompt_gets_the_same_answer():
    assert answer_words("Tell me about rivers", 20) == answer_words("Tell me about rivers", 20)
    assert answer_words("Tell me about rivers", 20) != answer_words("Tell me about lakes", 20)


def test_a_shorter_answer_is_a_prefix_of_the_longer_one():
    assert answer_words("prefix", 32)[:5] == answer_words("prefix", 5)


@given(st.text(max_size=200), st.integers(min_value=0, max_value=64))
def test_chunks_join_to_text_of_exactly_n_tokens(prompt, n):
    chunks = as_chunks(answer_words(prompt, n))
    assert len(chunks) == n == count_tokens("".join(chunks))


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=5))
def test_json_fragments_join_to_the_arguments(arguments):
    text = json.dumps(arguments)
    fragments = json_fragments(text)
    assert "".join(fragments) == text and all(0 < len(f) <= 8 for f in fragments)


def test_reasoning_is_four_tokens_and_deterministic():
    assert reasoning_chunks("why") == reasoning_chunks("why")
    assert count_tokens("".join(reasoning_chunks("why"))) == 4
