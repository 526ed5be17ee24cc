"""Options for the whole suite (a conftest below tests/ is loaded too late to add options)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak-minutes", type=float, default=0.0,
                     help="run the chaos soak in tests/integration/test_chaos.py this many minutes (default: 0.5)")
