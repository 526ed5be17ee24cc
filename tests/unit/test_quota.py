"""The quota limiter's arithmetic on fakeredis: windows, weights, waits, concurrency, cooldown."""

from __future__ import annotations

import time

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multillm.common.errors import DeadlineExceeded, RateLimitExceeded
from multillm.common.quota import Quota, QuotaRule, TokenCount, Window


@pytest.fixture
def quota() -> Quota:
    return Quota(fakeredis.FakeRedis())


def rule(**kw) -> QuotaRule:
    windows = kw.pop("windows", (Window("rpm", 3, 60_000), Window("tpm", 100, 60_000, counts="tokens")))
    return QuotaRule("openai", "k1", windows, **kw)


def test_requests_beyond_the_window_wait_until_the_oldest_expires(quota):
    r = rule()
    for i in range(3):
        assert quota.acquire(r, f"j{i}", 10, now=100.0 + i).granted
    refused = quota.acquire(r, "j3", 10, now=110.0)
    assert not refused.granted and refused.reason == "rpm"
    assert refused.wait_s == pytest.approx(50.101, abs=0.01)  # j0 at t=100 leaves at t=160.1 (margin)
    assert quota.acquire(r, "j3", 10, now=160.102).granted


def test_tokens_are_weighted_and_all_windows_reserve_together(quota):
    r = rule(windows=(Window("rpm", 10, 60_000), Window("tpm", 100, 60_000, counts="tokens")))
    assert quota.acquire(r, "a", 70, now=0).granted
    refused = quota.acquire(r, "b", 40, now=1)
    assert refused.reason == "tpm"
    assert quota.usage(r)["rpm"]["used"] <= 1  # the refused request reserved nothing


def test_reconcile_returns_unused_tokens(quota):
    r = rule(windows=(Window("tpm", 100, 60_000, counts="tokens"),))
    assert quota.acquire(r, "a", 80, now=0).granted
    quota.reconcile(r, "a", 30)
    assert quota.acquire(r, "b", 60, now=1).granted


def test_a_request_larger_than_the_quota_can_never_run(quota):
    r = rule(windows=(Window("tpm", 100, 60_000, counts="tokens"),))
    assert quota.acquire(r, "huge", 101, now=0).wait_s == float("inf")


def test_concurrency_cap_and_release(quota):
    r = rule(windows=(), max_concurrent=2)
    assert quota.acquire(r, "a", 1, now=0).granted and quota.acquire(r, "b", 1, now=0).granted
    assert quota.acquire(r, "c", 1, now=0).reason == "concurrency"
    quota.release(r, "a")
    assert quota.acquire(r, "c", 1, now=0).granted


def test_cooldown_holds_every_caller(quota):
    r = rule()
    quota.cool_down(r, 5)
    decision = quota.acquire(r, "a", 1)
    assert decision.reason == "cooldown" and 4 < decision.wait_s <= 5




@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.integers(1, 30)), min_size=1, max_size=60))
def test_no_sliding_window_ever_exceeds_the_limits(arrivals):
    """Whatever the arrival times and sizes, granted reservations never exceed a window's limit."""
    q = Quota(fakeredis.FakeRedis())
    r = rule(windows=(Window("rpm", 5, 2_000), Window("tpm", 60, 2_000, counts="tokens")))
    now, granted = 0.0, []
    for gap, tokens in arrivals:
        now += gap
        if q.acquire(r, f"j{len(granted)}-{now}", tokens, now=now).granted:
            granted.append((now, tokens))
    for start, _ in granted:
        inside = [t for at, t in granted if start <= at < start + 2.0]
        assert len(inside) <= 5 and sum(inside) <= 60


def test_input_and_output_tokens_are_limited_apart(quota):
    """Anthropic-style ITPM/OTPM: a call waits on whichever side is spent, and reconciles each side."""
    r = rule(windows=(Window("itpm", 100, 60_000, counts="input"), Window("otpm", 50, 60_000, counts="output")))
    assert quota.acquire(r, "a", TokenCount(90, 10)).granted
    assert quota.acquire(r, "b", TokenCount(20, 10)).reason == "itpm"
    assert quota.acquire(r, "c", TokenCount(5, 45)).reason == "otpm"
    quota.reconcile(r, "a", TokenCount(60, 4))  # the provider reported fewer tokens than estimated
    assert quota.acquire(r, "b", TokenCount(20, 10)).granted
    use = quota.usage(r)
    assert use["itpm"]["used"] == 80 and use["otpm"]["used"] == 14


def test_itpm_and_otpm_come_from_the_provider_settings():
    from multillm.common.quota import rule_for
    from multillm.common.settings import load_settings

    settings = load_settings({"ANTHROPIC_ITPM": "40000", "ANTHROPIC_OTPM": "8000", "ANTHROPIC_RPM": "50"})
    r = rule_for(settings.provider("anthropic"), "sk-ant-x", settings.rate_limit)
    assert [(w.name, w.limit, w.counts) for w in r.windows] == [
        ("rpm", 50, "requests"), ("itpm", 40000, "input"), ("otpm", 8000, "output")]


def test_a_rate_limit_window_full_past_the_deadline_refuses_with_its_message(quota):
    r = rule(windows=(Window("window", 1, 60_000, message="One chat a minute."),))
    with quota.reserved(r, "first", TokenCount(1, 1), inline_wait_s=5, deadline_at=time.time() + 60):
        pass
    with pytest.raises(RateLimitExceeded) as refused, \
            quota.reserved(r, "second", TokenCount(1, 1), inline_wait_s=5, deadline_at=time.time() + 2):
        pass
    assert str(refused.value) == "One chat a minute." and refused.value.provider == "openai"
    assert 55 < refused.value.retry_after <= 60.1


@pytest.mark.parametrize("reason", ["rpm", "tpm", "concurrency", "cooldown"])
def test_other_waits_past_the_deadline_are_a_missed_deadline(quota, reason):
    message_window = Window("window", 5, 60_000, message="unused")
    rpm = Window("rpm", 1 if reason == "rpm" else 10, 60_000)
    r = rule(windows=(rpm, Window("tpm", 100, 60_000, counts="tokens"), message_window),
             max_concurrent=1 if reason == "concurrency" else 0, hold_ms=60_000)
    if reason == "cooldown":
        quota.cool_down(r, 30)
    else:
        assert quota.acquire(r, "first", 100 if reason == "tpm" else 1).granted
    with pytest.raises(DeadlineExceeded, match=rf"quota \({reason}\)"), \
            quota.reserved(r, "second", TokenCount(1, 1), inline_wait_s=5, deadline_at=time.time() + 0.05):
        pass


def test_rate_limit_windows_take_their_messages_from_the_settings():
    from multillm.common.quota import rule_for
    from multillm.common.settings import load_settings

    settings = load_settings({"OPENAI_RATE_LIMIT_ENABLED": "true", "OPENAI_RATE_LIMIT_MESSAGE": "OpenAI is busy.",
                              "RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_MESSAGE": "Everyone is busy.", "OPENAI_RPM": "5"})
    r = rule_for(settings.provider("openai"), "sk-x", settings.rate_limit)
    assert [(w.name, w.message) for w in r.windows] == [
        ("rpm", None), ("window", "OpenAI is busy."), ("global", "Everyone is busy.")]
