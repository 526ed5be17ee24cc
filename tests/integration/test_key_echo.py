"""A provider that echoes the request's headers (the key among them) in its 401, 400 and 500 bodies
and in a mid-stream error event: the key appears nowhere, for an environment key and a vault key.
Searched: the command line's stdout and stderr, results, stream messages, every Redis value, the
worker logs and Flower's pages. Both keys are 64 random characters with no key shape, so only
redaction by value can catch them."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from multillm.common.vault import new_master_key
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem

from . import test_secrets as scan
from .conftest import FAST_ENV, make_system, settings_for

ENV_KEY = secrets.token_hex(32)
VAULT_KEY = secrets.token_urlsafe(48)
MASTER = new_master_key()
TRIGGERS = ("status:401", "status:400", "status:500", "midstream")


class EchoHandler(BaseHTTPRequestHandler):
    """OpenAI's wire shapes, with every error message quoting the request headers back."""

    seen: list[str] = []

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        prompt = str(body.get("messages", [{}])[-1].get("content", ""))
        headers = dict(self.headers.items())
        self.seen.append(headers.get("Authorization", ""))
        echo = f"refused; request headers were {headers}; token {headers.get('Authorization', '').split()[-1]}"
        status = next((int(t.split(":")[1]) for t in TRIGGERS if t.startswith("status") and t in prompt), 200)
        if status != 200:
            self._send(status, "application/json", json.dumps({"error": {"message": echo, "type": "invalid_request_error",
                                                                         "code": f"echo_{status}"}}).encode())
            return
        chunk = {"id": "c1", "object": "chat.completion.chunk", "model": body.get("model"),
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": "partial "}, "finish_reason": None}]}
        events = [f"data: {json.dumps(chunk)}\n\n"]
        if "midstream" in prompt:
            events.append(f"data: {json.dumps({'error': {'message': echo, 'code': 502}})}\n\n")
        else:
            done = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            events += [f"data: {json.dumps(done)}\n\n", "data: [DONE]\n\n"]
        self._send(200, "text/event-stream", "".join(events).encode())

    def _send(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def env(echo) -> dict[str, str]:
    return {"OPENAI_API_KEY": ENV_KEY, "OPENAI_BASE_URL": echo, "ENCRYPTION_MASTER_KEY": MASTER,
            "MULTILLM_MAX_ATTEMPTS": "1", "LOG_LEVEL": "debug"}


@pytest.fixture(scope="module")
def system(own_redis, env, tmp_path_factory) -> Iterator[EmbeddedSystem]:
    with make_system(own_redis, tmp_path_factory.mktemp("echo-logs"), ["openai"], env=env, concurrency=4) as running:
        yield running


def cli(system: EmbeddedSystem, env: dict[str, str], home: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **FAST_ENV, **env, "REDIS_URL": system.redis_url, "MULTILLM_HOME": home}
    return subprocess.run([sys.executable, "-m", "multillm.producers.cli.main", *args], input=stdin, env=full,
                          capture_output=True, text=True, timeout=120)


def test_a_key_echoed_by_the_provider_appears_nowhere(system, env, tmp_path):
    home = str(tmp_path)
    outputs = [cli(system, env, home, "keys", "set", "--tenant", "acme", "--provider", "openai", stdin=VAULT_KEY)]
    assert outputs[0].returncode == 0, outputs[0].stderr
    for trigger in TRIGGERS:
        for mode in ([], ["--direct"]):
            run = cli(system, env, home, "chat", "-p", "openai", "-m", "gpt-4o-mini", *mode, f"{trigger} please")
            assert run.returncode == 1 and "error:" in run.stderr and "[redacted]" in run.stderr, (trigger, run.stderr)
            outputs.append(run)
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url, env)) as client:
        handles = [client.submit("openai", f"{trigger} job", model="gpt-4o-mini", tenant=tenant, max_attempts=1)
                   for trigger in TRIGGERS for tenant in ("default", "acme")]
        results = [h.result(timeout=60) for h in handles]
        streams = [list(h.stream(timeout=10)) for h in handles]
    for handle in handles[:2]:
        outputs += [cli(system, env, home, "stream", handle.job_id), cli(system, env, home, "result", handle.job_id)]
    assert all(r.status == "failed" and "[redacted]" in r.error["message"] for r in results)
    assert any(ENV_KEY in auth for auth in EchoHandler.seen) and any(VAULT_KEY in auth for auth in EchoHandler.seen)
    seen = [scan.redis_dump(system.redis_url), *(r.model_dump_json() for r in results),
            *(m.model_dump_json() for s in streams for m in s), *(o.stdout + o.stderr for o in outputs)]
    for url in scan.flower(system):
        tasks = list(httpx.get(f"{url}/api/tasks", timeout=10).json())
        seen += [httpx.get(f"{url}/api/tasks", timeout=10).text, httpx.get(f"{url}/tasks", timeout=10).text]
        seen += [httpx.get(f"{url}/task/{t}", timeout=10).text for t in tasks[:10]]
    assert system.options.log_dir is not None
    logs = [p.read_text(errors="replace") for p in system.options.log_dir.iterdir()]
    assert any("DEBUG" in text for text in logs)
    seen += logs
    for key in (ENV_KEY, VAULT_KEY):
        leaks = [text[max(0, i - 80): i + 20] for text in seen if (i := text.find(key)) >= 0]
        assert not leaks, leaks[:3]
