"""Tenants for gateway tests: each test gets fresh ones, so nothing leaks between tests."""

from __future__ import annotations

import uuid

import redis

from multillm.common.tenants import Tenants


def new_tenant(redis_url: str, *, shared_keys: bool = True) -> tuple[str, str]:
    """(name, API key) of a new tenant."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(redis_url)
    try:
        return name, Tenants(client).create(name, shared_keys=shared_keys)
    finally:
        client.close()
