"""findings.json as written: the C encoder's text, one record a line, equal in content to what
``json.dumps(indent=...)`` of the cleaned document says."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from detector.output.findings import _clean, dumps, read_findings, write_findings

GOLDEN = Path(__file__).resolve().parent / "golden"


def _reference(doc: dict[str, Any]) -> Any:
    return json.loads(json.dumps(_clean(doc), indent=1, ensure_ascii=False, allow_nan=False))


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.name)
def test_same_content_one_record_a_line(golden: Path) -> None:
    doc = json.loads(golden.read_text("utf-8"))
    text = dumps(doc)
    assert json.loads(text) == _reference(doc)
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}" and text.endswith("}\n")
    for key, value in doc.items():  # each top-level key on a line of its own ...
        assert sum(line.startswith(f" {json.dumps(key)}: ") for line in lines) == 1
        if isinstance(value, list) and value:  # ... each element of its list on one line below it
            for element in value:
                assert f"  {json.dumps(element, ensure_ascii=False)}," in lines or \
                    f"  {json.dumps(element, ensure_ascii=False)}" in lines


def test_non_finite_floats_and_odd_keys_are_cleaned() -> None:
    doc: dict[str, Any] = {"schema": "minesweep/findings/1", "sessions": [{"rate": math.nan, 7: [math.inf, -math.inf]}],
                           "summary": {"energy": {"kwh": math.inf}, "n": 1}, "empty": [], "none": {}, "text": "é\u2028\"<"}
    text = dumps(doc)
    assert json.loads(text) == _reference(doc) == {
        "schema": "minesweep/findings/1", "sessions": [{"rate": None, "7": [None, None]}],
        "summary": {"energy": {"kwh": None}, "n": 1}, "empty": [], "none": {}, "text": "é\u2028\"<"}
    assert "NaN" not in text and "Infinity" not in text and "é" in text  # UTF-8, not \\u escapes


def test_written_atomically_and_read_back(tmp_path: Path) -> None:
    doc = {"schema": "minesweep/findings/1", "sessions": [{"client": "10.0.0.1"}], "summary": {"hosts": 1}}
    path = write_findings(doc, tmp_path)
    assert read_findings(path) == doc and not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("doc", [
    {"a": {1: 2}}, {1: "x"}, {"a": [{True: 1, None: 2, 2.5: 3}]}, {"a": {"b": {False: 1}}},
    {True: {None: math.nan}}, {"a": {(1, 2): "tuple key"}}, {"a": [{(1,): 1}]},
])
def test_keys_that_are_not_text(doc: dict[Any, Any]) -> None:
    """Valid JSON wherever such a key is, written as JSON writes keys (true, null, 1, 2.5; str()
    of other types), whether or not the document needed cleaning."""
    text = dumps(doc)
    got = json.loads(text)
    assert got == json.loads(json.dumps(_clean(doc)))
    flat = json.dumps(got)
    assert "True" not in flat and "None" not in flat
