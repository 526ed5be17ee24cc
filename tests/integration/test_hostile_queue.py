"""Malformed messages put straight onto a queue: each job id gets a clear error result, no worker
process dies, anything unreadable lands in the dead-letter list, and the next good job still runs."""

from __future__ import annotations

import json
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multillm.common import constants, deadletter
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


# Anything at all pushed straight onto the queues with LPUSH, while real jobs run.

json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner,
                                                                                                max_size=4)),
                           max_leaves=10)


def real_envelope(client: MultiLLM, job_id: str) -> dict:
    """A task message exactly as the producer writes it, taken off a queue no worker reads."""
    client._celery.send_task("multillm.chat.openai", args=[job_id], queue="multillm.capture", task_id=job_id)
    return json.loads(client.redis.rpop("multillm.capture"))


def mutated(envelope: dict, draw_path: list[str], value: object) -> bytes:
    target = envelope
    for key in draw_path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target.get(key), dict) else target
    target[draw_path[-1]] = value
    return json.dumps(envelope).encode()


envelope_paths = st.sampled_from([["body"], ["content-type"], ["headers"], ["headers", "task"], ["headers", "id"],
                                  ["headers", "timelimit"], ["headers", "eta"], ["headers", "retries"], ["properties"],
                                  ["properties", "delivery_tag"], ["properties", "body_encoding"],
                                  ["properties", "delivery_info"]])


def test_no_worker_exits_whatever_is_pushed_onto_its_queues(system):
    client = MultiLLM(system.redis_url, settings=settings_for(system.redis_url))
    providers = sorted({p for name in system.workers for p in [name.split("-")[0]]})
    queues = [constants.queue(p) for p in providers] + [f"{constants.PREFIX}.health"]
    handles = [client.submit(p, "real work alongside", max_tokens=5) for p in providers]
    before = client.redis.llen(constants.DEADLETTER)
    pushed = 0
    mutations: list[str] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(queue=st.sampled_from(queues),
           item=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                          st.tuples(envelope_paths, json_values)))
    def push(queue: str, item: object) -> None:
        nonlocal pushed
        if isinstance(item, tuple):
            mutations.append(f"fuzz-{pushed}")
            item = mutated(real_envelope(client, mutations[-1]), *item)
        client.redis.lpush(queue, item)
        pushed += 1

    push()
    handles += [client.submit(p, "real work after", max_tokens=5) for p in providers]
    for handle in handles:
        assert handle.result(timeout=60).status == "succeeded"
    end = time.monotonic() + 60
    while any(client.redis.llen(q) for q in queues) and time.monotonic() < end:
        time.sleep(0.1)
    assert not any(client.redis.llen(q) for q in queues)  # every pushed item was taken off its queue
    assert all(p.poll() is None for p in system.workers.values())  # and no worker process exited
    letters = client.redis.llen(constants.DEADLETTER)
    assert before < letters <= deadletter.MAX_ENTRIES
    # Every mutated task message either ran (its job id, never submitted, ends with an error result) or
    # was dead-lettered; none vanished.
    dead = "\n".join(entry["body"] for entry in deadletter.entries(client.redis, deadletter.MAX_ENTRIES))
    for job_id in mutations:
        if f"{job_id}'" not in dead and f'{job_id}"' not in dead:
            assert client.job(job_id).result(timeout=30).error["code"] == "invalid_job"
    client.close()
