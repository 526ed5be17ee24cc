"""The Redis memory gauges a worker's /metrics serves, read from a real server's INFO: what the
MultiLLMRedisMemoryHigh alert divides (deploy/prometheus/alerts.yml)."""

from __future__ import annotations

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from multillm.common.metrics import RedisMemoryCollector
from multillm.producers.local.embedded import new_password, start_redis, stop


def scrape(client: redis.Redis) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(RedisMemoryCollector(client))
    text = generate_latest(registry).decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_the_gauges_follow_redis_memory_up_to_its_maxmemory():
    process, url = start_redis(password=new_password(), maxmemory="8mb")
    client = redis.Redis.from_url(url)
    try:
        empty = scrape(client)
        assert empty["multillm_redis_maxmemory_bytes"] == 8 * 1024 * 1024
        filled = 0
        try:
            for i in range(1000):
                client.set(f"job:{i}", "x" * 65536)
                filled += 1
        except redis.exceptions.OutOfMemoryError:
            pass
        full = scrape(client)
        assert 0 < filled < 1000  # noeviction: writes refused past maxmemory
        assert full["multillm_redis_memory_used_bytes"] > empty["multillm_redis_memory_used_bytes"] + filled * 65536 * 0.9
        assert full["multillm_redis_memory_used_bytes"] / full["multillm_redis_maxmemory_bytes"] > 0.8  # the alert's ratio
        assert client.exists("job:0")  # nothing evicted
    finally:
        client.close()
        stop([process])
