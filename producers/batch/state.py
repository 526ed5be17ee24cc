"""A batch as Redis shows it, for `multillm batch status` and the gateway's `/v1/batches`: its state
hash (tenant, input, targets, state, done, failed, total) and the output rows written so far.

The rows are a capped list with the results' TTL: the console shows a run's matrix while it runs and
for as long as its results live, without reading the output file (which may be on another machine).
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from multillm.common import constants

ROWS_MAX = 20_000  # newest rows kept per batch: the sample is 7 x 20; a larger run shows its latest rows


class BatchState:
    """What one run writes about itself; every write is one pipeline round trip."""

    def __init__(self, client: redis.Redis, batch_id: str, rows_ttl_s: int) -> None:
        self.redis = client
        self.key = constants.batch(batch_id)
        self.rows_key = constants.batch_rows(batch_id)
        self.rows_ttl_s = rows_ttl_s

    def start(self, tenant: str, input_path: str, targets: list[str], total: int) -> None:
        self.redis.hset(self.key, mapping={"tenant": tenant, "input": input_path, "targets": json.dumps(targets),
                                           "total": total, "state": "running", "started": time.time()})

    def progress(self, done: int, failed: int) -> None:
        self.redis.hset(self.key, mapping={"done": done, "failed": failed, "updated": time.time()})

    def keep(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(self.rows_key, *(json.dumps(r) for r in rows))
        pipe.ltrim(self.rows_key, -ROWS_MAX, -1)
        pipe.expire(self.rows_key, self.rows_ttl_s)
        pipe.execute()

    def finish(self) -> None:
        self.redis.hset(self.key, mapping={"state": "finished", "updated": time.time()})

    def cancelled(self) -> bool:
        return self.redis.hget(self.key, "state") == b"cancelling"


def batch_info(client: redis.Redis, batch_id: str) -> dict[str, Any] | None:
    raw = client.hgetall(constants.batch(batch_id))
    if not raw:
        return None
    info: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
    out: dict[str, Any] = {"id": batch_id, "tenant": info.get("tenant", "default"), "input": info.get("input"),
                           "state": info.get("state"), "targets": json.loads(info.get("targets", "[]"))}
    for name in ("done", "failed", "total"):
        out[name] = int(info.get(name, 0))
    for name in ("started", "updated"):
        out[name] = float(info[name]) if name in info else None
    return out


def list_batches(client: redis.Redis, tenant: str | None = None) -> list[dict[str, Any]]:
    """Every batch known to Redis (only `tenant`'s when given), the newest first."""
    found = []
    for key in client.scan_iter(f"{constants.BATCH}:*"):
        info = batch_info(client, key.decode().rsplit(":", 1)[1])
        if info is not None and (tenant is None or info["tenant"] == tenant):
            found.append(info)
    return sorted(found, key=lambda b: -(b["started"] or 0))


def batch_rows(client: redis.Redis, batch_id: str) -> list[dict[str, Any]]:
    """The rows kept, one per (line, provider, model): the last written wins, as in results.jsonl."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for raw in client.lrange(constants.batch_rows(batch_id), 0, -1):
        row = json.loads(raw)
        rows[(row["custom_id"], row["provider"], row["model"])] = row
    return list(rows.values())
