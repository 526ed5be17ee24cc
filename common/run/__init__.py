"""Running one delivery of a chat job, in steps composed around the provider call:

    runtime.py     what a worker process shares: Redis, leases, quotas, HTTP pools, the key vault
    record.py      the job record as a delivery sees it: load, end one no attempt holds, count a result
    start.py       a delivery's start in one round trip: job record, lease, cancel flag, circuit
    guards.py      the checks before a call: circuit, cancel, attempt count, deadline
    slot.py        a quota slot around the call: reserve, wait or hand back, cooldown, reconcile
    health.py      the call's outcome fed to provider statistics and the circuit breaker
    decision.py    after a failure: retry, fall back or fail (a pure function)
    failures.py    the failure count that max_attempts limits
    fallback.py    the next provider, and the job record moved to it
    accounting.py  the result (usage, cost, timings), stored once and counted once
    attempt.py     one attempt: stream, publish, compose the above; `run_job` for one delivery

The Celery task (workers/tasks.py) calls `run_job` and only turns its `Delivery` into a Celery retry
or a task on another provider's queue; lease, deadline, cancellation, retries and the result happen
here, without Celery.
"""

from multillm.common.run.attempt import Delivery, run_job
from multillm.common.run.record import account, finish_without_lease, load_job
from multillm.common.run.runtime import Runtime

__all__ = ["Delivery", "Runtime", "account", "finish_without_lease", "load_job", "run_job"]
