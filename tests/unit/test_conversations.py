"""Conversation history: trimming to a budget, tool exchanges kept whole, the store in Redis (fakeredis)."""

from __future__ import annotations

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multillm.common import constants
from multillm.common.conversations import (
    Conversations,
    Turn,
    answer_message,
    assemble,
    count_tokens,
    prompt_budget,
    tokens_of,
)
from multillm.common.errors import ConfigurationError, ContextLengthExceeded, ConversationBusy
from multillm.common.jobs import Job
from multillm.common.schemas import Message, ToolCall


def job(*messages: Message, conversation: str = "c-1", **options: object) -> Job:
    return Job(provider="openai", model="gpt-4o-mini", messages=list(messages), conversation=conversation,
               options=options)


def user(text: str) -> Message:
    return Message(role="user", content=text)


def turn(n: int, *messages: Message, answer: Message | None = None) -> Turn:
    return Turn(job_id=f"j{n}", provider="openai", model="gpt-4o-mini", at=float(n), messages=list(messages),
                answer=answer if answer is not None else Message(role="assistant", content=f"answer {n}"))


def tool_turns(n: int) -> list[Turn]:
    """A turn that calls a tool, then the turn that answers it."""
    call = ToolCall(id=f"call_{n}", name="lookup", arguments='{"q": "x"}')
    return [turn(n, user(f"question {n}"), answer=Message(role="assistant", tool_calls=[call])),
            turn(n + 1, Message(role="tool", tool_call_id=f"call_{n}", content="42"))]


def test_everything_fits_so_the_history_is_sent_whole_before_the_new_messages() -> None:
    turns = [turn(1, user("a")), turn(2, user("b"))]
    history = assemble(turns, job(user("c")), budget=10_000)
    assert [m.text() for m in history.messages] == ["a", "answer 1", "b", "answer 2", "c"]
    assert (history.turns, history.sent_turns, history.trimmed_messages) == (2, 2, 0)


def test_oldest_turns_are_trimmed_first_and_system_messages_are_kept() -> None:
    turns = [turn(1, Message(role="system", content="Be brief."), user("x" * 400)), turn(2, user("y" * 400)),
             turn(3, user("z" * 40))]
    new = job(user("now"))
    size = lambda *ts: tokens_of(m for t in ts for m in t.all_messages())  # noqa: E731
    budget = tokens_of(new.messages) + size(turns[1], turns[2]) + count_tokens(turns[0].messages[0])
    history = assemble(turns, new, budget)
    assert [m.text()[:1] for m in history.messages] == ["B", "y", "a", "z", "a", "n"]
    assert (history.sent_turns, history.trimmed_messages, history.trimmed_turn_ids) == (2, 2, ["j1"])
    assert history.tokens <= budget


def test_an_older_turn_is_not_kept_once_a_newer_one_was_dropped() -> None:
    turns = [turn(1, user("a")), turn(2, user("b" * 4000)), turn(3, user("c"))]
    new = job(user("d"))
    budget = tokens_of(new.messages) + tokens_of(turns[2].all_messages()) + tokens_of(turns[0].all_messages())
    history = assemble(turns, new, budget)
    assert [m.text() for m in history.messages] == ["c", "answer 3", "d"]


def test_a_tool_call_and_its_result_are_trimmed_together() -> None:
    turns = [*tool_turns(1), turn(3, user("later"))]
    new = job(user("now"))
    budget = tokens_of(new.messages) + tokens_of(turns[2].all_messages()) + tokens_of(turns[1].all_messages())
    history = assemble(turns, new, budget)  # room for the tool result's turn, but not for the call's
    assert [m.role for m in history.messages] == ["user", "assistant", "user"]


def test_new_tool_results_bring_the_turn_that_called_the_tool() -> None:
    first = tool_turns(1)[0]
    result = Message(role="tool", tool_call_id="call_1", content="42")
    new = job(result)
    history = assemble([turn(0, user("old")), first], new, budget=tokens_of([result, *first.all_messages()]))
    assert [m.role for m in history.messages] == ["user", "assistant", "tool"]


