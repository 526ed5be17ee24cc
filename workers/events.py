"""Celery's task events with their text redacted: Flower shows what events carry (a task's args,
result, exception and traceback), so those fields pass through `multillm.common.redact` first."""

from __future__ import annotations

from typing import Any

from celery.app.events import Events
from celery.events.dispatcher import EventDispatcher

from multillm.common.redact import redact

TEXT_FIELDS = ("args", "kwargs", "result", "exception", "traceback")


class RedactingDispatcher(EventDispatcher):  # type: ignore[misc]
    def send(self, type: str, *args: Any, **fields: Any) -> Any:
        for name in TEXT_FIELDS:
            if isinstance(fields.get(name), str):
                fields[name] = redact(fields[name])
        return super().send(type, *args, **fields)


class RedactingEvents(Events):  # type: ignore[misc]
    dispatcher_cls = "multillm.workers.events:RedactingDispatcher"
