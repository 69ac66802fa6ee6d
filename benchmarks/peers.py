#!/usr/bin/env python3
"""The Python peers of the speed benchmark: one job, done with scapy, dpkt, pyshark or a bare loop.

The job, identical for every peer (and for tshark's display filter, see ``TSHARK_FILTER``): read
every record, decode Ethernet / IPv4 or IPv6 / TCP, and search the TCP payload for a JSON-RPC
``"method"`` whose value is a mining method name (``METHOD_RE``); remember the flows (unordered
endpoint pairs) where it matched. No JSON parsing, no reassembly: this is the substring-matching
approach the peers take, measured for speed, not the detection minesweep does.

    python benchmarks/peers.py {dpkt|scapy|pyshark|rawloop} CAPTURE [--limit N]

prints one JSON object: ``peer, packets, matched_packets, flows, loop_seconds`` (``--limit``
stops after N records: used for pyshark, whose rate is then extrapolated by run.py).

Public: ``METHOD_RE``, ``TSHARK_FILTER``, ``PEERS`` (name -> loop function),
``count_records(path) -> int``, ``flow_key(a, ap, b, bp) -> str``, ``main(argv) -> int``.
"""

from __future__ import annotations

import argparse
import gzip
import ipaddress
import json
import re
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

METHOD_NAMES = (r"mining\.[a-z_.]+", "eth_submitLogin", "eth_getWork", "eth_submitWork",
                "eth_submitHashrate", "login", "submit", "keepalived", "getjob", "job")
METHOD_PATTERN = r'"method" ?: ?"(?:' + "|".join(METHOD_NAMES) + r')"'
METHOD_RE = re.compile(METHOD_PATTERN.encode())
# Same regex for tshark: 'matches' is PCRE2 and case-insensitive by default, so "(?-i)" makes it
# case-sensitive like Python's re; quotes and backslashes are escaped for the filter's string.
TSHARK_FILTER = 'tcp.payload matches "(?-i)' + METHOD_PATTERN.replace("\\", "\\\\").replace('"', '\\"') + '"'

REC = struct.Struct("<IIII")
REC_BE = struct.Struct(">IIII")


def flow_key(a: str, ap: int, b: str, bp: int) -> str:
    """Direction-free flow name, 'lowaddr:port-highaddr:port' with addresses in compressed form."""
    x, y = (str(ipaddress.ip_address(a)), int(ap)), (str(ipaddress.ip_address(b)), int(bp))
    lo, hi = sorted((x, y))
    return f"{lo[0]}|{lo[1]}-{hi[0]}|{hi[1]}"


def _open(path: str) -> BinaryIO:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")  # type: ignore[return-value]


def count_records(path: str) -> int:
    """Number of records in a classic pcap (plain or gzip), by walking the record headers."""
    with _open(path) as fh:
        head = fh.read(24)
        if len(head) < 24 or head[:4] not in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                                              b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
            raise ValueError(f"{path}: not a classic pcap file")
        rec = REC if head[0] in (0xD4, 0x4D) else REC_BE
        n = 0
        while True:
            h = fh.read(16)
            if len(h) < 16:
                return n
            incl = rec.unpack(h)[2]
            fh.seek(incl, 1)
            n += 1


Result = tuple[int, int, set[str]]


def run_dpkt(path: str, limit: int | None) -> Result:
    import dpkt

    n = hits = 0
    flows: set[str] = set()
    search = METHOD_RE.search
    IP, IP6, TCP, Eth = dpkt.ip.IP, dpkt.ip6.IP6, dpkt.tcp.TCP, dpkt.ethernet.Ethernet
    with _open(path) as fh:
        for _ts, buf in dpkt.pcap.Reader(fh):
            n += 1
            ip = Eth(buf).data
            if isinstance(ip, (IP, IP6)):
                tcp = ip.data
                if isinstance(tcp, TCP) and tcp.data and search(tcp.data):
                    hits += 1
                    fam = 4 if isinstance(ip, IP) else 6
                    src = ipaddress.ip_address(ip.src) if fam == 4 else ipaddress.IPv6Address(ip.src)
                    dst = ipaddress.ip_address(ip.dst) if fam == 4 else ipaddress.IPv6Address(ip.dst)
                    flows.add(flow_key(str(src), tcp.sport, str(dst), tcp.dport))
            if limit is not None and n >= limit:
                break
    return n, hits, flows


