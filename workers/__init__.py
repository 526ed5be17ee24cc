"""Celery workers: `celery -A multillm.workers worker -Q multillm.<provider> -P threads`."""

from multillm.workers import gevent_compat as _gevent_compat  # noqa: F401  (before anything imports httpcore)
from multillm.workers import signals as _signals  # noqa: F401  (connects start-up handlers)
from multillm.workers.app import HEALTH_QUEUE, app, chat_task_name
from multillm.workers.beat import check_health
from multillm.workers.reaper import reap_once
from multillm.workers.tasks import CHAT_TASKS

celery = app

__all__ = ["CHAT_TASKS", "HEALTH_QUEUE", "app", "celery", "chat_task_name", "check_health", "reap_once"]
