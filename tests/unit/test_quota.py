"""The quota limiter's arithmetic on fakeredis: windows, weights, waits, concurrency, cooldown."""

from __future__ import annotations

import time

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multillm.common.errors import DeadlineExceeded, RateLimitExceeded
from multillm.common.quota import (
    Quota,
    QuotaRule,
    TokenCount,
    Window,
    corrected_limit,
    pacing_window,
    rule_for,
)
from multillm.common.ratelimit_headers import RateLimitInfo
from multillm.common.settings import load_settings


@pytest.fixture
def quota() -> Quota:
    return Quota(fakeredis.FakeRedis())


def rule(**kw) -> QuotaRule:
    windows = kw.pop("windows", (Window("rpm", 3, 60_000), Window("tpm", 100, 60_000, counts="tokens")))
    return QuotaRule("openai", "k1", windows, **kw)


def test_requests_beyond_the_window_wait_until_the_oldest_answered_one_expires(quota):
    r = rule()
    for i in range(3):
        assert quota.acquire(r, f"j{i}", 10, now=100.0 + i).granted
        quota.settle(r, f"j{i}", None, now=100.5 + i)  # headers arrived half a second later
    refused = quota.acquire(r, "j3", 10, now=110.0)
    assert not refused.granted and refused.reason == "rpm"
    assert refused.wait_s == pytest.approx(50.501, abs=0.01)  # j0 answered at t=100.5 leaves at t=160.5
    assert not quota.acquire(r, "j3", 10, now=160.4).granted
    assert quota.acquire(r, "j3", 10, now=160.502).granted


def test_a_reservation_still_waiting_for_its_response_keeps_its_slot(quota):
    r = rule(windows=(Window("window", 1, 1_000),))
    assert quota.acquire(r, "slow", 1, now=0).granted
    refused = quota.acquire(r, "next", 1, now=5.0)  # five windows later, "slow" has not been answered
    assert refused.reason == "window" and refused.wait_s == pytest.approx(1.001, abs=0.01)
    quota.settle(r, "slow", None, now=5.5)
    assert not quota.acquire(r, "next", 1, now=6.4).granted
    assert quota.acquire(r, "next", 1, now=6.6).granted


def test_a_reservation_whose_worker_died_lapses_after_its_hold(quota):
    r = rule(windows=(Window("window", 1, 1_000),), pending_hold_ms=10_000)
    assert quota.acquire(r, "dead", 1, now=0).granted
    assert not quota.acquire(r, "next", 1, now=10.5).granted
    assert quota.acquire(r, "next", 1, now=11.1).granted


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
        name = f"j{len(granted)}-{now}"
        if q.acquire(r, name, tokens, now=now).granted:
            q.settle(r, name, None, now=now)
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
        ("rpm", 50, "requests"), ("burst", 1, "requests"), ("itpm", 40000, "input"), ("otpm", 8000, "output")]


@pytest.mark.parametrize(("rpm", "burst", "expected"), [
    (180, None, ("burst", 3, 1000)), (180, 30, ("burst", 30, 10_000)), (50, None, ("burst", 1, 1200)),
    (10, None, ("burst", 1, 6000)), (600, 600, None)])
def test_a_per_minute_limit_is_spread_over_the_minute(rpm, burst, expected):
    window = pacing_window(rpm, burst)
    assert (window and (window.name, window.limit, window.window_ms)) == expected


def test_burst_comes_from_the_provider_settings_and_seed_windows_keep_their_meaning():
    settings = load_settings({"OPENAI_RPM": "180", "OPENAI_BURST": "30", "OPENAI_RATE_LIMIT_ENABLED": "true",
                              "OPENAI_RATE_LIMIT_MAX_REQUESTS": "30", "OPENAI_RATE_LIMIT_WINDOW_MS": "10000"})
    r = rule_for(settings.provider("openai"), "sk-x", settings.rate_limit)
    assert [(w.name, w.limit, w.window_ms) for w in r.windows] == [
        ("rpm", 180, 60_000), ("burst", 30, 10_000), ("window", 30, 10_000)]
    assert not r.learn


def test_nothing_configured_means_learning():
    settings = load_settings({})
    assert rule_for(settings.provider("openai"), "sk-x", settings.rate_limit).learn


def openai_headers(limit: int, remaining: int, reset_s: float) -> RateLimitInfo:
    return RateLimitInfo(limit_requests=limit, remaining_requests=remaining, reset_requests=reset_s)


def test_learning_sends_one_call_until_the_provider_states_its_limits(quota):
    r = rule(windows=(), learn=True)
    assert quota.acquire(r, "first", 1, now=0).granted
    assert quota.acquire(r, "second", 1, now=0.01).reason == "learning"
    quota.settle(r, "first", openai_headers(3, 2, 10.0), now=0.02)
    assert quota.acquire(r, "second", 1, now=0.03).granted
    assert quota.acquire(r, "third", 1, now=0.04).granted
    stopped = quota.acquire(r, "fourth", 1, now=0.05)  # the provider's remaining count is spent
    assert stopped.reason == "provider requests" and stopped.wait_s == pytest.approx(9.991, abs=0.01)
    assert quota.acquire(r, "fourth", 1, now=10.05).granted  # "first" has left the provider's window


def test_a_provider_without_rate_limit_headers_ends_learning(quota):
    r = rule(windows=(), learn=True)
    assert quota.acquire(r, "first", 1, now=0).granted
    quota.settle(r, "first", None, now=0.02)  # answered, no rate-limit headers
    assert all(quota.acquire(r, f"j{i}", 1, now=0.03).granted for i in range(20))


