"""What every role needs (no Celery imports here).

The job and its stream
    jobs.py             the Job a caller submits and the JobResult it ends with (pydantic)
    job_record.py       a job record's life in Redis: accept, load, mark received, re-enqueue, finish, cancel
    lease.py            which worker attempt owns a running job; lapsed leases for re-enqueue
    stream/             the stream protocol: message schema, writer (Publisher, Batcher), reader (Sequencer)
    constants.py        every Redis key, channel, queue and task name
    run/                one delivery of a job in steps: guards, quota slot, the call, retry/fallback, the result
    preparation.py      what a job sends besides its messages (history, a cached answer) and leaves behind
    conversations.py    conversations kept by id: turns in Redis, history trimmed to the context window
    cache.py            the response cache: exact answers per tenant, keyed by the normalised request
Providers
    providers/          the provider interface, the seven clients on three wire formats, the catalogue
    schemas.py          messages, chat options, tool calls, usage, provider events
    errors.py           the error tree (retryable, terminal, job errors) and the Steer branch
    ratelimit_headers.py  providers' rate-limit headers, parsed
Models
    model_list.py       each provider's live model list, cached in Redis for an hour per base URL and key
    model_facts.py      limits and prices with their sources (override, live list, catalogue, genai-prices); cost
    tokens.py           input tokens before the call (bpe-openai, the providers' count endpoints, an estimate)
    preflight.py        before a call: the model listed, the prompt counted, the limits checked
Quotas, health and routing
    quota.py            provider quotas in Redis (sliding windows, concurrency, cooldowns)
    admission.py        per-tenant request limits at submit
    retry.py            the backoff delay before another attempt
    provider_health.py  rolling statistics, circuit breaker, score and fallback order
    routing.py          tiers, `auto` and the next hop of a fallback
Input, keys, settings, observability
    sanitize.py         input bounds and image URL checks, at submit and in the worker
    limits.py           the size limits on a job and its fields (settings MULTILLM_MAX_*)
    urlcheck.py         the one URL check (canonical forms, resolved names, no internal addresses)
    redact.py           every key in use, masked in whatever leaves a process
    deadletter.py       queue messages no worker could read, capped, for `multillm deadletter`
    validation.py       pydantic errors as one line naming the field
    vault.py            per-tenant provider keys, AES-256-GCM under the master key
    settings.py         the one settings object, read from the environment once
    logs.py             log format (JSON or terminal) with key masking
    metrics.py          Prometheus metrics, some read from Redis at scrape time
    usage.py            per-day usage totals by provider, model and tenant
"""
