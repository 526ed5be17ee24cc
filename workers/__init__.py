"""Celery workers: `celery -A multillm.workers worker -Q multillm.<provider> -P threads`.

    app.py            the Celery app: one queue and one chat task per provider, JSON only
    tasks.py          the chat tasks (thin: run the job, turn a retry into a Celery retry)
    beat.py           the health beat's task: probe providers, write the fallback order
    signals.py        worker start-up: concurrency from settings, reaper, metrics server
    reaper.py         re-enqueues jobs whose lease lapsed; presence key
    received.py       marks received jobs for the reaper, many per round trip, off the consumer thread
    broker.py         kombu's Redis transport, made to survive Redis restarts and anything on a queue
    events.py         task events (what Flower shows) with their text redacted
    gevent_compat.py  httpcore under the gevent pool
"""

from multillm.workers import gevent_compat as _gevent_compat  # noqa: F401  (before anything imports httpcore)
from multillm.workers import signals as _signals  # noqa: F401  (connects start-up handlers)
from multillm.workers.app import app, chat_task_name
from multillm.workers.beat import HEALTH_QUEUE, check_health
from multillm.workers.reaper import reap_once
from multillm.workers.tasks import CHAT_TASKS

celery = app

__all__ = ["CHAT_TASKS", "HEALTH_QUEUE", "app", "celery", "chat_task_name", "check_health", "reap_once"]
