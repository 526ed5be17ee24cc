"""Queue messages no worker could read, kept for an operator to look at (`multillm deadletter`).

A worker that pops something from a queue that is not a task it can run (not JSON, not kombu's
envelope, not a Celery task message) records it here instead of failing on it. The list is capped
(newest first) and each body is cut short and redacted, so a flood of garbage costs bounded memory
and shows no key.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from multillm.common import constants
from multillm.common.redact import redact

MAX_ENTRIES = 1_000
MAX_BODY_CHARS = 2_000


def record(client: redis.Redis, queue: str, raw: bytes | str, reason: str) -> None:
    """Keep one unreadable message: where it was, why it was refused, and its start."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    entry = {"ts": round(time.time(), 3), "queue": queue, "reason": redact(reason)[:300], "bytes": len(raw),
             "body": redact(text[:MAX_BODY_CHARS])}
    pipe = client.pipeline(transaction=True)
    pipe.lpush(constants.DEADLETTER, json.dumps(entry, ensure_ascii=False))
    pipe.ltrim(constants.DEADLETTER, 0, MAX_ENTRIES - 1)
    pipe.execute()


def entries(client: redis.Redis, limit: int = 100) -> list[dict[str, Any]]:
    """The newest `limit` entries, newest first."""
    return [json.loads(raw) for raw in client.lrange(constants.DEADLETTER, 0, max(0, limit - 1))]


def clear(client: redis.Redis) -> int:
    """Empty the list; how many entries it held."""
    pipe = client.pipeline(transaction=True)
    pipe.llen(constants.DEADLETTER)
    pipe.delete(constants.DEADLETTER)
    return int(pipe.execute()[0])