def test_the_remaining_count_discounts_calls_still_in_flight(quota):
    r = rule(windows=())
    for name in ("a", "b", "c"):
        assert quota.acquire(r, name, 1, now=0).granted
    quota.settle(r, "a", openai_headers(10, 4, 5.0), now=0.1)  # b and c may not be counted in the 4 yet
    granted = [quota.acquire(r, f"n{i}", 1, now=0.2).granted for i in range(4)]
    assert granted == [True, True, False, False]


def test_an_older_answer_never_replaces_a_newer_view(quota):
    r = rule(windows=())
    for name in ("old", "new"):
        assert quota.acquire(r, name, 1, now=0).granted
    quota.settle(r, "new", openai_headers(10, 2, 5.0), now=0.1)  # less "old", perhaps not counted yet
    quota.settle(r, "old", openai_headers(10, 9, 5.0), now=0.2)  # arrived first, answered late
    assert quota.acquire(r, "x", 1, now=0.3).granted
    assert quota.acquire(r, "y", 1, now=0.3).reason == "provider requests"


def test_anthropic_token_headers_steer_token_calls(quota):
    r = rule(windows=())
    assert quota.acquire(r, "a", TokenCount(10, 100), now=0).granted
    info = RateLimitInfo(limit_requests=50, remaining_requests=49, reset_requests=1.0, limit_output_tokens=1000,
                         remaining_output_tokens=150, reset_output_tokens=30.0)
    quota.settle(r, "a", info, now=0.1)
    assert quota.acquire(r, "b", TokenCount(10, 100), now=0.2).granted
    assert quota.acquire(r, "c", TokenCount(10, 100), now=0.3).reason == "provider output tokens"


@pytest.mark.parametrize(("configured", "view", "expected"), [
    (Window("rpm", 1000, 60_000), {"limit": 500, "period": 60_000}, 500),
    (Window("rpm", 180, 60_000), {"limit": 30, "period": 10_000}, 180),  # 30 per 10 s is 180 a minute
    (Window("burst", 3, 1_000), {"limit": 30, "period": 10_000}, 3),
    (Window("window", 40, 10_000), {"limit": 30, "period": 10_000}, 30),
    (Window("rpm", 100, 60_000), {}, 100),
])
def test_a_configured_limit_above_the_providers_is_lowered_to_it(configured, view, expected):
    assert corrected_limit(configured, view) == expected


def test_a_correction_applies_at_once_and_is_logged_once(quota, caplog):
    r = rule(windows=(Window("rpm", 10, 60_000),))
    assert quota.acquire(r, "a", 1, now=0).granted
    quota.settle(r, "a", openai_headers(2, 1, 60.0), now=0.1)
    with caplog.at_level("WARNING", logger="multillm.quota"):
        quota._views.clear()
        assert quota.effective(r).windows[0].limit == 2
        quota._views.clear()
        quota.effective(r)
    assert len([m for m in caplog.messages if "above the provider's own limit" in m]) == 1
    assert quota.usage(r)["corrections"] == {"rpm": "10>2"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 0.5), st.floats(0, 0.8), st.floats(0, 0.3)), min_size=1, max_size=40))
def test_a_provider_counting_at_arrival_never_sees_more_than_the_limit(calls):
    """Whatever the delay between a reservation and its arrival at the provider (jitter), and between
    arrival and the response headers, a strict window counting at arrival never holds limit + 1."""
    import heapq

    q = Quota(fakeredis.FakeRedis())
    limit, window_s = 3, 1.0
    r = rule(windows=(Window("window", limit, int(window_s * 1000)),))
    events, start = [], 0.0
    for i, (gap, _, _) in enumerate(calls):
        start += gap
        heapq.heappush(events, (start, i, "acquire"))
    arrivals = []
    while events:
        at, i, kind = heapq.heappop(events)
        if kind == "settle":
            q.settle(r, f"c{i}", None, now=at)
            continue
        decision = q.acquire(r, f"c{i}", 1, now=at)
        if not decision.granted:
            heapq.heappush(events, (at + decision.wait_s, i, "acquire"))
            continue
        arrival = at + calls[i][1]
        arrivals.append(arrival)
        heapq.heappush(events, (arrival + calls[i][2], i, "settle"))
    arrivals.sort()
    for j, t in enumerate(arrivals):
        assert sum(1 for u in arrivals[: j + 1] if u > t - window_s) <= limit




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
        ("rpm", None), ("burst", None), ("window", "OpenAI is busy."), ("global", "Everyone is busy.")]


def test_learning_lets_the_next_call_go_when_the_first_waits_too_long_for_its_headers(quota):
    r = rule(windows=(), learn=True, pending_hold_ms=60_000)
    assert quota.acquire(r, "stuck", 1, now=0).granted  # its worker died before any answer
    assert quota.acquire(r, "next", 1, now=4.9).reason == "learning"
    assert quota.acquire(r, "next", 1, now=5.1).granted


def test_a_dead_workers_call_stops_counting_as_pending_after_its_timeouts():
    from multillm.common.run.slot import pending_hold_ms

    assert pending_hold_ms(load_settings({})) == 75_000  # connect 10 s + first token 60 s + 5 s
    fast = load_settings({"MULTILLM_CONNECT_TIMEOUT_S": "2", "MULTILLM_FIRST_TOKEN_TIMEOUT_S": "3",
                          "MULTILLM_IDLE_TIMEOUT_S": "4"})
    assert pending_hold_ms(fast) == 11_000
