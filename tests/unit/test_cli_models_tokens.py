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
    out = CliRunner().invoke(app, ["models", "-p", "llama", "--json"])
    assert out.exit_code == 0, out.output
    by_id = {m["model"]: m for m in json.loads(out.output)["models"]}
    assert by_id["llama3.2:1b"]["limits_source"] == "override" and by_id["llama3.2:1b"]["price_source"] == "override"
    assert by_id["llama3.2:1b"]["context_length"] == 131072 and by_id["llama3.2:1b"]["max_output_tokens"] is None
    assert by_id["meta-llama/Llama-3.1-8B-Instruct"]["limits_source"] == "catalogue"
    assert by_id["meta-llama/Llama-3.1-8B-Instruct"]["price_source"] == "unknown"
    openai = json.loads(CliRunner().invoke(app, ["models", "-p", "openai", "--json"]).output)
    assert {m["price_source"] for m in openai["models"]} == {"price data"} and openai["live"] is False
    table = CliRunner().invoke(app, ["models", "-p", "llama"]).output  # in a pipe: nothing cut
    assert "limits from" in table and "llama3.2:1b" in table and "override" in table and "unknown" in table


def test_models_live_needs_the_key(env):
    out = CliRunner().invoke(app, ["models", "-p", "openai", "--live"])
    assert out.exit_code != 0 and "OPENAI_API_KEY" in out.output


def test_tokens_counts_exactly_for_openai_models_and_estimates_others(env):
    exact = CliRunner().invoke(app, ["tokens", "-p", "openai", "-m", "gpt-5", "--json", "Hello there, how are you today?"])
    assert json.loads(exact.output) == {"tokens": 15, "method": "o200k_base", "exact": True}
    other = CliRunner().invoke(app, ["tokens", "-p", "llama", "-m", "gemma", "Hello there, how are you today?"])
    assert other.output.strip() == "15 tokens (estimate (o200k_base))"
