"""The simulator's JSON mode: values drawn from a schema validate against it, the JSON answer is
deterministic and token-counted like any answer, and the wire formats carry it whole."""

from __future__ import annotations

import json
import random
from typing import Any, Literal

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from multillm.producers.simulator import SimulatorConfig, count_tokens
from multillm.producers.simulator.handlers import FORMATS
from multillm.producers.simulator.json_mode import gemini_json, json_answer, openai_json, schema_problem
from multillm.producers.simulator.plan import Ask, make_plan, tool_arguments
from multillm.producers.simulator.providers import PROVIDERS as SPECS
from multillm.producers.simulator.schema_values import schema_value

VERDICT = {"type": "object", "additionalProperties": False, "required": ["verdict", "reason"],
           "properties": {"verdict": {"type": "string", "enum": ["pass", "fail"]}, "reason": {"type": "string"}}}
NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)


def _bounded(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    ints = st.integers(-1000, 1000)
    return st.fixed_dictionaries({"type": st.just(kind)}, optional={
        "minimum": ints, "maximum": ints, "exclusiveMinimum": ints, "exclusiveMaximum": ints,
        **({"multipleOf": st.integers(1, 7)} if kind == "integer" else {}),
    }).filter(_satisfiable)


def _satisfiable(schema: dict[str, Any]) -> bool:
    """A range with room for a value (and, with multipleOf, a multiple) in it."""
    low = max([schema.get("minimum", -10**9), schema.get("exclusiveMinimum", -10**9) + 1])
    high = min([schema.get("maximum", 10**9), schema.get("exclusiveMaximum", 10**9) - 1])
    step = schema.get("multipleOf", 1)
    return high - low >= step


LEAVES = st.one_of(
    st.just({"type": "string"}), st.just({"type": "boolean"}), st.just({"type": "null"}),
    st.builds(lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra},
              st.integers(0, 40), st.integers(0, 40)),
    st.sampled_from(["date-time", "date", "email", "uri", "uuid"]).map(lambda f: {"type": "string", "format": f}),
    st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4, unique=True).map(lambda e: {"enum": e}),
    st.integers().map(lambda c: {"const": c}),
    _bounded("integer"), _bounded("number"),
    st.lists(st.sampled_from(["string", "integer", "boolean", "null"]), min_size=1, max_size=3, unique=True)
    .map(lambda kinds: {"type": kinds}),
)


def _object(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    def build(props: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
        required = data.draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
        return {"type": "object", "properties": props, "required": required, "additionalProperties": False}
    return st.builds(build, st.dictionaries(NAMES, children, max_size=4), st.data())


def _array(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda items, lo, extra: {"type": "array", "items": items, "minItems": lo, "maxItems": lo + extra},
                     children, st.integers(0, 3), st.integers(0, 3))


SCHEMAS = st.recursive(LEAVES, lambda children: st.one_of(
    _object(children), _array(children),
    st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches}),
), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(SCHEMAS, st.integers(0, 2**32))
def test_a_value_drawn_from_a_schema_validates_against_it(schema, seed):
    jsonschema.validate(schema_value(schema, random.Random(seed)), schema)


def _gemini(schema: Any) -> Any:
    """The same schema in Gemini's OpenAPI subset: capitalised type names."""
    if isinstance(schema, dict):
        return {k: (v.upper() if k == "type" and isinstance(v, str) else _gemini(v)) for k, v in schema.items()}
    return [_gemini(s) for s in schema] if isinstance(schema, list) else schema


@settings(max_examples=100, deadline=None)
@given(SCHEMAS.filter(lambda s: "const" not in json.dumps(s)), st.integers(0, 2**32))
def test_gemini_capitalised_types_are_understood(schema, seed):
    jsonschema.validate(schema_value(_gemini(schema), random.Random(seed)), schema)


class Judge(BaseModel):
    verdict: Literal["pass", "fail"]
    reason: str


class Report(BaseModel):
    title: str
    judges: list[Judge]
    best: Judge | None = None
    score: float


@pytest.mark.parametrize("seed", range(20))
def test_pydantic_schemas_with_refs_are_followed(seed):
    schema = Report.model_json_schema()
    assert "$defs" in schema
    Report.model_validate(schema_value(schema, random.Random(seed)))


def test_the_json_answer_is_deterministic_and_counted_in_whitespace_tokens():
    chunks, finish = json_answer("Grade this", VERDICT, None)
    text = "".join(chunks)
    assert json_answer("Grade this", VERDICT, None) == (chunks, finish) and finish == "stop"
    jsonschema.validate(json.loads(text), VERDICT)
    assert len(chunks) == count_tokens(text)


def test_the_verdict_depends_on_the_request():
    verdicts = {json.loads("".join(json_answer(f"answer {i}", VERDICT, None)[0]))["verdict"] for i in range(20)}
    assert verdicts == {"pass", "fail"}


def test_max_tokens_cuts_the_json_short():
    chunks, finish = json_answer("Grade this", VERDICT, 2)
    assert finish == "length" and len(chunks) == 2
    with pytest.raises(json.JSONDecodeError):
        json.loads("".join(chunks))


def test_json_object_without_a_schema_is_an_object():
    assert isinstance(json.loads("".join(json_answer("Say it in JSON", None, None)[0])), dict)


def test_request_fields_that_ask_for_json():
    assert openai_json({"response_format": {"type": "json_object"}}) == (True, None)
    assert openai_json({"response_format": {"type": "json_schema", "json_schema": {"name": "v", "schema": VERDICT}}}) \
        == (True, VERDICT)
    assert openai_json({"response_format": {"type": "text"}}) == (False, None)
    assert openai_json({}) == (False, None)
    config = {"responseMimeType": "application/json"}
    assert gemini_json({"generationConfig": {**config, "responseJsonSchema": VERDICT}}) == (True, VERDICT)
    assert gemini_json({"generationConfig": {**config, "responseSchema": _gemini(VERDICT)}}) == (True, _gemini(VERDICT))
    assert gemini_json({"generationConfig": config}) == (True, None)
    assert gemini_json({"generationConfig": {"responseMimeType": "text/plain"}}) == (False, None)


def test_strict_schema_rules():
    assert schema_problem(VERDICT) is None
    open_object = {**VERDICT, "additionalProperties": True}
    assert "additionalProperties" in schema_problem(open_object)
    assert "Missing 'reason'" in schema_problem({**VERDICT, "required": ["verdict"]})
    nested = {"type": "object", "additionalProperties": False, "required": ["x"],
              "properties": {"x": {"type": "array", "items": {"type": "object", "properties": {}}}}}
    assert "properties/x, items" in schema_problem(nested)


def _openai_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Grade this"}], **extra}


def test_openai_refuses_json_object_unless_a_message_mentions_json():
    fmt, spec = FORMATS["openai"], SPECS["openai"]
    body = _openai_body(response_format={"type": "json_object"})
    kind, message = fmt.refusal(spec, fmt.parse(body, None), body)
    assert kind == "invalid" and "must contain the word 'json'" in message
    body["messages"][0]["content"] = "Grade this; reply in JSON"
    assert fmt.refusal(spec, fmt.parse(body, None), body) is None


def test_openai_refuses_a_strict_schema_that_is_not_closed():
    fmt, spec = FORMATS["openai"], SPECS["openai"]
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    body = _openai_body(response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": loose,
                                                                                "strict": True}})
    kind, message = fmt.refusal(spec, fmt.parse(body, None), body)
    assert kind == "invalid" and message.startswith("Invalid schema for response_format 'v'")


