"""`multillm up` driven through the real command line: its Redis keeps its password to its owner,
survives a `kill -9` with every job it had accepted, and the CLI fails in one line without Redis."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from multillm.producers.local.embedded import free_port, new_password, python_module, spawn, start_redis, stop
from tests.integration.conftest import NO_KEYS

CLI = "multillm.producers.cli.main"
LINES = 200


@dataclass
class Up:
    home: Path
    env: dict[str, str]
    output: Path
    process: subprocess.Popen[bytes]

    def state(self) -> dict[str, object]:
        return json.loads((self.home / "system.json").read_text())

    def printed(self) -> str:
        return self.output.read_text()


def wait_for(condition, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    """`multillm up` for openai on the simulator (slow enough that a batch takes seconds), in its own home."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("MULTILLM_")}
    env.update(NO_KEYS, MULTILLM_HOME=str(home), MULTILLM_LEASE_TTL_S="2", LOG_LEVEL="info")
    output = tmp_path / "up.out"
    process = spawn(python_module(CLI, "up", "--providers", "openai", "--concurrency", "8", "--log-dir",
                                  str(home / "logs"), "--ttft-ms", "150", "--tokens-per-second", "40"),
                    env=env, log=output)
    running = Up(home, env, output, process)
    try:
        wait_for(lambda: "Ctrl-C to stop" in running.printed() or process.poll() is not None, 120, "multillm up")
        assert process.poll() is None, running.printed()
        yield running
    finally:
        stop([process])


def test_up_keeps_the_redis_password_to_its_owner_and_never_prints_it(up: Up):
    state = up.state()
    url = str(state["redis_url"])
    password = redis.connection.parse_url(url)["password"]
    assert len(password) >= 32
    assert stat.S_IMODE((up.home / "system.json").stat().st_mode) == 0o600
    logs = list((up.home / "logs").glob("*.log"))
    assert {p.name.split("-")[0] for p in logs} >= {"redis.log", "simulator.log", "worker", "beat"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in logs), [(p.name, oct(p.stat().st_mode)) for p in logs]
    printed = up.printed()
    assert "redis://:****@127.0.0.1:" in printed and password not in printed
    assert not any(password in p.read_text(errors="replace") for p in logs)
    port = redis.connection.parse_url(url)["port"]
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).ping()
    client = redis.Redis.from_url(url)
    config = client.config_get("*")
    client.close()
    assert config["maxmemory-policy"] == "noeviction" and int(config["maxmemory"]) == 1024**3
    assert config["appendonly"] == "yes" and Path(config["dir"]) == up.home / "redis"


def test_a_batch_survives_a_kill_9_of_the_embedded_redis_with_every_line_answered_once(up: Up, tmp_path: Path):
    source = tmp_path / "prompts.jsonl"
    source.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"question {i}", "max_tokens": 8}) + "\n"
                              for i in range(LINES)))
    out = tmp_path / "out"
    results = out / "results.jsonl"
    batch = spawn(python_module(CLI, "batch", "run", str(source), "--providers", "openai", "--out", str(out)),
                  env=up.env, log=tmp_path / "batch.out")
    try:
        answered = lambda: len(results.read_text().splitlines()) if results.exists() else 0  # noqa: E731
        wait_for(lambda: answered() >= 40 or batch.poll() is not None, 180, "the batch to be under way")
        assert batch.poll() is None and answered() < LINES, "the batch ended before Redis could be killed"
        killed = int(up.state()["redis_pid"])  # type: ignore[call-overload]
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: batch.poll() is not None, 240, "the batch to finish")
    finally:
        stop([batch])
    assert batch.returncode == 0, (tmp_path / "batch.out").read_text()[-3000:]
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    ids = [row["custom_id"] for row in rows]
    assert sorted(ids) == sorted(f"q{i}" for i in range(LINES))  # every line once, none twice
    assert all(row["response"]["status_code"] == 200 and row["error"] is None for row in rows)
    assert "redis exited; restarted" in up.printed()
    assert int(up.state()["redis_pid"]) != killed  # type: ignore[call-overload]


def children(pid: int) -> dict[int, str]:
    """Child process id -> command line, from /proc."""
    found = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found[int(stat_file.parent.name)] = (stat_file.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # exited while being read
    return found


def test_up_restarts_the_simulator_a_worker_and_the_beat_and_says_so(up: Up):
    parts = children(up.process.pid)
    victims = {what: next(pid for pid, cmd in parts.items() if marker in cmd)
               for what, marker in (("simulator", " simulate "), ("worker", " worker "), ("beat", " beat "))}
    for pid in victims.values():
        os.kill(pid, signal.SIGKILL)
    for line in ("simulator exited; restarted", "beat exited; restarted"):
        wait_for(lambda line=line: line in up.printed(), 60, line)
    wait_for(lambda: re.search(r"worker openai-\S+ exited; restarted", up.printed()), 60, "the worker's restart")
    chat = subprocess.run(python_module(CLI, "chat", "-p", "openai", "--max-tokens", "5", "hello"), env=up.env,
                          capture_output=True, text=True, timeout=120)
    assert chat.returncode == 0 and chat.stdout.strip(), chat.stderr
    assert not set(victims.values()) & set(children(up.process.pid))


def test_chat_says_in_one_line_that_redis_is_unreachable(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTILLM_")}
    env.update(REDIS_URL=f"redis://:not-this-one@127.0.0.1:{free_port()}/0", MULTILLM_HOME=str(tmp_path))
    done = subprocess.run(python_module(CLI, "chat", "-p", "openai", "hello"), env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("error: Redis unreachable: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and "not-this-one" not in done.stderr


def test_a_submit_to_a_full_redis_says_in_one_line_that_redis_refused_it(tmp_path: Path):
    process, url = start_redis(password=new_password(), maxmemory="2mb")
    client = redis.Redis.from_url(url)
    try:
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            for i in range(1000):
                client.set(f"fill:{i}", "x" * 65536)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MULTILLM_")}
        env.update(REDIS_URL=url, MULTILLM_HOME=str(tmp_path))
        done = subprocess.run(python_module(CLI, "submit", "-p", "openai", "hello"), env=env, capture_output=True,
                              text=True, timeout=60)
    finally:
        client.close()
        stop([process])
    assert done.returncode == 1
    assert done.stderr == "error: Redis refused the command: command not allowed when used memory > 'maxmemory'.\n"
