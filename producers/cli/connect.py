"""Finding the system a command talks to: REDIS_URL, else the one `multillm up` started, else an
embedded one started for this command alone and stopped when it ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from multillm.common.settings import get_settings
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import find_running
from multillm.producers.local.system import EmbeddedSystem, SystemOptions


@contextlib.contextmanager
def connect(providers: list[str], *, concurrency: int | None = None) -> Iterator[MultiLLM]:
    settings = get_settings()
    url = settings.redis_url or find_running()
    if url:
        with MultiLLM(url) as client:
            yield client
        return
    options = SystemOptions(providers=providers, concurrency=concurrency)
    with EmbeddedSystem(settings, options) as system, MultiLLM(system.redis_url) as client:
        yield client
