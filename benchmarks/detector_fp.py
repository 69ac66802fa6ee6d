"""False positives of each detector on the benign flows of a generated capture.

    python benchmarks/detector_fp.py CAPTURE [--truth CAPTURE.truth.json] [--out results.json]

Runs the pure engine (so that flow summaries exist for every flow), then counts, per detector
(decoded plaintext protocol -> confirmed; TLS handshake naming a pool -> strong; Stratum V2
handshake -> strong; flow shape -> suspected), the sessions whose connection is not one of the
generator's miners. The benign population is every flow of the capture that is not a miner's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from detector.scan import ScanOptions, scan

#: detectors reported even when they flagged nothing
ALWAYS = ("plaintext protocol (confirmed)", "TLS pool name via tls-sni (strong)", "TLS pool name via dns (strong)",
          "TLS pool name via tls-certificate (strong)", "Stratum V2 handshake (strong)",
          "flow shape (suspected)")


def detector_of(session: dict) -> str:
    if session["confidence"] == "confirmed":
        return "plaintext protocol (confirmed)"
    if session["dialect"] == "tls":
        return f"TLS pool name via {session['pool_source']} (strong)"
    if session["dialect"] == "sv2":
        return "Stratum V2 handshake (strong)"
    if session["dialect"] == "unknown":
        return "flow shape (suspected)"
    return f"{session['dialect']} ({session['confidence']})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", type=Path)
    ap.add_argument("--truth", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    truth = json.loads((args.truth or Path(str(args.capture) + ".truth.json")).read_text())
    miners = {(m["client"], m["server"], m["server_port"]) for m in truth["miners"]}
    started = time.perf_counter()
    findings = scan([args.capture], ScanOptions(engine="pure"))
    seconds = time.perf_counter() - started
    benign_flows = truth["flows"] - len(miners)
    flagged: Counter[str] = Counter()
    found: Counter[str] = Counter()
    for s in findings["sessions"]:
        key = (s["client"], s["server"], s["server_port"])
        (found if key in miners else flagged)[detector_of(s)] += 1
    detectors = sorted(set(found) | set(flagged) | set(ALWAYS))
    rows = [{"detector": d, "true_sessions": found[d], "benign_flows_flagged": flagged[d],
             "false_positive_rate": flagged[d] / benign_flows} for d in detectors]
    result = {"capture": str(args.capture), "packets": findings["summary"]["packets"], "flows": truth["flows"],
              "benign_flows": benign_flows, "miners": len(miners), "seconds": round(seconds, 2), "detectors": rows}
    print(f"{args.capture.name}: {truth['flows']} flows, {benign_flows} benign, {len(miners)} miners "
          f"(pure engine, {seconds:.1f} s)")
    print("| detector | miner sessions found | benign flows flagged | false-positive rate |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['detector']} | {r['true_sessions']} | {r['benign_flows_flagged']} | {r['false_positive_rate']:.4%} |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
