"""The package type-checks with mypy (config in pyproject.toml: strict checks on common/)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_type_checks(tmp_path):
    # The folders are installed as multillm.common, multillm.producers, multillm.workers (setuptools
    # package-dir); mypy needs that shape on disk, so it reads them through links named as installed.
    (tmp_path / "multillm").mkdir()
    for folder in ("common", "producers", "workers"):
        (tmp_path / "multillm" / folder).symlink_to(ROOT / folder, target_is_directory=True)
    args = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
            str(tmp_path / ".mypy_cache"), "-p", "multillm.common", "-p", "multillm.producers", "-p", "multillm.workers"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
