"""A default scan never imports numpy (~50-80 ms of every run): flow-shape scoring is pure Python,
and the verdict model (``--model``) and the prefix tables (``--registry`` / ``--asn-db``) import it
only when used. Each check runs in a fresh interpreter, since this test process has numpy loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import PCAPS, REPO

SCAN_ONE_SAMPLE = f"""
import json, sys
import detector.commands.scan
from detector.scan import ScanOptions, scan

doc = scan([{str(PCAPS / "encrypted-evasive.pcap")!r}], ScanOptions())
lines = [e for s in doc["sessions"] for e in s["evidence"] if e.startswith("flow shape agrees")]
print(json.dumps({{"numpy": "numpy" in sys.modules, "flow_shape_lines": lines,
                  "heavy": sorted(m for m in ("scipy", "pandas", "sklearn") if m in sys.modules)}}))
"""

MODULES_ALONE = """
import json, sys
from detector import flowshape, model
from detector.attribution import prefix
from detector.capture.model import TCP
from detector.behaviour import FlowSummary

seen = {}
shape = flowshape.load_flowshape_model()
flow = FlowSummary(a="10.0.0.1", ap=50000, b="192.0.2.1", bp=3333, proto=TCP, first_ts=1000.0, last_ts=1600.0,
                   packets=(30, 40), bytes=(3600, 8400), payload_packets=(20, 30), payload_bytes=(2000, 6000),
                   payload_sumsq=(200_000, 1_460_000), pushes=(10, 30), flags=(0, 0), gap_n=(19, 29),
                   gap_sum=(570.0, 580.0), gap_sumsq=(34_200.0, 14_500.0),
                   first_payloads=((0, 100), (1, 200)) * 4, client_is_a=True)
probability = shape.predict_one(flow)
parts = flowshape.explain(flow, shape)
prefix.parse_cidr("10.0.0.0/8"), prefix.parse_ip("2001:db8::1"), prefix.format_cidr(4, 0, 0)
seen["after scoring and parsing"] = "numpy" in sys.modules
table = prefix.PrefixMap.build([("10.0.0.0/8", "a"), ("2001:db8::/32", "b")])
seen["after PrefixMap.build"] = "numpy" in sys.modules
print(json.dumps({"seen": seen, "probability": probability, "parts": len(parts),
                  "lookups": [table.lookup("10.1.2.3"), table.lookup("2001:db8::1"), table.lookup("192.0.2.1")]}))
"""


def _run(code: str) -> dict[str, object]:
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-3000:]
    result: dict[str, object] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def test_default_scan_of_a_sample_never_imports_numpy() -> None:
    got = _run(SCAN_ONE_SAMPLE)
    assert got["heavy"] == []
    assert got["numpy"] is False
    lines = got["flow_shape_lines"]
    assert isinstance(lines, list) and len(lines) == 3  # flow-shape scoring and explanations did run
    assert all("mining-like with probability" in line and "log-odds" in line for line in lines)


def test_flowshape_model_and_prefix_import_numpy_only_when_needed() -> None:
    got = _run(MODULES_ALONE)
    assert got["seen"] == {"after scoring and parsing": False, "after PrefixMap.build": True}
    assert isinstance(got["probability"], float) and 0.0 < got["probability"] < 1.0
    assert got["parts"] == 11
    assert got["lookups"] == ["a", "b", None]
