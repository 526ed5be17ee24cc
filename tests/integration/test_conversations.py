"""Conversations through real workers against a server of our own that logs each request (OpenAI and
Anthropic wire formats) and refuses a history either API would refuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from multillm.common.errors import ConversationBusy
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem

from .conftest import make_system, settings_for
from .wire_server import Reply, WireServer, wired_env

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
WEATHER = [{"name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with WireServer() as running:
        yield running


@pytest.fixture(scope="module")
def wired(own_redis: str, server: WireServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSystem]:
    with make_system(own_redis, tmp_path_factory.mktemp("conversations"), ["openai", "anthropic"], env=wired_env(server.url),
                     concurrency=4) as system:
        yield system


@pytest.fixture
def client(wired: EmbeddedSystem, server: WireServer) -> Iterator[MultiLLM]:
    server.requests.clear()
    server.replies.clear()
    with MultiLLM(wired.redis_url, settings=settings_for(wired.redis_url)) as c:
        yield c


def ask(client: MultiLLM, provider: str, prompt: Any, conversation: str, **options: Any) -> Any:
    result = client.submit(provider, prompt, conversation=conversation, **options).result(timeout=60)
    assert result.status == "succeeded", result.error
    return result


def roles_and_text(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"] if isinstance(m["content"], str) else "") for m in body["messages"]]


def test_three_turn_conversation_sends_the_earlier_turns(client: MultiLLM, server: WireServer) -> None:
    server.replies.extend([Reply(["Hello", " Ada"]), Reply(["You are", " Ada"]), Reply(["Lovelace"])])
    ask(client, "openai", "My name is Ada.", "c-three")
    ask(client, "openai", "What is my name?", "c-three")
    third = ask(client, "openai", "And my surname?", "c-three")
    sent = [roles_and_text(b) for b in server.bodies(OPENAI)]
    assert sent[0] == [("user", "My name is Ada.")]
    assert sent[1] == [("user", "My name is Ada."), ("assistant", "Hello Ada"), ("user", "What is my name?")]
    assert sent[2] == [*sent[1], ("assistant", "You are Ada"), ("user", "And my surname?")]
    assert third.conversation == {"id": "c-three", "turns": 2, "sent_turns": 2, "trimmed_turns": 0,
                                  "trimmed_messages": 0, "prompt_tokens": third.conversation["prompt_tokens"],
                                  "budget_tokens": 128_000 - 4096}
    stored = client.conversation("c-three")
    assert stored.turns == 3
    assert [t.answer.text() for t in stored.history if t.answer] == ["Hello Ada", "You are Ada", "Lovelace"]


def test_conversation_longer_than_the_context_window_is_trimmed_oldest_first_and_says_so(
        client: MultiLLM, server: WireServer) -> None:
    # 70,000 tokens in gpt-4o-mini's encoding (o200k: " word" is one token): its 128,000-token window,
    # less the 4,096 reserved for the answer, holds one such turn with a question, not two.
    long = "word " * 70_000
    ask(client, "openai", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "first " + long}],
        "c-long")
    ask(client, "openai", "second " + long, "c-long")
    handle = client.submit("openai", "third question", conversation="c-long")
    start = next(m for m in handle.stream(timeout=60) if m.type == "start")
    result = handle.result(timeout=60)
    body = server.bodies(OPENAI)[-1]
    texts = [m["content"] for m in body["messages"]]
    assert texts[0] == "Be brief."  # the system message of the dropped turn is kept
    assert not any(t.startswith("first ") for t in texts)
    assert any(t.startswith("second ") for t in texts) and texts[-1] == "third question"
    info = {"id": "c-long", "turns": 2, "sent_turns": 1, "trimmed_turns": 1, "trimmed_messages": 2}
    assert result.conversation is not None and info.items() <= result.conversation.items()
    assert result.conversation["prompt_tokens"] <= result.conversation["budget_tokens"]
    assert start.model_extra is not None and start.model_extra["conversation"] == result.conversation


def test_provider_switch_keeps_a_tool_call_history_valid_for_each_wire_format(
        client: MultiLLM, server: WireServer) -> None:
    server.replies.extend([Reply(tool_call=("call_w1", "get_weather", {"city": "Paris"})),
                           Reply(["Sunny", " in Paris"]), Reply(["You are welcome"])])
    first = ask(client, "openai", "Weather in Paris?", "c-switch", tools=WEATHER)
    assert [c.id for c in first.tool_calls] == ["call_w1"]
    tool_result = {"role": "tool", "tool_call_id": "call_w1", "content": '{"sky": "clear"}'}
    second = ask(client, "anthropic", [tool_result], "c-switch", tools=WEATHER)
    assert second.text == "Sunny in Paris"
    claude = server.bodies(ANTHROPIC)[-1]["messages"]
    assert claude[1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "call_w1", "name": "get_weather", "input": {"city": "Paris"}}]}
    assert claude[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_w1", "content": '{"sky": "clear"}'}]}
    ask(client, "openai", "Thanks!", "c-switch", tools=WEATHER)  # the server refuses a broken history with a 400
    back = server.bodies(OPENAI)[-1]["messages"]
    assert [m["role"] for m in back] == ["user", "assistant", "tool", "assistant", "user"]
    assert back[1]["tool_calls"][0]["id"] == back[2]["tool_call_id"] == "call_w1"
    ask(client, "anthropic", "Any other city?", "c-switch")  # no tools given: the conversation's go, unused
    last = server.bodies(ANTHROPIC)[-1]
    assert [t["name"] for t in last["tools"]] == ["get_weather"] and last["tool_choice"] == {"type": "none"}


def test_a_second_job_on_a_busy_conversation_is_refused_and_the_history_never_interleaves(
        client: MultiLLM, server: WireServer) -> None:
    gate = threading.Event()
    server.replies.append(Reply(["first answer"], gate=gate))
    first = client.submit("openai", "one", conversation="c-busy")
    try:
        with pytest.raises(ConversationBusy, match="c-busy"):
            client.submit("openai", "two", conversation="c-busy")
    finally:
        gate.set()
    first.result(timeout=60)
    ask(client, "openai", "two", "c-busy")
    stored = client.conversation("c-busy")
    assert [t.messages[0].text() for t in stored.history] == ["one", "two"]


def test_a_failed_job_leaves_the_conversation_as_it_was_and_free_for_the_next(
        client: MultiLLM, server: WireServer) -> None:
    ask(client, "openai", "kept", "c-failed")
    server.replies.append(Reply(status=400))
    failed = client.submit("openai", "refused", conversation="c-failed").result(timeout=60)
    assert failed.status == "failed"
    ask(client, "openai", "next", "c-failed")
    assert roles_and_text(server.bodies(OPENAI)[-1]) == [("user", "kept"), ("assistant", "Hello there"), ("user", "next")]
    assert client.conversation("c-failed").turns == 2


def test_conversation_can_be_forked_at_a_turn_listed_and_deleted(client: MultiLLM, server: WireServer) -> None:
    for prompt in ("a", "b", "c"):
        ask(client, "openai", prompt, "c-fork")
    fork = client.fork_conversation("c-fork", "c-fork-2", at_turn=2)
    assert fork.turns == 2
    ask(client, "anthropic", "d", "c-fork-2")
    sent = [m["content"] for m in server.bodies(ANTHROPIC)[-1]["messages"]]
    assert sent == ["a", "Hello there", "b", "Hello there", "d"]
    assert {"c-fork", "c-fork-2"} <= {c.id for c in client.list_conversations()}
    assert client.delete_conversation("c-fork")
    assert "c-fork" not in {c.id for c in client.list_conversations()}


def cli(system: EmbeddedSystem, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": system.redis_url, "LOG_LEVEL": "warning"}
    return subprocess.run([sys.executable, "-m", "multillm.producers.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_chat_conversation_and_the_conversations_commands_on_the_command_line(
        wired: EmbeddedSystem, client: MultiLLM, server: WireServer) -> None:
    server.replies.extend([Reply(["Hi Ada"]), Reply(["Ada"])])
    for prompt in ("I am Ada.", "Who am I?"):
        done = cli(wired, "chat", "--conversation", "c-cli", "--tenant", "acme", prompt)
        assert done.returncode == 0, done.stderr
    assert roles_and_text(server.bodies(OPENAI)[-1]) == [("user", "I am Ada."), ("assistant", "Hi Ada"),
                                                          ("user", "Who am I?")]
    shown = json.loads(cli(wired, "conversations", "show", "c-cli", "--tenant", "acme", "--json").stdout)
    assert [t["answer"]["content"] for t in shown["history"]] == ["Hi Ada", "Ada"]
    assert cli(wired, "conversations", "fork", "c-cli", "c-cli-2", "--turn", "1", "--tenant", "acme").returncode == 0
    listed = json.loads(cli(wired, "conversations", "list", "--tenant", "acme", "--json").stdout)
    assert {c["id"]: c["turns"] for c in listed["conversations"]} == {"c-cli": 2, "c-cli-2": 1}
    assert cli(wired, "conversations", "delete", "c-cli", "--tenant", "acme").stdout == "deleted\n"
    missing = cli(wired, "conversations", "show", "c-cli", "--tenant", "acme")
    assert missing.returncode == 2 and missing.stderr == "error: conversation c-cli: not found (never used, expired or deleted)\n"
