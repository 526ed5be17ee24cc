"""Batch scoring without a system: reading a judge's verdict strictly, the report built from stored
verdicts (last row per line wins), and the progress rate and ETA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multillm.common.errors import ConfigurationError
from multillm.common.jobs import JobResult, Timings
from multillm.common.schemas import ChatOptions
from multillm.producers.batch.judge import judge_request, judgement, parse_judge, question_of, verdict_schema
from multillm.producers.batch.output import compact, latest_rows
from multillm.producers.batch.progress import RATE_WINDOW_S, Progress
from multillm.producers.batch.report import summarise


def judge_result(text: str, status: str = "succeeded", error: dict | None = None) -> JobResult:
    return JobResult(job_id="judge-1", status=status, provider="openai", model="gpt-4o-mini", text=text, cost_usd=0.0002,
                     error=error, timings=Timings(submitted_at=0.0))


def test_a_well_formed_verdict_is_read():
    out = judgement(judge_result('{"verdict": "pass", "reason": "Both say Paris."}'))
    assert (out["verdict"], out["reason"], out["error"], out["cost_usd"]) == ("pass", "Both say Paris.", None, 0.0002)


@pytest.mark.parametrize("text", [
    "pass",  # not JSON
    '```json\n{"verdict": "pass", "reason": "x"}\n```',  # fenced
    '{"verdict": "PASS", "reason": "x"}',  # not one of the two
    '{"verdict": "pass"}',  # no reason
    '{"verdict": "pass", "reason": "x", "confidence": 0.9}',  # more than asked
    '{"verdict": "pass", "reason": "cut sh',  # max_tokens reached
])
def test_anything_else_is_a_judge_error_never_a_pass(text):
    out = judgement(judge_result(text))
    assert out["verdict"] is None and out["error"]["code"] == "unparseable_verdict"


def test_a_failed_judge_job_is_a_judge_error():
    out = judgement(judge_result("", status="failed", error={"code": "rate_limited", "message": "slow down"}))
    assert out["verdict"] is None and out["error"] == {"code": "rate_limited", "message": "slow down"}


def test_judge_names_parse_and_unknown_providers_are_refused():
    assert parse_judge("openai=gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert parse_judge("anthropic") == ("anthropic", "claude-3-5-haiku-latest")
    with pytest.raises(ConfigurationError, match="--judge"):
        parse_judge("nobody=model")
    assert parse_judge("openai=gpt-5") == ("openai", "gpt-5")  # any id: the provider's list decides


def test_the_judge_request_is_valid_chat_options_with_a_strict_schema():
    messages, options = judge_request("Capital of France?", "Paris", "It is Paris.")
    ChatOptions.model_validate(options)
    text = messages[0]["content"]
    assert "Capital of France?" in text and "Paris" in text and "It is Paris." in text and "JSON" in text
    schema = verdict_schema()
    assert schema["additionalProperties"] is False and set(schema["required"]) == set(schema["properties"])


def test_the_question_is_the_last_user_message():
    parts = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert question_of(parts) == "Hi" and question_of([]) == ""


def row(custom_id: str, provider: str, answer: str | None, expected: str | None, judge: dict | None = None) -> dict:
    ok = answer is not None
    metrics = {"status": "succeeded" if ok else "failed", "latency_s": 1.0 if ok else None, "ttft_s": 0.5 if ok else None,
               "input_tokens": 3, "output_tokens": 4 if ok else 0, "cost_usd": 0.001, "attempts": 1,
               "error_code": None if ok else "timeout"}
    if judge is not None:
        metrics["judge"] = judge
    body = {"choices": [{"message": {"content": answer}}]} if ok else {"error": {}}
    return {"custom_id": custom_id, "provider": provider, "model": "m", "response": {"body": body},
            "error": None if ok else {"code": "timeout"}, "expected": expected, "metrics": metrics}


def verdict(which: str | None, cost: float = 0.0002) -> dict:
    error = None if which else {"code": "unparseable_verdict", "message": "reply: 'maybe'"}
    return {"verdict": which, "reason": "r" if which else None, "error": error, "cost_usd": cost}


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_the_judge_score_comes_from_stored_verdicts_and_errors_are_not_passes(tmp_path):
    results = write(tmp_path / "results.jsonl", [
        row("a", "openai", "Paris", "Paris", verdict("pass")), row("b", "openai", "Lyon", "Paris", verdict("fail")),
        row("c", "openai", "Rome", "Rome", verdict(None)), row("d", "openai", None, "Oslo"),
        row("e", "openai", "words", None)])
    [figures] = summarise(results)  # verdicts stored: judge scoring without being told
    assert figures["score"] == 0.5 and figures["judged"] == 2 and figures["judge errors"] == 1
    assert figures["judge $"] == pytest.approx(0.0006) and figures["cost $"] == pytest.approx(0.005)
    [contains] = summarise(results, "contains")  # the same answers scored by text instead
    assert contains["score"] == pytest.approx(2 / 3) and "judged" not in contains


def test_the_last_row_for_a_line_wins_and_compaction_keeps_one(tmp_path):
    results = write(tmp_path / "results.jsonl", [
        row("a", "openai", "Paris", "Paris"), row("b", "openai", "Lyon", "Paris", verdict("fail")),
        row("a", "openai", "Paris", "Paris", verdict("pass"))])
    with results.open("a") as f:
        f.write('{"custom_id": "cut by a cra')
    assert [r["custom_id"] for r in latest_rows(results)] == ["a", "b"]
    assert summarise(results)[0]["score"] == 0.5
    compact(results)
    lines = results.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["metrics"]["judge"]["verdict"] == "pass"


def test_rate_counts_this_run_over_the_recent_window_and_gives_an_eta():
    progress = Progress(total={"p": 100}, started=1000.0)
    for _ in range(5):
        progress.resumed("p")  # done by an earlier run: not part of the rate
    assert progress.rate("p", now=1001.0) == 0.0 and progress.eta_s("p", now=1001.0) is None
    for i in range(20):
        progress.finished("p", ok=i % 10 != 0, now=1000.0 + i * 0.5)  # 2 jobs/s for 10 s
    assert progress.done["p"] == 25 and progress.failed["p"] == 2
    assert progress.rate("p", now=1010.0) == pytest.approx(2.0)
    assert progress.eta_s("p", now=1010.0) == pytest.approx(75 / 2.0)
    later = 1010.0 + RATE_WINDOW_S + 1
    assert progress.rate("p", now=later) == 0.0  # nothing lately: no rate, no guess
    progress.finished("p", ok=True, now=later)
    assert progress.rate("p", now=later) == pytest.approx(1 / RATE_WINDOW_S)


def test_a_finished_target_has_no_time_left():
    progress = Progress(total={"p": 1}, started=0.0)
    progress.finished("p", ok=True, now=1.0)
    assert progress.eta_s("p", now=2.0) == 0.0
