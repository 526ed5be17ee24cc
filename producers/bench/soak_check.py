"""After a soak: check every accepted job and every consumer, and count what went wrong.

A job is lost if it has no stored result; duplicated if its replay log holds more than one terminal
message (each is written by the same script as the result, so two mean a result written twice), or
if its log or a consumer's view of its stream skips or repeats a sequence number. A consumer's final
text must equal the stored result's, and the job must have ended by its deadline.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from multillm.common import constants
from multillm.common.jobs import JobResult
from multillm.common.stream import StreamMessage
from multillm.producers.bench.chaos import TERMINAL_STATUS, Seen, final_text, stream_problems

# A result stored this long after the deadline still counts as on time: the reaper that ends a job
# nobody is running scans every third of a lease TTL, and a Redis restart can hold a write back.
DEADLINE_SLACK_S = 5.0
DUPLICATES = ("results_written_twice", "log_gaps_or_repeats", "consumer_gaps_or_repeats")
BATCH = 200


@dataclass
class Submitted:
    job_id: str
    provider: str
    deadline_s: float
    submitted_before: float  # time.time() just before submit, so slightly before the job's submitted_at

    @property
    def deadline_at(self) -> float:
        return self.submitted_before + self.deadline_s


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    jobs: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # problem -> job ids
    failed_by_code: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def flag(self, problem: str, job_id: str) -> None:
        self.jobs[problem].append(job_id)


def check_soak(client: redis.Redis, submitted: Sequence[Submitted], seen: Sequence[Seen]) -> dict[str, Any]:
    """Figures for a finished soak; `ok` is False on any loss, duplicate, mismatch, hang or late job."""
    tally = Tally()
    results: dict[str, JobResult | None] = {}
    for start in range(0, len(submitted), BATCH):
        chunk = submitted[start:start + BATCH]
        pipe = client.pipeline(transaction=False)
        for s in chunk:
            pipe.get(constants.result(s.job_id))
            pipe.lrange(constants.log(s.job_id), 0, -1)
        replies = pipe.execute()
        for s, raw, log in zip(chunk, replies[0::2], replies[1::2], strict=True):
            result = JobResult.model_validate_json(raw) if raw else None
            results[s.job_id] = result
            check_job(tally, s, result, [StreamMessage.model_validate_json(entry) for entry in log])
    for one in seen:
        check_consumer(tally, one, results.get(one.job_id))
    return figures(tally, submitted, seen)


def check_job(tally: Tally, job: Submitted, result: JobResult | None, log: list[StreamMessage]) -> None:
    if result is None:
        tally.flag("lost", job.job_id)
        return
    tally.counts[result.status] += 1
    if result.error:
        tally.failed_by_code[str(result.error.get("code"))] += 1
    tally.counts["retries_published"] += sum(1 for m in log if m.type == "retry")
    tally.counts["jobs_with_several_attempts"] += result.attempts > 1
    if sum(1 for m in log if m.terminal) > 1:
        tally.flag("results_written_twice", job.job_id)
    elif stream_problems(log):
        tally.flag("log_gaps_or_repeats", job.job_id)
    if log and not _matches(log, result):
        tally.flag("replay_text_mismatches", job.job_id)
    finished = result.timings.finished_at or 0.0
    tally.latencies.append(finished - result.timings.submitted_at)
    if finished > result.timings.submitted_at + job.deadline_s + DEADLINE_SLACK_S:
        tally.flag("past_deadline", job.job_id)


def check_consumer(tally: Tally, seen: Seen, result: JobResult | None) -> None:
    tally.counts[f"consumers_{seen.kind}"] += 1
    tally.counts["consumer_reconnects"] += seen.reconnects
    tally.counts["consumer_redis_errors"] += seen.redis_errors
    if seen.error is not None:
        tally.flag("consumer_errors", seen.job_id)
        return
    if seen.timed_out:
        tally.flag("consumer_hangs", seen.job_id)
        return
    if stream_problems(seen.messages):
        tally.flag("consumer_gaps_or_repeats", seen.job_id)
    elif result is not None and not _matches(seen.messages, result):
        tally.flag("consumer_text_mismatches", seen.job_id)


def _matches(messages: list[StreamMessage], result: JobResult) -> bool:
    """The stream ends as the result did, and a succeeded stream shows the result's text."""
    last = messages[-1]
    if TERMINAL_STATUS.get(last.type) != result.status:
        return False
    return result.status != "succeeded" or (final_text(messages) == result.text and last.text == result.text)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))] if ordered else 0.0


def figures(tally: Tally, submitted: Sequence[Submitted], seen: Sequence[Seen]) -> dict[str, Any]:
    problems = {name: len(ids) for name, ids in tally.jobs.items()}
    duplicated = len({j for name in DUPLICATES for j in tally.jobs.get(name, [])})
    failing = ("lost", "replay_text_mismatches", "consumer_text_mismatches", "consumer_hangs", "consumer_errors",
               "past_deadline")
    out: dict[str, Any] = {
        "jobs_submitted": len(submitted),
        "results_stored": len(submitted) - problems.get("lost", 0),
        "succeeded": tally.counts["succeeded"], "failed": tally.counts["failed"],
        "failed_by_code": dict(tally.failed_by_code.most_common()),
        "lost": problems.get("lost", 0), "duplicated": duplicated,
        **{name: problems.get(name, 0) for name in (*DUPLICATES, *failing[1:])},
        "consumers": len(seen),
        **{k: tally.counts[k] for k in sorted(tally.counts) if k.startswith("consumer")},
        "jobs_with_several_attempts": tally.counts["jobs_with_several_attempts"],
        "retries_published": tally.counts["retries_published"],
        "latency_p50_s": round(percentile(tally.latencies, 50), 2),
        "latency_p95_s": round(percentile(tally.latencies, 95), 2),
        "latency_max_s": round(max(tally.latencies, default=0.0), 2),
        "examples": {name: ids[:5] for name, ids in tally.jobs.items()},
    }
    out["ok"] = duplicated == 0 and all(problems.get(name, 0) == 0 for name in failing)
    return out
