"""The Celery app: one queue and one chat task per provider, JSON only, settings for long jobs.

Choices (README, "Queues and workers"): late acknowledgement and requeue of a task whose worker
process died, prefetch of one message per slot, a visibility timeout longer than the longest job
deadline (so Celery never delivers a running job twice), task events on for Flower. Fast recovery
from a dead worker does not rely on the visibility timeout: see `multillm.common.lease`.

The app object exists at import (`celery -A multillm.workers` finds it) but reads no settings then:
its configuration is a promise handed to `app.add_defaults`, which Celery documents as "regarded as
a promise, and it won't be loaded until the configuration is actually needed" (celery/app/base.py);
`_load_config` evaluates it on first use of `app.conf`. So a malformed setting is reported when a
worker, beat or Flower starts, not when something imports this package.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.exceptions import CeleryCommandException
from kombu import Queue

from multillm.common import constants
from multillm.common.errors import ConfigurationError
from multillm.common.providers import SPECS
from multillm.common.settings import Settings, get_settings

MAX_JOB_DEADLINE_S = 86_400  # Job.deadline_s upper bound


class SettingsRefused(ConfigurationError, CeleryCommandException):
    """Malformed settings found while Celery loads its configuration. A ConfigurationError to Python
    callers; to Celery's command line (click) an error it prints as one line, exiting with code 2."""

    def __init__(self, message: str) -> None:
        CeleryCommandException.__init__(self, message=message, exit_code=2)

    def __str__(self) -> str:
        return str(self.message)


def chat_task_name(provider: str) -> str:
    return constants.chat_task(provider)


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's configuration from our settings: queues, routes, per-task rate limits, the beat."""
    interval = settings.health_interval_s
    return {
        "broker_url": settings.redis_url or "redis://127.0.0.1:6379/0",
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,  # results are stored once, by the job itself, in Redis
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": MAX_JOB_DEADLINE_S + 3600},
        "broker_connection_retry_on_startup": True,
        "broker_transport": "multillm.workers.broker:Transport",  # survives Redis restarts (workers/broker.py)
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
        "task_queues": [Queue(constants.queue(p)) for p in SPECS],
        "task_routes": {**{chat_task_name(p): {"queue": constants.queue(p)} for p in SPECS},
                        constants.HEALTH_TASK: {"queue": constants.HEALTH_QUEUE}},
        "task_default_queue": constants.queue("openai"),
        # Celery's per-worker rate_limit of each chat task (<PREFIX>_TASK_RATE_LIMIT), applied when tasks bind.
        "task_annotations": {chat_task_name(p): {"rate_limit": settings.provider(p).task_rate_limit}
                             for p in SPECS if settings.provider(p).task_rate_limit},
        "beat_schedule": {"health": {"task": constants.HEALTH_TASK, "schedule": interval,
                                     "options": {"queue": constants.HEALTH_QUEUE, "expires": interval}}},
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }


def _configuration() -> dict[str, Any]:
    try:
        return celery_config(get_settings())
    except ConfigurationError as exc:
        raise SettingsRefused(str(exc)) from None


def make_app() -> Celery:
    """The app, configured from `get_settings()` when its configuration is first needed."""
    app = Celery("multillm", events="multillm.workers.events:RedactingEvents")  # Flower sees redacted task text
    app.add_defaults(_configuration)
    return app


app = make_app()