def test_new_messages_larger_than_the_budget_are_refused_naming_the_conversation() -> None:
    with pytest.raises(ContextLengthExceeded, match="conversation c-1"):
        assemble([], job(user("x" * 4000)), budget=100)


def test_budget_is_the_context_window_less_the_output_reserve_and_system_prompt() -> None:
    assert prompt_budget(job(user("a"))) == 128_000 - 4096
    assert prompt_budget(job(user("a"), max_tokens=1000)) == 127_000
    assert prompt_budget(job(user("a")), max_tokens=5_000) == 5_000
    assert prompt_budget(job(user("a"), system_prompt="s" * 40)) == 128_000 - 4096 - 14


@settings(max_examples=200, deadline=None)
@given(kinds=st.lists(st.sampled_from(["plain", "tool"]), max_size=12),
       sizes=st.lists(st.integers(min_value=1, max_value=2_000), min_size=12, max_size=12),
       budget=st.integers(min_value=50, max_value=3_000))
def test_trimmed_history_is_a_suffix_of_exchanges_with_every_tool_result_after_its_call(
        kinds: list[str], sizes: list[int], budget: int) -> None:
    turns: list[Turn] = []
    for i, kind in enumerate(kinds):
        turns += tool_turns(10 * i) if kind == "tool" else [turn(10 * i, user("u" * sizes[i]))]
    new = job(user("q"))
    history = assemble(turns, new, budget)
    assert history.tokens <= budget
    kept = [t.job_id for t in turns if t.job_id not in history.trimmed_turn_ids]
    assert kept == [t.job_id for t in turns[len(turns) - len(kept):]]
    called: set[str] = set()
    for message in history.messages:
        called |= {c.id for c in message.tool_calls}
        if message.role == "tool":
            assert message.tool_call_id in called


@pytest.fixture
def store() -> Conversations:
    return Conversations(fakeredis.FakeRedis(), ttl_s=3600)


def hold_lease(store: Conversations, j: Job, owner: str = "w:1") -> None:
    store.redis.set(constants.lease(j.job_id), owner)
    store.redis.set(constants.job(j.job_id), j.model_dump_json())


def test_a_turn_is_appended_once_and_gives_the_conversation_back(store: Conversations) -> None:
    j = job(user("hello"))
    hold_lease(store, j)
    store.claim("default", "c-1", j.job_id, 60)
    assert store.append(j, answer_message("hi", []), "w:1")
    assert not store.append(j, answer_message("hi", []), "w:1")  # a second delivery adds nothing
    assert [t.answer.text() for t in store.turns("default", "c-1") if t.answer] == ["hi"]
    assert not store.redis.exists(constants.conversation_busy("default", "c-1"))


def test_an_attempt_that_lost_its_lease_appends_nothing(store: Conversations) -> None:
    j = job(user("hello"))
    hold_lease(store, j, owner="w:2")
    assert not store.append(j, answer_message("hi", []), "w:1")
    assert store.turns("default", "c-1") == []


def test_claim_refuses_while_another_job_is_unfinished_and_not_after_it_ends(store: Conversations) -> None:
    first, second = job(user("one")), job(user("two"))
    hold_lease(store, first)
    store.claim("default", "c-1", first.job_id, 60)
    store.claim("default", "c-1", first.job_id, 60)  # the same job submitted again
    with pytest.raises(ConversationBusy, match=first.job_id):
        store.claim("default", "c-1", second.job_id, 60)
    store.redis.set(constants.result(first.job_id), "{}")  # ended without a worker (cancelled while queued)
    store.claim("default", "c-1", second.job_id, 60)


