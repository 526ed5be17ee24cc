"""Batch output: `results.jsonl` rows in the OpenAI Batch output format plus provider, model, the
expected answer and our measurements (`metrics`, with the judge's verdict under `metrics.judge`).

The file is appended to as jobs finish. A row may be written again later for the same line and
provider/model (an answer from an earlier run getting its verdict): the last row for a key wins, and
a finished run rewrites the file with one row per key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multillm.common.jobs import JobResult
from multillm.producers.batch.input import Line, Target
from multillm.producers.batch.judge import question_of

PROMPT_CHARS = 2000  # the prompt shown beside its answers in the matrix; the input file has it whole

Key = tuple[str, str, str]  # custom_id, provider, model


def output_row(line: Line, target: Target, result: JobResult) -> dict[str, Any]:
    """One line of OpenAI Batch output, tagged with provider, model and our measurements."""
    ok = result.status == "succeeded"
    t = result.timings
    body: dict[str, Any]
    if ok:
        message: dict[str, Any] = {"role": "assistant", "content": result.text}
        if result.tool_calls:
            message["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                                     for c in result.tool_calls]
        body = {"id": f"chatcmpl-{result.job_id}", "object": "chat.completion", "created": int(t.finished_at or 0),
                "model": target.model, "choices": [{"index": 0, "message": message,
                                                    "finish_reason": result.finish_reason or "stop"}],
                "usage": {"prompt_tokens": result.usage.input_tokens, "completion_tokens": result.usage.output_tokens,
                          "total_tokens": result.usage.total_tokens}}
    else:
        body = {"error": {"message": (result.error or {}).get("message", ""), "type": (result.error or {}).get("code")}}
    failure = result.error or {}
    error = None if ok else {"code": failure.get("code", "error"), "message": failure.get("message", "")}
    status = 200 if ok else int((result.error or {}).get("status") or 500)
    return {
        "id": f"batch_req_{result.job_id}", "custom_id": line.custom_id, "provider": target.provider,
        "model": target.model, "response": {"status_code": status, "request_id": result.job_id, "body": body},
        "error": error, "prompt": question_of(line.messages)[:PROMPT_CHARS], "expected": line.expected,
        "metadata": line.metadata,
        "metrics": {"status": result.status, "latency_s": _span(t.submitted_at, t.finished_at),
                    "ttft_s": _span(t.started_at, t.first_token_at), "input_tokens": result.usage.input_tokens,
                    "output_tokens": result.usage.output_tokens, "cost_usd": result.cost_usd,
                    "attempts": result.attempts, "error_code": error["code"] if error else None},
    }


def _span(start: float | None, end: float | None) -> float | None:
    return round(end - start, 4) if start is not None and end is not None else None


def row_key(row: dict[str, Any]) -> Key:
    return row["custom_id"], row["provider"], row["model"]


def read_results(path: Path) -> Iterator[dict[str, Any]]:
    """Every whole row, in file order; a line cut by a crash mid-write is skipped (that job is answered again)."""
    with path.open() as f:
        for text in f:
            try:
                row = json.loads(text)
                row_key(row)
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            yield row


def latest_rows(path: Path) -> list[dict[str, Any]]:
    """One row per key, the last written, in the order keys first appeared."""
    rows: dict[Key, dict[str, Any]] = {}
    for row in read_results(path):
        rows[row_key(row)] = row
    return list(rows.values())


def compact(path: Path) -> None:
    """Rewrite the file with one row per key; atomic, so a crash leaves the old or the new file."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w") as f:
        for row in latest_rows(path):
            f.write(json.dumps(row) + "\n")
    os.replace(temporary, path)


def answer_text(row: dict[str, Any]) -> str:
    return row["response"]["body"]["choices"][0]["message"]["content"] or ""


def wants_verdict(row: dict[str, Any]) -> bool:
    """An answered line with an expected answer and no verdict yet."""
    return row["error"] is None and row.get("expected") is not None and "judge" not in row["metrics"]
