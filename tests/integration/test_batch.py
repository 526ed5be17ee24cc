"""Batch evaluation end to end: real Redis, workers, the simulator with some faults."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from multillm.producers.batch.report import summarise
from multillm.producers.batch.run import BatchRun, parse_targets
from multillm.producers.client import MultiLLM

from .conftest import settings_for


def write_input(path: Path) -> None:
    lines = [json.dumps({"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
                         "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Question {i}"}],
                                  "max_tokens": 8}}) for i in range(6)]
    lines += [json.dumps({"id": "simple-1", "prompt": "Name a river", "expected": "the"}), "a bare text prompt",
              json.dumps({"id": "faulty", "prompt": "[[fault:401]] refused"})]
    path.write_text("\n".join(lines) + "\n")


def test_batch_across_providers_resumes_and_reports(system, tmp_path):
    data, out = tmp_path / "in.jsonl", tmp_path / "out"
    write_input(data)
    targets = parse_targets(["openai", "anthropic", "google"], [])
    with MultiLLM(system.redis_url, settings=settings_for(system.redis_url)) as client:
        done = [0]

        def seen(progress) -> None:
            done[0] = sum(progress.done.values())

        first = BatchRun(client, data, targets, out, window=4, on_progress=seen,
                         stop_requested=lambda: done[0] >= 5).run()
        partial = sum(first.done.values())
        assert 0 < partial < 27  # interrupted part-way
        requests_before = httpx.get(f"{system.simulator_url}/_simulator/stats", timeout=5).json()["requests"]
        second = BatchRun(client, data, targets, out, window=4).run()
    assert sum(second.done.values()) == 27 and sum(second.failed.values()) == 3
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    keys_seen = [(r["custom_id"], r["provider"], r["model"]) for r in rows]
    assert len(keys_seen) == len(set(keys_seen)) == 27  # each line answered once per target
    for row in rows:  # the OpenAI Batch output format
        assert row["id"].startswith("batch_req_") and set(row["response"]) == {"status_code", "request_id", "body"}
        if row["error"] is None:
            body = row["response"]["body"]
            assert row["response"]["status_code"] == 200 and body["object"] == "chat.completion"
            assert body["choices"][0]["message"]["content"] and body["usage"]["completion_tokens"] > 0
        else:
            assert row["error"]["code"] == "authentication" and row["response"]["status_code"] >= 400
    report = {r["provider/model"]: r for r in summarise(out / "results.jsonl")}
    for target in targets:
        mine = [r for r in rows if r["provider"] == target.provider]
        figures = report[target.name]
        assert figures["jobs"] == 9 and abs(figures["success"] - 8 / 9) < 1e-9
        assert figures["tokens out"] == sum(r["metrics"]["output_tokens"] for r in mine)
        assert abs(figures["cost $"] - sum(r["metrics"]["cost_usd"] for r in mine)) < 1e-9
        assert figures["errors"] == "authentication 1"
    stats = httpx.get(f"{system.simulator_url}/_simulator/stats", timeout=5).json()["requests"]
    resumed = sum(stats.values()) - sum(requests_before.values())
    assert resumed <= 27 - partial + 3  # the resumed run asked only for what was missing (plus retries)


def test_a_batch_waits_out_its_tenant_rate_limit_and_answers_every_line(system, tmp_path):
    data, out = tmp_path / "in.jsonl", tmp_path / "out"
    data.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"Question {i}", "max_tokens": 4}) + "\n"
                            for i in range(6)))
    limited = settings_for(system.redis_url, {"TENANT_RATE_LIMIT_ENABLED": "true", "TENANT_RATE_LIMIT_MAX_REQUESTS": "4",
                                              "TENANT_RATE_LIMIT_WINDOW_MS": "1000"})
    with MultiLLM(system.redis_url, settings=limited) as client:
        progress = BatchRun(client, data, parse_targets(["openai"], []), out).run()
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sum(progress.done.values()) == 6 and sorted(r["custom_id"] for r in rows) == [f"q{i}" for i in range(6)]
    assert all(r["error"] is None for r in rows)
