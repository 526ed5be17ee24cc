"""Every Redis key, channel, queue and task name multillm uses, in one place.

A job's life:
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
Workers, health and routing:
    multillm:worker:{hostname}  a live worker and its queues (expires unless refreshed)
    multillm:health          the last health assessment per provider; multillm:fallback_order the order
    multillm:health:lock / multillm:health:runs   one health run per interval, and how many acted
    multillm:stats:{provider}    recent call outcomes; multillm:circuit:{provider} the circuit breaker
    multillm:models:{provider}:{digest}   a provider's live model list per base URL and key (hashed),
                             cached for an hour; `:lock` while one process fetches it
Quotas, keys, usage, batches:
    multillm:quota:{provider}:{key id}:...   quota windows of a provider key; multillm:quota:global
    multillm:quota:tenant:{tenant}:...       per-tenant request windows
    multillm:vault           encrypted provider keys per tenant
    multillm:tenants         hash: gateway tenant name -> its record (JSON: key hash, masked key, shared_keys)
    multillm:tenant-key:{sha256 of an API key}  the gateway tenant that key belongs to
    multillm:usage:{day}     per-day usage totals
    multillm:batch:{id}      a batch run's state (hash: tenant, input, state, done, failed, total, targets)
    multillm:batch-rows:{id} the batch's written output rows (list, capped, the results' TTL)
    multillm:deadletter      queue messages no worker could read (list, newest first, capped)
Conversations and the response cache (per tenant):
    multillm:conversation:{tenant}:{id}       a conversation's turns (list of JSON), expires when idle
    multillm:conversation-meta:{tenant}:{id}  its creation and update times and last job (hash)
    multillm:conversation-busy:{tenant}:{id}  the job that holds the conversation while it runs
    multillm:conversations:{tenant}           sorted set: conversation id -> last update
    multillm:cache:{tenant}:{digest}          a cached answer (JSON), with a TTL
    multillm:cache-index:{tenant}             sorted set: digest -> time stored (eviction order)
    multillm:cache-stats:{tenant}             hits, misses and stores (hash)
Celery:
    multillm.{provider}      the queue of a provider; task multillm.chat.{provider} is routed to it
    multillm.health          the health task's queue; task multillm.health
"""

PREFIX = "multillm"
INFLIGHT = f"{PREFIX}:inflight"
HEALTH = f"{PREFIX}:health"
FALLBACK_ORDER = f"{PREFIX}:fallback_order"
HEALTH_LOCK = f"{PREFIX}:health:lock"
HEALTH_RUNS = f"{PREFIX}:health:runs"
QUOTA = f"{PREFIX}:quota"
VAULT = f"{PREFIX}:vault"
TENANTS = f"{PREFIX}:tenants"
USAGE = f"{PREFIX}:usage"
BATCH = f"{PREFIX}:batch"
BATCH_ROWS = f"{PREFIX}:batch-rows"

HEALTH_QUEUE = f"{PREFIX}.health"
HEALTH_TASK = f"{PREFIX}.health"
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


def attempts(job_id: str) -> str:
    return f"{PREFIX}:attempts:{job_id}"


def failures(job_id: str) -> str:
    return f"{PREFIX}:failures:{job_id}"


def requeue_guard(job_id: str, attempt: int) -> str:
    return f"{PREFIX}:requeue:{job_id}:{attempt}"


def worker(hostname: str) -> str:
    return f"{PREFIX}:worker:{hostname}"


def stats(provider: str) -> str:
    return f"{PREFIX}:stats:{provider}"


def circuit(provider: str) -> str:
    return f"{PREFIX}:circuit:{provider}"


def model_list(provider: str, digest: str) -> str:
    """A provider's live model list as one key sees it at one base URL (`digest` hashes both)."""
    return f"{PREFIX}:models:{provider}:{digest}"


def queue(provider: str) -> str:
    return f"{PREFIX}.{provider}"


def chat_task(provider: str) -> str:
    return f"{PREFIX}.chat.{provider}"


def provider_of_queue(queue_name: str) -> str | None:
    """`multillm.openai` -> `openai`; None for a queue that is not a provider's."""
    if not queue_name.startswith(f"{PREFIX}.") or queue_name == HEALTH_QUEUE:
        return None
    return queue_name.removeprefix(f"{PREFIX}.")


def conversation(tenant: str, conversation_id: str) -> str:
    return f"{PREFIX}:conversation:{tenant}:{conversation_id}"


def conversation_meta(tenant: str, conversation_id: str) -> str:
    return f"{PREFIX}:conversation-meta:{tenant}:{conversation_id}"


def conversation_busy(tenant: str, conversation_id: str) -> str:
    return f"{PREFIX}:conversation-busy:{tenant}:{conversation_id}"


def conversations(tenant: str) -> str:
    return f"{PREFIX}:conversations:{tenant}"


def cache_entry(tenant: str, digest: str) -> str:
    return f"{PREFIX}:cache:{tenant}:{digest}"


def cache_index(tenant: str) -> str:
    return f"{PREFIX}:cache-index:{tenant}"


def cache_stats(tenant: str) -> str:
    return f"{PREFIX}:cache-stats:{tenant}"


def tenant_key(digest: str) -> str:
    return f"{PREFIX}:tenant-key:{digest}"


def batch(batch_id: str) -> str:
    return f"{BATCH}:{batch_id}"


def batch_rows(batch_id: str) -> str:
    """Not under `multillm:batch:`, so a scan of batches finds each batch's state hash only."""
    return f"{BATCH_ROWS}:{batch_id}"
