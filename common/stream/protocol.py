"""The stream protocol, both ends.

Writer (workers): each message gets the next sequence number, is appended to the replay log and
published on the job's channel in one atomic step, and only by the attempt that holds the job's lease.
The terminal message and the result are written together, once.

Reader (consumers): subscribe to the channel first, then replay the log, and keep only messages whose
sequence number is the next one expected (`Sequencer`); on a gap, read the missing ones back from the log.

Lua because the four writes (INCR, RPUSH, LTRIM, PUBLISH) plus the lease and cancel checks must
be one step for sequence numbers to have no gaps or duplicates across attempts. A worker's chunks
go in batches: one script call writes many messages of many jobs, each checked as if sent alone.

Every message and the result are redacted (multillm.common.redact) on their way out: a key a provider
echoed into its error text never reaches the log, the channel or the result.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any

import redis

from multillm.common import constants
from multillm.common.redact import redact_data, redact_values
from multillm.common.stream.schema import StreamMessage

PUBLISHED_CANCELLED = -1
LEASE_LOST = -2
ALREADY_PUBLISHED = -3  # a call repeated after Redis had run it (the client retried a lost reply)
ALREADY_FINISHED = 0

# One message: KEYS k..k+5 = lease, seq, log, channel, cancel, published; ARGV a..a+4 = owner,
# body-without-"{", replay_max, ttl, n. `published` remembers each attempt's last message number n, so
# a call redis-py repeats after a connection drop (its default retry) cannot put the same chunk into the
# stream twice.
_PUBLISH_ONE = """
local function publish(k, a)
  if redis.call('GET', KEYS[k]) ~= ARGV[a] then return -2 end
  if redis.call('EXISTS', KEYS[k + 4]) == 1 then return -1 end
  local n = tonumber(ARGV[a + 4])
  if n <= tonumber(redis.call('HGET', KEYS[k + 5], ARGV[a]) or '0') then return -3 end
  redis.call('HSET', KEYS[k + 5], ARGV[a], n)
  local s = redis.call('INCR', KEYS[k + 1])
  local msg = '{"seq":' .. s .. ',' .. ARGV[a + 1]
  redis.call('RPUSH', KEYS[k + 2], msg)
  if s % 64 == 1 then
    redis.call('LTRIM', KEYS[k + 2], -tonumber(ARGV[a + 2]), -1)
    redis.call('EXPIRE', KEYS[k + 2], ARGV[a + 3])
    redis.call('EXPIRE', KEYS[k + 1], ARGV[a + 3])
    redis.call('EXPIRE', KEYS[k + 5], ARGV[a + 3])
  end
  redis.call('PUBLISH', KEYS[k + 3], msg)
  return s
end
"""
_PUBLISH = _PUBLISH_ONE + "return publish(1, 1)\n"

# Many messages, of one job or many, in one call (the batcher's): six keys and five arguments each,
# in the order given; one reply per message, as _PUBLISH would have answered it.
_PUBLISH_MANY = _PUBLISH_ONE + """
local replies = {}
for i = 0, #KEYS / 6 - 1 do replies[i + 1] = publish(6 * i + 1, 5 * i + 1) end
return replies
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
    if "error" in data:
        data["error"] = redact_data(data["error"])
    return redact_values(json.dumps(data, separators=(",", ":"), ensure_ascii=False))[1:]


class Batcher:
    """Sends the chunks of every job a worker process runs to Redis in batches, from one thread.

    One round trip per chunk left a busy worker waiting on Redis for a third of its time (BENCHMARKS.md,
    throughput). This is group commit: whatever messages are waiting when the previous batch returns
    go together, in one call of one script (_PUBLISH_MANY), so a lone chunk leaves at once and a burst
    shares one round trip and one command's parsing on both sides. One FIFO and one call at a time
    keep each job's messages in order; the script still numbers them and checks each one's lease.
    """

    MAX_BATCH = 512  # messages per call: bounds how long one call holds Redis

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.script = client.register_script(_PUBLISH_MANY)
        self._waiting: deque[tuple[Publisher, list[str], list[Any]]] = deque()
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def send(self, publisher: Publisher, keys_: list[str], args: list[Any]) -> None:
        with self._ready:
            if self._thread is None:  # started on first use: after a prefork child is forked
                self._thread = threading.Thread(target=self._run, name="multillm-publish", daemon=True)
                self._thread.start()
            self._waiting.append((publisher, keys_, args))
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting:
                    self._ready.wait()
                take = min(len(self._waiting), self.MAX_BATCH)
                batch = [self._waiting.popleft() for _ in range(take)]
            self._write(batch)

    def _write(self, batch: list[tuple[Publisher, list[str], list[Any]]]) -> None:
        keys_: list[str] = []
        args: list[Any] = []
        for _, k, a in batch:
            keys_ += k
            args += a
        replies: list[Any]
        try:
            replies = list(self.script(keys=keys_, args=args))
        except Exception as exc:  # Redis gone, or anything else: every sender learns of it
            replies = [exc] * len(batch)
        for (publisher, _, _), reply in zip(batch, replies, strict=True):
            publisher.sent(reply)


