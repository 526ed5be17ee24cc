"""Per-tenant limits stored in Redis and enforced by the accept script (fakeredis)."""

from __future__ import annotations

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.common import constants
from multillm.common.errors import ConfigurationError, TenantBudgetExceeded, TenantRateLimited
from multillm.common.job_record import JobRecords
from multillm.common.jobs import Job, JobResult, Timings
from multillm.common.tenant_limits import TenantLimit, TenantLimits
from multillm.common.usage import record_usage


@pytest.fixture
def client():
    return fakeredis.FakeRedis()


def records(client) -> JobRecords:
    return JobRecords(client, result_ttl_s=600, replay_max=1000, replay_ttl_s=600)


def a_job(job_id: str, tenant: str = "acme") -> Job:
    return Job(job_id=job_id, provider="openai", model="gpt-4o-mini", tenant=tenant,
               messages=[{"role": "user", "content": "hi"}])


def test_a_tenant_over_its_stored_request_limit_is_refused_and_nothing_is_written(client):
    TenantLimits(client).set(TenantLimit("acme", requests=2, window_ms=60_000))
    r = records(client)
    assert r.accept(a_job("a")) and r.accept(a_job("b"))
    assert r.accept(a_job("a")) is False  # a resubmission is not counted
    with pytest.raises(TenantRateLimited) as refused:
        r.accept(a_job("c"))
    assert 59 < refused.value.retry_after <= 60 and refused.value.tenant == "acme"
    assert not client.exists(constants.job("c"))
    assert r.accept(a_job("d", tenant="calm"))  # other tenants are not limited


def test_a_tenant_whose_jobs_spent_its_budget_is_refused(client):
    TenantLimits(client).set(TenantLimit("acme", budget_usd=0.01))
    r = records(client)
    assert r.accept(a_job("a"))
    record_usage(client, JobResult(job_id="a", status="succeeded", provider="openai", model="gpt-4o-mini",
                                   tenant="acme", cost_usd=0.012, timings=Timings(submitted_at=1.0, finished_at=2.0)))
    with pytest.raises(TenantBudgetExceeded, match=r"spent \$0.0120 of its \$0.0100 budget"):
        r.accept(a_job("b"))
    state = TenantLimits(client).state("acme")
    assert state.spent_usd == pytest.approx(0.012) and state.limit.budget_usd == 0.01


def test_limits_are_set_independently_and_listed(client):
    store = TenantLimits(client)
    store.set(TenantLimit("acme", requests=5, window_ms=1000))
    store.set(TenantLimit("acme", budget_usd=3.0))
    store.set(TenantLimit("zeta", budget_usd=1.0))
    assert store.get("acme") == TenantLimit("acme", 5, 1000, 3.0)
    assert store.tenants() == ["acme", "zeta"]
    store.clear("acme")
    assert store.get("acme") == TenantLimit("acme") and store.tenants() == ["zeta"]


@pytest.mark.parametrize(("limit", "field"), [
    (TenantLimit("t", requests=5), "--window-ms"), (TenantLimit("t", requests=0, window_ms=10), "--requests"),
    (TenantLimit("t", requests=1, window_ms=-1), "--window-ms"), (TenantLimit("t", budget_usd=-1.0), "--budget-usd"),
    (TenantLimit("t"), "--budget-usd"),
])
def test_bad_limits_name_the_option(client, limit, field):
    with pytest.raises(ConfigurationError, match=field):
        TenantLimits(client).set(limit)


@given(st.one_of(st.none(), st.integers(-5, 5)), st.one_of(st.none(), st.integers(-5, 5)),
       st.one_of(st.none(), st.floats(-2, 2, allow_nan=False)))
def test_a_limit_is_either_refused_with_a_named_option_or_entirely_valid(requests, window_ms, budget):
    limit = TenantLimit("t", requests, window_ms, budget)
    try:
        limit.check()
    except ConfigurationError as exc:
        assert str(exc).startswith("--")
        return
    assert (requests is None) == (window_ms is None)
    assert requests is None or (requests > 0 and window_ms > 0)
    assert budget is None or budget >= 0
