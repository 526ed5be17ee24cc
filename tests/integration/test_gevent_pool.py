"""The gevent pool runs jobs end to end, with trio installed beside httpx (httpcore imports trio if it
can; under gevent's monkey patching that import used to fail and end every job)."""

from __future__ import annotations

import importlib.util

from multillm.producers.client import MultiLLM

from .conftest import make_system, settings_for


def test_a_gevent_worker_answers_jobs(own_redis, tmp_path):
    assert importlib.util.find_spec("trio") is not None  # the case that used to fail
    with make_system(own_redis, tmp_path, ["openai"], pool="gevent", concurrency=50) as system, \
            MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        handles = [client.submit("openai", f"gevent {i}", max_tokens=8) for i in range(20)]
        results = [h.result(timeout=60) for h in handles]
    assert [r.status for r in results] == ["succeeded"] * 20, [r.error for r in results if r.error][:1]
    assert all(r.text for r in results)
