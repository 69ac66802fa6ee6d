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
        return {_key_text(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def dumps(findings: dict[str, Any]) -> str:
    """The text of findings.json: each top-level key on a line of its own, and each element of a
    top-level list or object (a session, a host, a subnet...) on one line below it — readable,
    diffable, and written by ``json``'s C encoder (an ``indent`` would run its pure-Python one).
    Non-finite floats become null and keys text (as JSON writes them: true, null, 1), as the schema
    says."""
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
            body = "{\n" + ",\n".join([f"  {_key(k)}: {enc(v)}" for k, v in value.items()]) + "\n }"
        else:
            body = enc(value)
        lines.append(f" {_key(key)}: {body}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _key_text(key: Any) -> str:
    """A key as text: as JSON writes the keys it accepts (True as "true", 1.5 as "1.5"), else ``str``."""
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return _ENCODER.encode(key)
    if isinstance(key, (int, float)) and math.isfinite(key):
        return repr(int(key)) if isinstance(key, int) else repr(float(key))
    return str(key)


def _key(key: Any) -> str:
    """A key this module places itself: text only (a document with others is cleaned first)."""
    if key.__class__ is not str:
        raise TypeError("a key that is not text")
    return _ENCODER.encode(key)


#: the C encoder (no indent); non-finite floats raise, and are cleaned
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
