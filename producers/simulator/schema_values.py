"""A value that conforms to a JSON Schema, drawn from a seeded generator: what the simulator answers
when a request asks for JSON output with a schema (OpenAI `response_format` json_schema, Gemini
`responseSchema` / `responseJsonSchema`).

Understood: `type` (one or a list; Gemini's capitalised names too), `enum`, `const`, `properties`,
`required`, `propertyOrdering`, `items`, `minItems`/`maxItems`, `uniqueItems`, `minLength`/`maxLength`,
`format` (date-time, date, time, email, uri, uuid), `minimum`/`maximum` and their exclusive forms,
integer `multipleOf`, `anyOf`/`oneOf` (one branch), `allOf` (properties merged), `$ref` into `$defs`
or `definitions`, `nullable`. Not understood: `pattern`, `not`, `if`/`then`, `patternProperties`.
Optional properties are included on a coin toss; extra properties are never added.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Mapping
from typing import Any

from multillm.producers.simulator.text import WORDS

MAX_DEPTH = 8  # past it objects keep their required properties only and arrays their minimum length
FORMATS = {
    "date-time": lambda r: f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:00:00Z",
    "date": lambda r: f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    "time": lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00Z",
    "email": lambda r: f"{r.choice(WORDS)}@example.com",
    "uri": lambda r: f"https://example.com/{r.choice(WORDS)}",
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
}


def schema_value(schema: Mapping[str, Any], rng: random.Random) -> Any:
    """A value valid under `schema` (within what this module understands)."""
    return _Draw(schema, rng).value(schema, 0)


class _Draw:
    def __init__(self, root: Mapping[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def value(self, schema: Mapping[str, Any], depth: int) -> Any:
        schema = self._resolved(schema)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return self.rng.choice(list(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                return self.value(self.rng.choice(list(schema[key])), depth + 1)
        if schema.get("allOf"):
            return self.value(_merged(schema, [self._resolved(s) for s in schema["allOf"]]), depth + 1)
        kind = self._kind(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind in ("integer", "number"):
            return self._number(schema, kind == "integer")
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema)

    def _resolved(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < 32:
            target: Any = self.root
            for part in schema["$ref"].lstrip("#").strip("/").split("/"):
                if part:
                    target = target[part.replace("~1", "/").replace("~0", "~")]
            schema, seen = target, seen + 1
        return schema

    def _kind(self, schema: Mapping[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = self.rng.choice(kind) if kind else None
        if kind is None:
            return "object" if "properties" in schema else "array" if "items" in schema else "string"
        return str(kind).lower()  # Gemini's OpenAPI subset writes OBJECT, STRING, ...

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        order = [p for p in schema.get("propertyOrdering") or [] if p in props]
        order += [p for p in props if p not in order]
        chosen = [p for p in order if p in required or (depth < MAX_DEPTH and self.rng.random() < 0.5)]
        out = {name: self.value(props[name], depth + 1) for name in chosen}
        for name in sorted(required - set(props)):  # required but undescribed: any value will do
            out[name] = self._string({})
        return out

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        low = int(schema.get("minItems") or 0)
        high = schema.get("maxItems")
        n = low if depth >= MAX_DEPTH else self.rng.randint(max(low, 1), max(low, 1) + 2)
        n = min(n, int(high)) if high is not None else n
        found = schema.get("items")
        items: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        if not schema.get("uniqueItems"):
            return [self.value(items, depth + 1) for _ in range(n)]
        out: list[Any] = []
        for _ in range(n * 8):  # draw until enough distinct values (a small enum may have too few)
            candidate = self.value(items, depth + 1)
            if candidate not in out:
                out.append(candidate)
            if len(out) == n:
                break
        return out

    def _number(self, schema: Mapping[str, Any], integer: bool) -> int | float:
        low, high = _bounds(schema)
        step = schema.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            first, last = math.floor(low / step) + 1, math.ceil(high / step) - 1
            first = first - 1 if _inside(step * (first - 1), schema) else first
            last = last + 1 if _inside(step * (last + 1), schema) else last
            return step * self.rng.randint(first, max(first, last))
        if integer:
            first, last = math.floor(low) + 1, math.ceil(high) - 1
            first = first - 1 if _inside(first - 1, schema) else first
            last = last + 1 if _inside(last + 1, schema) else last
            return self.rng.randint(first, max(first, last))
        value = low + (high - low) * self.rng.uniform(0.1, 0.9)  # strictly inside, so exclusive bounds hold
        return round(value, 2) if _inside(round(value, 2), schema) else value

    def _string(self, schema: Mapping[str, Any]) -> str:
        make = FORMATS.get(str(schema.get("format", "")))
        if make is not None:
            return make(self.rng)
        shortest, longest = int(schema.get("minLength") or 0), schema.get("maxLength")
        text = " ".join(self.rng.choices(WORDS, k=self.rng.randint(1, 6)))
        while len(text) < shortest:
            text += " " + self.rng.choice(WORDS)
        if longest is None or len(text) <= longest:
            return text
        cut = text[:int(longest)]
        return cut.rstrip() if len(cut.rstrip()) >= shortest else cut  # no trailing space unless it is needed


def _bounds(schema: Mapping[str, Any]) -> tuple[float, float]:
    """The range a number is drawn from (its ends may be excluded; `_inside` tells)."""
    low, high = _limit(schema, "minimum", "exclusiveMinimum", max), _limit(schema, "maximum", "exclusiveMaximum", min)
    if low is None and high is None:
        return 0.0, 100.0
    if low is None:
        return float(high) - 100, float(high)  # type: ignore[arg-type]
    if high is None:
        return float(low), float(low) + 100
    return float(low), float(max(low, high))


def _limit(schema: Mapping[str, Any], inclusive: str, exclusive: str, pick: Any) -> float | None:
    found = [schema[k] for k in (inclusive, exclusive)
             if isinstance(schema.get(k), int | float) and not isinstance(schema.get(k), bool)]
    return pick(found) if found else None


def _inside(value: float, schema: Mapping[str, Any]) -> bool:
    checks = (("minimum", lambda b: value >= b), ("exclusiveMinimum", lambda b: value > b),
              ("maximum", lambda b: value <= b), ("exclusiveMaximum", lambda b: value < b))
    return all(check(schema[key]) for key, check in checks
               if isinstance(schema.get(key), int | float) and not isinstance(schema.get(key), bool))


def _merged(schema: Mapping[str, Any], parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    """allOf as one schema: properties and required lists united, other keywords from the last part."""
    out: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    props: dict[str, Any] = dict(out.get("properties") or {})
    required: list[str] = list(out.get("required") or [])
    for part in parts:
        out.update({k: v for k, v in part.items() if k not in ("properties", "required")})
        props.update(part.get("properties") or {})
        required += [r for r in part.get("required") or [] if r not in required]
    if props:
        out["properties"] = props
    if required:
        out["required"] = required
    return out
