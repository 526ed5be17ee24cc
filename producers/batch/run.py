"""Batch evaluation: every line of a dataset, on every chosen provider/model, through the queues.

Job ids are derived from the run and the line, so running the same command again resumes: lines
already in the output are skipped, jobs still queued are collected rather than sent twice. At most
`window` jobs are in Redis at once, whatever the file's size.

With a judge (`judge=Target(provider, model)`), each answered line that has `expected` gets a second
job on the judge's queue (so its quota, retries and circuit apply) asking for a verdict as JSON; the
answer's row is written once the verdict is in, with it under `metrics.judge`. Judge jobs count
against the same window, and their ids derive from the line too, so a resumed run never judges twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from multillm.common import constants
from multillm.common.errors import ConfigurationError, TenantRateLimited
from multillm.common.jobs import JobResult
from multillm.producers.batch.input import CHAT_OPTION_FIELDS, Line, Target, parse_line, parse_targets, read_lines
from multillm.producers.batch.judge import judge_error, judge_request, judgement, question_of
from multillm.producers.batch.output import (
    Key,
    answer_text,
    compact,
    latest_rows,
    output_row,
    read_results,
    row_key,
    wants_verdict,
)
from multillm.producers.batch.progress import Progress
from multillm.producers.batch.state import BatchState
from multillm.producers.client import MultiLLM

__all__ = ["BATCH_PREFIX", "CHAT_OPTION_FIELDS", "BatchRun", "Line", "Progress", "Target", "job_id_for",
           "parse_line", "parse_targets", "read_lines", "run_id"]

BATCH_PREFIX = constants.BATCH
SHOW_EVERY_S = 1.0  # progress is reported at least this often, so rates and ETAs stay current


def run_id(input_path: Path, targets: list[Target], out_dir: Path) -> str:
    """The same command on the same input and output is the same run, so it resumes."""
    digest = hashlib.sha256(f"{input_path.resolve()}|{out_dir.resolve()}|{[t.name for t in targets]}".encode())
    return digest.hexdigest()[:16]


def job_id_for(run: str, line: Line, target: Target) -> str:
    tag = hashlib.sha256(f"{line.custom_id}|{target.name}".encode()).hexdigest()[:16]
    return f"batch-{run}-{tag}"


def judge_job_id(run: str, line: Line, target: Target, judge: Target) -> str:
    tag = hashlib.sha256(f"{line.custom_id}|{target.name}|{judge.name}".encode()).hexdigest()[:16]
    return f"judge-{run}-{tag}"


@dataclass
class Waiting:
    """A job in Redis: an answer (`row` None) or a verdict on the answer `row`."""

    line: Line
    target: Target
    row: dict[str, Any] | None = None


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
    judge: Target | None = None
    judge_fallback: bool = False  # may a judge job move to another provider when the judge fails?
    cache: bool | str | None = None  # the response cache for answers and verdicts (producers/client.py `submit`)
    tenant: str = "default"  # whose jobs these are (a gateway tenant sees its own batches only)
    _shown: float = field(default=0.0, init=False)  # when progress was last reported
    _rejudged: int = field(default=0, init=False)  # earlier rows sent for a verdict in this run
    _state: BatchState | None = field(default=None, init=False)
    _fresh: list[dict[str, Any]] = field(default_factory=list, init=False)  # written, not yet kept in Redis

    @property
    def output(self) -> Path:
        return self.out_dir / "results.jsonl"

    @property
    def judge_name(self) -> str:
        return f"judge {self.judge.name}" if self.judge else ""

    def run(self) -> Progress:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        rid = run_id(self.input_path, self.targets, self.out_dir)
        earlier = self._earlier()
        progress = self._totals()
        pending: dict[str, Waiting] = {}
        self._shown, self._rejudged = 0.0, 0
        self._state = state = self._begin(rid, progress)
        with self.output.open("a") as out:
            for line in read_lines(self.input_path):
                for target in self.targets:
                    if not self._start(rid, line, target, earlier, pending, out, progress):
                        return progress
            while pending and not self.stop_requested() and not self._cancelled(rid):
                self._collect(pending, out, progress, rid)
        if self._rejudged:
            compact(self.output)
        state.keep(self._fresh)
        state.finish()
        return progress

    def _begin(self, rid: str, progress: Progress) -> BatchState:
        """The batch in Redis: its state, and the rows an earlier run of it already wrote."""
        state = BatchState(self.client.redis, rid, self.client.settings.result_ttl_s)
        answers = [t.name for t in self.targets]
        state.start(self.tenant, str(self.input_path), answers, sum(progress.total.get(n, 0) for n in answers))
        self.client.redis.delete(state.rows_key)
        state.keep(latest_rows(self.output) if self.output.exists() else [])
        self._fresh = []
        return state

    def _totals(self) -> Progress:
        """Jobs to expect, from a first pass over the input (which also finds a bad line before any is sent)."""
        progress = Progress(total={t.name: 0 for t in self.targets} | ({self.judge_name: 0} if self.judge else {}))
        for line in read_lines(self.input_path):
            for target in self.targets:
                progress.add_total(target.name)
                if self.judge is not None and line.expected is not None:
                    progress.add_total(self.judge_name)  # less one for each answer that fails
        return progress

    def _earlier(self) -> dict[Key, dict[str, Any] | bool]:
        """Keys already in the output: the row when it still wants a verdict, else whether it has one."""
        found: dict[Key, dict[str, Any] | bool] = {}
        if self.output.exists():
            for row in read_results(self.output):
                found[row_key(row)] = row if self.judge and wants_verdict(row) else "judge" in row["metrics"]
        return found

    def _start(self, rid: str, line: Line, target: Target, earlier: dict[Key, dict[str, Any] | bool],
               pending: dict[str, Waiting], out: IO[str], progress: Progress) -> bool:
        """Send what this line still needs on this target; False when the run must stop."""
        judged = self.judge is not None and line.expected is not None
        key = (line.custom_id, target.provider, target.model)
        if key not in earlier:
            if not self._room(pending, out, progress, rid):
                return False
            self._submit(rid, line, target, pending)
            return True
        progress.resumed(target.name)
        row = earlier[key]
        if not isinstance(row, dict):  # complete: judged, or nothing to judge (its answer failed)
            if judged and row:
                progress.resumed(self.judge_name)
            elif judged:
                progress.add_total(self.judge_name, -1)
            return True
        if not self._room(pending, out, progress, rid):
            return False
        self._rejudged += 1  # its row is written again with the verdict: compact the file at the end
        self._submit_judge(rid, line, target, row, pending, out, progress)
        return True

    def _room(self, pending: dict[str, Waiting], out: IO[str], progress: Progress, rid: str) -> bool:
        """Wait until fewer than `window` jobs are in Redis; False when stopped or cancelled."""
        while len(pending) >= self.window and not self.stop_requested():
            self._collect(pending, out, progress, rid)
        return not (self.stop_requested() or self._cancelled(rid))

    def _cancelled(self, rid: str) -> bool:
        return self.client.redis.hget(f"{BATCH_PREFIX}:{rid}", "state") == b"cancelling"

    def _write(self, out: IO[str], row: dict[str, Any]) -> None:
        out.write(json.dumps(row) + "\n")
        self._fresh.append(row)

    def _send(self, provider: str, messages: Any, **kwargs: Any) -> bool:
        """Submit, waiting out the tenant's TENANT_RATE_LIMIT_* refusals; False if stopped while waiting."""
        while True:
            try:
                self.client.submit(provider, messages, tenant=self.tenant, **kwargs)
                return True
            except TenantRateLimited as refused:
                until = time.monotonic() + max(refused.retry_after, 0.05)
                while (left := until - time.monotonic()) > 0:
                    if self.stop_requested():
                        return False
                    time.sleep(min(0.25, left))

    def _submit(self, rid: str, line: Line, target: Target, pending: dict[str, Waiting]) -> None:
        job_id = job_id_for(rid, line, target)
        if self._send(target.provider, line.messages, model=target.model, job_id=job_id, deadline_s=self.deadline_s,
                      metadata={"batch": rid, "custom_id": line.custom_id[:100]}, cache=self.cache, **line.options):
            pending[job_id] = Waiting(line, target)

    def _submit_judge(self, rid: str, line: Line, target: Target, row: dict[str, Any], pending: dict[str, Waiting],
                      out: IO[str], progress: Progress) -> None:
        judge = self.judge
        assert judge is not None
        messages, options = judge_request(question_of(line.messages), str(line.expected), answer_text(row))
        job_id = judge_job_id(rid, line, target, judge)
        try:
            sent = self._send(judge.provider, messages, model=judge.model, job_id=job_id, deadline_s=self.deadline_s,
                              fallback=self.judge_fallback, metadata={"batch": rid, "judge_of": target.name,
                                                                      "custom_id": line.custom_id[:100]},
                              cache=True if self.cache else None, **options)  # verdicts: temperature 0
        except ConfigurationError as exc:  # e.g. the answer is too long for the judge: that line is unjudged
            row["metrics"]["judge"] = judge_error("refused", str(exc), judge.provider, judge.model)
            progress.finished(self.judge_name, ok=False)
            self._write(out, row)
            return
        if sent:  # else stopped: the answer is collected and judged again on resume
            pending[job_id] = Waiting(line, target, row)

    def _collect(self, pending: dict[str, Waiting], out: IO[str], progress: Progress, rid: str) -> None:
        ids = list(pending)
        found = self.client.redis.mget([constants.result(j) for j in ids])
        finished = [(pending.pop(job_id), JobResult.model_validate_json(raw))
                    for job_id, raw in zip(ids, found, strict=True) if raw is not None]
        for waiting, result in finished:
            if waiting.row is None:
                self._answered(rid, waiting, result, pending, out, progress)
            else:
                self._judged(waiting.row, result, out, progress)
        if finished and self._state is not None:
            out.flush()
            answers = [t.name for t in self.targets]
            self._state.keep(self._fresh)
            self._fresh = []
            self._state.progress(sum(progress.done.get(n, 0) for n in answers),
                                 sum(progress.failed.get(n, 0) for n in answers))
        else:
            time.sleep(0.05)
        if finished or time.monotonic() - self._shown >= SHOW_EVERY_S:
            self._shown = time.monotonic()
            self.on_progress(progress)

    def _answered(self, rid: str, waiting: Waiting, result: JobResult, pending: dict[str, Waiting], out: IO[str],
                  progress: Progress) -> None:
        row = output_row(waiting.line, waiting.target, result)
        progress.finished(waiting.target.name, ok=result.status == "succeeded")
        if self.judge is None or waiting.line.expected is None:
            self._write(out, row)
        elif wants_verdict(row):
            self._submit_judge(rid, waiting.line, waiting.target, row, pending, out, progress)
        else:  # a failed answer has nothing to judge
            progress.add_total(self.judge_name, -1)
            self._write(out, row)

    def _judged(self, row: dict[str, Any], result: JobResult, out: IO[str], progress: Progress) -> None:
        row["metrics"]["judge"] = verdict = judgement(result)
        progress.finished(self.judge_name, ok=verdict["error"] is None)
        self._write(out, row)
