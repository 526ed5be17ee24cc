"""Worker start-up: concurrency per provider queue from settings, the reaper thread."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger, celeryd_init, task_received, worker_ready, worker_shutdown

from multillm.common import constants
from multillm.common.preflight import warm_up
from multillm.common.settings import get_settings
from multillm.workers.reaper import Reaper
from multillm.workers.received import ReceivedMarks

_reaper: Reaper | None = None


@celeryd_init.connect
def _concurrency_from_settings(sender: Any = None, conf: Any = None, options: Any = None, **_: Any) -> None:
    """`-Q multillm.<p>` without `-c`: use `<PREFIX>_CONCURRENCY` of that provider."""
    if options is None or options.get("concurrency"):
        return
    queues = options.get("queues") or []
    if isinstance(queues, str):
        queues = queues.split(",")
    providers = [p for p in map(constants.provider_of_queue, queues) if p]
    settings = get_settings()
    known = [p for p in providers if p in settings.providers]
    if known:
        options["concurrency"] = sum(settings.provider(p).concurrency for p in known)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_secrets_in_logs(logger: Any = None, **_: Any) -> None:
    from multillm.common.logs import install_secret_filter

    install_secret_filter(logger)
    install_secret_filter()


@task_received.connect
def _mark_received(request: Any = None, **_: Any) -> None:
    """A received job must be running (leased) within a few lease TTLs, or be re-enqueued.

    Celery leaves a message that a killed worker had received, but not started, unacknowledged until
    the visibility timeout; moving the job's renew-by time close lets the reaper recover it in seconds.
    """
    args = getattr(request, "args", None) or []
    job_id = args[0] if args and isinstance(args[0], str) and len(args[0]) <= 128 else None
    if job_id is None:
        return
    from multillm.workers.tasks import runtime  # the runtime is made after a prefork child starts

    rt = runtime()
    eta = getattr(request, "eta", None)
    delay = max(0.0, eta.timestamp() - time.time()) if eta is not None and hasattr(eta, "timestamp") else 0.0
    _received_marks(rt.records.mark_received_by).add(job_id, time.time() + delay + 3 * rt.settings.lease_ttl_s)


_marks: ReceivedMarks | None = None


def _received_marks(write: Callable[[Mapping[str, float]], None]) -> ReceivedMarks:
    """The process's writer of received marks (made after a prefork child starts, like the runtime)."""
    global _marks
    if _marks is None:
        _marks = ReceivedMarks(write)
    return _marks


@worker_ready.connect
def _start_reaper(sender: Any = None, **_: Any) -> None:
    global _reaper
    # Token encodings and price data load (about a second of imports) before the worker announces itself,
    # so its first jobs do not wait for them (common/preflight.py).
    warm_up()
    queues = [q.name for q in sender.task_consumer.queues] if sender and sender.task_consumer else []
    _reaper = Reaper(max(0.5, get_settings().lease_ttl_s / 3), sender.hostname, queues)
    _reaper.start()
    port = get_settings().metrics_port
    if port:
        from multillm.common.metrics import start_metrics_server
        from multillm.workers.tasks import runtime

        start_metrics_server(port, runtime().redis, runtime().settings)


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    if _reaper is not None:
        _reaper.stopped.set()
