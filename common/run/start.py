"""A delivery's start-up in one Redis round trip: the job record, the lease (taken as `ACQUIRE_LUA` takes
it), and what the guards check (the cancel flag, the provider's circuit), read by one script.

Four round trips (GET, the lease script, EXISTS, HGETALL) became one: at hundreds of jobs a second
the worker spent more CPU on redis-py's command handling than on the jobs (BENCHMARKS.md, profile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import redis

from multillm.common import constants
from multillm.common.lease import ACQUIRE_LUA, ACQUIRED, Lease, LeaseKeeper, attempts_key, new_owner

NOT_FOUND = -9  # no job record: nothing was taken
NOT_A_STRING = -10  # another type under the record's key: nothing was taken
TOO_LARGE = -11  # a record over the size limit (never read): nothing was taken; the size comes with it

# KEYS: lease, inflight, result, attempts (as ACQUIRE_LUA), job, cancel, [circuit]
# ARGV: owner, ttl_ms, job_id, renew_by (as ACQUIRE_LUA), max_job_bytes
_START = f"""
local kind = redis.call('TYPE', KEYS[5]).ok
if kind == 'none' then return {{{NOT_FOUND}, 0}} end
if kind ~= 'string' then return {{{NOT_A_STRING}, 0}} end
local size = redis.call('STRLEN', KEYS[5])
if size > tonumber(ARGV[5]) then return {{{TOO_LARGE}, size}} end
local job = redis.call('GET', KEYS[5])
local function acquire()
{ACQUIRE_LUA}
end
local taken = acquire()
if taken[1] ~= 1 then return taken end
local circuit = {{}}
if KEYS[7] then circuit = redis.call('HGETALL', KEYS[7]) end
return {{1, taken[2], job, redis.call('EXISTS', KEYS[6]), circuit}}
"""


@dataclass(frozen=True)
class Facts:
    """What the guards read from Redis: whether a cancel was asked for, the circuit's stored hash."""

    cancelled: bool = False
    circuit: Mapping[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Start:
    state: int  # ACQUIRED, FINISHED or HELD_ELSEWHERE (lease.py), or NOT_FOUND, NOT_A_STRING, TOO_LARGE
    size: int = 0  # for TOO_LARGE: the record's size in bytes
    lease: Lease | None = None
    raw_job: bytes | None = None
    facts: Facts = field(default_factory=Facts)
    facts_for: str | None = None  # the provider whose circuit `facts` holds; None: not read

    def facts_of(self, provider: str) -> Facts | None:
        """The facts if they were read for `provider` (a job's provider), else None: read them apart."""
        return self.facts if self.facts_for == provider else None


class Starter:
    """Takes a job for one delivery: its record, its lease and the guards' facts together."""

    def __init__(self, client: redis.Redis, leases: LeaseKeeper, max_job_bytes: int) -> None:
        self.leases = leases
        self.max_job_bytes = max_job_bytes
        self._start = client.register_script(_START)

    def start(self, job_id: str, provider: str | None = None) -> Start:
        """`provider`: the provider whose circuit to read, when the caller knows it before the record
        (the queue the job came from names it). The lease is renewed from here on when taken."""
        owner = new_owner()
        c = constants
        keys = [c.lease(job_id), c.INFLIGHT, c.result(job_id), attempts_key(job_id), c.job(job_id), c.cancel(job_id)]
        if provider:
            keys.append(c.circuit(provider))
        reply = self._start(keys=keys, args=[owner, self.leases.ttl_ms, job_id, self.leases.renew_by(), self.max_job_bytes])
        state = int(reply[0])
        if state != ACQUIRED:
            return Start(state, size=int(reply[1]))
        flat = reply[4]
        facts = Facts(bool(reply[3]), dict(zip(flat[::2], flat[1::2], strict=True)))
        lease = self.leases.hold(job_id, owner, int(reply[1]))
        return Start(ACQUIRED, 0, lease, reply[2], facts, provider or None)
