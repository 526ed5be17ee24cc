"""Re-enqueues jobs whose lease lapsed (their worker died), from every worker process.

Every worker runs one reaper thread; `lapsed_jobs` claims each lapse atomically, so however many
reapers run, a lapsed job is re-enqueued once. Scan interval: a third of the lease TTL.
"""

from __future__ import annotations

import json
import logging
import os
import threading

import redis

from ..common import keys
from ..common.lease import lapsed_jobs
from ..common.runner import load_job
from .app import app, chat_task_name
from .tasks import runtime

log = logging.getLogger("multillm.reaper")


def reap_once() -> list[str]:
    """Re-enqueue every lapsed job once; the ids re-enqueued."""
    rt = runtime()
    requeued = []
    for job_id in lapsed_jobs(rt.redis):
        try:
            job = load_job(rt, job_id)
        except Exception:  # unreadable: a delivery will write its error result
            rt.redis.zrem(keys.INFLIGHT, job_id)
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
