"""Marks received jobs (their start-by time, for the reaper) from one background thread.

Celery sends `task_received` on the consumer's own thread, before it hands the task to the pool: a
Redis round trip there delays every job's start and holds up the next message. The marks wait here
instead and go out many per ZADD; a job already leased by then is left alone (ZADD XX only
refreshes a time the renewal moves again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

import redis

log = logging.getLogger("multillm.workers")


class ReceivedMarks:
    """`write` sends one batch of job id → start-by time (JobRecords.mark_received_by)."""

    MAX_BATCH = 1000

    def __init__(self, write: Callable[[Mapping[str, float]], None]) -> None:
        self._write = write
        self._waiting: dict[str, float] = {}
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, job_id: str, start_by: float) -> None:
        with self._ready:
            if self._thread is None:  # started on first use: after a prefork child is forked
                self._thread = threading.Thread(target=self._run, name="multillm-received", daemon=True)
                self._thread.start()
            self._waiting[job_id] = start_by
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting:
                    self._ready.wait()
                batch = dict(list(self._waiting.items())[: self.MAX_BATCH])
                for job_id in batch:
                    del self._waiting[job_id]
            try:
                self._write(batch)
            except redis.RedisError as exc:  # Redis restarting: the reaper still has the accept-time deadline
                log.warning("could not mark %d received jobs: %s", len(batch), exc)
