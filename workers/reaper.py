"""Re-enqueues jobs whose lease lapsed (their worker died), from every worker process.

Every worker runs one reaper thread; `lapsed_jobs` claims each lapse atomically, so however many
reapers run, a lapsed job is re-enqueued once. Scan interval: a third of the lease TTL. A lapsed job
whose deadline has passed is ended with a deadline error instead, so it is answered on time even
when no worker for its provider is running.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import redis

from ..common import keys
from ..common.errors import DeadlineExceeded
from ..common.lease import lapsed_jobs
from ..common.runner import finish_without_lease, load_job
from .app import app, chat_task_name
from .tasks import runtime

log = logging.getLogger("multillm.reaper")


def reap_once() -> list[str]:
    """Re-enqueue every lapsed job once, or end it if its deadline has passed; the ids re-enqueued."""
    rt = runtime()
    requeued = []
    grace = max(10.0, 3 * rt.settings.lease_ttl_s)  # a claimed job no worker takes comes round again
    for job_id in lapsed_jobs(rt.redis, grace=grace):
        try:
            job = load_job(rt, job_id)
        except Exception as exc:  # unreadable: end it with an error rather than leave its caller waiting
            finish_without_lease(rt, job_id, {"code": "invalid_job", "type": type(exc).__name__,
                                              "message": str(exc)[:500], "retryable": False, "fallback": False})
            continue
        if time.time() >= job.deadline_at:
            error = DeadlineExceeded(f"job {job_id}: deadline of {job.deadline_s:g}s passed").to_dict()
            finish_without_lease(rt, job_id, error, job)
            continue
        app.send_task(chat_task_name(job.provider), args=[job_id], queue=keys.queue(job.provider))
        log.warning("job %s: lease lapsed, re-enqueued on %s", job_id, keys.queue(job.provider))
        requeued.append(job_id)
    return requeued


class Reaper(threading.Thread):
    """Re-enqueues lapsed jobs and keeps this worker's presence key fresh."""

    def __init__(self, interval: float, hostname: str, queues: list[str]) -> None:
        super().__init__(name="multillm-reaper", daemon=True)
        self.interval = interval
        self.hostname = hostname
        self.presence = json.dumps({"queues": queues, "pid": os.getpid()})
        self.stopped = threading.Event()

    def heartbeat(self) -> None:
        runtime().redis.set(keys.worker(self.hostname), self.presence, ex=max(5, int(self.interval * 6)))

    def run(self) -> None:
        while True:
            try:
                self.heartbeat()
                reap_once()
            except redis.RedisError as exc:
                log.warning("reaper: %s", exc)
            except Exception:
                log.exception("reaper failed; continuing")
            if self.stopped.wait(self.interval):
                runtime().redis.delete(keys.worker(self.hostname))
                return
