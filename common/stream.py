"""Publishing a job's stream: each message gets the next sequence number, is appended to the
replay log and published on the job's channel in one atomic step, and only by the attempt that
holds the job's lease. The terminal message and the result are written together, once.

Lua because the four writes (INCR, RPUSH, LTRIM, PUBLISH) plus the lease and cancel checks must
be one step for sequence numbers to have no gaps or duplicates across attempts.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from . import keys

PUBLISHED_CANCELLED = -1
LEASE_LOST = -2
ALREADY_FINISHED = 0

# KEYS: lease, seq, log, channel, cancel   ARGV: owner, body-without-"{", replay_max, ttl
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -2 end
if redis.call('EXISTS', KEYS[5]) == 1 then return -1 end
local s = redis.call('INCR', KEYS[2])
local msg = '{"seq":' .. s .. ',' .. ARGV[2]
redis.call('RPUSH', KEYS[3], msg)
if s % 64 == 1 then
  redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('PUBLISH', KEYS[4], msg)
return s
"""

# KEYS: lease, seq, log, channel, result, inflight
# ARGV: owner ('' = only while no attempt holds the lease), body-without-"{", replay_max, ttl, result, result_ttl, job_id
_FINISH = """
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
if ARGV[1] == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return -2 end
elseif redis.call('GET', KEYS[1]) ~= ARGV[1] then return -2 end
local s = redis.call('INCR', KEYS[2])
local msg = '{"seq":' .. s .. ',' .. ARGV[2]
redis.call('RPUSH', KEYS[3], msg)
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[5], ARGV[5], 'EX', ARGV[6])
if ARGV[1] ~= '' then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[6], ARGV[7])
redis.call('PUBLISH', KEYS[4], msg)
return s
"""


def _body(job_id: str, kind: str, attempt: int, fields: dict[str, Any]) -> str:
    """The message JSON without its opening brace; the script puts `{"seq":N,` in front."""
    data = {"job_id": job_id, "type": kind, "attempt": attempt, "ts": round(time.time(), 6)}
    data.update({k: v for k, v in fields.items() if v is not None})
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)[1:]


class Publisher:
    """Publishes one job attempt's messages. Not shared between threads."""

    def __init__(
        self, client: redis.Redis, job_id: str, owner: str, attempt: int, *, replay_max: int, ttl: int
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.owner = owner
        self.attempt = attempt
        self.replay_max = replay_max
        self.ttl = ttl
        self._publish = client.register_script(_PUBLISH)
        self._finish = client.register_script(_FINISH)
        j = job_id
        self._keys = [keys.lease(j), keys.seq(j), keys.log(j), keys.channel(j), keys.cancel(j)]

    def publish(self, kind: str, **fields: Any) -> int:
        """The message's sequence number, or PUBLISHED_CANCELLED / LEASE_LOST (nothing published)."""
        body = _body(self.job_id, kind, self.attempt, fields)
        return int(self._publish(keys=self._keys, args=[self.owner, body, self.replay_max, self.ttl]))

    def finish(self, kind: str, result: str, result_ttl: int, **fields: Any) -> int:
        """Publish the terminal message and store the result; ALREADY_FINISHED if one exists."""
        j = self.job_id
        body = _body(j, kind, self.attempt, fields)
        finish_keys = [*self._keys[:4], keys.result(j), keys.INFLIGHT]
        args = [self.owner, body, self.replay_max, self.ttl, result, result_ttl, j]
        return int(self._finish(keys=finish_keys, args=args))
