"""The response cache through real workers against a server of our own that logs each request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multillm.common.quota import Quota, rule_for
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import stop
from multillm.producers.local.system import EmbeddedSystem

from .conftest import make_system, settings_for
from .wire_server import Reply, WireServer, wired_env

OPENAI = "/v1/chat/completions"


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with WireServer() as running:
        yield running


@pytest.fixture(scope="module")
def wired(own_redis: str, server: WireServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSystem]:
    env = {**wired_env(server.url), "OPENAI_RPM": "1000"}
    with make_system(own_redis, tmp_path_factory.mktemp("cache"), ["openai"], env=env,
                     concurrency=4) as system:
        yield system


@pytest.fixture
def client(wired: EmbeddedSystem) -> Iterator[MultiLLM]:
    with MultiLLM(wired.redis_url, settings=settings_for(wired.redis_url)) as c:
        yield c


def stream_of(client: MultiLLM, prompt: str, **options: Any) -> tuple[list[tuple[str, str]], Any]:
    handle = client.submit("openai", prompt, **options)
    messages = [(m.type, m.text) for m in handle.stream(timeout=60)]
    return messages, handle.result(timeout=60)


def cli(system: EmbeddedSystem, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": system.redis_url, "LOG_LEVEL": "warning"}
    done = subprocess.run([sys.executable, "-m", "multillm.producers.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done


def calls(server: WireServer, prompt: str) -> int:
    return sum(1 for body in server.bodies(OPENAI) if body["messages"][-1]["content"] == prompt)


def restart_workers(system: EmbeddedSystem) -> None:
    for name, process in list(system.workers.items()):
        stop([process])
        del system.workers[name]
    system.start_worker("openai")
    system.wait_for_workers(list(system.workers))


def test_second_identical_request_is_served_from_the_cache_with_the_same_stream(
        client: MultiLLM, server: WireServer, wired: EmbeddedSystem) -> None:
    server.replies.append(Reply(["Paris", " is", " the capital"]))
    first, answered = stream_of(client, "Capital of France?", cache=True, temperature=0)
    second, cached = stream_of(client, "Capital of France?", cache=True, temperature=0)
    assert calls(server, "Capital of France?") == 1
    assert second == first
    assert [t for t, _ in first] == ["start", "delta", "delta", "delta", "usage", "done"]
    assert not answered.cached and cached.cached
    assert cached.text == answered.text == "Paris is the capital"
    assert cached.cost_usd == 0 and answered.cost_usd > 0
    restart_workers(wired)
    third, again = stream_of(client, "Capital of France?", cache=True, temperature=0)
    assert (third, again.cached, calls(server, "Capital of France?")) == (first, True, 1)


def test_a_cached_answer_counts_no_quota(client: MultiLLM, wired: EmbeddedSystem) -> None:
    settings = settings_for(wired.redis_url, {**wired_env("http://unused"), "OPENAI_RPM": "1000"})
    rule = rule_for(settings.provider("openai"), "sk-wire-test", settings.rate_limit)
    used = lambda: Quota(client.redis).usage(rule)["rpm"]["used"]  # type: ignore[index]  # noqa: E731
    stream_of(client, "Quota question", cache=True, temperature=0)
    before = used()
    _, hit = stream_of(client, "Quota question", cache=True, temperature=0)
    assert hit.cached and before >= 1 and used() == before


def test_cache_is_not_used_above_temperature_zero_unless_always(client: MultiLLM, server: WireServer) -> None:
    for _ in range(2):
        stream_of(client, "A poem, please", cache=True, temperature=0.7)
    assert calls(server, "A poem, please") == 2
    for _ in range(2):
        _, result = stream_of(client, "A poem, always", cache="always", temperature=0.7)
    assert calls(server, "A poem, always") == 1 and result.cached


def test_cache_is_kept_per_tenant_and_keyed_by_options_that_change_the_answer(
        client: MultiLLM, server: WireServer) -> None:
    stream_of(client, "Same words", cache=True, temperature=0, tenant="acme")
    stream_of(client, "Same words", cache=True, temperature=0, tenant="globex")
    stream_of(client, "Same words", cache=True, temperature=0, tenant="acme", max_tokens=20)
    _, hit = stream_of(client, "Same words", cache=True, temperature=0, tenant="acme")
    assert calls(server, "Same words") == 3 and hit.cached
    stats = client.cache.stats("acme")
    assert (stats["entries"], stats["hits"], stats["stores"]) == (2, 1, 2)


def test_batch_run_with_cache_asks_each_answer_and_each_verdict_once_across_runs(
        wired: EmbeddedSystem, server: WireServer, tmp_path: Path) -> None:
    verdict = json.dumps({"verdict": "pass", "reason": "same answer"})
    server.answer_for = lambda body: Reply([verdict] if "response_format" in body else ["Paris"])
    data = tmp_path / "questions.jsonl"
    data.write_text("\n".join(json.dumps({"id": f"q{n}", "prompt": f"Capital of France, take {n}?", "expected": "Paris",
                                          "temperature": 0}) for n in range(3)) + "\n")
    judge = ["--scoring", "judge", "--judge", "openai=gpt-4o-mini", "--cache"]
    try:
        for out in ("first", "second"):
            cli(wired, "batch", "run", str(data), "--providers", "openai", "--out", str(tmp_path / out), *judge)
    finally:
        server.answer_for = lambda _: Reply()
    asked = [b["messages"][-1]["content"] for b in server.bodies(OPENAI)]
    questions = [text for text in asked if text.startswith("Capital of France, take")]
    verdicts = [text for text in asked if "Answer to grade" in text]
    assert (len(questions), len(verdicts)) == (3, 3)
    rows = [json.loads(line) for line in (tmp_path / "second" / "results.jsonl").read_text().splitlines()]
    assert [r["metrics"]["judge"]["verdict"] for r in rows] == ["pass"] * 3


def test_chat_cache_and_cache_commands_on_the_command_line(wired: EmbeddedSystem, server: WireServer) -> None:
    first = cli(wired, "chat", "--cache", "--temperature", "0", "--tenant", "cli", "Largest planet?")
    second = cli(wired, "chat", "--cache", "--temperature", "0", "--tenant", "cli", "Largest planet?")
    assert first.stdout == second.stdout == "Hello there\n"
    assert "[answered from the response cache]" in second.stderr and "cache" not in first.stderr
    assert calls(server, "Largest planet?") == 1
    stats = json.loads(cli(wired, "cache", "stats", "--tenant", "cli", "--json").stdout)
    assert stats["tenants"][0] | {"bytes": 0} == {"tenant": "cli", "entries": 1, "bytes": 0, "hits": 1, "misses": 1,
                                                  "stores": 1, "hit_rate": 0.5}
    assert cli(wired, "cache", "clear", "--tenant", "cli").stdout == "deleted 1 cached answers\n"
    cli(wired, "chat", "--cache", "--temperature", "0", "--tenant", "cli", "Largest planet?")
    assert calls(server, "Largest planet?") == 2
    for _ in range(2):
        cli(wired, "chat", "--cache-always", "--temperature", "0.9", "--tenant", "cli", "A poem?")
    assert calls(server, "A poem?") == 1
