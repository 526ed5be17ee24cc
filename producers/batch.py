"""Batch evaluation: every line of a dataset, on every chosen provider/model, through the queues.

Input lines are either the OpenAI Batch API format (`custom_id`, `method`, `url`, `body`) or the
simple form (`{"prompt": ..., "expected": ..., "id": ..., "metadata": {...}}`, or a bare text line).
Job ids are derived from the run and the line, so running the same command again resumes: lines
already in the output are skipped, jobs still queued are collected rather than sent twice. At most
`window` jobs are in Redis at once, whatever the file's size.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..common import keys
from ..common.errors import ConfigurationError
from ..common.jobs import JobResult
from ..common.providers import get_spec
from .client import MultiLLM

BATCH_PREFIX = f"{keys.PREFIX}:batch"
CHAT_OPTION_FIELDS = ("temperature", "max_tokens", "top_p", "frequency_penalty", "presence_penalty", "stop")


@dataclass(frozen=True)
class Line:
    custom_id: str
    messages: list[dict[str, Any]]
    options: dict[str, Any]
    expected: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    provider: str
    model: str

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"


def parse_line(text: str, number: int) -> Line:
    """One input line in either format; errors name the line and field."""
    text = text.strip()
    if not text.startswith("{"):
        return Line(custom_id=f"line-{number}", messages=[{"role": "user", "content": text}], options={})
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"line {number}: not JSON ({exc.msg})") from None
    if "body" in data:  # OpenAI Batch API request line
        body = data["body"]
        if not isinstance(body, dict) or not body.get("messages"):
            raise ConfigurationError(f"line {number}: body.messages is required")
        options = {k: body[k] for k in CHAT_OPTION_FIELDS if body.get(k) is not None}
        if "max_completion_tokens" in body:
            options["max_tokens"] = body["max_completion_tokens"]
        return Line(str(data.get("custom_id") or f"line-{number}"), body["messages"], options,
                    data.get("expected"), data.get("metadata") or {})
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigurationError(f"line {number}: prompt must be a non-empty string")
    options = {k: data[k] for k in CHAT_OPTION_FIELDS if data.get(k) is not None}
    return Line(str(data.get("id") or data.get("custom_id") or f"line-{number}"),
                [{"role": "user", "content": prompt}], options, data.get("expected"), data.get("metadata") or {})


def read_lines(path: Path) -> Iterator[Line]:
    with path.open() as f:
        for number, text in enumerate(f, 1):
            if text.strip():
                yield parse_line(text, number)


def parse_targets(providers: list[str], models: list[str]) -> list[Target]:
    """`--models` entries are `provider=model` (several per provider allowed) or a bare model id."""
    chosen: dict[str, list[str]] = {p: [] for p in providers}
    for entry in models:
        provider, _, model = entry.partition("=") if "=" in entry else ("", "", entry)
        owners = [provider] if provider else [p for p in providers if get_spec(p).find_model(model)]
        if not owners:
            raise ConfigurationError(f"--models: {entry!r} is not a model of {', '.join(providers)}")
        for p in owners:
            get_spec(p).model(model)
            chosen.setdefault(p, []).append(model)
    return [Target(p, m) for p, ms in chosen.items() for m in (ms or [get_spec(p).default_model])]


def run_id(input_path: Path, targets: list[Target], out_dir: Path) -> str:
    """The same command on the same input and output is the same run, so it resumes."""
    digest = hashlib.sha256(f"{input_path.resolve()}|{out_dir.resolve()}|{[t.name for t in targets]}".encode())
    return digest.hexdigest()[:16]


def job_id_for(run: str, line: Line, target: Target) -> str:
    tag = hashlib.sha256(f"{line.custom_id}|{target.name}".encode()).hexdigest()[:16]
    return f"batch-{run}-{tag}"


def already_answered(output: Path) -> set[tuple[str, str, str]]:
    if not output.exists():
        return set()
    done = set()
    for text in output.read_text().splitlines():
        try:
            row = json.loads(text)
            done.add((row["custom_id"], row["provider"], row["model"]))
        except (json.JSONDecodeError, KeyError):
            continue  # a line cut by a crash mid-write: that job is simply answered again
    return done


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
        "error": error, "expected": line.expected, "metadata": line.metadata,
        "metrics": {"status": result.status, "latency_s": _span(t.submitted_at, t.finished_at),
                    "ttft_s": _span(t.started_at, t.first_token_at), "input_tokens": result.usage.input_tokens,
                    "output_tokens": result.usage.output_tokens, "cost_usd": result.cost_usd,
                    "attempts": result.attempts, "error_code": error["code"] if error else None},
    }


def _span(start: float | None, end: float | None) -> float | None:
    return round(end - start, 4) if start is not None and end is not None else None


@dataclass
class Progress:
    done: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)


@dataclass
class BatchRun:
    client: MultiLLM
    input_path: Path
    targets: list[Target]
    out_dir: Path
    window: int = 500
    deadline_s: float = 600.0
    on_progress: Callable[[Progress], None] = lambda _: None
    stop_requested: Callable[[], bool] = lambda: False

    @property
    def output(self) -> Path:
        return self.out_dir / "results.jsonl"

    def run(self) -> Progress:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        rid = run_id(self.input_path, self.targets, self.out_dir)
        done = already_answered(self.output)
        progress = Progress(total={t.name: 0 for t in self.targets})
        pending: dict[str, tuple[Line, Target]] = {}
        self.client.redis.hset(f"{BATCH_PREFIX}:{rid}", mapping={"input": str(self.input_path), "state": "running"})
        with self.output.open("a") as out:
            for line in read_lines(self.input_path):
                for target in self.targets:
                    progress.total[target.name] += 1
                    if (line.custom_id, target.provider, target.model) in done:
                        progress.done[target.name] = progress.done.get(target.name, 0) + 1
                        continue
                    while len(pending) >= self.window and not self.stop_requested():
                        self._collect(pending, out, progress, rid)
                    if self.stop_requested() or self._cancelled(rid):
                        return progress
                    self._submit(rid, line, target, pending)
            while pending and not self.stop_requested() and not self._cancelled(rid):
                self._collect(pending, out, progress, rid)
        self.client.redis.hset(f"{BATCH_PREFIX}:{rid}", "state", "finished")
        return progress

    def _cancelled(self, rid: str) -> bool:
        return self.client.redis.hget(f"{BATCH_PREFIX}:{rid}", "state") == b"cancelling"

    def _submit(self, rid: str, line: Line, target: Target, pending: dict[str, tuple[Line, Target]]) -> None:
        job_id = job_id_for(rid, line, target)
        self.client.submit(target.provider, line.messages, model=target.model, job_id=job_id,
                           deadline_s=self.deadline_s, metadata={"batch": rid, "custom_id": line.custom_id[:100]},
                           **line.options)
        pending[job_id] = (line, target)

    def _collect(self, pending: dict[str, tuple[Line, Target]], out: Any, progress: Progress, rid: str) -> None:
        ids = list(pending)
        found = self.client.redis.mget([keys.result(j) for j in ids])
        wrote = False
        for job_id, raw in zip(ids, found, strict=True):
            if raw is None:
                continue
            line, target = pending.pop(job_id)
            result = JobResult.model_validate_json(raw)
            out.write(json.dumps(output_row(line, target, result)) + "\n")
            progress.done[target.name] = progress.done.get(target.name, 0) + 1
            if result.status != "succeeded":
                progress.failed[target.name] = progress.failed.get(target.name, 0) + 1
            wrote = True
        if wrote:
            out.flush()
            self.client.redis.hset(f"{BATCH_PREFIX}:{rid}", mapping={
                "done": sum(progress.done.values()), "failed": sum(progress.failed.values()), "updated": time.time()})
            self.on_progress(progress)
        else:
            time.sleep(0.05)
