"""The chat tasks: thin. Validate the payload, run the job (multillm.common.run), turn its delivery
into a Celery retry or a task on the next provider's queue. One task per provider so each has its own `rate_limit`."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import Task

from multillm.common import constants
from multillm.common.providers import SPECS
from multillm.common.run import Runtime, run_job
from multillm.common.settings import get_settings
from multillm.workers.app import app, chat_task_name

log = logging.getLogger("multillm.workers")

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """The process's runtime, made on first use (after a prefork child is forked)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime(get_settings())
        return _runtime


def _chat(task: Task, job_id: Any = None, *args: Any, **kwargs: Any) -> str:
    if args or kwargs:
        log.error("task %s: unexpected arguments ignored", task.request.id)
    delivery = run_job(runtime(), job_id, _PROVIDER_OF.get(task.name))
    if delivery.next_provider is not None:
        app.send_task(chat_task_name(delivery.next_provider), args=[job_id], queue=constants.queue(delivery.next_provider))
        return delivery.status
    if delivery.retry_in is not None:
        raise task.retry(countdown=delivery.retry_in, max_retries=None)
    return delivery.status


def _register(provider: str) -> Task:
    # The rate limit comes from task_annotations (workers/app.py), read when the app is configured.
    # Redis errors (a restart, a failover) are retried with backoff until Redis answers again.
    return app.task(_chat, name=chat_task_name(provider), bind=True,
                    acks_late=True, reject_on_worker_lost=True, autoretry_for=(redis.RedisError,),
                    retry_backoff=True, retry_backoff_max=30, retry_jitter=True, max_retries=None)


_PROVIDER_OF = {chat_task_name(p): p for p in SPECS}  # a task's provider: its circuit is read with the lease
CHAT_TASKS: dict[str, Task] = {p: _register(p) for p in SPECS}
