"""Capture stage against tshark on every capture of the shared corpus.

For each ``*.pcap`` / ``*.pcapng`` under ../shared/corpus, the number of TCP packets, UDP packets
and distinct TCP connections yielded must equal what tshark reports:

    tshark -r FILE -Y "(tcp or udp) and not icmp and not icmpv6" -T fields -e tcp.stream -e udp.srcport

(ICMP errors quote TCP/UDP headers that tshark dissects; the capture stage does not yield them.)
tshark is a hard requirement of this test (CI installs it): a missing tshark fails, never skips.
Also checks the stored-file SHA-256 and size against MANIFEST.tsv.
"""

from __future__ import annotations

import csv
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from detector.capture import is_capture_file, open_capture

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CAPTURES = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".pcap", ".pcapng"))
TSHARK_FILTER = "(tcp or udp) and not icmp and not icmpv6"


def _manifest() -> dict[str, tuple[int, str]]:
    with open(CORPUS / "MANIFEST.tsv", newline="") as fh:
        return {row["file"]: (int(row["bytes"]), row["sha256"])
                for row in csv.DictReader(fh, delimiter="\t")}


def _tshark_counts(path: Path) -> tuple[int, int, int]:
    tshark = shutil.which("tshark")
    assert tshark, "tshark is required for this test (apt-get install tshark)"
    out = subprocess.run(
        [tshark, "-n", "-r", str(path), "-Y", TSHARK_FILTER, "-T", "fields",
         "-e", "tcp.stream", "-e", "udp.srcport"],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    tcp = udp = 0
    streams: set[str] = set()
    for line in out.splitlines():
        stream, _, sport = line.partition("\t")
        if stream:
            tcp += 1
            streams.add(stream)
        elif sport:
            udp += 1
    return tcp, udp, len(streams)


def test_corpus_is_present() -> None:
    assert len(CAPTURES) >= 10, f"expected the shared corpus at {CORPUS}"


@pytest.mark.parametrize("path", CAPTURES, ids=[str(p.relative_to(CORPUS)) for p in CAPTURES])
def test_counts_match_tshark(path: Path) -> None:
    with open_capture(path) as cap:
        packets = list(cap)
    tcp = [p for p in packets if p.proto == 6]
    udp = [p for p in packets if p.proto == 17]
    connections = {frozenset({(p.src, p.sport), (p.dst, p.dport)}) for p in tcp}
    assert (len(tcp), len(udp), len(connections)) == _tshark_counts(path)
    info = cap.info
    assert info.warnings == []
    assert info.format in ("pcap", "pcapng")
    assert info.first_ts is not None and info.last_ts is not None
    assert info.first_ts <= min(p.ts for p in packets) <= max(p.ts for p in packets) <= info.last_ts
    assert (info.size, info.sha256) == _manifest()[str(path.relative_to(CORPUS))]
    assert is_capture_file(path)


def test_crafted_capture_fields_match_tshark(tmp_path: Path) -> None:
    """Per-packet addresses, ports and payload agree with tshark on a capture mixing link types,
    VLAN/QinQ, IPv6 extension headers and out-of-order IPv4/IPv6 fragments."""
    from scapy.layers.inet import IP, TCP, UDP, fragment
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrRouting, fragment6
    from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
    from scapy.packet import Raw
    from test_capture import ng_epb, ng_idb, ng_shb

    mac = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
    big = bytes(range(256)) * 10
    v4 = IP(src="10.9.8.7", dst="192.0.2.1") / TCP(sport=4444, dport=3333, flags="PA") / Raw(b"submit")
    v6 = IPv6(src="2001:db8::7", dst="2001:db8::1") / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() \
        / UDP(sport=53, dport=5353) / Raw(b"answer")
    frag4 = fragment(IP(src="10.1.1.1", dst="10.2.2.2", id=99) / UDP(sport=1, dport=2) / Raw(big), 1000)
    frag6 = fragment6(IPv6(src="2001:db8::a", dst="2001:db8::b") / IPv6ExtHdrFragment(id=5)
                      / TCP(sport=7, dport=8, flags="A") / Raw(big), 1280)
    frames: list[tuple[int, bytes]] = [
        (0, bytes(Ether(**mac) / v4)),
        (0, bytes(Ether(**mac) / Dot1AD(vlan=5) / Dot1Q(vlan=6) / v6)),
        (1, bytes(v4)),
        (2, struct.pack(">I", 30) + bytes(v6)),
        *[(0, bytes(Ether(**mac) / f)) for f in reversed(frag4)],
        *[(1, bytes(f)) for f in frag6[1:] + frag6[:1]],
    ]
    data = ng_shb() + ng_idb(linktype=1) + ng_idb(linktype=101) + ng_idb(linktype=0) + b"".join(
        ng_epb("<", ifid, (1_700_000_000 + i) * 10**6, frame) for i, (ifid, frame) in enumerate(frames))
    path = tmp_path / "crafted.pcapng"
    path.write_bytes(data)

    with open_capture(path) as cap:
        ours = [(p.src, p.dst, p.sport, p.dport, p.payload.hex()) for p in cap]
    out = subprocess.run(
        [shutil.which("tshark") or "tshark", "-n", "-r", str(path), "-Y", TSHARK_FILTER,
         "-T", "fields", "-E", "occurrence=l",
         "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
         "-e", "tcp.srcport", "-e", "udp.srcport", "-e", "tcp.dstport", "-e", "udp.dstport",
         "-e", "tcp.payload", "-e", "udp.payload"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    theirs = []
    for line in out.splitlines():
        s4, s6, d4, d6, ts, us, td, ud, tp, up = line.split("\t")
        theirs.append((s4 or s6, d4 or d6, int(ts or us), int(td or ud), (tp or up).replace(":", "")))
    assert len(ours) == 6
    assert ours == theirs
