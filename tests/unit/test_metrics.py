"""Metrics and usage analytics from job results; the queue collector reads a real Celery message."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import fakeredis
from prometheus_client import CollectorRegistry, generate_latest

from multillm.common import constants, metrics
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
    r.set(constants.job("old"), json.dumps({"submitted_at": time.time() - 30}))
    body = base64.b64encode(json.dumps([["old"], {}, {}]).encode()).decode()
    r.lpush(constants.queue("openai"), json.dumps({"body": body, "headers": {"task": "multillm.chat.openai"}}))
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


def test_every_worker_reports_the_circuit_and_quota_use_from_redis():
    from multillm.common.provider_health import Circuit
    from multillm.common.quota import Quota, TokenCount, rule_for
    from multillm.common.settings import load_settings

    r = fakeredis.FakeRedis()
    settings = load_settings({"ANTHROPIC_API_KEY": "sk-ant-test-1234567890", "ANTHROPIC_RPM": "50",
                              "ANTHROPIC_ITPM": "1000"})
    for _ in range(5):  # five failures open the circuit, whichever worker saw them
        Circuit(r).record("grok", ok=False)
    ps = settings.provider("anthropic")
    Quota(r).acquire(rule_for(ps, ps.api_key.get_secret_value(), settings.rate_limit), "j1", TokenCount(120, 30))
    text = "\n".join(generate_latest(registry_with(metrics.StateCollector(r, settings))).decode().splitlines())
    assert 'multillm_circuit_open{provider="grok"} 1.0' in text
    assert 'multillm_circuit_open{provider="openai"} 0.0' in text
    assert 'multillm_quota_used{provider="anthropic",window="rpm"} 1.0' in text
    assert 'multillm_quota_used{provider="anthropic",window="itpm"} 120.0' in text
    assert 'multillm_quota_limit{provider="anthropic",window="itpm"} 1000.0' in text
    assert "sk-ant" not in text


def registry_with(collector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def test_the_redis_memory_families_are_served_without_samples_when_info_is_refused():
    # fakeredis has no INFO, like a managed Redis whose ACL refuses it: the scrape still succeeds.
    families = list(metrics.RedisMemoryCollector(fakeredis.FakeRedis()).collect())
    assert [f.name for f in families] == ["multillm_redis_memory_used_bytes", "multillm_redis_maxmemory_bytes"]
    assert all(not f.samples for f in families)
