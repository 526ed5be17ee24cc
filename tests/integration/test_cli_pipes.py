"""The command line in a pipe: tables keep every value whole, and `--json` prints one JSON document
that validates against the schema a script can rely on. Each command runs as a subprocess whose
stdout is a pipe, against a real Redis server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis

from multillm.common.jobs import JobResult, Timings
from multillm.common.provider_health import assess, write_order
from multillm.common.providers import SPECS
from multillm.common.schemas import Usage
from multillm.common.usage import record_usage
from multillm.producers.batch.output import output_row
from multillm.producers.batch.run import BATCH_PREFIX, Target, parse_line

from .conftest import NO_KEYS

CLI = [sys.executable, "-m", "multillm.producers.cli.main"]
NUMBER_OR_NULL = {"type": ["number", "null"]}

HEALTH_SCHEMA = {
    "type": "object", "required": ["order", "providers"], "additionalProperties": False,
    "properties": {
        "order": {"type": "array", "items": {"enum": list(SPECS)}, "minItems": 7, "maxItems": 7, "uniqueItems": True},
        "providers": {"type": "array", "minItems": 7, "items": {
            "type": "object", "required": ["rank", "provider", "status"],
            "properties": {"rank": {"type": "integer", "minimum": 1}, "provider": {"enum": list(SPECS)},
                           "status": {"enum": ["healthy", "degraded", "down", "unknown"]},
                           "score": {"type": "number"}, "success_rate": {"type": "number"}, "p50_s": NUMBER_OR_NULL,
                           "p95_s": NUMBER_OR_NULL, "ttft_p50_s": NUMBER_OR_NULL, "rate_limited_share": {"type": "number"},
                           "circuit": {"type": "string"}, "probe_ok": {"type": ["boolean", "null"]},
                           "samples": {"type": "integer"}}}},
    },
}
QUOTAS_SCHEMA = {
    "type": "object", "required": ["quotas"], "additionalProperties": False,
    "properties": {"quotas": {"type": "array", "minItems": 7, "items": {
        "type": "object", "additionalProperties": False,
        "required": ["provider", "key", "windows", "concurrent", "max_concurrent", "cooldown_s"],
        "properties": {"provider": {"enum": list(SPECS)}, "key": {"type": "string"},
                       "windows": {"type": "array", "items": {
                           "type": "object", "required": ["name", "window_s", "used", "limit"],
                           "properties": {"name": {"type": "string"}, "window_s": {"type": "number"},
                                          "used": {"type": "integer"}, "limit": {"type": "integer"}}}},
                       "concurrent": {"type": "integer"}, "max_concurrent": {"type": ["integer", "null"]},
                       "cooldown_s": {"type": "number"}}}}},
}
USAGE_SCHEMA = {
    "type": "array", "items": {
        "type": "object", "additionalProperties": False,
        "required": ["provider", "requests", "errors", "input_tokens", "output_tokens", "cost_usd", "unpriced",
                     "avg_latency_ms"],
        "properties": {"provider": {"type": "string"}, "requests": {"type": "integer"}, "errors": {"type": "integer"},
                       "input_tokens": {"type": "integer"}, "output_tokens": {"type": "integer"},
                       "cost_usd": NUMBER_OR_NULL, "unpriced": {"type": "integer"},  # null: no known price
                       "avg_latency_ms": {"type": "number"}}},
}
SOURCES = ["override", "live list", "catalogue", "price data", "unknown"]
INT_OR_NULL = {"type": ["integer", "null"]}
MODELS_SCHEMA = {
    "type": "object", "required": ["provider", "live", "models"], "additionalProperties": False,
    "properties": {"provider": {"enum": list(SPECS)}, "live": {"type": "boolean"}, "models": {
        "type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["provider", "model", "context_length", "max_output_tokens", "limits_source", "prices",
                         "price_source"],
            "properties": {
                "provider": {"enum": list(SPECS)}, "model": {"type": "string"}, "context_length": INT_OR_NULL,
                "max_output_tokens": INT_OR_NULL, "limits_source": {"enum": SOURCES},
                "price_source": {"enum": SOURCES},
                "prices": {"oneOf": [{"type": "null"}, {
                    "type": "object", "additionalProperties": False, "required": ["input", "output", "cached_input"],
                    "properties": {"input": {"type": "number"}, "output": {"type": "number"},
                                   "cached_input": NUMBER_OR_NULL}}]}}}}},
}
BATCH_STATUS_SCHEMA = {
    "type": "object", "required": ["batches"], "additionalProperties": False,
    "properties": {"batches": {"type": "array", "items": {
        "type": "object", "additionalProperties": False,
        "required": ["batch_id", "state", "done", "failed", "input", "updated"],
        "properties": {"batch_id": {"type": "string"}, "state": {"type": ["string", "null"]},
                       "done": {"type": "integer"}, "failed": {"type": "integer"},
                       "input": {"type": ["string", "null"]}, "updated": NUMBER_OR_NULL}}}},
}


@pytest.fixture(scope="module")
def env(own_redis: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    client = redis.Redis.from_url(own_redis)
    write_order(client, [assess(p, [], "closed", True) for p in SPECS])
    now = time.time()
    record_usage(client, JobResult(job_id="j1", status="succeeded", provider="anthropic", model="claude-sonnet-4-5",
                                   usage=Usage(input_tokens=12, output_tokens=7), cost_usd=0.0002,
                                   timings=Timings(submitted_at=now - 1, finished_at=now)))
    client.hset(f"{BATCH_PREFIX}:0123456789abcdef", mapping={"input": "/data/a-long-input-file-name.jsonl",
                                                              "state": "finished", "done": 14, "failed": 0, "updated": now})
    client.close()
    home = tmp_path_factory.mktemp("home")
    variables = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**variables, **NO_KEYS, "REDIS_URL": own_redis, "MULTILLM_HOME": str(home), "LOG_LEVEL": "warning"}


def run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_health_in_a_pipe_names_all_seven_providers_whole(env: dict[str, str]) -> None:
    pattern = "'openai|anthropic|google|openrouter|llama|grok|github'"
    command = f"{' '.join(CLI)} health | grep -c -E {pattern}"
    done = subprocess.run(command, shell=True, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip() == "7", done.stdout + done.stderr


def test_usage_table_in_a_pipe_keeps_long_values_whole(env: dict[str, str]) -> None:
    text = run(env, "usage", "--by", "model")
    assert "anthropic/claude-sonnet-4-5" in text and "…" not in text


@pytest.mark.parametrize(("args", "schema"), [
    (["health", "--json"], HEALTH_SCHEMA),
    (["quotas", "--json"], QUOTAS_SCHEMA),
    (["usage", "--json"], USAGE_SCHEMA),
    (["models", "--provider", "anthropic", "--json"], MODELS_SCHEMA),
    (["batch", "status", "--json"], BATCH_STATUS_SCHEMA),
])
def test_json_output_is_one_document_matching_its_schema(env: dict[str, str], args: list[str],
                                                          schema: dict[str, Any]) -> None:
    document = json.loads(run(env, *args))  # json.loads refuses anything after the first document
    jsonschema.validate(document, schema)
    assert document  # not an empty answer


def test_batch_status_json_reports_the_stored_batch(env: dict[str, str]) -> None:
    batches = json.loads(run(env, "batch", "status", "--json"))["batches"]
    assert batches == [{"batch_id": "0123456789abcdef", "state": "finished", "done": 14, "failed": 0,
                        "input": "/data/a-long-input-file-name.jsonl", "updated": batches[0]["updated"]}]


def test_comparison_table_in_a_pipe_never_folds_provider_names(tmp_path: Path, env: dict[str, str]) -> None:
    model = "meta-llama/llama-3.1-70b-instruct"
    now = time.time()
    result = JobResult(job_id="b1", status="succeeded", provider="openrouter", model=model, text="Paris",
                       timings=Timings(submitted_at=now - 2, started_at=now - 1.5, first_token_at=now - 1, finished_at=now))
    line = parse_line(json.dumps({"prompt": "Capital of France?", "expected": "Paris"}), 1)
    row = output_row(line, Target("openrouter", model), result)
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    text = run(env, "batch", "report", str(tmp_path))
    assert "openrouter/meta-llama/llama-3.1-70b-instruct" in text
