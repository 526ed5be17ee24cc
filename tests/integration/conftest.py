"""Real parts for integration tests: a Redis server, the simulator over HTTP, Celery worker
processes. Everything listens on 127.0.0.1 and is stopped (process groups) at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from multillm.common.providers import SPECS
from multillm.common.settings import Settings, load_settings
from multillm.producers.client import MultiLLM
from multillm.producers.local.embedded import start_redis, stop
from multillm.producers.local.system import EmbeddedSystem, SystemOptions

# Short leases and timeouts so recovery happens within a test's patience.
FAST_ENV = {
    "MULTILLM_LEASE_TTL_S": "2",
    "MULTILLM_IDLE_TIMEOUT_S": "3",
    "MULTILLM_FIRST_TOKEN_TIMEOUT_S": "3",
    "MULTILLM_CONNECT_TIMEOUT_S": "2",
    "MULTILLM_JOB_DEADLINE_S": "60",
    "LOG_LEVEL": "warning",
}
NO_KEYS = {spec.api_key_env: "" for spec in SPECS.values()}


def settings_for(redis_url: str, extra: dict[str, str] | None = None) -> Settings:
    return load_settings({**FAST_ENV, **(extra or {}), "REDIS_URL": redis_url})


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    process, url = start_redis()
    yield url
    stop([process])


@pytest.fixture(scope="module")
def own_redis() -> Iterator[str]:
    """A Redis server for one test module: systems on a shared server would consume each other's queues."""
    process, url = start_redis()
    yield url
    stop([process])


def make_system(redis_url: str, log_dir: Path, providers: list[str] | None = None, **kw: object) -> EmbeddedSystem:
    env = {**FAST_ENV, **NO_KEYS, **kw.pop("env", {})}  # type: ignore[dict-item]
    options = SystemOptions(providers=providers or list(SPECS), concurrency=int(kw.pop("concurrency", 16)),
                            log_dir=log_dir, extra_env=env, **kw)  # type: ignore[arg-type]
    settings = load_settings({**env, "REDIS_URL": redis_url})
    return EmbeddedSystem(settings, options)


@pytest.fixture(scope="session")
def system(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSystem]:
    """Every provider's worker, all on the simulator."""
    log_dir = tmp_path_factory.mktemp("logs")
    with make_system(redis_server, log_dir) as running:
        yield running


@pytest.fixture
def client(system: EmbeddedSystem) -> Iterator[MultiLLM]:
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as c:
        yield c


@pytest.fixture
def raw_redis(redis_server: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_server)
    yield r
    r.close()


@pytest.fixture(scope="session")
def soak_minutes(request: pytest.FixtureRequest) -> float:
    """0 unless `--soak-minutes N` asked for the long chaos soak."""
    return float(request.config.getoption("--soak-minutes"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def gateway(system: EmbeddedSystem) -> str:
    """`multillm serve` on the session's system; its base URL."""
    return system.start_gateway()
