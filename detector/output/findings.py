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


def dumps(findings: dict[str, Any]) -> str:
    """The text of findings.json: each top-level key on a line of its own, and each element of a
    top-level list or object (a session, a host, a subnet...) on one line below it — readable,
    diffable, and written by ``json``'s C encoder (an ``indent`` would run its pure-Python one).
    Non-finite floats become null and keys text, as the schema says."""
    try:
        return _layout(findings)
    except (ValueError, TypeError):  # NaN / infinity, or a key that is not text: cleaned first
        return _layout(_clean(findings))


def _layout(findings: dict[str, Any]) -> str:
    enc = _ENCODER.encode
    lines = []
    for key, value in findings.items():
        if isinstance(value, list) and value:
            body = "[\n" + ",\n".join(["  " + enc(v) for v in value]) + "\n ]"
        elif isinstance(value, dict) and value:
            body = "{\n" + ",\n".join([f"  {enc(k)}: {enc(v)}" for k, v in value.items()]) + "\n }"
        else:
            body = enc(value)
        lines.append(f" {enc(key)}: {body}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


#: the C encoder (no indent); non-finite floats and keys that are not text raise, and are cleaned
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def write_findings(findings: dict[str, Any], out_dir: Path) -> Path:
    """Write findings.json atomically (a reader never sees half a file)."""
    path = out_dir / "findings.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(dumps(findings), "utf-8")
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
