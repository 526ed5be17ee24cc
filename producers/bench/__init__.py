"""Benchmarks and chaos tooling behind `multillm bench`: measured against peers in the same run.

    throughput.py    overhead, throughput and capacity per pool against a direct client
    peers.py         the peers: LiteLLM's Router and a plain Celery task (plain_celery.py, its worker)
    fanout.py        publish-to-consumer latency at high chunk rates
    quota.py         quota accuracy against a provider that enforces its own quota
    quota_wait.py    where a job waits for quota: in its slot or back on the queue
    batch.py         a large batch: wall time, jobs/s, memory
    token_estimate.py  how far the old characters / 4 token estimate was from what OpenAI bills
    redis_memory.py  Redis memory per waiting and per finished job, for sizing maxmemory
    chaos.py         worker kills, Redis restarts, provider faults (used by the soak and chaos tests)
    soak.py          the chaos soak (`multillm bench soak`); soak_check.py counts what was lost
    tables.py        BENCHMARKS.md tables
"""
