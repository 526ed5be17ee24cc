"""Every Redis key, channel and queue name multillm uses, in one place.

    multillm:job:{id}        the accepted job (JSON), with a TTL
    multillm:stream:{id}     pub/sub channel carrying the job's stream messages
    multillm:log:{id}        replay log: the same messages, in order (list, capped, TTL)
    multillm:seq:{id}        last sequence number given to a message of the job
    multillm:published:{id}  each attempt's last message number (so a retried publish is not repeated)
    multillm:lease:{id}      the worker attempt that owns the running job (expires unless renewed)
    multillm:result:{id}     the final result (JSON), written once
    multillm:cancel:{id}     present when a caller asked to cancel
    multillm:attempts:{id}   attempts started (leases taken); multillm:failures:{id} provider failures
    multillm:inflight        sorted set: job id -> time by which its lease must have been renewed
    multillm:requeue:{id}:{attempt}  guard so only one reaper re-enqueues a lapsed attempt
    multillm:worker:{hostname}  a live worker and its queues (expires unless refreshed)
    multillm:deadletter      queue messages no worker could read (list, newest first, capped)
    multillm.{provider}      the Celery queue of a provider
"""

PREFIX = "multillm"
INFLIGHT = f"{PREFIX}:inflight"
DEADLETTER = f"{PREFIX}:deadletter"


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def channel(job_id: str) -> str:
    return f"{PREFIX}:stream:{job_id}"


def log(job_id: str) -> str:
    return f"{PREFIX}:log:{job_id}"


def seq(job_id: str) -> str:
    return f"{PREFIX}:seq:{job_id}"


def published(job_id: str) -> str:
    return f"{PREFIX}:published:{job_id}"


def lease(job_id: str) -> str:
    return f"{PREFIX}:lease:{job_id}"


def result(job_id: str) -> str:
    return f"{PREFIX}:result:{job_id}"


def cancel(job_id: str) -> str:
    return f"{PREFIX}:cancel:{job_id}"


def requeue_guard(job_id: str, attempt: int) -> str:
    return f"{PREFIX}:requeue:{job_id}:{attempt}"


def queue(provider: str) -> str:
    return f"{PREFIX}.{provider}"


def worker(hostname: str) -> str:
    return f"{PREFIX}:worker:{hostname}"
