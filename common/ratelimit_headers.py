"""The providers' rate-limit signals, read into one structure that quota code can use.

Sources: OpenAI `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` with resets as durations
("6m0s", "12ms") and `retry-after-ms` / `retry-after` (openai-python `_base_client.py`); Anthropic
`anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}` with
resets as RFC 3339 times; GitHub Models `x-ratelimit-timeremaining` (gh-models `rate_limit.go`) and
GitHub's REST-style `x-ratelimit-{limit,remaining,reset}` (requests; reset in epoch seconds,
docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class RateLimitInfo:
    """What a provider said about its limits in one response. Resets are seconds from now."""

    retry_after: float | None = None
    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None
    limit_input_tokens: int | None = None
    remaining_input_tokens: int | None = None
    reset_input_tokens: float | None = None
    limit_output_tokens: int | None = None
    remaining_output_tokens: int | None = None
    reset_output_tokens: float | None = None

    def with_retry_after(self, seconds: float | None) -> RateLimitInfo:
        return replace(self, retry_after=seconds) if seconds is not None else self

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def is_empty(self) -> bool:
        return not self.to_dict()


def parse_duration(text: str) -> float | None:
    """'1m30s' -> 90.0, '12ms' -> 0.012, '2.5' -> 2.5; None when it is not a duration."""
    text = text.strip()
    try:
        value = float(text)
        return max(0.0, value) if math.isfinite(value) else None
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def parse_reset(text: str, now: datetime | None = None) -> float | None:
    """A reset given as a duration, seconds, an RFC 3339 time or an HTTP date -> seconds from now."""
    seconds = parse_duration(text)
    if seconds is not None:
        return seconds
    now = now or datetime.now(UTC)
    moment: datetime | None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            moment = None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(float(value)) if value is not None else None
    except (ValueError, OverflowError):
        return None


def _reset(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    return parse_reset(value) if value else None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """retry-after-ms, then retry-after (seconds or HTTP date), then GitHub's timeremaining."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    for name in ("retry-after", "x-ratelimit-timeremaining"):
        value = headers.get(name)
        if value:
            seconds = parse_reset(value)
            if seconds is not None:
                return seconds
    return None


def _epoch_reset(headers: Mapping[str, str], name: str) -> float | None:
    """GitHub's `x-ratelimit-reset`: the UTC epoch second the window renews -> seconds from now."""
    value = headers.get(name)
    try:
        moment = float(value) if value is not None else None
    except ValueError:
        return None
    if moment is None or not math.isfinite(moment):
        return None
    return max(0.0, moment - datetime.now(UTC).timestamp())


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitInfo:
    """Read every known rate-limit header; headers must be case-insensitive (httpx.Headers)."""
    a = "anthropic-ratelimit-"
    x = "x-ratelimit-"
    return RateLimitInfo(
        retry_after=parse_retry_after(headers),
        limit_requests=_first(_int(headers, f"{x}limit-requests"), _int(headers, f"{a}requests-limit"),
                              _int(headers, f"{x}limit")),
        remaining_requests=_first(_int(headers, f"{x}remaining-requests"),
                                  _int(headers, f"{a}requests-remaining"), _int(headers, f"{x}remaining")),
        reset_requests=_first(_reset(headers, f"{x}reset-requests"), _reset(headers, f"{a}requests-reset"),
                              _epoch_reset(headers, f"{x}reset")),
        limit_tokens=_first(_int(headers, f"{x}limit-tokens"), _int(headers, f"{a}tokens-limit")),
        remaining_tokens=_first(_int(headers, f"{x}remaining-tokens"), _int(headers, f"{a}tokens-remaining")),
        reset_tokens=_first(_reset(headers, f"{x}reset-tokens"), _reset(headers, f"{a}tokens-reset")),
        limit_input_tokens=_int(headers, f"{a}input-tokens-limit"),
        remaining_input_tokens=_int(headers, f"{a}input-tokens-remaining"),
        reset_input_tokens=_reset(headers, f"{a}input-tokens-reset"),
        limit_output_tokens=_int(headers, f"{a}output-tokens-limit"),
        remaining_output_tokens=_int(headers, f"{a}output-tokens-remaining"),
        reset_output_tokens=_reset(headers, f"{a}output-tokens-reset"),
    )


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
