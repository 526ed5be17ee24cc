"""The report's PNG charts, one horizontal bar per provider/model in the same order on every chart:
latency, success, the verdicts behind each score, cost (the judge's apart) and tokens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from multillm.producers.batch.report import Figures

Series = list[tuple[str, list[float | None], Callable[[float | None], str]]]  # (legend, values, label text)
COLOURS = {"pass": "#2e7d32", "answered": "#2e7d32", "fail": "#c62828", "judge error": "#757575",
           "not answered": "#d7ccc8"}
OTHER_COLOURS = ("#ef6c00", "#6a1b9a", "#1565c0", "#ad1457", "#00838f", "#9e9d24", "#4e342e")  # error classes


def plot(found: list[Figures], out_dir: Path) -> list[str]:
    """Write the charts that have something to show; their file names."""
    charts: list[tuple[str, Callable[[list[Figures]], Figure | None]]] = [
        ("latency.png", _latency), ("success.png", _success), ("score.png", _score),
        ("cost.png", _cost), ("tokens.png", _tokens)]
    files = []
    for filename, draw in charts:
        fig = draw(found)
        if fig is None:
            continue
        fig.savefig(out_dir / filename, dpi=110)
        plt.close(fig)
        files.append(filename)
    return files


def _figure(found: list[Figures], title: str) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(found) + 2.0), layout="constrained")
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_yticks(range(len(found)), [f.target for f in found], fontsize=9)
    ax.invert_yaxis()  # first name on top, as in the table
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig, ax


def _grouped(found: list[Figures], title: str, xlabel: str, series: Series) -> Figure | None:
    if all(v is None for _, values, _ in series for v in values):
        return None  # nothing measured: an empty chart says nothing
    fig, ax = _figure(found, title)
    height = 0.8 / len(series)
    for i, (label, values, text) in enumerate(series):
        positions = [n - 0.4 + height * (i + 0.5) for n in range(len(found))]
        bars = ax.barh(positions, [v or 0 for v in values], height=height, label=label)
        ax.bar_label(bars, labels=[text(v) for v in values], padding=3, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.margins(x=0.18)  # room for the value labels at the bars' ends
    if len(series) > 1:
        fig.legend(loc="outside lower center", ncols=len(series), fontsize=8, frameon=False)
    return fig


def _latency(found: list[Figures]) -> Figure | None:
    rows = [f.row() for f in found]
    return _grouped(found, "Latency of answered jobs", "seconds", [
        ("latency p50", [r["latency p50 s"] for r in rows], _seconds),
        ("latency p95", [r["latency p95 s"] for r in rows], _seconds),
        ("first token p50", [r["ttft p50 s"] for r in rows], _seconds)])


def _success(found: list[Figures]) -> Figure | None:
    """Answered jobs and each error class, stacked: the success rate and what went wrong at once."""
    classes = sorted({code for f in found for code in f.errors}, key=lambda c: -sum(f.errors[c] for f in found))
    parts = {"answered": [f.succeeded for f in found], **{c: [f.errors[c] for f in found] for c in classes}}
    notes = [f"success {f.succeeded / f.jobs:.0%}" if f.jobs else "no jobs" for f in found]
    return _stacked(found, "Jobs answered, and errors by class", "jobs", parts, notes)


def _score(found: list[Figures]) -> Figure | None:
    """Stacked counts behind each score: passes, fails, judge errors, lines whose answer failed."""
    if not any(f.expected for f in found):
        return None
    parts = {"pass": [f.correct for f in found], "fail": [f.scored - f.correct for f in found],
             "judge error": [f.judge_errors for f in found],
             "not answered": [f.expected - f.scored - f.judge_errors for f in found]}
    notes = [f"score {f.correct / f.scored:.0%}" if f.scored else "no score" for f in found]
    return _stacked(found, f"Verdicts on lines with an expected answer (scoring: {found[0].how})", "lines",
                    parts, notes)


def _stacked(found: list[Figures], title: str, xlabel: str, parts: dict[str, list[int]], notes: list[str]) -> Figure:
    fig, ax = _figure(found, title)
    left = [0] * len(found)
    others = iter(OTHER_COLOURS)
    for label, counts in parts.items():
        if any(counts):
            ax.barh(range(len(found)), counts, left=left, height=0.6, label=label,
                    color=COLOURS.get(label) or next(others, None))
            left = [a + b for a, b in zip(left, counts, strict=True)]
    for n, note in enumerate(notes):
        ax.annotate(note, (left[n], n), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(x=0.2)
    fig.legend(loc="outside lower center", ncols=min(5, len(parts)), fontsize=8, frameon=False)
    return fig


def _cost(found: list[Figures]) -> Figure | None:
    series: Series = [("answers", [f.cost for f in found], _dollars)]
    if any(f.how == "judge" for f in found):
        series.append(("judging those answers", [f.judge_cost for f in found], _dollars))
    fig = _grouped(found, "Cost at list prices, whole run", "US dollars", series)
    if fig is not None:
        ax = fig.axes[0]
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _dollars(v)))
    return fig


def _tokens(found: list[Figures]) -> Figure | None:
    fig = _grouped(found, "Tokens, whole run", "tokens", [
        ("input", [float(f.tokens_in) for f in found], _count), ("output", [float(f.tokens_out) for f in found], _count)])
    if fig is not None:
        fig.axes[0].xaxis.set_major_formatter(FuncFormatter(lambda v, _: _count(v)))
    return fig


def _seconds(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


def _percent(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _count(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _dollars(v: Any) -> str:
    """Enough digits to tell small costs apart: $0.0016, $0.000049, $1.25."""
    if v is None:
        return "-"
    if v == 0:
        return "$0"
    return f"${v:.2f}" if abs(v) >= 1 else f"${v:.2g}" if abs(v) >= 0.01 else f"${v:.6f}".rstrip("0")
