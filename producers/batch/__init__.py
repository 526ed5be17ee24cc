"""Batch evaluation: every line of a file sent to every chosen provider/model through the queues.

    run.py       BatchRun: submit within a window, collect, resume, cancel (`multillm batch run`)
    input.py     input lines: the OpenAI Batch API format or the simple form
    openai_body.py  an OpenAI Batch body as messages and chat options: every field honoured or refused
    output.py    results.jsonl in the OpenAI Batch output format
    progress.py  progress rows on stderr
    state.py     the batch in Redis: state, progress and its rows, per tenant (`/v1/batches`, the console)
    judge.py     judge scoring: a judge job per answered line, its verdict parsed strictly
    report.py    report.md / report.html / matrix.html and the table on stdout (needs the `report` extra for plots)
    plots.py     the report's PNG plots (matplotlib)
    data/        the sample dataset (`--sample`)
"""

from multillm.producers.batch.run import BatchRun, Target, parse_targets

__all__ = ["BatchRun", "Target", "parse_targets"]
