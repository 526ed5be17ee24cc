"""Per-tenant request limits at the producer (the seed's RateLimitConfig, TENANT_RATE_LIMIT_*), on fakeredis."""

from __future__ import annotations

import fakeredis
import pytest

from multillm.common.admission import Admission
from multillm.common.errors import TenantRateLimited
from multillm.common.quota import Quota
from multillm.common.settings import load_settings


def admission(env: dict[str, str]) -> Admission:
    return Admission(Quota(fakeredis.FakeRedis()), load_settings(env))


def test_a_tenant_over_the_global_limit_is_refused_with_the_configured_message():
    gate = admission({"TENANT_RATE_LIMIT_ENABLED": "true", "TENANT_RATE_LIMIT_MAX_REQUESTS": "3",
                      "TENANT_RATE_LIMIT_MESSAGE": "Slow down, please."})
    for i, provider in enumerate(["openai", "anthropic", "google"]):
        gate.admit("acme", provider, f"j{i}")
    with pytest.raises(TenantRateLimited) as refused:
        gate.admit("acme", "grok", "j3")
    assert "Slow down, please." in str(refused.value) and "acme" in str(refused.value)
    assert 59 < refused.value.retry_after <= 60.2
    assert refused.value.to_dict()["code"] == "tenant_rate_limited"


def test_tenants_are_counted_apart():
    gate = admission({"TENANT_RATE_LIMIT_ENABLED": "true", "TENANT_RATE_LIMIT_MAX_REQUESTS": "2"})
    for tenant in ("acme", "globex"):
        gate.admit(tenant, "openai", f"{tenant}-1")
        gate.admit(tenant, "openai", f"{tenant}-2")
    with pytest.raises(TenantRateLimited):
        gate.admit("acme", "openai", "acme-3")


def test_a_per_provider_limit_leaves_other_providers_open():
    gate = admission({"OPENAI_TENANT_RATE_LIMIT_ENABLED": "true", "OPENAI_TENANT_RATE_LIMIT_MAX_REQUESTS": "1",
                      "OPENAI_TENANT_RATE_LIMIT_MESSAGE": "OpenAI budget spent."})
    gate.admit("acme", "openai", "a")
    with pytest.raises(TenantRateLimited, match="OpenAI budget spent"):
        gate.admit("acme", "openai", "b")
    for i in range(5):
        gate.admit("acme", "anthropic", f"c{i}")


def test_a_refused_submit_counts_against_no_window():
    gate = admission({"TENANT_RATE_LIMIT_ENABLED": "true", "TENANT_RATE_LIMIT_MAX_REQUESTS": "5",
                      "OPENAI_TENANT_RATE_LIMIT_ENABLED": "true", "OPENAI_TENANT_RATE_LIMIT_MAX_REQUESTS": "1"})
    gate.admit("acme", "openai", "first")
    for i in range(10):
        with pytest.raises(TenantRateLimited):
            gate.admit("acme", "openai", f"refused{i}")
    for i in range(4):  # the global window saw only the one admitted submit
        gate.admit("acme", "anthropic", f"other{i}")
    with pytest.raises(TenantRateLimited):
        gate.admit("acme", "google", "over")


def test_no_limit_configured_admits_everything():
    gate = admission({})
    assert not gate.enabled("openai")
    for i in range(100):
        gate.admit("acme", "openai", f"j{i}")


def test_a_malformed_tenant_limit_is_named_by_its_variable():
    from multillm.common.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as bad:
        admission({"TENANT_RATE_LIMIT_MAX_REQUESTS": "0", "GROK_TENANT_RATE_LIMIT_WINDOW_MS": "soon"})
    assert "TENANT_RATE_LIMIT_MAX_REQUESTS" in str(bad.value) and "GROK_TENANT_RATE_LIMIT_WINDOW_MS" in str(bad.value)


def test_the_provider_key_window_does_not_limit_tenants():
    gate = admission({"OPENAI_RATE_LIMIT_ENABLED": "true", "OPENAI_RATE_LIMIT_MAX_REQUESTS": "1"})
    assert not gate.enabled("openai")  # RATE_LIMIT_* is the key's quota, enforced in workers


def test_a_tenant_submit_frees_its_slot_a_window_after_it_was_counted():
    """Admission counts at once (no provider call to wait for), so the window slides from the submit."""
    import fakeredis

    from multillm.common.admission import Admission
    from multillm.common.quota import Quota
    from multillm.common.settings import load_settings

    client = fakeredis.FakeRedis()
    settings = load_settings({"TENANT_RATE_LIMIT_ENABLED": "true", "TENANT_RATE_LIMIT_MAX_REQUESTS": "1",
                              "TENANT_RATE_LIMIT_WINDOW_MS": "1000"})
    admission = Admission(Quota(client), settings)
    admission.admit("acme", "openai", "a")
    rule_key = "multillm:quota:tenant:acme:all:z"
    (_, score), = client.zrange(rule_key, 0, -1, withscores=True)
    assert abs(score - client.time()[0] * 1000 - client.time()[1] / 1000) < 5_000  # stamped now, not held pending
