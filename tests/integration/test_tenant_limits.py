"""Tenant limits set with `multillm tenants limit` hold at accept for every producer, however each one's
environment is configured, on a real Redis with real workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from multillm.common.errors import TenantBudgetExceeded, TenantRateLimited
from multillm.producers.client import MultiLLM

from .conftest import settings_for

pytestmark = pytest.mark.integration

LOOSE = {"TENANT_RATE_LIMIT_ENABLED": "true", "TENANT_RATE_LIMIT_MAX_REQUESTS": "1000"}


def tenants_cli(redis_url: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "multillm.producers.cli.main", "tenants", *args],
                          env={**os.environ, "REDIS_URL": redis_url}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_request_limit_holds_for_producers_configured_differently(own_redis):
    tenants_cli(own_redis, "limit", "acme", "--requests", "3", "--window-ms", "60000")
    with MultiLLM(own_redis, settings=settings_for(own_redis)) as plain, \
            MultiLLM(own_redis, settings=settings_for(own_redis, LOOSE)) as loose:
        plain.submit("openai", "hi", tenant="acme", job_id="acme-1")
        loose.submit("anthropic", "hi", tenant="acme", job_id="acme-2")
        plain.submit("openai", "hi", tenant="acme", job_id="acme-1")  # a resubmission is not counted
        loose.submit("openai", "hi", tenant="acme", job_id="acme-3")
        for producer in (plain, loose):
            with pytest.raises(TenantRateLimited):
                producer.submit("openai", "hi", tenant="acme")
        plain.submit("openai", "hi", tenant="other")
    (shown,) = json.loads(tenants_cli(own_redis, "show", "acme", "--json"))
    assert shown["accepted_in_window"] == 3 and shown["requests"] == 3


def test_a_spent_budget_is_refused_for_every_producer(system):
    url = system.redis_url
    tenants_cli(url, "limit", "thrifty", "--budget-usd", "0.0000001")
    with MultiLLM(url, settings=settings_for(url)) as plain, MultiLLM(url, settings=settings_for(url, LOOSE)) as loose:
        first = plain.submit("openai", "Say something", tenant="thrifty", max_tokens=20).result(timeout=60)
        assert first.status == "succeeded" and first.cost_usd > 0.0000001
        for producer in (plain, loose):
            with pytest.raises(TenantBudgetExceeded, match="thrifty"):
                producer.submit("openai", "again", tenant="thrifty")
    tenants_cli(url, "limit", "thrifty", "--budget-usd", "1")  # a raised budget lets it through again
    with MultiLLM(url, settings=settings_for(url)) as plain:
        assert plain.submit("openai", "again", tenant="thrifty").result(timeout=60).status == "succeeded"
