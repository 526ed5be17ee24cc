"""Re-enqueues jobs whose lease lapsed (their worker died), from every worker process.

Every worker runs one reaper thread; `lapsed_jobs` claims each lapse atomically, so however many
reapers run, a lapsed job is re-enqueued once. Scan interval: a third of the lease TTL. A lapsed job
whose deadline has passed is ended with a deadline error instead, so it is answered on time even
when no worker for its provider is running.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time

import redis

from multillm.common import constants
from multillm.common.errors import DeadlineExceeded, InvalidJob
from multillm.common.lease import attempts_key
from multillm.common.run import finish_without_lease, load_job
from multillm.workers.app import app, chat_task_name
from multillm.workers.tasks import runtime

log = logging.getLogger("multillm.reaper")


def reap_once() -> list[str]:
    """Re-enqueue every lapsed job once, or end it if its deadline has passed; the ids re-enqueued."""
    rt = runtime()
    requeued = []
    grace = max(10.0, 3 * rt.settings.lease_ttl_s)  # a claimed job no worker takes comes round again
    for job_id in rt.records.lapsed(grace_s=grace):
        try:
            job = load_job(rt, job_id)
        except InvalidJob as exc:  # unreadable: end it with an error rather than leave its caller waiting
            finish_without_lease(rt, job_id, exc)
            continue
        if time.time() >= job.deadline_at:
            finish_without_lease(rt, job_id, DeadlineExceeded(f"job {job_id}: deadline of {job.deadline_s:g}s passed"), job)
            continue
        app.send_task(chat_task_name(job.provider), args=[job_id], queue=constants.queue(job.provider))
        log.warning("job %s: lease lapsed, re-enqueued on %s", job_id, constants.queue(job.provider))
        requeued.append(job_id)
    return requeued


def orphaned_messages(min_age_s: float, limit: int = 200) -> list[str]:
    """Jobs whose message a worker received and died holding before the job ever started.

    Celery keeps such a message unacknowledged until the visibility timeout (25 h). A received job
    starts within milliseconds and takes a lease, so an unacknowledged message older than a few lease
    TTLs whose job was never started (no attempts, no lease, no result) was lost with its worker.
    Read from kombu's Redis transport bookkeeping (`unacked_index`, `unacked`).
    """
    rt = runtime()
    tags = rt.redis.zrangebyscore("unacked_index", "-inf", time.time() - min_age_s, start=0, num=limit)
    found = []
    for tag, raw in zip(tags, rt.redis.hmget("unacked", tags) if tags else [], strict=True):
        job_id = _job_id(raw)
        if job_id is None or rt.redis.exists(constants.lease(job_id), constants.result(job_id), attempts_key(job_id)):
            continue
        if rt.redis.set(constants.requeue_guard(job_id, 0) + ":" + tag.decode(), "1", nx=True, ex=86_400):
            found.append(job_id)
    return found


def _job_id(raw: bytes | None) -> str | None:
    try:
        payload = json.loads(raw or b"null")[0]
        args = json.loads(base64.b64decode(payload["body"]))[0]
        return args[0] if args and isinstance(args[0], str) else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def requeue_orphans() -> list[str]:
    rt = runtime()
    requeued = []
    for job_id in orphaned_messages(min_age_s=3 * rt.settings.lease_ttl_s):
        try:
            job = load_job(rt, job_id)
        except InvalidJob:
            continue  # the reaper's deadline pass ends unreadable jobs
        app.send_task(chat_task_name(job.provider), args=[job_id], queue=constants.queue(job.provider))
        log.warning("job %s: its worker died before starting it; re-enqueued", job_id)
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
        runtime().redis.set(constants.worker(self.hostname), self.presence, ex=max(5, int(self.interval * 6)))

    def run(self) -> None:
        while True:
            try:
                self.heartbeat()
                reap_once()
                requeue_orphans()
            except redis.RedisError as exc:
                log.warning("reaper: %s", exc)
            except Exception:
                log.exception("reaper failed; continuing")
            if self.stopped.wait(self.interval):
                runtime().redis.delete(constants.worker(self.hostname))
                return