def run_scapy(path: str, limit: int | None) -> Result:
    from scapy.all import IP, TCP, IPv6, PcapReader  # type: ignore[attr-defined]

    n = hits = 0
    flows: set[str] = set()
    search = METHOD_RE.search
    with PcapReader(path) as rd:
        for pkt in rd:
            n += 1
            if TCP in pkt:
                tcp = pkt[TCP]
                data = bytes(tcp.payload)
                if data and search(data):
                    hits += 1
                    ip = pkt[IP] if IP in pkt else pkt[IPv6]
                    flows.add(flow_key(ip.src, tcp.sport, ip.dst, tcp.dport))
            if limit is not None and n >= limit:
                break
    return n, hits, flows


def run_pyshark(path: str, limit: int | None) -> Result:
    import pyshark

    n = hits = 0
    flows: set[str] = set()
    search = METHOD_RE.search
    cap = pyshark.FileCapture(path, keep_packets=False, use_json=True)
    try:
        for pkt in cap:
            n += 1
            if "TCP" in pkt:
                hexpl = getattr(pkt.tcp, "payload", None)
                if hexpl:
                    data = bytes.fromhex(str(hexpl).replace(":", ""))
                    if search(data):
                        hits += 1
                        ip = pkt.ip if "IP" in pkt else pkt.ipv6
                        flows.add(flow_key(ip.src, int(pkt.tcp.srcport), ip.dst, int(pkt.tcp.dstport)))
            if limit is not None and n >= limit:
                break
    finally:
        cap.close()
    return n, hits, flows


def run_rawloop(path: str, limit: int | None) -> Result:
    """Floor reference: walk record headers, one regex search per frame, decode only on a hit."""
    n = hits = 0
    flows: set[str] = set()
    search = METHOD_RE.search
    with _open(path) as fh:
        head = fh.read(24)
        rec = REC if head[0] in (0xD4, 0x4D) else REC_BE
        unpack = rec.unpack_from
        tail = b""
        while True:
            chunk = fh.read(1 << 22)
            if not chunk:
                break
            data = tail + chunk if tail else chunk
            off, end = 0, len(data)
            while off + 16 <= end:
                incl = unpack(data, off)[2]
                if off + 16 + incl > end:
                    break
                frame = data[off + 16:off + 16 + incl]
                off += 16 + incl
                n += 1
                if search(frame):
                    key = _frame_flow(frame)
                    if key is not None:
                        hits += 1
                        flows.add(key)
                if limit is not None and n >= limit:
                    return n, hits, flows
            tail = data[off:]
    return n, hits, flows


def _frame_flow(frame: bytes) -> str | None:
    et = frame[12:14]
    if et == b"\x08\x00" and frame[23] == 6:
        ihl = (frame[14] & 15) * 4
        sp, dp = struct.unpack_from("!HH", frame, 14 + ihl)
        return flow_key(str(ipaddress.IPv4Address(frame[26:30])), sp, str(ipaddress.IPv4Address(frame[30:34])), dp)
    if et == b"\x86\xdd" and frame[20] == 6:
        sp, dp = struct.unpack_from("!HH", frame, 54)
        return flow_key(str(ipaddress.IPv6Address(frame[22:38])), sp, str(ipaddress.IPv6Address(frame[38:54])), dp)
    return None


PEERS: dict[str, Callable[[str, int | None], Result]] = {
    "dpkt": run_dpkt, "scapy": run_scapy, "pyshark": run_pyshark, "rawloop": run_rawloop,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="peers.py", description="Run one Python peer loop over a capture.")
    p.add_argument("peer", choices=sorted(PEERS))
    p.add_argument("capture")
    p.add_argument("--limit", type=int, default=None, help="stop after N records")
    a = p.parse_args(argv)
    if not Path(a.capture).is_file():
        print(f"peers.py: error: {a.capture}: no such file", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        n, hits, flows = PEERS[a.peer](a.capture, a.limit)
    except Exception as e:  # a peer library's own error: one line, not a traceback
        print(f"peers.py: error: {a.peer} failed on {a.capture}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    dt = time.perf_counter() - t0
    json.dump({"peer": a.peer, "packets": n, "matched_packets": hits, "flows": sorted(flows),
               "loop_seconds": round(dt, 4)}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
