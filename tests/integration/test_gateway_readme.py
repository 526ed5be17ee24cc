"""README's Gateway examples, run as written against a real gateway; `multillm up` starts one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from multillm.producers.local.embedded import free_port
from tests.integration.gateway_tenants import new_tenant

README = Path(__file__).resolve().parents[2] / "README.md"
DOC_URL = "http://127.0.0.1:8080"


def block(marker: str) -> str:
    """The fenced code block right after `<!-- marker ... -->` in README."""
    match = re.search(rf"<!-- {marker}\b.*?-->\n```\w+\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no {marker} block"
    return match.group(1)


def test_the_readme_curl_examples_work_as_written(system, gateway):
    _, key = new_tenant(system.redis_url)
    script = "set -euo pipefail\n" + block("gateway-curl").replace(DOC_URL, gateway)
    run = subprocess.run(["bash", "-c", script], env=dict(os.environ, KEY=key), capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert '"object":"chat.completion"' in out and "data: [DONE]" in out
    assert '"type":"done"' in out and '"status":"succeeded"' in out
    assert '"id":"report-42"' in out and '"cancelled":false' in out  # it had finished: nothing to cancel


def test_the_readme_openai_sdk_example_works_as_written(system, gateway):
    _, key = new_tenant(system.redis_url)
    code = block("gateway-python").replace(DOC_URL, gateway)
    run = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, MULTILLM_API_KEY=key), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("\n") >= 2 and "openai/" in run.stdout


def test_multillm_up_starts_the_gateway_and_prints_its_url(tmp_path):
    port = free_port()
    env = dict(os.environ, MULTILLM_HOME=str(tmp_path / "home"), LOG_LEVEL="warning", MULTILLM_HEALTH_INTERVAL_S="60")
    env.pop("REDIS_URL", None)  # its own Redis, so its worker takes no job of the other tests
    up = subprocess.Popen([sys.executable, "-m", "multillm.producers.cli.main", "up", "--providers", "openai",
                           "--gateway-port", str(port)], env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert up.stderr is not None
        end = time.monotonic() + 90
        lines = []
        while time.monotonic() < end:
            line = up.stderr.readline()
            lines.append(line)
            if line.startswith("Gateway:") or not line:
                break
        assert f"Gateway: http://127.0.0.1:{port}/v1" in "".join(lines), "".join(lines)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json() == {"status": "ready"}
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.wait(timeout=60)


def test_a_system_restarts_its_gateway_on_the_same_port_when_it_dies(own_redis, tmp_path):
    from tests.integration.conftest import make_system

    with make_system(own_redis, tmp_path / "logs", providers=["openai"], gateway_port=0) as running:
        assert running.gateway_url and running.gateway_process is not None
        running.gateway_process.kill()
        running.gateway_process.wait()
        assert "gateway" in running.supervise()
        assert httpx.get(f"{running.gateway_url}/readyz").json() == {"status": "ready"}
