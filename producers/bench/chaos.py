"""Chaos against a running system, and the checks that nothing was lost or duplicated through it.

Four kinds, used alone by the chaos tests and all together by `multillm bench soak`:

- `WorkerKiller`: SIGKILLs a worker process every few seconds and starts a replacement;
- `RedisRestarter`: stops Redis (append-only persistence on) and starts it again on the same port
  and data directory;
- `set_fault_mix`: the simulator answers a share of requests with a fault (429 with retry-after, 5xx,
  529, stalls, dropped connections, malformed chunks, mid-stream errors);
- `consume`: a consumer that reads a job's stream live, slowly, or disconnecting and reconnecting.

The checks read what was written: `stream_problems` finds gaps, repeats and a missing or extra
terminal message in a sequence of messages; `log_messages` reads a job's replay log as stored,
where each terminal message was written in one script together with the result, so more than one
terminal message there means a result written twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from multillm.common import constants
from multillm.common.stream import StreamMessage
from multillm.producers.client import MultiLLM
from multillm.producers.handle import JobTimeout
from multillm.producers.local.embedded import start_redis, stop, wait_for_redis
from multillm.producers.local.system import EmbeddedSystem

# Every fault of the list: 429 with retry-after, 5xx, 529, stalls (before the first token and
# mid-stream), dropped connections, malformed chunks and mid-stream error events.
FAULT_MIX: tuple[str, ...] = ("429", "500", "503", "529", "stall", "stall_mid", "drop", "malformed", "midstream_error")
TERMINAL_STATUS = {"done": "succeeded", "error": "failed", "cancelled": "cancelled"}


def final_text(messages: Sequence[StreamMessage]) -> str:
    """What a consumer shows: the deltas of the last attempt (a new `start` resets the text)."""
    text: list[str] = []
    for m in messages:
        if m.type == "start":
            text = []
        elif m.type == "delta":
            text.append(m.text)
    return "".join(text)


def stream_problems(messages: Sequence[StreamMessage]) -> list[str]:
    """Gaps, repeated sequence numbers, and anything but exactly one terminal message at the end."""
    problems = []
    seqs = [m.seq for m in messages]
    if seqs != list(range(1, len(seqs) + 1)):
        repeated = len(seqs) - len(set(seqs))
        problems.append(f"seq not 1..{len(seqs)} ({repeated} repeated): {seqs[:50]}")
    terminals = sum(1 for m in messages if m.terminal)
    if terminals != 1 or not messages or not messages[-1].terminal:
        problems.append(f"{terminals} terminal messages, last is {messages[-1].type if messages else 'nothing'}")
    return problems


def log_messages(client: redis.Redis, job_id: str) -> list[StreamMessage]:
    """A job's replay log as stored, every entry, duplicates and all."""
    return [StreamMessage.model_validate(json.loads(raw)) for raw in client.lrange(constants.log(job_id), 0, -1)]


# ---- provider faults -------------------------------------------------------------------------------

def set_fault_mix(simulator_url: str, rate: float, faults: Sequence[str] = FAULT_MIX, stall_s: float = 30.0,
                  retry_after_s: float = 1.0) -> None:
    """Give `rate` of all requests a fault drawn from `faults`; stalls last `stall_s`."""
    config = {"fault_rate": rate, "faults": list(faults), "stall_s": stall_s, "retry_after_s": retry_after_s}
    httpx.put(f"{simulator_url}/_simulator/config", json=config, timeout=5).raise_for_status()


def clear_faults(simulator_url: str) -> None:
    httpx.put(f"{simulator_url}/_simulator/config", json={"fault_rate": 0.0}, timeout=5).raise_for_status()


def simulator_stats(simulator_url: str) -> dict[str, dict[str, int]]:
    """Requests and faults the simulator counted: {"requests": {provider: n}, "faults": {name: n}, ...}."""
    return dict(httpx.get(f"{simulator_url}/_simulator/stats", timeout=5).json())


# ---- worker kills and Redis restarts ------------------------------------------------------------------

