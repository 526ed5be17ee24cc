"""Received marks written from a background thread, many per ZADD: each accepted job gets its start-by
time; a job not in flight (finished, or never accepted) gets no entry. On fakeredis."""

from __future__ import annotations

import threading
import time

import fakeredis

from multillm.common import constants
from multillm.common.job_record import JobRecords
from multillm.common.jobs import Job
from multillm.workers.received import ReceivedMarks


def wait_for(condition, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_marks_from_many_threads_all_reach_redis_and_only_for_jobs_in_flight():
    r = fakeredis.FakeRedis()
    records = JobRecords(r, result_ttl_s=600, replay_max=100, replay_ttl_s=600)
    jobs = [Job(provider="openai", model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]) for _ in range(50)]
    for job in jobs:
        records.accept(job)
    batches: list[int] = []

    def write(start_by):
        batches.append(len(start_by))
        records.mark_received_by(start_by)

    marks = ReceivedMarks(write)
    threads = [threading.Thread(target=marks.add, args=(job.job_id, 1_000.0 + i)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    marks.add("never-accepted", 5.0)
    assert wait_for(lambda: all(r.zscore(constants.INFLIGHT, j.job_id) == 1_000.0 + i for i, j in enumerate(jobs)))
    assert wait_for(lambda: sum(batches) == 51)
    assert r.zscore(constants.INFLIGHT, "never-accepted") is None
