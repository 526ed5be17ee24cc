"""An unknown price is reported as unknown, never as 0: the batch report and usage analytics."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import fakeredis

from multillm.common.jobs import JobResult, Timings
from multillm.common.schemas import Usage
from multillm.common.usage import read_usage, record_usage
from multillm.producers.batch.report import Figures, fmt, markdown


def row(cost: float | None) -> dict:
    return {"provider": "llama", "model": "gemma", "expected": None,
            "metrics": {"status": "succeeded", "latency_s": 0.1, "ttft_s": 0.05, "error_code": None,
                        "input_tokens": 5, "output_tokens": 3, "cost_usd": cost}}


def test_a_report_row_with_no_known_price_says_unknown():
    figures = Figures("llama/gemma")
    figures.add(row(None))
    figures.add(row(None))
    summary = figures.row()
    assert summary["cost $"] is None and summary["unpriced"] == 2
    assert fmt(summary["cost $"], "cost $") == "unknown"
    assert "| unknown |" in markdown([summary], [], "contains")


def test_a_partly_priced_report_row_sums_the_known_and_counts_the_rest():
    figures = Figures("openai/gpt-5")
    figures.add(row(0.5))
    figures.add(row(None))
    assert figures.row()["cost $"] == 0.5 and figures.row()["unpriced"] == 1


def result(model: str, cost: float | None) -> JobResult:
    now = time.time()
    return JobResult(job_id=f"j-{model}-{cost}", status="succeeded", provider="llama", model=model,
                     usage=Usage(input_tokens=5, output_tokens=3), cost_usd=cost,
                     timings=Timings(submitted_at=now - 1, finished_at=now))


def test_usage_analytics_count_unpriced_requests_and_show_an_unknown_cost():
    r = fakeredis.FakeRedis()
    for cost in (None, None):
        record_usage(r, result("gemma", cost))
    record_usage(r, result("priced", 0.25))
    record_usage(r, result("priced", None))
    today = datetime.now(UTC).date()
    rows = {x["model"]: x for x in read_usage(r, today, today, by="model")}
    assert rows["llama/gemma"]["cost_usd"] is None and rows["llama/gemma"]["unpriced"] == 2
    assert rows["llama/priced"]["cost_usd"] == 0.25 and rows["llama/priced"]["unpriced"] == 1
