"""The comparison report of a batch run: per provider/model figures, Markdown, HTML and plots.

Built from `results.jsonl` alone, so `multillm batch report DIR` rebuilds it at any time: scores by
`exact`, `contains` or `regex` are computed here from each line's answer and `expected`; `judge`
scores are the verdicts the run stored under `metrics.judge`, never asked for again.
"""

from __future__ import annotations

import html
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multillm.producers.batch.output import answer_text, latest_rows
from multillm.producers.console import matrix_page

SCORERS = ("exact", "contains", "regex", "judge")


def score(answer: str, expected: str, how: str) -> bool:
    if how == "exact":
        return answer.strip().lower() == expected.strip().lower()
    if how == "contains":
        return expected.strip().lower() in answer.lower()
    return re.search(expected, answer) is not None


def scoring_for(rows: list[dict[str, Any]]) -> str:
    """`judge` when the run stored verdicts, else `contains`: what `batch report` uses unless told."""
    return "judge" if any("judge" in r["metrics"] for r in rows) else "contains"


@dataclass
class Figures:
    target: str
    how: str = "contains"
    jobs: int = 0
    succeeded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    unpriced: int = 0  # answers whose model has no known price: their cost is unknown, not 0
    expected: int = 0  # lines with an expected answer
    scored: int = 0  # of those, answered and given a verdict
    correct: int = 0
    judge_errors: int = 0
    judge_cost: float = 0.0

    def add(self, row: dict[str, Any]) -> None:
        m = row["metrics"]
        self.jobs += 1
        if m["status"] == "succeeded":
            self.succeeded += 1
            if m["latency_s"] is not None:
                self.latencies.append(m["latency_s"])
            if m["ttft_s"] is not None:
                self.ttfts.append(m["ttft_s"])
        else:
            self.errors[m["error_code"] or "error"] += 1
        if row.get("expected") is not None:
            self._score(row)
        self.tokens_in += m["input_tokens"]
        self.tokens_out += m["output_tokens"]
        if m["cost_usd"] is None:
            self.unpriced += 1
        else:
            self.cost += m["cost_usd"]

    def _score(self, row: dict[str, Any]) -> None:
        self.expected += 1
        if row["metrics"]["status"] != "succeeded":
            return
        if self.how != "judge":
            self.scored += 1
            self.correct += score(answer_text(row), str(row["expected"]), self.how)
            return
        verdict = row["metrics"].get("judge")
        if verdict is None:  # answered before judging was asked for, and never judged
            return
        self.judge_cost += verdict["cost_usd"] or 0.0
        if verdict["error"] is not None:
            self.judge_errors += 1
        else:
            self.scored += 1
            self.correct += verdict["verdict"] == "pass"

    @property
    def known_cost(self) -> float | None:
        """The summed cost, None when no answer had a known price (shown as "unknown")."""
        return None if self.jobs and self.unpriced == self.jobs else self.cost

    def row(self) -> dict[str, Any]:
        out = {
            "provider/model": self.target,
            "jobs": self.jobs,
            "success": self.succeeded / self.jobs if self.jobs else 0.0,
            "errors": ", ".join(f"{k} {v}" for k, v in self.errors.most_common()) or "-",
            "latency p50 s": _pct(self.latencies, 50),
            "latency p95 s": _pct(self.latencies, 95),
            "ttft p50 s": _pct(self.ttfts, 50),
            "tokens in": self.tokens_in,
            "tokens out": self.tokens_out,
            "cost $": self.known_cost,
            "unpriced": self.unpriced,
            "score": self.correct / self.scored if self.scored else None,
        }
        if self.how == "judge":
            out.update({"judged": self.scored, "judge errors": self.judge_errors, "judge $": self.judge_cost})
        return out


def _pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def figures(results: Path, how: str | None = None) -> list[Figures]:
    """Per provider/model, sorted by name; `how` None picks the scoring the results call for."""
    return figures_of(latest_rows(results), how)


def figures_of(rows: list[dict[str, Any]], how: str | None = None) -> list[Figures]:
    """The same, from rows already read (one per line and provider/model)."""
    how = how or scoring_for(rows)
    found: dict[str, Figures] = {}
    for row in rows:
        name = f"{row['provider']}/{row['model']}"
        found.setdefault(name, Figures(name, how)).add(row)
    return [found[name] for name in sorted(found)]


def summarise(results: Path, how: str | None = None) -> list[dict[str, Any]]:
    return [f.row() for f in figures(results, how)]


def fmt(value: Any, column: str) -> str:
    if value is None:
        return "unknown" if column.endswith("$") else "-"
    if column in ("success", "score"):
        return f"{value:.0%}"
    if column.endswith("$"):
        return f"{value:.6f}"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(rows: list[dict[str, Any]], plots: list[str], how: str) -> str:
    if not rows:
        return "# Batch report\n\nNo results.\n"
    columns = list(rows[0])
    lines = ["# Batch report", "", f"Scoring: {how}.", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r[c], c) for c in columns) + " |" for r in rows]
    lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def html_page(rows: list[dict[str, Any]], plots: list[str], how: str) -> str:
    columns = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r[c], c))}</td>" for c in columns) + "</tr>" for r in rows)
    images = "".join(f'<img src="{html.escape(p)}" alt="{html.escape(p)}">' for p in plots)
    style = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
             "img{max-width:48%;margin:1em 1% 0 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Batch report</title><style>{style}</style>"
            f"</head><body><h1>Batch report</h1><p>Scoring: {html.escape(how)}.</p><table><tr>{head}</tr>{body}"
            f"</table>{images}</body></html>")


def write_report(out_dir: Path, how: str | None = None) -> list[dict[str, Any]]:
    from multillm.producers.batch.plots import plot  # matplotlib is slow to import: only when a report is written

    results = latest_rows(out_dir / "results.jsonl")
    found = figures_of(results, how)
    how = found[0].how if found else (how or "contains")
    rows = [f.row() for f in found]
    plots = plot(found, out_dir) if found else []
    (out_dir / "report.md").write_text(markdown(rows, plots, how))
    (out_dir / "report.html").write_text(html_page(rows, plots, how))
    (out_dir / "matrix.html").write_text(matrix_page(batch_view(out_dir.name, results, rows, how), "Batch matrix"))
    return rows


def batch_view(name: str, results: list[dict[str, Any]], rows: list[dict[str, Any]], how: str) -> dict[str, Any]:
    """What the console's batch page shows, from the results file instead of Redis."""
    return {"id": name, "state": "finished", "done": len(results), "total": len(results),
            "failed": sum(r["error"] is not None for r in results), "scoring": how,
            "targets": sorted({f"{r['provider']}/{r['model']}" for r in results}), "figures": rows, "rows": results}
