"""findings.json: the versioned, documented result document (docs/findings-schema.md)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_findings(findings: dict[str, Any], out_dir: Path) -> Path:
    """Write findings.json atomically (a reader never sees half a file)."""
    path = out_dir / "findings.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_clean(findings), indent=1, ensure_ascii=False, allow_nan=False) + "\n", "utf-8")
    os.replace(tmp, path)
    return path


def read_findings(path: Path) -> dict[str, Any]:
    from detector.errors import InputError

    try:
        doc = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable findings.json ({exc})") from None
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("minesweep/findings/"):
        raise InputError(f"{path}: not a minesweep findings document (no minesweep/findings schema)")
    return doc
