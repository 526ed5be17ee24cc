"""Nothing but common/settings.py reads configuration from the environment (checked on the source)."""

from __future__ import annotations

import ast
from pathlib import Path

from multillm.common.settings import UNKNOWN_PREFIX, known_variables

ROOT = Path(__file__).resolve().parents[2]
ENV_NAMES = {"environ", "environb", "getenv", "getenvb"}


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _allowed(node: ast.Attribute, parents: dict[ast.AST, ast.AST]) -> bool:
    """`dict(os.environ, ...)` and `os.environ.copy()` copy the environment for a child process;
    `os.environ.setdefault("X", ...)` of another library's variable sets that library's default."""
    parent = parents.get(node)
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "dict":
        return bool(parent.args) and parent.args[0] is node
    if node.attr != "environ" or not isinstance(parent, ast.Attribute) or not isinstance(parents.get(parent), ast.Call):
        return False
    call = parents[parent]
    assert isinstance(call, ast.Call)
    if parent.attr == "copy":
        return True
    if parent.attr == "setdefault" and call.args and isinstance(call.args[0], ast.Constant):
        name = str(call.args[0].value)
        return not name.startswith(UNKNOWN_PREFIX) and name not in known_variables()
    return False


def environment_reads(source: str) -> list[int]:
    """Line numbers where `source` reads the process environment."""
    tree = ast.parse(source)
    parents = _parents(tree)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os" and {a.name for a in node.names} & ENV_NAMES:
            lines.append(node.lineno)
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
              and node.attr in ENV_NAMES and not _allowed(node, parents)):
            lines.append(node.lineno)
    return lines


def test_the_check_finds_every_way_of_reading_the_environment():
    reads = ['os.environ.get("A")', 'os.getenv("A")', 'os.environ["A"]', '"A" in os.environ', "from os import environ",
             "from os import getenv as g", "for k in os.environ: pass", 'os.environ.setdefault("MULTILLM_X", "1")',
             'os.environ.setdefault("REDIS_URL", "redis://x")', "env = os.environ", "os.environ.items()"]
    for line in reads:
        assert environment_reads(f"import os\n{line}\n") == [2], line
    copies = ['dict(os.environ, A="1")', "os.environ.copy()", 'os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")']
    for line in copies:
        assert environment_reads(f"import os\n{line}\n") == [], line


def test_no_module_but_settings_reads_the_environment():
    modules = [p for folder in ("common", "producers", "workers") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(modules) > 50
    found = {str(p.relative_to(ROOT)): environment_reads(p.read_text()) for p in modules if p != ROOT / "common/settings.py"}
    assert {path: lines for path, lines in found.items() if lines} == {}
    assert environment_reads((ROOT / "common/settings.py").read_text())  # the one module that does
