"""The plain Celery peer of the throughput benchmark: a real worker process streams from the simulator
and returns the whole answer through the Redis result backend."""

from __future__ import annotations

import os

from multillm.producers.bench.peers import PlainCelery, start_plain_worker
from multillm.producers.local.embedded import stop
from multillm.producers.simulator import SIMULATED_KEY, SimulatorConfig, SimulatorServer, answer_words

PROMPT = "Write one short line about queues."


def test_plain_celery_task_returns_the_streamed_answer(own_redis: str) -> None:
    with SimulatorServer(config=SimulatorConfig(ttft_ms=0, tokens_per_second=0)) as sim:
        env = dict(os.environ, REDIS_URL=own_redis, OPENAI_BASE_URL=sim.base_urls()["openai"],
                   OPENAI_API_KEY=SIMULATED_KEY, LOG_LEVEL="warning")
        worker = start_plain_worker(env, concurrency=4)
        plain = PlainCelery(own_redis)
        try:
            plain.wait_ready(worker)
            _, texts = plain.run(6, PROMPT, "gpt-4o-mini", 12, timeout=60)
        finally:
            plain.close()
            stop([worker])

    assert texts == [" ".join(answer_words(PROMPT, 12))] * 6
