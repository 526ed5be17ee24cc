"""Size limits at both ends, and a flood that leaves Redis memory bounded: oversized jobs are refused
at submit (nothing written) and, when written straight to Redis, by the worker with an error result;
cancels and lookups of unknown ids write nothing; garbage on a queue costs a capped dead-letter list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis

from multillm.common import constants, deadletter
from multillm.common.errors import ConfigurationError
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem

from .conftest import make_system, settings_for

LIMITS = {"MULTILLM_MAX_JOB_BYTES": "200000", "MULTILLM_MAX_METADATA_CHARS": "1000", "MULTILLM_MAX_STOP_CHARS": "50"}
OVERSIZED = [  # (field named in the refusal, job fields)
    ("metadata", {"metadata": {"k": "v" * 2_000}}),
    ("options.stop.0", {"options": {"stop": ["s" * 60]}}),
    ("options.tools.0.description", {"options": {"tools": [{"name": "f", "description": "d" * 9_000}]}}),
    ("messages.1.tool_calls.0.arguments", {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c", "name": "f", "arguments": "a" * 70_000}]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"}]}),
    ("job", {"messages": [{"role": "user", "content": "x" * 300_000}]}),
]


@pytest.fixture(scope="module")
def system(own_redis, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    with make_system(own_redis, tmp_path_factory.mktemp("limits"), ["openai"], env=LIMITS, concurrency=4) as running:
        yield running


@pytest.fixture
def client(system) -> Iterator[MultiLLM]:
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url, LIMITS)) as c:
        yield c


def record(job_id: str, fields: dict) -> str:
    data = {"job_id": job_id, "provider": "openai", "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}], "submitted_at": time.time(), **fields}
    return json.dumps(data)


@pytest.mark.parametrize(("field", "fields"), OVERSIZED)
def test_an_oversized_field_is_refused_at_submit_naming_it(client, field, fields):
    keys = client.redis.dbsize()
    data = {"messages": [{"role": "user", "content": "hi"}], **fields}
    with pytest.raises(ConfigurationError, match=f"^{field.replace('.', '[.]')}: "):
        client.submit("openai", data.pop("messages"), model="gpt-4o-mini", **data.pop("options", {}), **data)
    assert client.redis.dbsize() == keys


def test_an_oversized_record_that_bypassed_the_producer_ends_with_an_error_result(client):
    extra = [("provider", {"provider": "evil"}), ("options.tool_choice", {"options": {"tool_choice": "x" * 500}})]
    for i, (field, fields) in enumerate(OVERSIZED + extra):
        job_id = f"bypass-{i}"
        client.redis.set(constants.job(job_id), record(job_id, fields))
        client._celery.send_task("multillm.chat.openai", args=[job_id], queue=constants.queue("openai"))
        result = client.job(job_id).result(timeout=30)
        assert result.status == "failed" and result.error["code"] == "invalid_job"
        assert field in result.error["message"], (field, result.error["message"])


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def test_a_flood_of_cancels_lookups_oversized_jobs_and_garbage_leaves_memory_bounded(system, client):
    r = client.redis
    keys, memory = r.dbsize(), used_memory(r)
    for i in range(2_000):
        handle = client.job(f"never-submitted-{i}")
        assert handle.cancel() is False and handle.status() == "unknown" and handle.stored_result() is None
    assert r.dbsize() == keys  # cancels and lookups of unknown ids wrote nothing
    for _ in range(300):  # 300 jobs of 300 kB each would hold 90 MB
        with pytest.raises(ConfigurationError):
            client.submit("openai", "x" * 300_000, model="gpt-4o-mini")
    garbage = b"\xff" + b"g" * 4_000
    for _ in range(6):  # 3,000 unreadable 4 kB messages: 12 MB if each were kept
        r.lpush(constants.queue("openai"), *[garbage] * 500)
    end = time.monotonic() + 60
    while r.llen(constants.queue("openai")) and time.monotonic() < end:
        time.sleep(0.1)
    assert r.llen(constants.queue("openai")) == 0
    assert r.llen(constants.DEADLETTER) == deadletter.MAX_ENTRIES
    grown = used_memory(r) - memory
    assert grown < 4_000_000, f"Redis grew by {grown:,} bytes"
    assert all(p.poll() is None for p in system.workers.values())


def test_the_deadletter_command_shows_and_clears_the_list(system, client, tmp_path):
    client.redis.lpush(constants.queue("openai"), b"[1, 2", b"\x00\x01", b"not json at all")  # processed in this order
    end = time.monotonic() + 30
    while client.redis.llen(constants.queue("openai")) and time.monotonic() < end:
        time.sleep(0.1)
    env = {**os.environ, "REDIS_URL": system.redis_url, "MULTILLM_HOME": str(tmp_path), "LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "multillm.producers.cli.main", "deadletter"]
    shown = subprocess.run([*command, "--json", "--limit", "3", "--clear"], env=env, capture_output=True, text=True,
                           timeout=60)
    entries = [json.loads(line) for line in shown.stdout.splitlines()]
    assert shown.returncode == 0 and len(entries) == 3 and shown.stderr.startswith("cleared ")
    assert entries[0]["body"] == "not json at all" and entries[0]["reason"] == "not JSON"
    assert entries[0]["queue"] == constants.queue("openai")
    table = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert table.returncode == 0 and table.stdout.strip() == "no dead letters"
