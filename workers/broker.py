"""kombu's Redis transport, with two repairs: a worker survives Redis going away while it waits on
BRPOP holding unacknowledged messages, and a worker survives whatever is pushed onto its queues.

Redis going away. After a lost connection Celery's consumer calls `connection.collect()` and then
`connection.close()` (celery/worker/consumer/consumer.py, on_connection_error_after_connected). In
collect, closing the channel that was waiting on BRPOP fails with a connection error, and the
transport's other channels are left unclosed when one of them fails too; collect then drops the
transport's client. close closes those channels again, and restoring their unacknowledged messages
builds a connection pool from that client, now None: AttributeError, which Celery treats as
unrecoverable, so the worker process exits. Here a channel whose transport has lost its client raises
a connection error instead, which both callers ignore. The messages it would have put back are
recovered as those of a killed worker are (`workers/reaper.py`).

Anything on a queue. kombu decodes a popped item with `loads` and builds its message from the
envelope's fields before Celery sees it (kombu/transport/redis.py `_brpop_read`, virtual/base.py
`Message`), so `LPUSH multillm.openai "not json"` raised JSONDecodeError out of the worker's event
loop: "Unrecoverable error", and the process exited. Here an item is checked first: JSON and kombu's
envelope on any queue (reply queues of `celery inspect` carry plain kombu messages); on multillm's
task queues also a Celery protocol-2 message for one of multillm's tasks, with headers of the types
Celery relies on and a JSON body of (args, kwargs, embed). Anything else
is logged (redacted) and moved to the dead-letter list (`multillm.common.deadletter`) instead of
delivered. `_brpop_read` is kombu 5.x's own, with that check where it calls `loads`.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from redis.exceptions import ConnectionError as RedisConnectionError

from multillm.common import constants, deadletter
from multillm.common.providers import SPECS

log = logging.getLogger("multillm.workers.broker")

# Celery headers whose type the worker relies on before the task runs (celery/worker/strategy.py, request.py).
HEADER_TYPES: dict[str, tuple[type, ...]] = {
    "task": (str,), "id": (str,), "root_id": (str, type(None)), "parent_id": (str, type(None)),
    "group": (str, type(None)), "eta": (str, type(None)), "expires": (str, type(None)), "retries": (int,),
    "argsrepr": (str, type(None)), "kwargsrepr": (str, type(None)), "origin": (str, type(None)),
    "lang": (str,), "shadow": (str, type(None)), "ignore_result": (bool, type(None)),
}
EMBED_KEYS = ("callbacks", "errbacks", "chain", "chord")  # multillm sends none of these
TASKS = frozenset({constants.HEALTH_TASK, *(constants.chat_task(p) for p in SPECS)})  # what a worker can run


TASK_QUEUES = frozenset({constants.HEALTH_QUEUE, *(constants.queue(p) for p in SPECS)})


def _envelope_problem(payload: Any) -> str | None:
    """What kombu needs of any message (task queues, and the reply queues of `celery inspect` alike)."""
    if not isinstance(payload, dict):
        return "not a kombu envelope (a JSON object)"
    properties = payload.get("properties")
    if not isinstance(properties, dict) or not isinstance(properties.get("delivery_tag"), str) \
            or not isinstance(properties.get("delivery_info"), dict):
        return "envelope without properties.delivery_tag and properties.delivery_info"
    if properties.get("body_encoding") not in ("base64", None) or not isinstance(payload.get("headers", {}), dict):
        return "envelope with an unknown body encoding or headers that are not an object"
    return None


def _task_problem(payload: dict[str, Any]) -> str | None:
    """What Celery needs of a message on a task queue before the task runs (celery/worker/strategy.py)."""
    headers = payload.get("headers")
    if payload.get("content-type") != "application/json" or not isinstance(payload.get("body"), str):
        return "not a JSON task message"
    if not isinstance(headers, dict):
        return "task message without headers"
    for name, types in HEADER_TYPES.items():
        if (name in ("task", "id") or name in headers) and not isinstance(headers.get(name), types):
            return f"header {name!r} missing or of the wrong type"
    if headers["task"] not in TASKS:
        return f"no such task: {headers['task'][:100]!r}"
    for name in ("eta", "expires"):
        if headers.get(name) is not None and not _is_datetime(headers[name]):
            return f"header {name!r} is not an ISO 8601 time"
    limit = headers.get("timelimit", [None, None])
    if not (isinstance(limit, list) and len(limit) == 2 and all(v is None or isinstance(v, int | float) for v in limit)):
        return "header 'timelimit' is not [soft, hard]"
    return None


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _body_problem(body: Any) -> str | None:
    try:
        args, kwargs, embed = json.loads(body)
    except (TypeError, ValueError):
        return "body is not JSON [args, kwargs, embed]"
    if not isinstance(args, list) or not isinstance(kwargs, dict) or not isinstance(embed, dict):
        return "body is not [args, kwargs, embed]"
    if any(embed.get(key) is not None for key in EMBED_KEYS):
        return "body asks for callbacks, chains or chords"
    return None


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed")
        return dict(super()._connparams(asynchronous=asynchronous))

    def readable(self, item: bytes | str, queue: str) -> tuple[dict[str, Any] | None, str]:
        """The decoded envelope if kombu can deliver it (and, on a task queue, a worker can run it),
        else None and why not."""
        try:
            payload = json.loads(bytes_to_str(item))
        except (TypeError, ValueError):
            return None, "not JSON"
        task_queue = queue in TASK_QUEUES
        problem = _envelope_problem(payload) or (_task_problem(payload) if task_queue else None)
        if problem is None:
            try:  # what kombu does with it next: decode the body (base64) and read the properties
                message = self.Message(payload, channel=self)
                problem = _body_problem(message.body) if task_queue else None
            except Exception as exc:  # any failure here is the message's, never the worker's
                problem = f"envelope refused by kombu: {type(exc).__name__}"
        return (payload, "") if problem is None else (None, problem)

    def dead_letter(self, queue: str, item: bytes | str, reason: str) -> None:
        log.error("queue %s: unreadable message moved to %s: %s", queue, constants.DEADLETTER, reason)
        try:
            with self.conn_or_acquire() as client:
                deadletter.record(client, queue, item, reason)
        except Exception:  # Redis gone mid-record: the message is lost, the worker is not
            log.exception("queue %s: could not record an unreadable message", queue)

    def _brpop_read(self, **options: Any) -> bool:
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                # if there's a ConnectionError, disconnect so the next iteration will reconnect automatically.
                self.client.connection.disconnect()
                raise
            if not dest__item:
                raise kombu_redis.Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            payload, problem = self.readable(item, dest)
            if payload is None:
                self.dead_letter(dest, item, problem)
            else:
                self.connection._deliver(payload, dest)
            return True
        finally:
            self._in_poll = None  # type: ignore[assignment]  # as kombu's own _brpop_read does
            flush = getattr(self, "_flush_brpop_reauth", None)  # kombu >= 5.6
            if flush is not None:
                flush()

    def _get(self, queue: str, timeout: Any = None) -> dict[str, Any]:
        """One message, for `basic_get` and polling consumers; unreadable ones are dead-lettered."""
        with self.conn_or_acquire() as client:
            for pri in self.priority_steps:
                item = client.rpop(self._q_for_pri(queue, pri))
                while item:
                    payload, problem = self.readable(item, queue)
                    if payload is not None:
                        self._maybe_update_queues_expire(client, queue)
                        return payload
                    self.dead_letter(queue, item, problem)
                    item = client.rpop(self._q_for_pri(queue, pri))
            self._maybe_update_queues_expire(client, queue)
            raise kombu_redis.Empty()


class Transport(kombu_redis.Transport):
    Channel = Channel
