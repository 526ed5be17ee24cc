"""Log lines: keys in use and key-shaped text masked wherever a line comes from, the running job's fields attached,
JSON when the handler does not write to a terminal (a container, a file, a log shipper) and a
human line when it does.

A JSON line: {"ts": "2026-11-25T11:03:52.637Z", "level": "WARNING", "logger": "multillm.run",
"message": "...", "job_id": "...", "provider": "openai", "model": "gpt-4o-mini", "attempt": 2}; the job
fields appear when the line was logged inside a job (`job_context`, set around each attempt) or
passed with `extra=`, and "exc" holds a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import WatchedFileHandler
from typing import IO, Any

from multillm.common.redact import redact

JOB_FIELDS = ("job_id", "provider", "model", "attempt", "request_id")
HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s%(job)s: %(message)s"

# Per thread (threads pool) and per task (asyncio): each slot sees only the job it runs.
_current_job: ContextVar[dict[str, Any] | None] = ContextVar("multillm_job", default=None)
# The gateway's request id, per asyncio task: every line logged while serving a request carries it.
_current_request: ContextVar[str | None] = ContextVar("multillm_request", default=None)


def mask_secrets(text: str) -> str:
    """Registered keys and key-shaped text masked (multillm.common.redact)."""
    return redact(text)


@contextmanager
def job_context(job_id: str, provider: str, model: str, attempt: int) -> Iterator[None]:
    """Every line logged inside the block, by any logger, carries these fields."""
    token = _current_job.set({"job_id": job_id, "provider": provider, "model": model, "attempt": attempt})
    try:
        yield
    finally:
        _current_job.reset(token)


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Every line logged inside the block carries `request_id`."""
    token = _current_request.set(request_id)
    try:
        yield
    finally:
        _current_request.reset(token)


class SecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JobContextFilter(logging.Filter):
    """Copies the running job's fields onto the record; fields given with `extra=` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = {**(_current_job.get() or {}), "request_id": _current_request.get()}
        for name, value in fields.items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


def _job_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name in JOB_FIELDS if (value := getattr(record, name, None)) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the masking runs on the finished line, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_job_fields(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return mask_secrets(json.dumps(entry, default=str))


class HumanFormatter(logging.Formatter):
    """`time LEVEL logger [job provider/model #attempt]: message`, masked like the JSON line."""

    def __init__(self) -> None:
        super().__init__(HUMAN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        fields = _job_fields(record)
        record.job = ""
        if fields:
            where = "/".join(str(fields[k]) for k in ("provider", "model") if k in fields)
            parts = [str(fields.get("job_id", "")), where, f"#{fields['attempt']}" if "attempt" in fields else "",
                     f"req {fields['request_id']}" if "request_id" in fields else ""]
            record.job = " [" + " ".join(p for p in parts if p) + "]"
        return mask_secrets(super().format(record))


def _is_terminal(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed, or not a real file
        return False


def formatter_for(handler: logging.Handler) -> logging.Formatter:
    """Human on a terminal, JSON anywhere else."""
    return HumanFormatter() if _is_terminal(getattr(handler, "stream", None)) else JsonFormatter()


# The handlers logging.basicConfig and Celery's log setup create; a subclass belongs to whoever added it
# (a log shipper, a test runner) and keeps its own format, with the filters still applied.
FORMATTED_HANDLERS = (logging.StreamHandler, logging.FileHandler, WatchedFileHandler)


def install_secret_filter(logger: logging.Logger | None = None) -> None:
    """On every handler of `logger` (default: root), so records from any library pass through them:
    the secret filter, the job fields, and a masking formatter (JSON, or human on a terminal)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter())
        if not any(isinstance(f, JobContextFilter) for f in handler.filters):
            handler.addFilter(JobContextFilter())
        if type(handler) in FORMATTED_HANDLERS and not isinstance(handler.formatter, JsonFormatter | HumanFormatter):
            handler.setFormatter(formatter_for(handler))
