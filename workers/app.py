"""The Celery app: one queue and one chat task per provider, JSON only, settings for long jobs.

Choices (README, "Queues and workers"): late acknowledgement and requeue of a task whose worker
process died, prefetch of one message per slot, a visibility timeout longer than the longest job
deadline (so Celery never delivers a running job twice), task events on for Flower. Fast recovery
from a dead worker does not rely on the visibility timeout: see `multillm.common.lease`.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from multillm.common import constants
from multillm.common.providers import SPECS
from multillm.common.settings import get_settings

MAX_JOB_DEADLINE_S = 86_400  # Job.deadline_s upper bound


def chat_task_name(provider: str) -> str:
    return constants.chat_task(provider)


def make_app() -> Celery:
    settings = get_settings()
    app = Celery("multillm", broker=settings.redis_url or "redis://127.0.0.1:6379/0")
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results are stored once, by the job itself, in Redis
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": MAX_JOB_DEADLINE_S + 3600},
        broker_connection_retry_on_startup=True,
        broker_transport="multillm.workers.broker:Transport",  # survives Redis restarts (workers/broker.py)
        worker_send_task_events=settings.task_events,
        task_send_sent_event=settings.task_events,
        task_queues=[Queue(constants.queue(p)) for p in SPECS],
        task_routes={chat_task_name(p): {"queue": constants.queue(p)} for p in SPECS},
        task_default_queue=constants.queue("openai"),
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


app = make_app()
