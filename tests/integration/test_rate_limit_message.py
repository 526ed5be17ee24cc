"""A job that cannot get a slot in a RATE_LIMIT_* window before its deadline ends at once with a
`rate_limited` error carrying the configured message, on real workers and a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from multillm.producers.client import MultiLLM
from multillm.producers.handle import JobHandle
from multillm.producers.local.system import EmbeddedSystem

from .conftest import make_system, settings_for

OPENAI_MESSAGE = "OpenAI chats are limited to one a minute."
GLOBAL_MESSAGE = "This system runs two chats a minute; try again shortly."
# One OpenAI request a minute, two across every provider: a second job within the minute waits ~60 s.
ENV = {"OPENAI_RATE_LIMIT_ENABLED": "true", "OPENAI_RATE_LIMIT_MAX_REQUESTS": "1",
       "OPENAI_RATE_LIMIT_WINDOW_MS": "60000", "OPENAI_RATE_LIMIT_MESSAGE": OPENAI_MESSAGE,
       "RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_MAX_REQUESTS": "2", "RATE_LIMIT_WINDOW_MS": "60000",
       "RATE_LIMIT_MESSAGE": GLOBAL_MESSAGE}
SHORT_DEADLINE_S = 5.0


@pytest.fixture(scope="module")
def client(own_redis, tmp_path_factory) -> Iterator[MultiLLM]:
    running: EmbeddedSystem = make_system(own_redis, tmp_path_factory.mktemp("rate-limit"), ["openai", "anthropic"],
                                          env=ENV, simulator_args=["--ttft-ms", "5"])
    with running, MultiLLM(running.redis_url, settings=settings_for(running.redis_url, ENV)) as c:
        yield c


def assert_refused_with(handle: JobHandle, message: str, provider: str) -> None:
    result = handle.result(timeout=30)
    assert result.status == "failed" and result.error is not None
    assert (result.error["code"], result.error["message"]) == ("rate_limited", message)
    assert (result.error["provider"], result.error["model"]) == (provider, result.model)
    assert result.error["retry_after"] > 0
    assert not result.error["retryable"]
    messages = list(handle.stream(timeout=5))
    assert [m.type for m in messages] == ["error"]  # refused before anything was sent
    assert messages[0].error is not None and messages[0].error["message"] == message


def test_full_rate_limit_windows_end_jobs_with_their_configured_messages(client):
    # The provider's window: its one slot taken, the next OpenAI job would wait past its deadline.
    assert client.submit("openai", "first", max_tokens=4).result(timeout=30).status == "succeeded"
    refused = client.submit("openai", "second", max_tokens=4, deadline_s=SHORT_DEADLINE_S)
    assert_refused_with(refused, OPENAI_MESSAGE, "openai")
    # The global window holds that first call (the refused job reserved nothing): one slot left, then none.
    assert client.submit("anthropic", "first", max_tokens=4).result(timeout=30).status == "succeeded"
    refused = client.submit("anthropic", "second", max_tokens=4, deadline_s=SHORT_DEADLINE_S)
    assert_refused_with(refused, GLOBAL_MESSAGE, "anthropic")