def test_conversations_are_listed_forked_at_a_turn_and_deleted_per_tenant(store: Conversations) -> None:
    for n in range(3):
        j = job(user(f"m{n}"))
        hold_lease(store, j)
        store.append(j, answer_message(f"a{n}", []), "w:1")
    assert [c.id for c in store.list("default")] == ["c-1"] and store.list("other") == []
    fork = store.fork("default", "c-1", "c-2", at_turn=2)
    assert [t.messages[0].text() for t in store.turns("default", "c-2")] == ["m0", "m1"] and fork.turns == 2
    with pytest.raises(ConfigurationError, match="turn"):
        store.fork("default", "c-1", "c-3", at_turn=4)
    with pytest.raises(ConfigurationError, match="already exists"):
        store.fork("default", "c-1", "c-2")
    assert store.delete("default", "c-1") and store.info("default", "c-1") is None
    assert [c.id for c in store.list("default")] == ["c-2"]


def test_a_conversation_expires_after_its_idle_time(store: Conversations) -> None:
    j = job(user("hello"))
    hold_lease(store, j)
    store.append(j, answer_message("hi", []), "w:1")
    assert 3590 < store.redis.ttl(constants.conversation("default", "c-1")) <= 3600


def test_an_empty_answer_adds_no_assistant_turn() -> None:
    assert answer_message("", []) is None
    assert answer_message("", [ToolCall(id="c", name="f")]) is not None


def tool_history_job(provider: str, model: str) -> Job:
    """A conversation whose first turn (on another provider) called a tool; this job answers it."""
    turns = tool_turns(1)[:1]
    result = Message(role="tool", tool_call_id="call_1", content='{"temp": 18}')
    j = Job(provider=provider, model=model, messages=[result], conversation="c-1",
            options={"tools": [{"name": "lookup", "parameters": {"type": "object", "properties": {}}}]})
    return j.model_copy(update={"messages": assemble(turns, j, 10_000).messages})


def test_every_wire_format_maps_a_tool_call_history_from_another_provider() -> None:
    from multillm.common.providers import create_provider

    openai = tool_history_job("openai", "gpt-4o-mini")
    body = create_provider("openai", "k").request_body(openai.messages, openai.options, stream=True)  # type: ignore[attr-defined]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "tool"]
    assert body["messages"][1]["tool_calls"][0]["id"] == body["messages"][2]["tool_call_id"] == "call_1"

    claude = tool_history_job("anthropic", "claude-3-5-haiku-latest")
    body = create_provider("anthropic", "k").request_body(claude.messages, claude.options, stream=True)  # type: ignore[attr-defined]
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "x"}}]
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp": 18}'}]}

    gemini = tool_history_job("google", "gemini-2.0-flash")
    body = create_provider("google", "k").request_body(gemini.messages, gemini.options)  # type: ignore[attr-defined]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": "lookup", "args": {"q": "x"}}}]
    assert body["contents"][2]["parts"] == [{"functionResponse": {"name": "lookup", "response": {"result": {"temp": 18}}}}]


def test_openai_family_turns_are_counted_in_the_models_encoding_others_estimated():
    from multillm.common.conversations import message_counter
    from multillm.common.schemas import ChatOptions
    from multillm.common.tokens import REPLY_PRIMING, chat_tokens

    message = Message(role="user", content="Tokenizers split unfamiliar words like 'antidisestablishmentarianism' apart.")
    exact = chat_tokens([message], ChatOptions(), "o200k_base") - REPLY_PRIMING
    assert message_counter("openai", "gpt-5")(message) == exact
    assert message_counter("github", "openai/gpt-4.1")(message) == exact
    assert message_counter("anthropic", "claude-sonnet-4-5")(message) == count_tokens(message)
    assert exact != count_tokens(message)  # the estimate would have trimmed differently


def test_the_budget_follows_the_models_known_context_window(tmp_path):
    from multillm.common.model_facts import load_overrides, model_facts

    overrides = tmp_path / "models.json"
    overrides.write_text('{"openai": {"tiny-model": {"context_length": 2000, "max_output_tokens": 500}}}')
    facts = model_facts("openai", "tiny-model", None, load_overrides(str(overrides)))
    tiny = Job(provider="openai", model="tiny-model", messages=[user("a")], conversation="c1")
    assert prompt_budget(tiny, None, facts) == 2000 - 500
