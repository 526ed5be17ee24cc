"""`multillm models` says where each fact came from; `multillm tokens` counts before the call."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from multillm.common.settings import get_settings
from multillm.producers.cli.main import app


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[pytest.MonkeyPatch]:
    for name in ("OPENAI_API_KEY", "HUGGING_FACE_API_KEY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "models.yaml"
    path.write_text("llama:\n  llama3.2:1b: {context_length: 131072, input_price: 0, output_price: 0}\n")
    monkeypatch.setenv("MULTILLM_MODELS", str(path))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_models_names_the_source_of_limits_and_prices(env):
    out = CliRunner().invoke(app, ["models", "-p", "llama"])
    assert out.exit_code == 0, out.output
    rows = [line.split("\t") for line in out.output.splitlines()]
    assert rows[0] == ["model", "context", "max output", "limits from", "$/M in", "$/M out", "$/M cached in", "price from"]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id["llama3.2:1b"][3] == "override" and by_id["llama3.2:1b"][7] == "override"
    assert by_id["meta-llama/Llama-3.1-8B-Instruct"][3] == "catalogue"
    assert by_id["meta-llama/Llama-3.1-8B-Instruct"][7] == "unknown"
    openai = CliRunner().invoke(app, ["models", "-p", "openai", "--json"])
    facts = [json.loads(line) for line in openai.output.splitlines()]
    assert {f["price_source"] for f in facts} == {"price data"}


def test_models_live_needs_the_key(env):
    out = CliRunner().invoke(app, ["models", "-p", "openai", "--live"])
    assert out.exit_code != 0 and "OPENAI_API_KEY" in out.output


def test_tokens_counts_exactly_for_openai_models_and_estimates_others(env):
    exact = CliRunner().invoke(app, ["tokens", "-p", "openai", "-m", "gpt-5", "--json", "Hello there, how are you today?"])
    assert json.loads(exact.output) == {"tokens": 15, "method": "o200k_base", "exact": True}
    other = CliRunner().invoke(app, ["tokens", "-p", "llama", "-m", "gemma", "Hello there, how are you today?"])
    assert other.output.strip() == "15 tokens (estimate (o200k_base))"
