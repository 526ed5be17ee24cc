"""Rotating the master key while real workers run vault tenants' jobs: with the previous key in
ENCRYPTION_MASTER_KEY_PREVIOUS, no job fails before, during or after `multillm keys rotate`."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import redis

from multillm.common import constants
from multillm.common.vault import VAULT, Vault, master_key_id, new_master_key
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import python_module
from tests.integration.conftest import make_system, settings_for

TENANTS = [f"tenant-{i:03d}" for i in range(300)]


def keys_command(url: str, *args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MULTILLM_", "ENCRYPTION_"))}
    return subprocess.run(python_module("multillm.producers.cli.main", "keys", *args), input=stdin,
                          env={**base, **env, "REDIS_URL": url}, capture_output=True, text=True, timeout=120)


def finished(client: redis.Redis, job_ids: list[str]) -> int:
    return sum(v is not None for v in client.mget([constants.result(j) for j in job_ids]))


def test_rotating_the_master_key_while_vault_tenants_jobs_run_fails_none(own_redis: str, tmp_path: Path):
    old, new = new_master_key(), new_master_key()
    r = redis.Redis.from_url(own_redis)
    r.delete(VAULT)
    sealed = Vault(r, old)
    for tenant in TENANTS:
        sealed.set(tenant, "openai", f"sk-{tenant}-0123456789abcdef")
    both = {"ENCRYPTION_MASTER_KEY": new, "ENCRYPTION_MASTER_KEY_PREVIOUS": old}
    system = make_system(own_redis, tmp_path / "logs", ["openai"], env=both, concurrency=8,
                         simulator_args=["--ttft-ms", "100"])
    with system, MultiLLM(own_redis, settings=settings_for(own_redis)) as producer:
        before = [producer.submit("openai", "hi", tenant=t, max_tokens=4).job_id for t in TENANTS]
        began = time.time()
        rotated = keys_command(own_redis, "rotate", env=both)
        ended, during = time.time(), finished(r, before)
        after = [producer.submit("openai", "hi", tenant=t, max_tokens=4).job_id for t in TENANTS[::10]]
        results = [producer.job(j).result(timeout=180) for j in before + after]
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() == f"re-encrypted {len(TENANTS)} keys (0 already current)"
    assert during < len(before), "every job had ended before the rotation: it did not run during one"
    started = [res.timings.started_at or 0 for res in results]
    assert any(began <= t <= ended for t in started) and any(t > ended for t in started)
    failed = [(res.job_id, res.error) for res in results if res.status != "succeeded"]
    assert not failed, failed[:3]
    assert {v.decode().split(".")[1] for v in r.hvals(VAULT)} == {master_key_id(new)}
    r.close()


def test_keys_rotate_and_list_name_unreadable_entries_and_exit_1(own_redis: str):
    old, new, lost = new_master_key(), new_master_key(), new_master_key()
    r = redis.Redis.from_url(own_redis)
    r.delete(VAULT)
    Vault(r, old).set("acme", "openai", "sk-acme-0123456789abcdef")
    Vault(r, lost).set("gone", "openai", "sk-gone-0123456789abcdef")  # sealed with a key nobody has
    rotated = keys_command(own_redis, "rotate", env={"ENCRYPTION_MASTER_KEY": new}, stdin=old)  # old key piped in
    assert rotated.returncode == 1
    assert rotated.stdout.strip() == "re-encrypted 1 keys (0 already current)"
    assert f"gone/openai: stored key: sealed with master key {master_key_id(lost)}" in rotated.stderr
    assert rotated.stderr.splitlines()[-1] == "error: 1 stored key(s) not re-encrypted: gone/openai"
    listed = keys_command(own_redis, "list", env={"ENCRYPTION_MASTER_KEY": new})
    assert listed.returncode == 1 and listed.stdout == "acme\topenai\tsk-a…cdef\n"
    assert listed.stderr.splitlines()[-1] == "error: 1 stored key(s) could not be read: gone/openai"
    assert "sk-gone" not in rotated.stderr + listed.stderr
    r.close()
