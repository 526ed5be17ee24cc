"""The soak's checks catch what they are there to catch: a lost job, a result written twice, a gap,
a consumer whose text differs from the result, a hung consumer, a late job."""

from __future__ import annotations

from typing import Any

from multillm.common.jobs import JobResult, Timings
from multillm.common.stream import StreamMessage
from multillm.producers.bench.chaos import Seen, final_text, stream_problems
from multillm.producers.bench.soak_check import Submitted, Tally, check_consumer, check_job, figures

JOB = "j1"


def message(seq: int, kind: str, text: str = "", attempt: int = 1) -> StreamMessage:
    return StreamMessage(seq=seq, job_id=JOB, type=kind, text=text, attempt=attempt)  # type: ignore[arg-type]


def good_log() -> list[StreamMessage]:
    return [message(1, "start"), message(2, "delta", "Hel"), message(3, "retry"), message(4, "start", attempt=2),
            message(5, "delta", "Hello", attempt=2), message(6, "done", "Hello", attempt=2)]


def result(text: str = "Hello", finished_after: float = 2.0, status: str = "succeeded") -> JobResult:
    return JobResult(job_id=JOB, status=status, provider="openai", model="gpt-4o-mini", attempts=2,  # type: ignore[arg-type]
                     text=text, timings=Timings(submitted_at=100.0, finished_at=100.0 + finished_after))


def submitted() -> Submitted:
    return Submitted(JOB, "openai", deadline_s=30.0, submitted_before=99.9)


def checked(log: list[StreamMessage], stored: JobResult | None, seen: tuple[Seen, ...] = ()) -> dict[str, Any]:
    tally = Tally()
    check_job(tally, submitted(), stored, log)
    for one in seen:
        check_consumer(tally, one, stored)
    return figures(tally, [submitted()], list(seen))


def test_a_clean_job_passes_and_a_new_attempt_resets_the_text():
    assert final_text(good_log()) == "Hello"
    assert not stream_problems(good_log())
    out = checked(good_log(), result(), (Seen(JOB, "reconnecting", good_log(), reconnects=1),))
    assert out["ok"] and out["succeeded"] == 1 and out["jobs_with_several_attempts"] == 1
    assert out["retries_published"] == 1 and out["consumers_reconnecting"] == 1


def test_a_job_without_a_result_is_lost():
    out = checked(good_log()[:3], None)
    assert out["lost"] == 1 and out["results_stored"] == 0 and not out["ok"]


def test_two_terminal_messages_mean_a_result_written_twice():
    log = [*good_log(), message(7, "done", "Hello", attempt=2)]
    out = checked(log, result())
    assert out["results_written_twice"] == 1 and out["duplicated"] == 1 and not out["ok"]


def test_a_gap_or_a_repeat_in_the_log_is_a_duplicate():
    gap = [m for m in good_log() if m.seq != 3]
    repeat = [*good_log()[:2], good_log()[1], *good_log()[2:]]
    assert stream_problems(gap) and stream_problems(repeat)
    assert checked(gap, result())["log_gaps_or_repeats"] == 1
    assert checked(repeat, result())["duplicated"] == 1


def test_a_consumer_that_saw_other_text_or_never_finished_fails_the_soak():
    other = [*good_log()[:4], message(5, "delta", "Help", attempt=2), message(6, "done", "Hello", attempt=2)]
    out = checked(good_log(), result(), (Seen(JOB, "slow", other), Seen(JOB, "live", good_log()[:3], timed_out=True)))
    assert out["consumer_text_mismatches"] == 1 and out["consumer_hangs"] == 1 and not out["ok"]


def test_a_stream_that_ends_otherwise_than_the_result_is_a_mismatch():
    failed = [*good_log()[:5], message(6, "error", attempt=2)]
    assert checked(failed, result())["replay_text_mismatches"] == 1
    assert checked(failed, result(text="", status="failed"))["ok"]


def test_a_result_stored_after_the_deadline_and_its_slack_is_late():
    assert checked(good_log(), result(finished_after=34.0))["ok"]
    assert checked(good_log(), result(finished_after=36.0))["past_deadline"] == 1
