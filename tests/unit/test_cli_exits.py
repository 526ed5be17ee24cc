"""The command line fails with one line when Redis is unreachable, whatever the command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from multillm.producers.local.embedded import free_port


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "LOG_LEVEL": "warning", **env}
    return subprocess.run([sys.executable, "-m", "multillm.producers.cli.main", *args], env=full, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("args", [("result", "job-1"), ("cancel", "job-1"), ("submit", "-p", "openai", "hi"),
                                  ("deadletter",), ("stream", "job-1", "--timeout", "1")])
def test_a_redis_outage_is_one_line_not_a_traceback(args, tmp_path):
    run = cli(*args, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", MULTILLM_HOME=str(tmp_path))
    assert run.returncode == 1
    assert run.stderr.startswith("error: Redis unreachable") and run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr

