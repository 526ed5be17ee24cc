"""A tenant over its RATE_LIMIT_* is refused at submit, on a real Redis, and nothing is enqueued."""

from __future__ import annotations

import pytest
import redis

from multillm.common import constants
from multillm.common.errors import TenantRateLimited
from multillm.producers.client import MultiLLM

from .conftest import settings_for


def test_a_flooding_tenant_is_refused_and_others_are_not(own_redis: str):
    settings = settings_for(own_redis, {"OPENAI_TENANT_RATE_LIMIT_ENABLED": "true", "OPENAI_TENANT_RATE_LIMIT_MAX_REQUESTS": "3",
                                        "OPENAI_TENANT_RATE_LIMIT_MESSAGE": "Too many chats for this tenant."})
    raw = redis.Redis.from_url(own_redis)
    with MultiLLM(own_redis, settings=settings) as client:
        for i in range(3):
            client.submit("openai", "hi", tenant="flood", job_id=f"flood-{i}")
        client.submit("openai", "hi", tenant="flood", job_id="flood-0")  # a resubmit is not a new request
        queued = raw.llen(constants.queue("openai"))
        with pytest.raises(TenantRateLimited, match="Too many chats for this tenant"):
            client.submit("openai", "hi", tenant="flood", job_id="flood-3")
        assert raw.llen(constants.queue("openai")) == queued and not raw.exists(constants.job("flood-3"))
        client.submit("openai", "hi", tenant="calm", job_id="calm-0")
        client.submit("anthropic", "hi", tenant="flood", job_id="flood-anthropic")
    assert raw.llen(constants.queue("openai")) == queued + 1
    raw.close()
