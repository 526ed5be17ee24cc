"""Malformed messages put straight onto a queue: each job id gets a clear error result, no worker
process dies, and the next good job still runs."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multillm.common import constants
from multillm.producers.client import MultiLLM

from .conftest import settings_for

garbage = st.one_of(st.text(max_size=200), st.binary(max_size=100).map(lambda b: b.hex()),
                    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3).map(json.dumps),
                    st.just('{"provider": "openai", "model": "gpt-4o", "messages": []}'),
                    st.just('{"provider": "openai", "model": "gpt-4o", "messages": [{"role": "user", '
                            '"content": "hi"}], "options": {"max_tokens": 99999999}}'))


def test_malformed_jobs_on_the_queue_each_get_an_error_result(system):
    client = MultiLLM(system.redis_url, settings=settings_for(system.redis_url))
    sent: list[str] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(garbage)
    def put(body: str) -> None:
        job_id = f"hostile-{len(sent)}"
        client.redis.set(constants.job(job_id), body)  # bypasses the producer's validation
        client._celery.send_task("multillm.chat.openai", args=[job_id], queue=constants.queue("openai"))
        sent.append(job_id)

    put()
    # Arguments that are not a job id at all: refused by the task without killing anything.
    for args in ([None], [123], [["nested"]], ["x" * 500], []):
        client._celery.send_task("multillm.chat.openai", args=args, queue=constants.queue("openai"))
    for job_id in sent:
        result = client.job(job_id).result(timeout=30)
        assert result.status == "failed" and result.error["code"] == "invalid_job"
        assert result.error["message"]
    assert all(p.poll() is None for p in system.workers.values())  # every worker process still alive
    assert client.submit("openai", "still working?", max_tokens=5).result(timeout=30).status == "succeeded"
    client.close()
