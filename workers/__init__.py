"""Celery workers: `celery -A multillm.workers worker -Q multillm.<provider> -P threads`."""

from . import gevent_compat as _gevent_compat  # noqa: F401  (before anything imports httpcore)
from . import signals as _signals  # noqa: F401  (connects start-up handlers)
from .app import app, chat_task_name
from .health import HEALTH_QUEUE, check_health
from .reaper import reap_once
from .tasks import CHAT_TASKS

celery = app

__all__ = ["CHAT_TASKS", "HEALTH_QUEUE", "app", "celery", "chat_task_name", "check_health", "reap_once"]
