"""Text that cannot be encoded and JSON documents nested without end get a field error, never a
serialisation or recursion error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.common.errors import ConfigurationError
from multillm.common.jobs import Job
from multillm.common.schemas import MAX_SCHEMA_DEPTH
from multillm.common.validation import parse

BASE = {"provider": "openai", "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def deep(levels: int) -> dict:
    root: dict = {"type": "object"}
    node = root
    for _ in range(levels):
        node["properties"] = {"a": {"type": "object"}}
        node = node["properties"]["a"]
    return root


@pytest.mark.parametrize(("field", "data"), [
    (r"messages\.0\.content", {"messages": [{"role": "user", "content": "a\ud800b"}]}),
    (r"messages\.0\.content\S*\.0\.text\S*", {"messages": [{"role": "user", "content": [{"type": "text", "text": "\udfff"}]}]}),
    (r"options\.system_prompt", {"options": {"system_prompt": "\ud83d"}}),
    (r"options\.stop\.0", {"options": {"stop": ["\ud800"]}}),
    (r"metadata\.k", {"metadata": {"k": "\udc00"}}),
    (r"options\.tools\.0\.description", {"options": {"tools": [{"name": "t", "description": "\ud800"}]}}),
])
def test_a_lone_surrogate_is_a_field_error(field, data):
    with pytest.raises(ConfigurationError, match=f"{field}: .*lone surrogate"):
        parse(Job, {**BASE, **data})


@pytest.mark.parametrize("levels", [MAX_SCHEMA_DEPTH + 1, 2_000, 100_000])
def test_a_deep_schema_is_a_field_error(levels):
    with pytest.raises(ConfigurationError, match=r"options\.tools\.0\.parameters: .*nested deeper"):
        parse(Job, {**BASE, "options": {"tools": [{"name": "t", "parameters": deep(levels)}]}})
    with pytest.raises(ConfigurationError, match=r"options\.response_schema: .*nested deeper"):
        parse(Job, {**BASE, "options": {"response_schema": deep(levels)}})


def test_a_schema_of_ordinary_depth_passes_and_serialises():
    job = parse(Job, {**BASE, "options": {"tools": [{"name": "t", "parameters": deep(10)}]}})
    assert Job.model_validate_json(job.model_dump_json()) == job


@given(st.text(max_size=40))
def test_any_accepted_text_serialises(text):
    try:
        job = parse(Job, {**BASE, "messages": [{"role": "user", "content": text or "x"}], "metadata": {"m": text}})
    except ConfigurationError as exc:
        assert "lone surrogate" in str(exc)
        return
    assert Job.model_validate_json(job.model_dump_json()) == job


@pytest.mark.parametrize(("field", "message"), [
    ("tool_call_id", {"role": "tool", "tool_call_id": "i" * 257, "content": "x"}),
    ("name", {"role": "user", "name": "n" * 257, "content": "x"}),
    ("tool_calls.0.id", {"role": "assistant", "tool_calls": [{"id": "i" * 257, "name": "f"}]}),
])
def test_ids_and_names_are_bounded(field, message):
    with pytest.raises(ConfigurationError, match=rf"messages\.0\.{field.replace('.', '[.]')}: "):
        parse(Job, {**BASE, "messages": [message]})


def test_a_batch_line_nested_without_end_names_its_line():
    from multillm.producers.batch.input import parse_line

    deep_line = '{"prompt": "hi", "response_schema": ' + '{"a": ' * 5_000 + "1" + "}" * 5_001
    with pytest.raises(ConfigurationError, match="line 7: JSON nested too deeply"):
        parse_line(deep_line, 7)
