"""Metrics and usage analytics from job results; the queue collector reads a real Celery message."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import fakeredis
from prometheus_client import CollectorRegistry, generate_latest

from multillm.common import keys, metrics
from multillm.common.jobs import JobResult, Timings
from multillm.common.schemas import Usage
from multillm.common.usage import read_usage, record_usage


def result(provider: str, status: str = "succeeded", tokens: tuple[int, int] = (10, 5)) -> JobResult:
    now = time.time()
    return JobResult(job_id=f"j-{provider}-{now}", status=status, provider=provider, model="m", tenant="acme",
                     usage=Usage(input_tokens=tokens[0], output_tokens=tokens[1]), cost_usd=0.5,
                     error=None if status == "succeeded" else {"code": "unavailable"},
                     timings=Timings(submitted_at=now - 2, started_at=now - 1.5, first_token_at=now - 1, finished_at=now))


def sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_results_are_counted_per_provider():
    before = sample("multillm_jobs_total", provider="grok", model="m", status="succeeded")
    metrics.record_result(result("grok"))
    metrics.record_result(result("grok", "failed"))
    assert sample("multillm_jobs_total", provider="grok", model="m", status="succeeded") == before + 1
    assert sample("multillm_errors_total", provider="grok", model="m", code="unavailable") >= 1
    assert sample("multillm_tokens_total", provider="grok", model="m", direction="output") >= 10
    assert sample("multillm_job_latency_seconds_count", provider="grok", model="m") >= 2


def test_queue_collector_reads_depth_and_oldest_age():
    r = fakeredis.FakeRedis()
    r.set(keys.job("old"), json.dumps({"submitted_at": time.time() - 30}))
    body = base64.b64encode(json.dumps([["old"], {}, {}]).encode()).decode()
    r.lpush(keys.queue("openai"), json.dumps({"body": body, "headers": {"task": "multillm.chat.openai"}}))
    registry = CollectorRegistry()
    registry.register(metrics.QueueCollector(r))
    text = generate_latest(registry).decode()
    assert 'multillm_queue_depth{queue="multillm.openai"} 1.0' in text
    age = registry.get_sample_value("multillm_oldest_job_age_seconds", {"queue": "multillm.openai"})
    assert 29 < age < 40


def test_usage_totals_equal_the_sum_of_results():
    r = fakeredis.FakeRedis()
    results = [result("openai", tokens=(3, 4)), result("openai", "failed", (1, 0)), result("google", tokens=(7, 8))]
    for item in results:
        record_usage(r, item)
    today = datetime.now(UTC).date()
    rows = {row["provider"]: row for row in read_usage(r, today, today, "provider")}
    assert rows["openai"]["requests"] == 2 and rows["openai"]["errors"] == 1
    assert rows["openai"]["input_tokens"] == 4 and rows["google"]["output_tokens"] == 8
    assert abs(sum(row["cost_usd"] for row in rows.values()) - 1.5) < 1e-9
    assert read_usage(r, today, today, "tenant")[0]["tenant"] == "acme"


def test_metric_names_cover_every_family():
    assert {"multillm_jobs", "multillm_queue_depth", "multillm_time_to_first_token_seconds"} <= metrics.metric_names()
