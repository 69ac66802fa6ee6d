"""The code passes ruff with the project's configuration (pyproject.toml [tool.ruff])."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_ruff_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "detector", "tests", "benchmarks", "rules", "pcaps"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
