"""A submit whose accept reached Redis but whose reply was lost (Redis killed in between, the client's
retry finding the record already there) still enqueues the job; a later resubmission does not."""

from __future__ import annotations

import redis

from multillm.common import constants
from multillm.common.jobs import Job
from multillm.producers.client import MultiLLM, validate_job
from tests.integration.conftest import settings_for


def test_a_job_stored_by_an_accept_whose_reply_was_lost_is_still_enqueued_once_by_that_submit(own_redis: str):
    r = redis.Redis.from_url(own_redis)
    queue = constants.queue("openai")
    r.delete(queue)
    job = Job(job_id="lost-reply-1", provider="openai", model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    with MultiLLM(own_redis, settings=settings_for(own_redis)) as client:
        assert client.records.accept(validate_job(job))  # the first try's write, whose reply never came
        client.submit_job(job)  # the same call going on after its retry
        assert r.llen(queue) == 1
        client.submit("openai", "hi", job_id="lost-reply-1")  # a resubmission (another submit time): a no-op
        assert r.llen(queue) == 1
    r.close()
