"""Worker start-up: concurrency per provider queue from settings, the reaper thread."""

from __future__ import annotations

from typing import Any

from celery.signals import celeryd_init, worker_ready, worker_shutdown

from ..common.settings import get_settings
from .reaper import Reaper

_reaper: Reaper | None = None


@celeryd_init.connect
def _concurrency_from_settings(sender: Any = None, conf: Any = None, options: Any = None, **_: Any) -> None:
    """`-Q multillm.<p>` without `-c`: use `<PREFIX>_CONCURRENCY` of that provider."""
    if options is None or options.get("concurrency"):
        return
    queues = options.get("queues") or []
    if isinstance(queues, str):
        queues = queues.split(",")
    providers = [q.removeprefix("multillm.") for q in queues if q.startswith("multillm.")]
    settings = get_settings()
    known = [p for p in providers if p in settings.providers]
    if known:
        options["concurrency"] = sum(settings.provider(p).concurrency for p in known)


@worker_ready.connect
def _start_reaper(sender: Any = None, **_: Any) -> None:
    global _reaper
    queues = [q.name for q in sender.task_consumer.queues] if sender and sender.task_consumer else []
    _reaper = Reaper(max(0.5, get_settings().lease_ttl_s / 3), sender.hostname, queues)
    _reaper.start()


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    if _reaper is not None:
        _reaper.stopped.set()
