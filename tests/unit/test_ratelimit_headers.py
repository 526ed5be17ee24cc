"""Rate-limit headers of OpenAI, Anthropic and GitHub Models read into one RateLimitInfo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from multillm.common.ratelimit_headers import (
    RateLimitInfo,
    parse_duration,
    parse_rate_limit_headers,
    parse_reset,
    parse_retry_after,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [
    ("6m0s", 360.0), ("12ms", 0.012), ("1s", 1.0), ("1.5s", 1.5), ("1h2m3s", 3723.0), ("2m30.5s", 150.5),
    ("20ms", 0.02), ("7.66s", 7.66), ("0s", 0.0), ("30", 30.0), ("2.5", 2.5), (" 3s ", 3.0),
])
def test_openai_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "6m0", "s", "1d", "6m 0s", "ms12", "2024-06-01T12:00:00Z"])
def test_non_durations_are_none(text):
    assert parse_duration(text) is None


def test_negative_seconds_become_zero():
    assert parse_duration("-4") == 0.0


@given(st.text())
def test_parse_duration_never_raises_on_arbitrary_text(text):
    value = parse_duration(text)
    assert value is None or value >= 0.0


@given(st.text())
def test_parse_reset_never_raises_on_arbitrary_text(text):
    value = parse_reset(text, now=NOW)
    assert value is None or value >= 0.0


@pytest.mark.parametrize(("text", "seconds"), [
    ("2025-03-01T12:00:30Z", 30.0),  # Anthropic: RFC 3339 in UTC
    ("2025-03-01T12:01:00.500000Z", 60.5),
    ("2025-03-01T13:00:05+01:00", 5.0),
    ("2025-03-01T12:00:10", 10.0),  # no zone: taken as UTC
    ("2025-03-01T11:59:00Z", 0.0),  # already past: no wait
    ("Sat, 01 Mar 2025 12:02:00 GMT", 120.0),  # HTTP date
    ("45", 45.0),
    ("1m", 60.0),
])
def test_reset_times(text, seconds):
    assert parse_reset(text, now=NOW) == pytest.approx(seconds)


def test_retry_after_ms_wins_over_retry_after():
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5


def test_malformed_retry_after_ms_falls_back_to_retry_after():
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "soon", "retry-after": "9"})) == 9.0


def test_retry_after_in_seconds():
    assert parse_retry_after(httpx.Headers({"Retry-After": "20"})) == 20.0


def test_retry_after_as_http_date():
    moment = datetime.now(UTC) + timedelta(seconds=120)
    seconds = parse_retry_after(httpx.Headers({"retry-after": format_datetime(moment, usegmt=True)}))
    assert seconds is not None and 118.0 <= seconds <= 120.5


def test_github_time_remaining_is_used_without_retry_after():
    assert parse_retry_after(httpx.Headers({"x-ratelimit-timeremaining": "55"})) == 55.0
    assert parse_retry_after(httpx.Headers({"retry-after": "10", "x-ratelimit-timeremaining": "55"})) == 10.0


def test_no_headers_no_retry_after():
    assert parse_retry_after(httpx.Headers({})) is None
    assert parse_retry_after(httpx.Headers({"retry-after": "whenever"})) is None
    assert parse_rate_limit_headers(httpx.Headers({"content-type": "application/json"})).is_empty()


def test_openai_headers():
    info = parse_rate_limit_headers(httpx.Headers({
        "x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-reset-requests": "6ms", "x-ratelimit-limit-tokens": "2000000",
        "x-ratelimit-remaining-tokens": "1999990", "x-ratelimit-reset-tokens": "6m0s",
    }))
    assert info == RateLimitInfo(limit_requests=10000, remaining_requests=9999, reset_requests=0.006,
                                 limit_tokens=2_000_000, remaining_tokens=1_999_990, reset_tokens=360.0)


def test_anthropic_headers():
    reset = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    info = parse_rate_limit_headers(httpx.Headers({
        "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": reset, "anthropic-ratelimit-tokens-limit": "40000",
        "anthropic-ratelimit-tokens-remaining": "39000", "anthropic-ratelimit-input-tokens-remaining": "30000",
        "anthropic-ratelimit-output-tokens-remaining": "9000", "retry-after": "29",
    }))
    assert (info.limit_requests, info.remaining_requests, info.limit_tokens, info.remaining_tokens) == (
        50, 0, 40000, 39000)
    assert (info.remaining_input_tokens, info.remaining_output_tokens, info.retry_after) == (30000, 9000, 29.0)
    assert info.reset_requests is not None and 28.0 <= info.reset_requests <= 30.5


def test_anthropic_input_and_output_token_limits_and_resets():
    reset = (datetime.now(UTC) + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    a = "anthropic-ratelimit-"
    info = parse_rate_limit_headers(httpx.Headers({
        f"{a}input-tokens-limit": "40000", f"{a}input-tokens-remaining": "39000", f"{a}input-tokens-reset": reset,
        f"{a}output-tokens-limit": "8000", f"{a}output-tokens-remaining": "7000", f"{a}output-tokens-reset": reset,
    }))
    assert (info.limit_input_tokens, info.remaining_input_tokens, info.limit_output_tokens,
            info.remaining_output_tokens) == (40000, 39000, 8000, 7000)
    assert 18.0 <= info.reset_input_tokens <= 20.5 and 18.0 <= info.reset_output_tokens <= 20.5


def test_github_rest_style_headers_count_requests_with_an_epoch_reset():
    reset = int(datetime.now(UTC).timestamp()) + 40
    info = parse_rate_limit_headers(httpx.Headers({
        "x-ratelimit-limit": "15", "x-ratelimit-remaining": "12", "x-ratelimit-reset": str(reset)}))
    assert (info.limit_requests, info.remaining_requests) == (15, 12)
    assert 38.0 <= info.reset_requests <= 40.5


def test_remaining_zero_is_kept_not_treated_as_missing():
    info = parse_rate_limit_headers(httpx.Headers({"x-ratelimit-remaining-tokens": "0",
                                                   "anthropic-ratelimit-tokens-remaining": "5"}))
    assert info.remaining_tokens == 0


def test_malformed_numbers_are_ignored():
    info = parse_rate_limit_headers(httpx.Headers({"x-ratelimit-remaining-requests": "lots",
                                                   "x-ratelimit-reset-requests": "later"}))
    assert info.is_empty()


def test_to_dict_and_with_retry_after():
    info = RateLimitInfo(remaining_requests=3).with_retry_after(2.0)
    assert info.to_dict() == {"remaining_requests": 3, "retry_after": 2.0}
    assert info.with_retry_after(None) is info


header_values = st.text(st.characters(codec="ascii", exclude_characters="\r\n\x00"))
header_names = st.sampled_from([
    "retry-after", "retry-after-ms", "x-ratelimit-timeremaining", "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests", "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-remaining",
])


def test_an_overflowing_count_header_is_ignored():
    info = parse_rate_limit_headers(httpx.Headers({"x-ratelimit-limit-requests": "1e400"}))
    assert info.limit_requests is None


def test_an_infinite_retry_after_is_not_a_wait():
    assert parse_retry_after(httpx.Headers({"retry-after": "inf"})) is None


@given(st.dictionaries(header_names, header_values))
def test_any_header_values_parse_without_raising(headers):
    """Arbitrary values, infinite and overflowing numbers included, never raise."""
    parse_rate_limit_headers(httpx.Headers(headers))
