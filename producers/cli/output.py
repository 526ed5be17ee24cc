"""Output for people and for programs: rich tables on a terminal, never a cut value in a pipe, and one
JSON document for `--json`."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console

# Rich lays a table out for the console's width, 80 columns when stdout is not a terminal, and
# shortens cells with an ellipsis to fit. In a pipe nobody reads the width, so give it room enough
# that no value is cut; a table is only as wide as its widest row needs.
PIPE_WIDTH = 100_000


def console(stderr: bool = False) -> Console:
    found = Console(stderr=stderr)
    if not found.is_terminal:
        return Console(stderr=stderr, width=PIPE_WIDTH)
    return found


def print_json(document: Any) -> None:
    """One JSON document on stdout."""
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))
