"""The comparison report of a batch run: per provider/model figures, Markdown, HTML and plots."""

from __future__ import annotations

import html
import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCORERS = ("exact", "contains", "regex")


def score(answer: str, expected: str, how: str) -> bool:
    if how == "exact":
        return answer.strip().lower() == expected.strip().lower()
    if how == "contains":
        return expected.strip().lower() in answer.lower()
    return re.search(expected, answer) is not None


@dataclass
class Figures:
    target: str
    jobs: int = 0
    succeeded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    scored: int = 0
    correct: int = 0

    def add(self, row: dict[str, Any], how: str) -> None:
        m = row["metrics"]
        self.jobs += 1
        if m["status"] == "succeeded":
            self.succeeded += 1
            if m["latency_s"] is not None:
                self.latencies.append(m["latency_s"])
            if m["ttft_s"] is not None:
                self.ttfts.append(m["ttft_s"])
            if row.get("expected") is not None:
                self.scored += 1
                answer = row["response"]["body"]["choices"][0]["message"]["content"] or ""
                self.correct += score(answer, str(row["expected"]), how)
        else:
            self.errors[m["error_code"] or "error"] += 1
        self.tokens_in += m["input_tokens"]
        self.tokens_out += m["output_tokens"]
        self.cost += m["cost_usd"]

    def row(self) -> dict[str, Any]:
        return {
            "provider/model": self.target,
            "jobs": self.jobs,
            "success": self.succeeded / self.jobs if self.jobs else 0.0,
            "errors": ", ".join(f"{k} {v}" for k, v in self.errors.most_common()) or "-",
            "latency p50 s": _pct(self.latencies, 50),
            "latency p95 s": _pct(self.latencies, 95),
            "ttft p50 s": _pct(self.ttfts, 50),
            "tokens in": self.tokens_in,
            "tokens out": self.tokens_out,
            "cost $": self.cost,
            "score": self.correct / self.scored if self.scored else None,
        }


def _pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summarise(results: Path, how: str = "contains") -> list[dict[str, Any]]:
    figures: dict[str, Figures] = {}
    for text in results.read_text().splitlines():
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue
        name = f"{row['provider']}/{row['model']}"
        figures.setdefault(name, Figures(name)).add(row, how)
    return [f.row() for f in sorted(figures.values(), key=lambda f: f.target)]


def fmt(value: Any, column: str) -> str:
    if value is None:
        return "-"
    if column == "success" or column == "score":
        return f"{value:.0%}"
    if column == "cost $":
        return f"{value:.6f}"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(rows: list[dict[str, Any]], plots: list[str]) -> str:
    if not rows:
        return "# Batch report\n\nNo results.\n"
    columns = list(rows[0])
    lines = ["# Batch report", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r[c], c) for c in columns) + " |" for r in rows]
    lines += [""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def html_page(rows: list[dict[str, Any]], plots: list[str]) -> str:
    columns = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r[c], c))}</td>" for c in columns) + "</tr>" for r in rows)
    images = "".join(f'<img src="{html.escape(p)}" alt="{html.escape(p)}">' for p in plots)
    style = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
             "img{max-width:48%;margin:1em 1% 0 0}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Batch report</title><style>{style}</style>"
            f"</head><body><h1>Batch report</h1><table><tr>{head}</tr>{body}</table>{images}</body></html>")


def plot(rows: list[dict[str, Any]], out_dir: Path) -> list[str]:
    """Bar charts of latency, success and cost per provider/model; the PNG file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["provider/model"] for r in rows]
    charts = [
        ("latency.png", "Latency (s): p50 and p95", [("p50", "latency p50 s"), ("p95", "latency p95 s")]),
        ("success.png", "Success rate and score", [("success", "success"), ("score", "score")]),
        ("cost.png", "Cost (USD) for the whole run", [("cost", "cost $")]),
        ("tokens.png", "Tokens", [("in", "tokens in"), ("out", "tokens out")]),
    ]
    files = []
    for filename, title, series in charts:
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.6))
        height = 0.8 / len(series)
        for i, (label, column) in enumerate(series):
            values = [r[column] or 0 for r in rows]
            positions = [n + i * height for n in range(len(names))]
            bars = ax.barh(positions, values, height=height, label=label)
            ax.bar_label(bars, labels=[fmt(r[column], column) for r in rows], padding=3, fontsize=8)
        ax.set_yticks([n + height * (len(series) - 1) / 2 for n in range(len(names))], names, fontsize=9)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.margins(x=0.2)
        if len(series) > 1:
            ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / filename, dpi=110)
        plt.close(fig)
        files.append(filename)
    return files


def write_report(out_dir: Path, how: str = "contains") -> list[dict[str, Any]]:
    rows = summarise(out_dir / "results.jsonl", how)
    plots = plot(rows, out_dir) if rows else []
    (out_dir / "report.md").write_text(markdown(rows, plots))
    (out_dir / "report.html").write_text(html_page(rows, plots))
    return rows