class Publisher:
    """Publishes one job attempt's messages. Used by one job thread (and the batcher's)."""

    FLUSH_TIMEOUT_S = 60.0

    def __init__(
        self, client: redis.Redis, job_id: str, owner: str, attempt: int, *, replay_max: int, ttl: int,
        batcher: Batcher | None = None,
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.owner = owner
        self.attempt = attempt
        self.replay_max = replay_max
        self.ttl = ttl
        self.batcher = batcher
        self._publish = client.register_script(_PUBLISH)
        self._finish = client.register_script(_FINISH)
        j = job_id
        c = constants
        self._keys = [c.lease(j), c.seq(j), c.log(j), c.channel(j), c.cancel(j), c.published(j)]
        self._count = 0  # messages of this attempt so far: the script's n
        self._in_flight = 0
        self._refused = 0  # the first PUBLISHED_CANCELLED / LEASE_LOST a sent message met
        self._error: Exception | None = None
        self._idle = threading.Condition()

    def publish(self, kind: str, **fields: Any) -> int:
        """The message's sequence number, or PUBLISHED_CANCELLED / LEASE_LOST (nothing published), or
        ALREADY_PUBLISHED; after every message sent before it."""
        self.flush()
        body = _body(self.job_id, kind, self.attempt, fields)
        self._count += 1
        return int(self._publish(keys=self._keys, args=[self.owner, body, self.replay_max, self.ttl, self._count]))

    def send(self, kind: str, **fields: Any) -> int:
        """Publish without waiting for Redis: 0 when queued, else the refusal (PUBLISHED_CANCELLED or
        LEASE_LOST) an earlier message met, in which case nothing is sent. Raises an earlier Redis error."""
        if self.batcher is None:
            seq = self.publish(kind, **fields)
            return min(seq, 0)
        with self._idle:
            if self._error is not None:
                raise self._error
            if self._refused:
                return self._refused
            self._in_flight += 1
            self._count += 1
        body = _body(self.job_id, kind, self.attempt, fields)
        self.batcher.send(self, self._keys, [self.owner, body, self.replay_max, self.ttl, self._count])
        return 0

    def sent(self, reply: Any) -> None:
        """The batcher's report of one sent message."""
        with self._idle:
            if isinstance(reply, Exception):
                self._error = self._error or reply
            elif int(reply) in (PUBLISHED_CANCELLED, LEASE_LOST) and not self._refused:
                self._refused = int(reply)
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    def flush(self) -> int:
        """Wait until every sent message is in Redis: 0, or the refusal the first refused one met."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout=self.FLUSH_TIMEOUT_S):
                raise redis.TimeoutError(f"job {self.job_id}: chunks not written within {self.FLUSH_TIMEOUT_S:g}s")
            if self._error is not None:
                raise self._error
            return self._refused

    def finish(self, kind: str, result: str, result_ttl: int, **fields: Any) -> int:
        """Publish the terminal message and store the result, after every message sent before it;
        ALREADY_FINISHED if a result exists."""
        self.flush()
        j = self.job_id
        body = _body(j, kind, self.attempt, fields)
        finish_keys = [*self._keys[:4], constants.result(j), constants.INFLIGHT]
        args = [self.owner, body, self.replay_max, self.ttl, redact_values(result), result_ttl, j]
        return int(self._finish(keys=finish_keys, args=args))


class Sequencer:
    """Orders raw messages from pub/sub and the log into one gap-free, duplicate-free sequence."""

    def __init__(self, after: int = 0) -> None:
        self.last = after
        self.finished = False

    def accept(self, raw: bytes | str) -> StreamMessage | None:
        """The message if it is the next one expected, else None (a duplicate or out of order)."""
        data = json.loads(raw)
        if data.get("seq", 0) != self.last + 1:
            return None
        message = StreamMessage.model_validate(data)
        self.last = message.seq
        self.finished = message.terminal
        return message

    def needs_log(self, raw: bytes | str) -> bool:
        """A pub/sub message from beyond the next expected one: some were missed."""
        return int(json.loads(raw).get("seq", 0)) > self.last + 1
