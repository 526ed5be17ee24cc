"""The error tree: errors that end jobs, and the separate branch that steers the worker."""

from __future__ import annotations

import pytest

from multillm.common.errors import (
    LeaseLost,
    MultiLLMError,
    QuotaWait,
    RateLimitExceeded,
    Steer,
    TerminalError,
)
from multillm.common.ratelimit_headers import RateLimitInfo


@pytest.mark.parametrize("steer", [LeaseLost(), QuotaWait(3.0, "rpm")])
def test_a_steer_is_never_caught_as_a_job_error(steer):
    with pytest.raises(Steer):
        try:
            raise steer
        except MultiLLMError:
            pytest.fail("a steer was caught as an error")


def test_quota_wait_carries_its_wait_and_window():
    wait = QuotaWait(2.5, "window")
    assert (wait.wait_s, wait.reason) == (2.5, "window") and "wait 2.50s" in str(wait)


def test_a_rate_limit_window_refusal_carries_the_configured_message_word_for_word():
    exc = RateLimitExceeded("Slow down, please.", provider="openai", model="gpt-4o-mini", job_id="j1",
                            rate_limit=RateLimitInfo(retry_after=12.5))
    error = exc.to_dict()
    assert isinstance(exc, TerminalError) and str(exc) == "Slow down, please."
    assert (error["code"], error["message"], error["retryable"], error["fallback"]) == \
        ("rate_limited", "Slow down, please.", False, True)
    assert (error["provider"], error["model"], error["retry_after"]) == ("openai", "gpt-4o-mini", 12.5)
