"""Settings: every problem reported at once, by variable name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multillm.common.errors import ConfigurationError
from multillm.common.providers import SPECS
from multillm.common.settings import Settings, known_variables, load_settings


def test_defaults_need_no_environment():
    settings = load_settings({})
    assert settings.redis_url is None and settings.provider("openai").api_key is None
    assert settings.provider("google").queue == "multillm.google"


def test_provider_variables_are_read_with_their_own_names():
    settings = load_settings({"GITHUB_TOKEN": "ghp_x", "HUGGING_FACE_BASE_URL": "http://localhost:8080/v1",
                              "GOOGLE_AI_CONCURRENCY": "7", "ANTHROPIC_RATE_LIMIT_ENABLED": "true",
                              "ANTHROPIC_RATE_LIMIT_MAX_REQUESTS": "5", "OPENAI_TASK_RATE_LIMIT": "10/s"})
    assert settings.provider("github").api_key.get_secret_value() == "ghp_x"
    assert settings.provider("llama").base_url == "http://localhost:8080/v1"
    assert settings.provider("google").concurrency == 7
    assert settings.provider("anthropic").rate_limit.enabled and settings.provider("anthropic").rate_limit.max_requests == 5
    assert settings.provider("openai").task_rate_limit == "10/s"


def test_every_malformed_variable_is_named_in_one_error():
    env = {"REDIS_URL": "http://nope", "OPENAI_CONCURRENCY": "lots", "GROK_BASE_URL": "ftp://x",
           "ENCRYPTION_MASTER_KEY": "abc", "RATE_LIMIT_WINDOW_MS": "-1", "LOG_LEVEL": "loud"}
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    text = str(caught.value)
    for var in ("REDIS_URL", "OPENAI_CONCURRENCY", "GROK_BASE_URL", "ENCRYPTION_MASTER_KEY",
                "RATE_LIMIT_WINDOW_MS", "LOG_LEVEL"):
        assert var in text
    assert "multillm keygen" in text


def test_secret_values_never_appear_in_settings_repr():
    settings = load_settings({"OPENAI_API_KEY": "sk-very-secret-value-123456"})
    assert "sk-very-secret" not in repr(settings) and "sk-very-secret" not in str(settings.model_dump())


def test_unknown_multillm_variable_is_named_with_the_closest_known_name():
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"MULTILLM_LEASE_TTL": "5", "MULTILLM_ZZZ": "1", "OTHER_TOOL_SETTING": "x"})
    text = str(caught.value)
    assert "MULTILLM_LEASE_TTL: unknown variable (did you mean MULTILLM_LEASE_TTL_S?)" in text
    assert "MULTILLM_ZZZ: unknown variable" in text and "MULTILLM_ZZZ: unknown variable (" not in text
    assert "OTHER_TOOL_SETTING" not in text  # only our own prefix is checked


def test_hide_prompts_is_no_longer_a_setting():
    with pytest.raises(ConfigurationError, match="MULTILLM_HIDE_PROMPTS: unknown variable"):
        load_settings({"MULTILLM_HIDE_PROMPTS": "true"})


def test_malformed_values_of_every_kind_are_reported_together_without_their_values():
    env = {"MULTILLM_LEASE_TTL_S": "0.5", "MULTILLM_TIERS": "{not json", "MULTILLM_JOB_DEADLINE_S": "inf",
           "ANTHROPIC_TENANT_RATE_LIMIT_WINDOW_MS": "soon", "GITHUB_TASK_RATE_LIMIT": "fast",
           "TENANT_RATE_LIMIT_MAX_REQUESTS": "0", "MULTILLM_METRICS_PORT": "70000",
           "ENCRYPTION_MASTER_KEY": "hunter2-not-a-hex-key", "MULTILLM_WORKER_POOL": "eventlet",
           "MULTILLM_LEASE": "3"}
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    text = str(caught.value)
    assert text.startswith("invalid settings: ") and "\n" not in text
    named = re.findall(r"(?:: |; )([A-Z][A-Z0-9_]+): ", text)
    assert sorted(named) == sorted(env)  # each once
    assert "hunter2" not in text


def test_new_settings_are_read_from_their_variables(tmp_path):
    settings = load_settings({"MULTILLM_HOME": str(tmp_path), "MULTILLM_METRICS_ADDR": "0.0.0.0",
                              "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")})
    assert settings.home == tmp_path and settings.metrics_addr == "0.0.0.0"
    assert settings.prometheus_multiproc_dir == tmp_path / "prom"
    assert load_settings({}).prometheus_multiproc_dir is None


def test_an_empty_value_counts_as_unset():
    settings = load_settings({"REDIS_URL": "", "OPENAI_CONCURRENCY": "", "MULTILLM_LEASE_TTL_S": ""})
    assert settings.redis_url is None and settings.provider("openai").concurrency == 64 and settings.lease_ttl_s == 10


def test_a_given_mapping_is_read_instead_of_the_process_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_RPM", "123")
    monkeypatch.setenv("MULTILLM_NOT_A_SETTING", "1")
    assert load_settings({"GROK_RPM": "7"}).provider("openai").rpm is None
    with pytest.raises(ConfigurationError, match="MULTILLM_NOT_A_SETTING"):
        load_settings()
    monkeypatch.delenv("MULTILLM_NOT_A_SETTING")
    assert load_settings().provider("openai").rpm == 123
    assert Settings().provider("openai").rpm == 123  # pydantic-settings' own entry reads the same source


def test_every_documented_variable_is_known():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"`((?:MULTILLM|PROMETHEUS|REDIS|LOG|ENCRYPTION|RATE|TENANT)_[A-Z_]+)`", section))
    names -= {"RATE_LIMIT_", "TENANT_RATE_LIMIT_"}  # the `*` families, checked by name below
    assert names and names <= known_variables(), names - known_variables()
    for prefix in (spec.env_prefix for spec in SPECS.values()):
        for var in ("RATE_LIMIT_ENABLED", "TENANT_RATE_LIMIT_WINDOW_MS", "RPM", "TPM", "ITPM", "OTPM", "MAX_CONCURRENT",
                    "CONCURRENCY", "TASK_RATE_LIMIT", "BASE_URL"):
            assert f"{prefix}_{var}" in known_variables()


KNOWN = sorted(known_variables())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KNOWN) | st.text(max_size=30).map(lambda s: "MULTILLM_" + s) | st.text(max_size=30),
                       st.sampled_from(["", "0", "1", "-1", "true", "10/s", "nan", "1e309", "redis://h:1/0", "http://x",
                                        "{}", '{"a": {"openai": "gpt-4o"}}', "[" * 5000, "9" * 5000])
                       | st.text(max_size=80),
                       max_size=12))
def test_any_mapping_of_strings_loads_or_raises_configuration_error(env):
    try:
        loaded = load_settings(env)
    except ConfigurationError as exc:
        assert str(exc).startswith("invalid settings: ")
    else:
        assert isinstance(loaded, Settings) and set(loaded.providers) == set(SPECS)


def test_the_system_state_file_lives_in_multillm_home(tmp_path):
    code = ("from multillm.producers.local.embedded import state_path, write_state\n"
            "write_state({'pid': 1, 'redis_url': 'redis://127.0.0.1:1/0'})\nprint(state_path())")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTILLM_")}
    done = subprocess.run([sys.executable, "-c", code], env={**env, "MULTILLM_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "system.json") and (tmp_path / "system.json").exists()
