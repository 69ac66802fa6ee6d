"""Golden findings per bundled sample capture (pcaps/), compared by name, volatile fields masked.

Regenerate after an intended change with:

    MINESWEEP_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

and review the diff of tests/golden/ before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import PCAPS

from detector.scan import scan

GOLDEN = Path(__file__).parent / "golden"
SAMPLES = sorted(p for p in PCAPS.iterdir() if p.is_file() and p.name.endswith((".pcap", ".pcapng", ".pcap.gz")))
VOLATILE = ("generated_at", "command")


def masked(findings: dict) -> dict:
    doc = json.loads(json.dumps(findings))
    for key in VOLATILE:
        doc[key] = "<masked>"
    for item in doc["inputs"]:
        item["path"] = Path(item["path"]).name
    return doc


def test_every_sample_has_a_golden_file():
    assert SAMPLES, "no sample captures in pcaps/"
    names = {p.name + ".json" for p in SAMPLES}
    if not os.environ.get("MINESWEEP_REGEN_GOLDEN"):
        assert names == {p.name for p in GOLDEN.glob("*.json")}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_findings_equal_golden(sample):
    got = masked(scan([sample]))
    golden = GOLDEN / (sample.name + ".json")
    if os.environ.get("MINESWEEP_REGEN_GOLDEN"):
        golden.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    want = json.loads(golden.read_text())
    assert got.keys() == want.keys()
    for section in want:
        assert got[section] == want[section], f"{sample.name}: {section} differs from {golden.name}"
