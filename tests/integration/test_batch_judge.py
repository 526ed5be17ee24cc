"""A judged batch end to end: real Redis, real workers, the simulator's JSON mode as the judge.
Verdicts land in results.jsonl, the report's score is theirs, and neither a resumed run nor a
rebuilt report asks the judge twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from multillm.producers.batch.report import summarise, write_report
from multillm.producers.batch.run import BatchRun, Target, parse_targets
from multillm.producers.cli.batch import batch_app
from multillm.producers.client import MultiLLM
from multillm.producers.local.system import EmbeddedSystem

from .conftest import make_system, settings_for

JUDGE = Target("openai", "gpt-4o-mini")  # the targets below are other providers: every openai request is a verdict


@pytest.fixture(scope="module")
def system(own_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedSystem]:
    """A system of its own, so the simulator's request counts are this module's alone."""
    with make_system(own_redis, tmp_path_factory.mktemp("logs"), ["openai", "google", "anthropic", "grok"],
                     concurrency=8) as running:
        yield running


def write_input(path: Path) -> None:
    lines = [{"id": f"q{i}", "prompt": f"Question {i}: name a river.", "expected": "Nile", "max_tokens": 8}
             for i in range(6)]
    lines += [{"id": "open", "prompt": "Write a line about queues.", "max_tokens": 8},  # nothing to judge
              {"id": "refused", "prompt": "[[fault:401]] no answer", "expected": "x"}]  # failed: nothing to judge
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def requests(system) -> dict[str, int]:
    """Chat requests per provider (the stats' requests count model-list requests too)."""
    stats = httpx.get(f"{system.simulator_url}/_simulator/stats", timeout=5).json()
    return {p: n - stats["model_lists"].get(p, 0) for p, n in stats["requests"].items()}


def rows_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_judged_batch_resumes_without_judging_twice_and_reports_the_verdicts(system, tmp_path):
    data, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_input(data)
    targets = parse_targets(["google", "anthropic"], [])
    before = requests(system)
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        judged = [0]

        def seen(progress) -> None:
            judged[0] = progress.done.get(f"judge {JUDGE.name}", 0)

        first = BatchRun(client, data, targets, out, window=3, on_progress=seen, judge=JUDGE,
                         stop_requested=lambda: judged[0] >= 4).run()
        assert 4 <= first.done[f"judge {JUDGE.name}"] < 12  # interrupted part-way through the judging
        second = BatchRun(client, data, targets, out, window=3, judge=JUDGE).run()
    assert second.done == {t.name: 8 for t in targets} | {f"judge {JUDGE.name}": 12}
    assert second.total[f"judge {JUDGE.name}"] == 12 and second.failed == {t.name: 1 for t in targets}

    rows = rows_of(out)
    assert len({(r["custom_id"], r["provider"]) for r in rows}) == len(rows) == 16
    verdicts = [r["metrics"]["judge"] for r in rows if "judge" in r["metrics"]]
    assert len(verdicts) == 12 and {r["custom_id"] for r in rows if "judge" not in r["metrics"]} == {"open", "refused"}
    for v in verdicts:  # the simulator's JSON mode gave real, parseable verdicts
        assert v["verdict"] in ("pass", "fail") and v["error"] is None and v["reason"]
        assert (v["provider"], v["model"]) == (JUDGE.provider, JUDGE.model) and v["cost_usd"] > 0
    asked = requests(system).get("openai", 0) - before.get("openai", 0)
    assert asked == 12  # each line judged once, across the interrupted run and its resumption

    report = {r["provider/model"]: r for r in summarise(out / "results.jsonl")}
    for target in targets:
        mine = [r["metrics"]["judge"] for r in rows if r["provider"] == target.provider and "judge" in r["metrics"]]
        passes = sum(v["verdict"] == "pass" for v in mine)
        figures = report[target.name]
        assert figures["score"] == passes / 6 and figures["judged"] == 6 and figures["judge errors"] == 0
        assert abs(figures["judge $"] - sum(v["cost_usd"] for v in mine)) < 1e-9
    assert 0 < sum(v["verdict"] == "pass" for v in verdicts) < 12  # the verdict depends on what is judged

    result = CliRunner().invoke(batch_app, ["report", str(out)])  # rebuilt from the file: no Redis, no judge
    assert result.exit_code == 0, result.output
    assert "Judge verdicts" in result.output and requests(system).get("openai", 0) - before.get("openai", 0) == 12
    assert {"score.png", "cost.png", "report.html"} <= {p.name for p in out.iterdir()}


def test_answers_from_an_unjudged_run_are_judged_without_asking_again(system, tmp_path):
    data, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_input(data)
    targets = parse_targets(["grok"], [])
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        BatchRun(client, data, targets, out, window=4).run()
        before = requests(system)
        progress = BatchRun(client, data, targets, out, window=4, judge=JUDGE).run()
    after = requests(system)
    name = f"judge {JUDGE.name}"
    assert progress.total[name] == progress.done[name] == 6  # the failed answer needs no verdict
    assert after.get("grok", 0) == before.get("grok", 0)  # no answer asked again
    assert after.get("openai", 0) - before.get("openai", 0) == 6  # only the verdicts
    rows = rows_of(out)  # compacted: one row per line, now with its verdict
    assert len(rows) == 8 and sum("judge" in r["metrics"] for r in rows) == 6
    assert write_report(out)[0]["judged"] == 6
