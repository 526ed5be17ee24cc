"""kombu's Redis transport, with one repair: a worker survives Redis going away while it waits on
BRPOP holding unacknowledged messages.

After a lost connection Celery's consumer calls `connection.collect()` and then `connection.close()`
(celery/worker/consumer/consumer.py, on_connection_error_after_connected). In collect, closing the
channel that was waiting on BRPOP fails with a connection error, and the transport's other channels
are left unclosed when one of them fails too; collect then drops the transport's client. close
closes those channels again, and restoring their unacknowledged messages builds a connection pool
from that client, now None: AttributeError, which Celery treats as unrecoverable, so the worker
process exits. Here a channel whose transport has lost its client raises a connection error
instead, which both callers ignore. The messages it would have put back are recovered as those of
a killed worker are (`workers/reaper.py`).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed")
        return dict(super()._connparams(asynchronous=asynchronous))


class Transport(kombu_redis.Transport):
    Channel = Channel
