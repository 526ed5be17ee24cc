"""JSON output on request: which request fields ask for it, and the answer that honours them.

OpenAI Chat Completions: `response_format` `{"type": "json_object"}` (any JSON object; OpenAI itself
refuses it unless a message mentions JSON) or `{"type": "json_schema", "json_schema": {"name",
"schema", "strict"}}` (openai-python `types/shared_params/response_format_json_schema.py`). Gemini:
`generationConfig.responseMimeType: "application/json"` with `responseSchema` (an OpenAPI subset) or
`responseJsonSchema` (JSON Schema) (googleapis/python-genai `types.py` GenerationConfig). Anthropic
has no such field: callers force a tool whose input schema is the shape, which the tool path serves.

The answer is `json.dumps` of a value drawn from the schema with a generator seeded by the prompt and
the schema, so the same request always gets the same JSON. Tokens are whitespace-separated pieces of
that text, as everywhere in the simulator; an explicit `max_tokens` below the answer's length cuts it
(finish `length`), leaving the JSON unfinished as a real model's would be.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from typing import Any

from multillm.producers.simulator.schema_values import schema_value

ANY_OBJECT: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def openai_json(body: Mapping[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """(JSON asked for, its schema) from a Chat Completions body."""
    fmt = body.get("response_format")
    if not isinstance(fmt, Mapping):
        return False, None
    if fmt.get("type") == "json_schema":
        found = fmt.get("json_schema")
        spec: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        schema = spec.get("schema")
        return True, dict(schema) if isinstance(schema, Mapping) else None
    return fmt.get("type") == "json_object", None


def gemini_json(body: Mapping[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """(JSON asked for, its schema) from a generateContent body's generationConfig."""
    found = body.get("generationConfig")
    config: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    if config.get("responseMimeType") != "application/json":
        return False, None
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    return True, dict(schema) if isinstance(schema, Mapping) else None


def json_answer(prompt: str, schema: Mapping[str, Any] | None, max_tokens: int | None) -> tuple[list[str], str]:
    """(chunks, finish): the JSON text in token pieces that join back to it exactly."""
    schema = schema or ANY_OBJECT
    seed = hashlib.sha256(f"{prompt}\x00{json.dumps(schema, sort_keys=True)}".encode()).digest()
    value = schema_value(schema, random.Random(int.from_bytes(seed[:8], "big")))
    chunks = token_pieces(json.dumps(value, ensure_ascii=False))
    if max_tokens is not None and len(chunks) > max_tokens:
        return chunks[:max_tokens], "length"
    return chunks, "stop"


def token_pieces(text: str) -> list[str]:
    """One piece per whitespace-separated token, each with the whitespace before it."""
    return re.findall(r"\s*\S+", text)


def schema_problem(schema: Mapping[str, Any], path: str = "") -> str | None:
    """Why OpenAI's strict mode would refuse `schema`: every object closed, every property required."""
    props = schema.get("properties")
    if schema.get("type") == "object" or isinstance(props, Mapping):
        if schema.get("additionalProperties") is not False:
            return f"In context=({path}), 'additionalProperties' is required to be supplied and to be false."
        missing = sorted(set(props or {}) - set(schema.get("required") or []))
        if missing:
            return f"In context=({path}), 'required' is required to be supplied and to be an array including " \
                   f"every key in properties. Missing '{missing[0]}'."
    children = [(f"properties/{k}", v) for k, v in (props or {}).items()]
    children += [(f"{k}/{n}", v) for k in ("$defs", "definitions") for n, v in (schema.get(k) or {}).items()]
    children += [(f"{k}/{i}", v) for k in ("anyOf", "allOf") for i, v in enumerate(schema.get(k) or [])]
    if isinstance(schema.get("items"), Mapping):
        children.append(("items", schema["items"]))
    for where, child in children:
        if isinstance(child, Mapping) and (problem := schema_problem(child, f"{path}, {where}" if path else where)):
            return problem
    return None
