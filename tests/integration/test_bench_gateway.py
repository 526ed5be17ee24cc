"""The measuring parts of `multillm bench gateway`, on the session's gateway and simulator."""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
import sys
from pathlib import Path

import httpx
import pytest

from multillm.producers.bench.gateway import first_chunk, saturate, start_litellm_proxy
from multillm.producers.local.embedded import stop
from multillm.producers.simulator.urls import base_urls
from tests.integration.gateway_tenants import new_tenant


def test_first_chunk_and_saturation_measure_streams_through_the_gateway(system, gateway):
    _, key = new_tenant(system.redis_url)
    with httpx.Client(timeout=60) as http:
        assert 0 < first_chunk(http, f"{gateway}/v1", key, "openai/gpt-4o-mini", 8) < 60
    rate, completed = asyncio.run(saturate(f"{gateway}/v1", key, "openai/gpt-4o-mini", 12, 4, 8))
    assert completed == 12 and rate > 0


def test_a_stream_without_content_is_an_error_not_a_figure(system, gateway):
    _, key = new_tenant(system.redis_url)
    with httpx.Client(timeout=60) as http, pytest.raises(httpx.HTTPStatusError):
        first_chunk(http, f"{gateway}/v1", key, "openai/gpt-9", 8)


def proxy_installed() -> bool:
    """`litellm[proxy]` in this environment (the proxy needs FastAPI beside LiteLLM)."""
    found = all(importlib.util.find_spec(name) for name in ("litellm", "fastapi", "backoff"))
    return found and (Path(sys.executable).parent / "litellm").exists()


@pytest.mark.skipif(not proxy_installed(), reason="LiteLLM's proxy is a bench extra: pip install -e '.[bench]'")
def test_litellm_proxy_peer_streams_from_the_simulator(system, tmp_path):
    master = f"sk-{secrets.token_hex(32)}"
    proxy, url = start_litellm_proxy(base_urls(system.simulator_url)["openai"], tmp_path, master)
    try:
        with httpx.Client(timeout=60) as http:
            assert first_chunk(http, url, master, "gpt-4o-mini", 8) > 0
    finally:
        stop([proxy])
