"""The queue end to end: real Redis, real Celery worker processes, the simulator over HTTP."""

from __future__ import annotations

import threading

import pytest

from multillm.common import constants
from multillm.common.errors import ConfigurationError
from multillm.common.providers import SPECS
from multillm.producers.client import MultiLLM


def delta_text(messages) -> str:
    return "".join(m.text for m in messages if m.type == "delta")


@pytest.mark.parametrize("provider", list(SPECS))
def test_a_job_on_each_provider_completes_end_to_end(client: MultiLLM, provider: str):
    handle = client.submit(provider, "Tell me about rivers", max_tokens=24)
    messages = list(handle.stream(timeout=60))
    result = handle.result(timeout=5)
    assert result.status == "succeeded", result.error
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    assert messages[0].type == "start" and messages[-1].type == "done"
    assert result.text and delta_text(messages) == result.text
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.provider == provider and result.finish_reason in ("stop", "length")
    assert result.timings.first_token_at >= result.timings.started_at >= result.timings.submitted_at


def test_late_subscriber_receives_every_chunk_once_in_order(client: MultiLLM):
    handle = client.submit("openai", "A long answer please", max_tokens=200)
    first = []
    for message in handle.stream(timeout=60):
        first.append(message)
        if message.type == "delta" and len(first) >= 3:
            break
    late = list(client.job(handle.job_id).stream(timeout=60))
    assert [m.seq for m in late] == list(range(1, len(late) + 1))
    assert late[: len(first)] == first
    assert delta_text(late) == handle.result(timeout=5).text


def test_reconnecting_consumer_resumes_after_its_last_sequence_number(client: MultiLLM):
    handle = client.submit("anthropic", "Resume me", max_tokens=100)
    seen = []
    for message in handle.stream(timeout=60):
        seen.append(message)
        if len(seen) == 4:
            break
    rest = list(handle.stream(timeout=60, after=seen[-1].seq))
    assert [m.seq for m in seen + rest] == list(range(1, len(seen) + len(rest) + 1))


def test_two_consumers_of_one_job_see_the_same_sequence(client: MultiLLM):
    handle = client.submit("google", "Two readers", max_tokens=80)
    got: dict[int, list] = {}

    def read(i: int) -> None:
        got[i] = list(client.job(handle.job_id).stream(timeout=60))

    threads = [threading.Thread(target=read, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got[0] == got[1] and got[0][-1].type == "done"


def test_idempotent_submit_with_a_caller_chosen_id(client: MultiLLM, raw_redis):
    first = client.submit("grok", "Once only", job_id="fixed-id-1", max_tokens=10)
    again = client.submit("grok", "Once only", job_id="fixed-id-1", max_tokens=10)
    assert first.job_id == again.job_id
    assert first.result(timeout=30).attempts == 1
    assert sum(1 for m in first.stream(timeout=5) if m.type == "start") == 1


def test_terminal_provider_error_is_a_clear_error_result(client: MultiLLM):
    handle = client.submit("openai", "Please fail [[fault:401]]", max_tokens=10)
    messages = list(handle.stream(timeout=30))
    assert messages[-1].type == "error" and messages[-1].error["code"] == "authentication"
    result = handle.result(timeout=5)
    assert result.status == "failed" and result.attempts == 1 and "simulated" not in str(result.error)


def test_retryable_errors_are_retried_and_the_stream_shows_the_new_attempt(client: MultiLLM):
    handle = client.submit("openrouter", "Flaky [[fault:drop]]", max_tokens=10, max_attempts=2)
    messages = list(handle.stream(timeout=60))
    types = [m.type for m in messages]
    assert "retry" in types and types[-1] == "error"  # the fault marker is in every attempt's prompt
    assert max(m.attempt for m in messages) == 2
    assert handle.result(timeout=5).attempts == 2


def test_deadline_produces_a_clear_terminal_event(client: MultiLLM):
    handle = client.submit("anthropic", "Hang [[fault:stall]]", max_tokens=10, deadline_s=2, max_attempts=1)
    messages = list(handle.stream(timeout=30))
    assert messages[-1].type == "error"
    assert messages[-1].error["code"] in ("deadline_exceeded", "idle_timeout", "first_token_timeout")
    assert handle.result(timeout=5).status == "failed"


def test_cancel_stops_a_running_job_promptly(client: MultiLLM):
    handle = client.submit("openai", "Cancel me [[fault:stall_mid]]", max_tokens=500, deadline_s=60)
    for message in handle.stream(timeout=30):
        if message.type == "delta":
            break
    assert handle.cancel()
    messages = list(handle.stream(timeout=15))
    assert messages[-1].type == "cancelled"
    assert handle.result(timeout=5).status == "cancelled"


def test_cancel_of_a_queued_job_ends_it_at_once(client: MultiLLM, raw_redis):
    job_id = "never-started-1"
    raw_redis.set(constants.job(job_id), '{"provider": "openai", "model": "gpt-4o-mini", "submitted_at": 1}')
    handle = client.job(job_id)
    assert handle.cancel()
    assert handle.result(timeout=5).status == "cancelled"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"provider": "nope"}, "provider"),
    ({"temperature": 5}, "temperature"),
    ({"max_tokens": 10_000_000}, "max_tokens"),
    ({"prompt": []}, "messages"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
])
def test_bad_jobs_are_refused_at_submit_and_never_enqueued(client: MultiLLM, raw_redis, kwargs, field):
    before = raw_redis.llen(constants.queue("openai"))
    args = {"provider": "openai", "prompt": "hi", **kwargs}
    with pytest.raises(ConfigurationError, match=field):
        client.submit(args.pop("provider"), args.pop("prompt"), **args)
    assert raw_redis.llen(constants.queue("openai")) == before


def test_a_malformed_message_put_straight_on_the_queue_gets_an_error_result(client: MultiLLM):
    client._celery.send_task("multillm.chat.openai", args=["no-such-job"], queue=constants.queue("openai"))
    result = client.job("no-such-job").result(timeout=30)
    assert result.status == "failed" and result.error["code"] == "invalid_job"
