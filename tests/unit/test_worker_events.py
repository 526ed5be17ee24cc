"""Task events, which Flower shows, carry redacted text."""

from __future__ import annotations

import secrets
from typing import Any

from celery.events.dispatcher import EventDispatcher

from multillm.common.redact import register
from multillm.workers.app import app
from multillm.workers.events import RedactingDispatcher


class Recorder(EventDispatcher):  # stands in for the broker publish at the end of the chain only
    sent: list[dict[str, Any]] = []

    def send(self, type: str, *args: Any, **fields: Any) -> None:
        self.sent.append({"type": type, **fields})


class Recording(RedactingDispatcher, Recorder):
    pass


def test_the_app_sends_events_through_the_redacting_dispatcher():
    assert issubclass(app.events.Dispatcher, RedactingDispatcher)


def test_exception_traceback_result_and_args_are_redacted():
    key = secrets.token_hex(32)
    register(key)
    Recording(app=app, enabled=False).send("task-failed", uuid="t1", exception=f"AuthError('{key}')",
                                           traceback=f"Traceback ...\nAuthError: {key}", result=key, args=f"['{key}']")
    event = Recorder.sent[-1]
    assert event["type"] == "task-failed" and event["uuid"] == "t1"
    assert all(key not in str(value) for value in event.values())
