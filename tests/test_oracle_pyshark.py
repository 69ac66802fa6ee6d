"""Independent oracle: tshark (through pyshark) counts share submissions per connection, with its
own TCP analysis removing retransmissions; our reassembly must agree exactly."""

from __future__ import annotations

import re
from collections import Counter

import pyshark
import pytest
from conftest import CORPUS

from detector.scan import scan

SUBMIT = re.compile(rb'"method"\s*:\s*"(mining\.submit|submit|eth_submitWork)"')


def tshark_submits(path) -> Counter[tuple[str, str, int]]:
    counts: Counter[tuple[str, str, int]] = Counter()
    cap = pyshark.FileCapture(str(path), display_filter="tcp.len > 0 && !tcp.analysis.retransmission"
                              " && !tcp.analysis.spurious_retransmission", keep_packets=False)
    try:
        for pkt in cap:
            raw = bytes.fromhex(pkt.tcp.payload.replace(":", ""))
            n = len(SUBMIT.findall(raw))
            if n:
                ip = pkt.ip if hasattr(pkt, "ip") else pkt.ipv6
                counts[(ip.src, ip.dst, int(pkt.tcp.dstport))] += n
    finally:
        cap.close()
    return counts


@pytest.mark.parametrize("capture", ["ndpi/mining.pcapng", "ndpi/old/ethereum.pcap"])
def test_submits_per_connection_match_tshark(capture):
    path = CORPUS / capture
    ours: Counter[tuple[str, str, int]] = Counter()
    for s in scan([path])["sessions"]:
        ours[(s["client"], s["server"], s["server_port"])] += s["submits"] + s["duplicate_submits"]
    assert +ours == tshark_submits(path)
