"""Settings: every problem reported at once, by variable name."""

from __future__ import annotations

import pytest

from multillm.common.errors import ConfigurationError
from multillm.common.settings import load_settings


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
