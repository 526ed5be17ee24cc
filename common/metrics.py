"""Prometheus metrics per provider and model, and the Redis-backed queue gauges.

Under the threads pool (the default) one process holds every slot and the default registry is right.
Under prefork, set PROMETHEUS_MULTIPROC_DIR before the worker starts: prometheus-client then keeps
values in files shared by the children, and the exporter aggregates them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import redis
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from multillm.common import constants
from multillm.common.jobs import JobResult
from multillm.common.provider_health import Circuit
from multillm.common.providers.catalog import SPECS
from multillm.common.quota import Quota, rule_for
from multillm.common.settings import Settings

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
JOBS = Counter("multillm_jobs", "Jobs ended, by status", ["provider", "model", "status"])
ERRORS = Counter("multillm_errors", "Jobs that ended in an error, by error code", ["provider", "model", "code"])
LATENCY = Histogram("multillm_job_latency_seconds", "Submit to result", ["provider", "model"], buckets=LATENCY_BUCKETS)
TTFT = Histogram("multillm_time_to_first_token_seconds", "Attempt start to first chunk", ["provider", "model"],
                 buckets=LATENCY_BUCKETS)
TOKENS = Counter("multillm_tokens", "Tokens used", ["provider", "model", "direction"])
COST = Counter("multillm_cost_usd", "Cost at list prices, USD", ["provider", "model"])
RETRIES = Counter("multillm_retries", "Attempts retried after a retryable error", ["provider", "model", "code"])
FALLBACKS = Counter("multillm_fallbacks", "Jobs moved to another provider, from this one", ["provider", "model"])
RATE_LIMITED = Counter("multillm_rate_limited", "429s received from the provider", ["provider"])
QUOTA_WAIT = Counter("multillm_quota_wait_seconds", "Time jobs waited for quota, in the task or back on the queue",
                     ["provider"])


def record_result(result: JobResult) -> None:
    labels = (result.provider or "unknown", result.model or "unknown")
    JOBS.labels(*labels, result.status).inc()
    if result.error:
        ERRORS.labels(*labels, str(result.error.get("code", "error"))).inc()
    t = result.timings
    if t.finished_at is not None:
        LATENCY.labels(*labels).observe(max(0.0, t.finished_at - t.submitted_at))
    if t.first_token_at is not None and t.started_at is not None:
        TTFT.labels(*labels).observe(max(0.0, t.first_token_at - t.started_at))
    TOKENS.labels(*labels, "input").inc(result.usage.input_tokens)
    TOKENS.labels(*labels, "output").inc(result.usage.output_tokens)
    if result.cost_usd is not None:  # an unknown price adds nothing; usage analytics count those apart
        COST.labels(*labels).inc(result.cost_usd)


def record_retry(provider: str, model: str, code: str) -> None:
    RETRIES.labels(provider, model, code).inc()
    if code == "rate_limited":
        RATE_LIMITED.labels(provider).inc()


def record_fallback(provider: str, model: str) -> None:
    FALLBACKS.labels(provider, model).inc()


def record_quota_wait(provider: str, seconds: float) -> None:
    QUOTA_WAIT.labels(provider).inc(seconds)


class StateCollector(Collector):
    """What every worker shares through Redis, read at scrape time so that every worker reports the
    same current figures: each provider's circuit state and its key's quota use (the environment
    key's, as `multillm quotas` shows)."""

    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.circuit = Circuit(client)
        self.quota = Quota(client)
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        circuit = GaugeMetricFamily("multillm_circuit_open", "1 while the provider's circuit is open", labels=["provider"])
        used = GaugeMetricFamily("multillm_quota_used", "Requests or tokens used in the quota window now",
                                 labels=["provider", "window"])
        limit = GaugeMetricFamily("multillm_quota_limit", "The quota window's limit", labels=["provider", "window"])
        for provider in SPECS:
            circuit.add_metric([provider], 1 if self.circuit.state(provider) == "open" else 0)
            ps = self.settings.provider(provider)
            rule = rule_for(ps, ps.api_key.get_secret_value() if ps.api_key else "", self.settings.rate_limit)
            figures = self.quota.usage(rule) if rule.windows else {}
            for window in rule.windows:
                now = figures[window.name]
                assert isinstance(now, dict)
                used.add_metric([provider, window.name], now["used"])
                limit.add_metric([provider, window.name], window.limit)
        yield circuit
        yield used
        yield limit


class QueueCollector(Collector):
    """Depth of each provider's Celery queue, the age of its oldest job and the live workers consuming
    it, read at scrape time. Workers are counted from their presence keys, which each worker's reaper
    thread refreshes with an expiry: a worker that died or lost Redis stops counting within seconds,
    whether or not anything scrapes that worker.
    """

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("multillm_queue_depth", "Messages waiting in the queue", labels=["queue"])
        age = GaugeMetricFamily("multillm_oldest_job_age_seconds", "Age of the oldest waiting job", labels=["queue"])
        workers = GaugeMetricFamily("multillm_workers", "Live workers consuming the queue", labels=["queue"])
        live = self._live_workers()
        for provider in SPECS:
            queue = constants.queue(provider)
            depth.add_metric([queue], self.redis.llen(queue))
            age.add_metric([queue], self._oldest_age(queue))
            workers.add_metric([queue], live.get(queue, 0))
        yield depth
        yield age
        yield workers

    def _live_workers(self) -> dict[str, int]:
        """Queue -> workers whose presence key (`multillm:worker:<hostname>`, {"queues": [...]}) is alive."""
        names = list(self.redis.scan_iter(match=constants.worker("*"), count=500))
        counts: dict[str, int] = {}
        for raw in self.redis.mget(names) if names else []:
            try:
                queues = set(json.loads(raw)["queues"])
            except (TypeError, ValueError, KeyError):
                continue  # expired between SCAN and MGET, or not ours
            for queue in queues:
                counts[queue] = counts.get(queue, 0) + 1
        return counts

    def _oldest_age(self, queue: str) -> float:
        raw = self.redis.lindex(queue, -1)  # Celery's Redis transport pushes left, pops right
        try:
            body = json.loads(base64.b64decode(json.loads(raw)["body"])) if raw else None
            job = self.redis.get(constants.job(body[0][0])) if body else None
            return max(0.0, time.time() - float(json.loads(job)["submitted_at"])) if job else 0.0
        except (ValueError, KeyError, IndexError, TypeError):
            return 0.0


class RedisMemoryCollector(Collector):
    """Redis's memory use and its `maxmemory`, from INFO at scrape time. Redis runs with
    `maxmemory-policy noeviction` (queues and jobs must never be evicted), so past the limit it
    refuses writes: submits, chunks and results. The alert on used / max warns before that."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        used = GaugeMetricFamily("multillm_redis_memory_used_bytes", "Memory Redis holds (INFO used_memory)")
        limit = GaugeMetricFamily("multillm_redis_maxmemory_bytes", "Redis maxmemory (INFO maxmemory); 0: no limit")
        try:
            info = self.redis.info("memory")
        except redis.ResponseError:  # INFO refused (a managed Redis's ACL): no sample rather than a failed scrape
            info = {}
        if "used_memory" in info:
            used.add_metric([], float(info["used_memory"]))
            limit.add_metric([], float(info.get("maxmemory", 0)))
        yield used
        yield limit


def start_metrics_server(port: int, client: redis.Redis, settings: Settings) -> None:
    """Expose /metrics on `port` at `settings.metrics_addr` (MULTILLM_METRICS_ADDR)."""
    registry: CollectorRegistry = REGISTRY
    if settings.prometheus_multiproc_dir is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(QueueCollector(client))
    registry.register(StateCollector(client, settings))
    registry.register(RedisMemoryCollector(client))
    start_http_server(port, addr=settings.metrics_addr, registry=registry)


def metric_names() -> set[str]:
    """Every metric family this module exports (for checking dashboards and alert rules)."""
    names = {m._name for m in (JOBS, ERRORS, LATENCY, TTFT, TOKENS, COST, RETRIES, FALLBACKS, RATE_LIMITED,
                               QUOTA_WAIT)}
    return names | {"multillm_queue_depth", "multillm_oldest_job_age_seconds", "multillm_workers",
                    "multillm_circuit_open", "multillm_quota_used", "multillm_quota_limit",
                    "multillm_redis_memory_used_bytes", "multillm_redis_maxmemory_bytes"}
