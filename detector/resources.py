"""Where minesweep's data files live.

``rules/`` sits at the top of a source checkout (editable installs use it in place); a wheel
installs a copy under ``<prefix>/share/minesweep/rules``. ``MINESWEEP_RULES`` overrides both.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path


@cache
def rules_dir() -> Path:
    """The directory holding the rules data files."""
    env = os.environ.get("MINESWEEP_RULES")
    candidates = [Path(env)] if env else []
    candidates += [
        Path(__file__).resolve().parent.parent / "rules",
        Path(sys.prefix) / "share" / "minesweep" / "rules",
    ]
    for path in candidates:
        if (path / "dialects.toml").is_file():
            return path
    raise FileNotFoundError("minesweep rules/ directory not found; set MINESWEEP_RULES")
