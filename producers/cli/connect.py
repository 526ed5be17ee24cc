"""Finding the system a command talks to: REDIS_URL, else the one `multillm up` started, else an
embedded one started for this command alone and stopped when it ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from multillm.common.settings import get_settings
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import find_running
from multillm.producers.local.system import EmbeddedSystem, SystemOptions


@contextlib.contextmanager
def connect(providers: list[str], *, concurrency: int | None = None) -> Iterator[MultiLLM]:
    settings = get_settings()
    url = settings.redis_url or find_running()
    if url:
        reachable(url)
        with MultiLLM(url) as client:
            yield client
        return
    options = SystemOptions(providers=providers, concurrency=concurrency)
    with EmbeddedSystem(settings, options) as system, MultiLLM(system.redis_url) as client:
        yield client


def reachable(url: str) -> None:
    """Fail at once when Redis does not answer, rather than after the client's retries (which are
    there to ride out a restart of a Redis that was up)."""
    probe = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3, retry=Retry(NoBackoff(), 0))
    try:
        probe.ping()
    finally:
        probe.close()
