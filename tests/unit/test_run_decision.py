"""After a failed call: retry, fall back or fail, decided from plain values; and what each error leads to."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import multillm.common.run as run
from multillm.common.errors import (
    AuthenticationError,
    CircuitOpen,
    ContentFiltered,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RateLimitExceeded,
)
from multillm.common.run.decision import Verdict, decide

# A retryable failure with attempts and time to spare, on a job that may not move.
BASE = dict(retryable=True, error_may_fall_back=True, job_may_fall_back=False, provider_down=False,
            failures=1, max_attempts=4, delay_s=1.0, seconds_left=60.0, next_hop_exists=True)

TABLE = [
    ("retryable, attempts and time left", {}, Verdict("retry", 1.0)),
    ("the last allowed failure but one", {"failures": 3}, Verdict("retry", 1.0)),
    ("retry comes before a move", {"job_may_fall_back": True}, Verdict("retry", 1.0)),
    ("circuit open, the job may not move: waits", {"provider_down": True}, Verdict("retry", 1.0)),
    ("circuit open, the job may move: moves", {"provider_down": True, "job_may_fall_back": True}, Verdict("fall_back")),
    ("circuit open, nowhere to move", {"provider_down": True, "job_may_fall_back": True, "next_hop_exists": False},
     Verdict("fail")),
    ("attempts used up, may not move", {"failures": 4}, Verdict("fail")),
    ("attempts used up, moves", {"failures": 4, "job_may_fall_back": True}, Verdict("fall_back")),
    ("attempts used up, nowhere to move", {"failures": 4, "job_may_fall_back": True, "next_hop_exists": False},
     Verdict("fail")),
    ("backoff would pass the deadline", {"delay_s": 61.0}, Verdict("fail")),
    ("backoff ends exactly at the deadline", {"delay_s": 60.0}, Verdict("fail")),
    ("backoff past the deadline, moves", {"delay_s": 61.0, "job_may_fall_back": True}, Verdict("fall_back")),
    ("terminal, may fall back, job may move", {"retryable": False, "job_may_fall_back": True}, Verdict("fall_back")),
    ("terminal, the job may not move", {"retryable": False}, Verdict("fail")),
    ("terminal, the error forbids a move", {"retryable": False, "error_may_fall_back": False, "job_may_fall_back": True},
     Verdict("fail")),
    ("terminal, nowhere to move", {"retryable": False, "job_may_fall_back": True, "next_hop_exists": False},
     Verdict("fail")),
    ("terminal errors are never retried, whatever is left", {"retryable": False, "failures": 0}, Verdict("fail")),
]


@pytest.mark.parametrize(("case", "change", "verdict"), TABLE, ids=[row[0] for row in TABLE])
def test_the_decision_table(case, change, verdict):
    assert decide(**{**BASE, **change}) == verdict


@given(retryable=st.booleans(), error_may_fall_back=st.booleans(), job_may_fall_back=st.booleans(),
       provider_down=st.booleans(), failures=st.integers(0, 60), max_attempts=st.integers(1, 50),
       delay_s=st.floats(0, 100), seconds_left=st.floats(-10, 100), next_hop_exists=st.booleans())
def test_a_verdict_never_goes_against_its_inputs(**facts):
    verdict = decide(**facts)
    if verdict.action == "retry":
        assert facts["retryable"] and facts["failures"] < facts["max_attempts"]
        assert facts["delay_s"] < facts["seconds_left"] and verdict.delay_s == facts["delay_s"]
    if verdict.action == "fall_back":
        assert facts["error_may_fall_back"] and facts["job_may_fall_back"] and facts["next_hop_exists"]
    if not facts["retryable"]:
        assert verdict.action != "retry"


def facts_for(exc: ProviderError, *, job_may_fall_back: bool) -> dict[str, object]:
    return {**BASE, "retryable": exc.retryable, "error_may_fall_back": exc.fallback,
            "job_may_fall_back": job_may_fall_back, "provider_down": isinstance(exc, CircuitOpen)}


@pytest.mark.parametrize(("exc", "alone", "with_fallback"), [
    (RateLimited("429"), "retry", "retry"),
    (ProviderUnavailable("503"), "retry", "retry"),
    (CircuitOpen("open"), "retry", "fall_back"),
    (AuthenticationError("401"), "fail", "fall_back"),
    (ContentFiltered("refused"), "fail", "fall_back"),
    (InvalidRequest("400"), "fail", "fail"),
    (RateLimitExceeded("Slow down."), "fail", "fall_back"),
])
def test_each_error_leads_where_its_flags_say(exc, alone, with_fallback):
    assert decide(**facts_for(exc, job_may_fall_back=False)).action == alone
    assert decide(**facts_for(exc, job_may_fall_back=True)).action == with_fallback


def test_the_run_package_exports_a_sorted_public_surface():
    assert run.__all__ == sorted(run.__all__)
    assert all(hasattr(run, name) for name in run.__all__)
