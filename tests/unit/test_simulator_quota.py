"""The simulator's own quota: sliding 60-second windows of requests and tokens per provider and key."""

from __future__ import annotations

import pytest

from multillm.producers.simulator.quota import NOMINAL_RPM, Quota, QuotaDecision


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_no_limits_means_no_quota(clock):
    assert Quota(clock).take("openai", "k", None, None, 10) is None


def test_requests_beyond_rpm_wait_for_the_oldest_to_leave_the_window(clock):
    quota = Quota(clock)
    first = quota.take("openai", "k", 2, None, 1)
    assert first.allowed and first.remaining_requests == 1 and first.reset_s == 60
    clock.now += 10
    assert quota.take("openai", "k", 2, None, 1).remaining_requests == 0
    clock.now += 5
    refused = quota.take("openai", "k", 2, None, 1)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(45.0) and refused.remaining_requests == 0
    clock.now += 45  # the first request leaves the window exactly now
    assert quota.take("openai", "k", 2, None, 1).allowed


def test_tokens_beyond_tpm_wait_until_enough_have_left(clock):
    quota = Quota(clock)
    assert quota.take("anthropic", "k", None, 100, 40).remaining_tokens == 60
    clock.now += 1
    assert quota.take("anthropic", "k", None, 100, 40).remaining_tokens == 20
    clock.now += 1
    assert quota.take("anthropic", "k", None, 100, 10).remaining_tokens == 10
    clock.now += 1
    refused = quota.take("anthropic", "k", None, 100, 70)  # needs the first two to leave: 40 + 40 >= 60
    assert not refused.allowed and refused.retry_after_s == pytest.approx(58.0)
    assert refused.remaining_tokens == 10  # a refused request takes nothing


def test_a_request_larger_than_the_tpm_waits_a_whole_window(clock):
    refused = Quota(clock).take("openai", "k", None, 100, 101)
    assert not refused.allowed and refused.retry_after_s == 60


def test_each_provider_and_key_has_its_own_window(clock):
    quota = Quota(clock)
    assert quota.take("openai", "a", 1, None, 1).allowed
    assert not quota.take("openai", "a", 1, None, 1).allowed
    assert quota.take("openai", "b", 1, None, 1).allowed
    assert quota.take("grok", "a", 1, None, 1).allowed


def test_both_limits_apply_and_the_longer_wait_wins(clock):
    quota = Quota(clock)
    quota.take("openai", "k", 2, 100, 90)
    clock.now += 30
    quota.take("openai", "k", 2, 100, 10)
    refused = quota.take("openai", "k", 2, 100, 5)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(30.0)  # rpm and tpm agree: the first one


def test_reset_empties_every_window(clock):
    quota = Quota(clock)
    quota.take("openai", "k", 1, None, 1)
    quota.reset()
    assert quota.take("openai", "k", 1, None, 1).allowed


def test_an_injected_429_reports_nothing_left():
    decision = QuotaDecision.exhausted(2.5)
    assert (decision.allowed, decision.retry_after_s, decision.remaining_requests) == (False, 2.5, 0)
    assert decision.limit_requests == NOMINAL_RPM and decision.reset_s == 2.5
    assert QuotaDecision.exhausted(1.0, rpm=10).limit_tokens is None
