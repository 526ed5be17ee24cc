"""The moment a provider's response headers arrive, handed to whoever is waiting for it.

An httpx `response` event hook runs as soon as the status line and headers are in, before any of a
streamed body is read (www.python-httpx.org/advanced/event-hooks). Worker HTTP clients are shared by
every job in a process, so the hook finds the job's callback in a context variable, which is
private to each thread (and, under gevent, each greenlet) that runs a job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx

ResponseCallback = Callable[[httpx.Response], None]
_current: ContextVar[ResponseCallback | None] = ContextVar("multillm_response_callback", default=None)


def on_response(response: httpx.Response) -> None:
    """The event hook: pass the response to the callback of the job running here, if any."""
    callback = _current.get()
    if callback is not None:
        callback(response)


@contextmanager
def watching(callback: ResponseCallback) -> Iterator[None]:
    """Call `callback` with each response the HTTP clients receive inside this block."""
    token = _current.set(callback)
    try:
        yield
    finally:
        _current.reset(token)
