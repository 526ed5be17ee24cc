"""What the runner asks of a job's preparation: history to send, a cached answer, what is left behind."""

from __future__ import annotations

import fakeredis
import pytest

from multillm.common import constants
from multillm.common.conversations import Conversations, answer_message
from multillm.common.jobs import Job, JobResult, Timings
from multillm.common.preparation import Preparation
from multillm.common.schemas import Message, ProviderEvent, Usage
from multillm.common.settings import load_settings


@pytest.fixture
def client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def job(text: str, n: int, **fields: object) -> Job:
    return Job(job_id=f"j{n}", provider="openai", model="gpt-4o-mini", messages=[Message(role="user", content=text)],
               **fields)


def store_turn(client: fakeredis.FakeRedis, j: Job, answer: str) -> None:
    client.set(constants.lease(j.job_id), "w:1")
    Conversations(client, 3600).append(j, answer_message(answer, []), "w:1")


def succeeded(j: Job, text: str) -> JobResult:
    return JobResult(job_id=j.job_id, status="succeeded", provider=j.provider, model=j.model, text=text,
                     timings=Timings(submitted_at=0.0))


def test_history_is_trimmed_to_the_conversation_token_setting(client: fakeredis.FakeRedis) -> None:
    store_turn(client, job("a" * 400, 1, conversation="c"), "first")
    store_turn(client, job("b" * 40, 2, conversation="c"), "second")
    prep = Preparation(client, load_settings({"MULTILLM_CONVERSATION_MAX_TOKENS": "60"}), job("now", 3, conversation="c"))
    prep.load()
    assert [m.text() for m in prep.messages] == ["b" * 40, "second", "now"]
    fields = prep.start_fields()
    assert fields["conversation"]["trimmed_turns"] == 1 and fields["conversation"]["budget_tokens"] == 60
    assert "cached" not in fields  # only a hit says so


def test_a_miss_records_the_answer_and_the_next_identical_job_is_a_hit(client: fakeredis.FakeRedis) -> None:
    settings = load_settings({})
    first = Preparation(client, settings, job("q", 1, cache="on", options={"temperature": 0}))
    first.load()
    assert first.cached is None
    events = [ProviderEvent(type="delta", text="A"), ProviderEvent(type="tool_call_delta"),
              ProviderEvent(type="usage", usage=Usage(input_tokens=3)), ProviderEvent(type="finish", finish_reason="stop")]
    for event in events:
        first.record(event)
    first.succeeded(succeeded(first.job, "A"), "w:1")
    second = Preparation(client, settings, job("q", 2, cache="on", options={"temperature": 0}))
    second.load()
    assert second.cached is not None and [e.type for e in second.cached.events] == ["delta", "usage", "finish"]
    replayed: list[ProviderEvent] = []
    second.replay(replayed.append)
    assert replayed == [events[0], events[2], events[3]]
    assert second.result_fields() == {"cached": True, "conversation": None}


def test_a_failed_job_gives_its_conversation_back_without_a_turn(client: fakeredis.FakeRedis) -> None:
    j = job("q", 1, conversation="c")
    Conversations(client, 3600).claim("default", "c", j.job_id, 60)
    Preparation(client, load_settings({}), j).failed()
    assert not client.exists(constants.conversation_busy("default", "c"))
    assert not client.exists(constants.conversation("default", "c"))


def test_a_job_without_tools_on_a_tool_history_sends_the_conversation_tools_unused() -> None:
    from multillm.common.conversations import History
    from multillm.common.preparation import history_options
    from multillm.common.schemas import ChatOptions, Tool

    weather = [Tool(name="get_weather")]
    history = History(messages=[], turns=1, sent_turns=1, tools=weather)
    assert history_options(ChatOptions(), history) == ChatOptions(tools=weather, tool_choice="none")
    assert history_options(ChatOptions(tool_choice="auto"), history).tool_choice == "auto"
    own = ChatOptions(tools=[Tool(name="other")])
    assert history_options(own, history) == own
    schema = ChatOptions(response_schema={"type": "object"})
    assert history_options(schema, history) == schema
    assert history_options(ChatOptions(), History(messages=[], turns=1, sent_turns=1)) == ChatOptions()
