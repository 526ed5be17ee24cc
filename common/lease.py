"""Leases: which worker attempt owns a running job, renewed while it streams.

Celery on Redis redelivers an unacknowledged message only after the visibility timeout, so a job
whose worker died would wait that long. Instead every running job holds a lease that one thread per
worker process renews; a job whose lease lapses is found by `lapsed_jobs` and re-enqueued within
seconds. A second delivery of a job that is leased or finished does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis

from multillm.common import constants

log = logging.getLogger("multillm.lease")

ACQUIRED = 1
FINISHED = 0
HELD_ELSEWHERE = -1

# KEYS: lease, inflight, result, attempts   ARGV: owner, ttl_ms, job_id, renew_by
ACQUIRE_LUA = """
if redis.call('EXISTS', KEYS[3]) == 1 then return {0, 0} end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {-1, 0} end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
local a = redis.call('INCR', KEYS[4])
redis.call('PEXPIRE', KEYS[4], 86400000)
return {1, a}
"""

# KEYS: inflight   ARGV: ttl_ms, renew_by, then (lease key, owner, job id) triples
_RENEW = """
local lost = {}
for i = 3, #ARGV, 3 do
  if redis.call('GET', ARGV[i]) == ARGV[i + 1] then
    redis.call('PEXPIRE', ARGV[i], ARGV[1])
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i + 2])
  else
    table.insert(lost, ARGV[i + 2])
  end
end
return lost
"""

# KEYS: lease, inflight   ARGV: owner, job_id, renew_by
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
  return 1
end
return 0
"""


def attempts_key(job_id: str) -> str:
    return constants.attempts(job_id)


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass
class Lease:
    job_id: str
    owner: str
    attempt: int
    lost: threading.Event = field(default_factory=threading.Event)


class LeaseKeeper:
    """Acquires leases and renews every lease this process holds from one background thread."""

    def __init__(self, client: redis.Redis, ttl_s: float) -> None:
        self.client = client
        self.ttl_ms = int(ttl_s * 1000)
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._acquire = client.register_script(ACQUIRE_LUA)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def acquire(self, job_id: str) -> tuple[int, Lease | None]:
        owner = new_owner()
        lease_keys = [constants.lease(job_id), constants.INFLIGHT, constants.result(job_id), attempts_key(job_id)]
        state, attempt = self._acquire(keys=lease_keys, args=[owner, self.ttl_ms, job_id, self.renew_by()])
        if int(state) != ACQUIRED:
            return int(state), None
        return ACQUIRED, self.hold(job_id, owner, int(attempt))

    def hold(self, job_id: str, owner: str, attempt: int) -> Lease:
        """Renew from now on a lease taken in Redis as `owner` (by `acquire`, or a script that takes it
        with ACQUIRE_LUA)."""
        lease = Lease(job_id, owner, attempt)
        with self._lock:
            self._held[job_id] = lease
        self._ensure_thread()
        return lease

    def forget(self, lease: Lease) -> None:
        """Stop renewing (the finish script already deleted the lease)."""
        with self._lock:
            self._held.pop(lease.job_id, None)

    def release(self, lease: Lease, resume_in: float) -> None:
        """Give the job up for a later attempt expected within `resume_in` seconds."""
        self.forget(lease)
        renew_by = time.time() + resume_in + self.ttl_ms / 1000
        self._release(keys=[constants.lease(lease.job_id), constants.INFLIGHT], args=[lease.owner, lease.job_id, renew_by])

    def renew_all(self) -> None:
        with self._lock:
            held = list(self._held.values())
        if not held:
            return
        args: list[object] = [self.ttl_ms, self.renew_by()]
        for lease in held:
            args += [constants.lease(lease.job_id), lease.owner, lease.job_id]
        lost = {x.decode() if isinstance(x, bytes) else x for x in self._renew(keys=[constants.INFLIGHT], args=args)}
        for lease in held:
            if lease.job_id in lost:
                lease.lost.set()
                self.forget(lease)

    def renew_by(self) -> float:
        return time.time() + self.ttl_ms / 1000

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="multillm-lease", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        interval = self.ttl_ms / 3000
        while not self._stop.wait(interval):
            try:
                self.renew_all()
            except redis.RedisError as exc:  # Redis restarting: keep trying, leases may lapse
                log.warning("lease renewal failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()


# KEYS: inflight, lease, result   ARGV: job_id, now, claim_until
_CLAIM = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('ZREM', KEYS[1], ARGV[1]) return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""


def lapsed_jobs(client: redis.Redis, now: float | None = None, limit: int = 100, grace: float = 60.0) -> list[str]:
    """Jobs whose lease should have been renewed by now and was not, each claimed by one caller.

    The claim pushes the job's renew-by time `grace` seconds forward, atomically, so several reapers
    never re-enqueue the same lapse twice; a claimed job that no worker takes comes round again.
    """
    now = time.time() if now is None else now
    claim = client.register_script(_CLAIM)
    due = [j.decode() if isinstance(j, bytes) else j
           for j in client.zrangebyscore(constants.INFLIGHT, "-inf", now, start=0, num=limit)]
    return [
        job_id for job_id in due
        if claim(keys=[constants.INFLIGHT, constants.lease(job_id), constants.result(job_id)], args=[job_id, now, now + grace])
    ]
