"""Output for programs: `--json` documents and a console that never cuts a value in a pipe."""

from __future__ import annotations

from rich.table import Table

from multillm.producers.cli.health import health_document
from multillm.producers.cli.output import console


def test_health_document_before_any_health_run_lists_every_provider_as_unknown() -> None:
    document = health_document(["openai", "github"], {})
    assert document == {"order": ["openai", "github"], "providers": [
        {"rank": 1, "provider": "openai", "status": "unknown"}, {"rank": 2, "provider": "github", "status": "unknown"}]}


def test_console_in_a_pipe_prints_a_wide_table_without_cutting_a_value(capsys) -> None:
    table = Table()
    for column in ("provider", *(f"column {n}" for n in range(12))):
        table.add_column(column)
    table.add_row("openrouter/meta-llama/llama-3.1-70b-instruct", *(f"value {n:>10}" for n in range(12)))
    out = console()  # pytest captures stdout: not a terminal
    assert not out.is_terminal
    out.print(table)
    text = capsys.readouterr().out
    assert "openrouter/meta-llama/llama-3.1-70b-instruct" in text and "…" not in text
    assert all(f"value {n:>10}" in text for n in range(12))