@pytest.mark.parametrize("provider", ["openai", "openrouter", "llama", "grok", "github"])
def test_openai_compatible_stream_and_completion_carry_the_same_json(provider):
    fmt = FORMATS["openai"]
    body = _openai_body(model=SPECS[provider].default_model, stream=True,
                        response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": VERDICT}})
    plan = make_plan(SimulatorConfig(), provider, fmt.parse(body, None), None, {})
    pieces = fmt.stream(plan, include_usage=True)
    data = [json.loads(block[6:]) for block in b"".join([pieces.head, *pieces.tokens, pieces.tail]).decode().split("\n\n")
            if block.startswith("data: {")]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in data if c.get("choices"))
    whole = fmt.completion(plan)
    assert streamed == whole["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(streamed), VERDICT)
    assert whole["usage"]["completion_tokens"] == count_tokens(streamed) == data[-1]["usage"]["completion_tokens"]


def test_gemini_stream_and_completion_carry_the_same_json():
    fmt = FORMATS["gemini"]
    body = {"contents": [{"role": "user", "parts": [{"text": "Grade this"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": _gemini(VERDICT)}}
    plan = make_plan(SimulatorConfig(), "google", fmt.parse(body, "gemini-2.0-flash"), None, {})
    pieces = fmt.stream(plan, include_usage=True)
    chunks = [json.loads(block[6:]) for block in b"".join(pieces.tokens).decode().split("\r\n\r\n") if block]
    streamed = "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"])
    whole = fmt.completion(plan)
    assert streamed == whole["candidates"][0]["content"]["parts"][0]["text"]
    jsonschema.validate(json.loads(streamed), VERDICT)
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == count_tokens(streamed)


def test_plain_requests_still_get_words():
    plan = make_plan(SimulatorConfig(), "openai", Ask(model="gpt-4o-mini", prompt="Hi", prompt_tokens=1), None, {})
    assert not plan.text.startswith("{") and len(plan.chunks) == SimulatorConfig().default_max_tokens


def test_a_forced_tool_used_as_a_classifier_picks_its_enum_by_request():
    picks = {tool_arguments(VERDICT, f"answer {i}")["verdict"] for i in range(20)}
    assert picks == {"pass", "fail"}
    assert tool_arguments(VERDICT, "same") == tool_arguments(VERDICT, "same")
    assert tool_arguments(VERDICT)["verdict"] == "pass"  # no request to go by: the first value