class Repeating(threading.Thread):
    """Calls `action()` every `every_s` seconds until stopped; counts the calls that succeeded.

    Processes an action starts get PR_SET_PDEATHSIG (`embedded.spawn`), which Linux fires when the
    thread that started them exits, not the process: so after `stop()` the thread stays alive, idle,
    until `close()`, which is for after those processes have been stopped."""

    def __init__(self, every_s: float, name: str, action: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.every_s = every_s
        self.action = action
        self.count = 0
        self.times: list[float] = []  # time.time() at the start of each call
        self.errors: list[str] = []
        self._calm = threading.Event()
        self._idle = threading.Event()
        self._closed = threading.Event()

    def run(self) -> None:
        while not self._calm.wait(self.every_s):
            self.times.append(time.time())
            try:
                self.action()
                self.count += 1
            except Exception as exc:  # reported by the run's figures, never a silent end of the chaos
                self.errors.append(f"{type(exc).__name__}: {exc}")
        self._idle.set()
        self._closed.wait()

    def stop(self, timeout: float = 60.0) -> None:
        """No more chaos: returns once an action under way has finished."""
        self._calm.set()
        if self.is_alive():
            self._idle.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """End the thread (the processes it started get SIGTERM)."""
        self.stop(timeout)
        self._closed.set()
        if self.is_alive():
            self.join(timeout)


def provider_of(worker_name: str) -> str:
    """Worker names start with their provider id (`EmbeddedSystem.start_worker`)."""
    return worker_name.split("-", 1)[0]


class WorkerKiller(Repeating):
    """SIGKILLs one worker process of `system` (the oldest, or a random one) and starts its replacement.

    The only thread that changes `system.workers` while it runs."""

    def __init__(self, system: EmbeddedSystem, every_s: float, rng: random.Random | None = None) -> None:
        super().__init__(every_s, "chaos-worker-killer", self.kill_one)
        self.system = system
        self.rng = rng

    def kill_one(self) -> None:
        names = list(self.system.workers)
        name = self.rng.choice(names) if self.rng else names[0]
        process = self.system.workers.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.system.start_worker(provider_of(name))


class RedisRestarter(Repeating):
    """Restarts a Redis server with append-only persistence on the same port and data directory.

    The server is stopped with SIGTERM, so it writes its append-only file out before it exits: the
    restart a deploy or a crash-looping container does, not a lost disk."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, data_dir: Path, every_s: float,
                 log: Path | None = None) -> None:
        super().__init__(every_s, "chaos-redis-restarter", self.restart)
        self.process = process
        self.url = url
        self.data_dir = data_dir
        self.log = log
        self.down_s: list[float] = []  # how long each restart left Redis unreachable

    def restart(self) -> None:
        self.process = restart_redis(self.process, self.url, self.data_dir, self.log, self.down_s)


def restart_redis(process: subprocess.Popen[bytes], url: str, data_dir: Path, log: Path | None = None,
                  down_s: list[float] | None = None) -> subprocess.Popen[bytes]:
    """Stop the server at `url` and start it again from its append-only file; the new process."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    began = time.monotonic()
    stop([process])
    new, _ = start_redis(port=port, data_dir=data_dir, persist=True, log=log)
    wait_for_redis(url, new)
    if down_s is not None:
        down_s.append(time.monotonic() - began)
    return new


# ---- consumers ------------------------------------------------------------------------------------------

CONSUMER_KINDS = ("live", "slow", "reconnecting")


@dataclass
class Seen:
    """What one consumer saw of one job."""

    job_id: str
    kind: str
    messages: list[StreamMessage] = field(default_factory=list)
    reconnects: int = 0  # on purpose (a reconnecting consumer) or after a Redis error
    redis_errors: int = 0
    timed_out: bool = False
    error: str | None = None  # what ended the consumer, if not the stream's end

    @property
    def last(self) -> int:
        return self.messages[-1].seq if self.messages else 0

    @property
    def finished(self) -> bool:
        return bool(self.messages) and self.messages[-1].terminal


def consume(client: MultiLLM, job_id: str, kind: str = "live", timeout: float = 60.0, pause_s: float = 0.02,
            hop_every: int = 7) -> Seen:
    """Read a job's stream to its end as a consumer of `kind`: `live` reads as fast as it can, `slow`
    pauses `pause_s` after each message, `reconnecting` hangs up after every `hop_every` messages and
    resumes after the last one it saw. Any consumer resumes the same way when Redis goes away."""
    seen = Seen(job_id, kind)
    end = time.monotonic() + timeout
    while not seen.finished:
        left = end - time.monotonic()
        if left <= 0:
            seen.timed_out = True
            break
        try:
            _read_once(client, seen, left, pause_s, hop_every)
        except JobTimeout:
            seen.timed_out = True
            break
        except redis.RedisError:  # Redis restarting: come back and resume after the last message seen
            seen.redis_errors += 1
            seen.reconnects += 1
            time.sleep(0.2)
    return seen


def _read_once(client: MultiLLM, seen: Seen, timeout: float, pause_s: float, hop_every: int) -> None:
    with contextlib.closing(client.job(seen.job_id).stream(timeout=timeout, after=seen.last)) as stream:
        for i, message in enumerate(stream, 1):
            seen.messages.append(message)
            if seen.kind == "slow":
                time.sleep(pause_s)  # a consumer slower than the producer
            if seen.kind == "reconnecting" and i >= hop_every and not message.terminal:
                seen.reconnects += 1
                return
