"""Usage analytics aggregated in Redis per day, provider, model and tenant."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from multillm.common import constants
from multillm.common.jobs import JobResult

USAGE_PREFIX = constants.USAGE
FIELDS = ("requests", "errors", "input_tokens", "output_tokens", "cost_usd", "unpriced", "latency_ms_sum")
TTL_S = 400 * 86_400


def day_key(day: date) -> str:
    return f"{USAGE_PREFIX}:{day.isoformat()}"


def record_usage(client: redis.Redis, result: JobResult, pipe: redis.client.Pipeline | None = None) -> None:
    """Written at once, or added to `pipe` for the caller to send with other writes."""
    finished = result.timings.finished_at or result.timings.submitted_at
    key = day_key(datetime.fromtimestamp(finished, UTC).date())
    base = f"{result.provider}|{result.model}|{result.tenant}"
    latency_ms = max(0.0, (finished - result.timings.submitted_at) * 1000)
    writes = client.pipeline(transaction=False) if pipe is None else pipe
    writes.hincrby(key, f"{base}|requests", 1)
    writes.hincrby(key, f"{base}|errors", 0 if result.status == "succeeded" else 1)
    writes.hincrby(key, f"{base}|input_tokens", result.usage.input_tokens)
    writes.hincrby(key, f"{base}|output_tokens", result.usage.output_tokens)
    if result.cost_usd is None:  # the model's price is unknown: counted apart, never as 0
        writes.hincrby(key, f"{base}|unpriced", 1)
    else:
        writes.hincrbyfloat(key, f"{base}|cost_usd", result.cost_usd)
    writes.hincrbyfloat(key, f"{base}|latency_ms_sum", latency_ms)
    writes.expire(key, TTL_S)
    if result.cost_usd:  # what a tenant's budget is checked against when its next job is accepted
        writes.incrbyfloat(constants.tenant_spent(result.tenant), result.cost_usd)
    if pipe is None:
        writes.execute()


def read_usage(client: redis.Redis, since: date, until: date, by: str = "provider") -> list[dict[str, Any]]:
    """Totals grouped by provider, model or tenant over [since, until]; avg latency in ms."""
    index = {"provider": 0, "model": 1, "tenant": 2}[by]
    totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0.0))
    day = since
    while day <= until:
        for field, value in client.hgetall(day_key(day)).items():
            provider, model, tenant, name = field.decode().split("|")
            group = (provider, f"{provider}/{model}", tenant)[index]
            totals[group][name] += float(value)
        day += timedelta(days=1)
    rows = []
    for group, t in sorted(totals.items()):
        rows.append({by: group, "requests": int(t["requests"]), "errors": int(t["errors"]),
                     "input_tokens": int(t["input_tokens"]), "output_tokens": int(t["output_tokens"]),
                     # None when no request had a known price; `unpriced` counts those whose price is unknown
                     "cost_usd": None if t["unpriced"] == t["requests"] else round(t["cost_usd"], 6),
                     "unpriced": int(t["unpriced"]),
                     "avg_latency_ms": round(t["latency_ms_sum"] / t["requests"], 1) if t["requests"] else 0.0})
    return rows


def tenant_usage(client: redis.Redis, tenant: str, since: date, until: date) -> list[dict[str, Any]]:
    """One tenant's totals per day and provider/model over [since, until], oldest day first."""
    rows = []
    day = since
    while day <= until:
        totals: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0.0))
        for field, value in client.hgetall(day_key(day)).items():
            provider, model, owner, name = field.decode().split("|")
            if owner == tenant:
                totals[f"{provider}/{model}"][name] += float(value)
        rows += [{"day": day.isoformat(), "model": model, "requests": int(t["requests"]), "errors": int(t["errors"]),
                  "input_tokens": int(t["input_tokens"]), "output_tokens": int(t["output_tokens"]),
                  "cost_usd": round(t["cost_usd"], 6)} for model, t in sorted(totals.items())]
        day += timedelta(days=1)
    return rows
