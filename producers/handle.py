"""A handle on one submitted job: stream its messages, wait for its result, cancel it.

Every message arrives once and in order, however late the caller subscribes or how often it
reconnects: subscribe to the job's channel first, then replay the log, and keep only messages whose
sequence number is the next one expected; on a gap, read the missing ones back from the log.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Generator, Iterator

import redis
import redis.asyncio as aioredis

from multillm.common import constants
from multillm.common.errors import JobError
from multillm.common.job_record import JobRecords
from multillm.common.jobs import JobResult
from multillm.common.stream import Sequencer, StreamMessage

POLL_S = 0.5  # silence after which the log is checked for anything pub/sub did not bring


class JobTimeout(JobError):
    code = "wait_timeout"


class JobHandle:
    def __init__(self, job_id: str, client: redis.Redis, url: str, records: JobRecords | None = None) -> None:
        self.job_id = job_id
        self._redis = client
        self._url = url
        self._records = records or JobRecords(client, result_ttl_s=86_400, replay_max=100_000, replay_ttl_s=86_400)

    def __repr__(self) -> str:
        return f"<JobHandle {self.job_id}>"

    def stream(self, timeout: float | None = None, after: int = 0) -> Generator[StreamMessage, None, None]:
        """Every message after sequence number `after`, in order, until the terminal one."""
        seq = Sequencer(after)
        deadline = None if timeout is None else time.monotonic() + timeout
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(constants.channel(self.job_id))
            yield from self._from_log(seq)
            while not seq.finished:
                wait = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
                if wait <= 0:
                    raise JobTimeout(f"job {self.job_id}: no end within {timeout:g}s")
                item = pubsub.get_message(timeout=wait)
                if item is None or seq.needs_log(item["data"]):
                    yield from self._from_log(seq)
                    continue
                message = seq.accept(item["data"])
                if message is not None:
                    yield message
        finally:
            pubsub.close()

    def _from_log(self, seq: Sequencer) -> Iterator[StreamMessage]:
        for raw in self._redis.lrange(constants.log(self.job_id), 0, -1):
            message = seq.accept(raw)
            if message is not None:
                yield message
                if seq.finished:
                    return

    def result(self, timeout: float | None = None) -> JobResult:
        """The job's result, waiting up to `timeout` seconds for it."""
        stored = self.stored_result()
        if stored is not None:
            return stored
        for _ in self.stream(timeout=timeout):
            pass
        stored = self.stored_result()
        if stored is None:
            raise JobTimeout(f"job {self.job_id}: stream ended but no result is stored (expired?)")
        return stored

    def stored_result(self) -> JobResult | None:
        return self._records.result(self.job_id)

    def cancel(self) -> bool:
        """Ask the job to stop. A job no worker has started ends at once; a running one between chunks.

        True if the job was accepted and had not finished yet; an unknown id writes nothing."""
        return self._records.cancel(self.job_id)

    def status(self) -> str:
        """queued, running, succeeded, failed, cancelled or unknown."""
        return self._records.status(self.job_id)

    async def astream(self, timeout: float | None = None, after: int = 0) -> AsyncIterator[StreamMessage]:
        """`stream` for asyncio callers (its own connection, same ordering rules)."""
        seq = Sequencer(after)
        deadline = None if timeout is None else time.monotonic() + timeout
        client = aioredis.Redis.from_url(self._url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(constants.channel(self.job_id))
            while not seq.finished:
                for raw in await client.lrange(constants.log(self.job_id), 0, -1):
                    message = seq.accept(raw)
                    if message is not None:
                        yield message
                while not seq.finished:
                    wait = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
                    if wait <= 0:
                        raise JobTimeout(f"job {self.job_id}: no end within {timeout:g}s")
                    item = await pubsub.get_message(timeout=wait)
                    if item is None or seq.needs_log(item["data"]):
                        break
                    message = seq.accept(item["data"])
                    if message is not None:
                        yield message
        finally:
            await pubsub.aclose()
            await client.aclose()

    async def aresult(self, timeout: float | None = None) -> JobResult:
        async for _ in self.astream(timeout=timeout):
            pass
        client = aioredis.Redis.from_url(self._url)
        try:
            raw = await client.get(constants.result(self.job_id))
        finally:
            await client.aclose()
        stored = JobResult.model_validate_json(raw) if raw else None
        if stored is None:
            raise JobTimeout(f"job {self.job_id}: stream ended but no result is stored (expired?)")
        return stored
