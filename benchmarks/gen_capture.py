#!/usr/bin/env python3
"""Deterministic generator of a large, mixed Ethernet pcap for minesweep's speed benchmark.

    python benchmarks/gen_capture.py --packets 1000000 --out big.pcap [--seed 1] [--miners 200] [--gzip]

Writes a classic little-endian microsecond pcap (linktype 1, Ethernet) of exactly ``--packets``
records, and ``<out>.truth.json`` next to it: the miners' (client, server, server_port, dialect)
set, per-kind flow counts, the packet count and the sha256 of the file as written.

What is in it (all flows over IPv4 or IPv6, TCP ones with a full handshake, correct seq/ack, a
delayed-ACK pattern and FIN teardown; IP, TCP and UDP checksums are correct):

* benign: TLS 1.3-shaped sessions on 443 (ClientHello with SNI of ordinary sites, server flight,
  application-data records), HTTP/1.1 GET with responses, DNS and NTP over UDP, and plain
  JSON-RPC that is *not* mining: web3 ``eth_blockNumber``/``eth_call`` over HTTP on 8545, Zabbix
  ``jsrpc.php``, JSON-RPC ``echo`` over raw TCP, bitcoind ``getblockchaininfo`` over HTTP on 8332;
* miners (default 200 per million packets): Stratum v1 (configure/subscribe/authorize/
  set_difficulty/notify/submit and results, some rejected), Monero XMRig (login/job/submit/
  keepalived) and eth-proxy (eth_submitLogin/eth_getWork/eth_submitWork/eth_submitHashrate and
  pushed work), on varied ports (25, 80, 443, 3333, 4444, 5222, 45700, ...), most spanning the
  whole capture.

Flows are interleaved on one global clock: every flow is a generator of timestamped packets and a
heap merges them. Benign flows are started lazily, as the clock advances, so memory is bounded by
the number of flows open at one time (not by the capture size), and the file is streamed to disk.
The capture lasts ``packets`` milliseconds (1M packets: ~17 minutes of traffic).

Public functions: ``generate(out, packets, seed=1, miners=None, gzip_out=False) -> dict`` (returns
the truth record) and ``main(argv) -> int``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import heapq
import ipaddress
import json
import math
import random
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

EPOCH0 = 1622505600  # 2021-06-01T00:00:00Z: capture start (fixed, so output is deterministic)
US_PER_PACKET = 1000  # capture duration = packets x 1 ms
MINERS_PER_MILLION = 200
MINER_WINDOW = 1_000_000_000  # us: longest miner session (1000 s)
POOL_BYTES = 1 << 22  # pseudo-random bytes sliced for ciphertext and binary bodies
MAX_BODY = 262_144  # cap on one HTTP body / TLS response (keeps per-flow memory bounded)

C2S, S2C = 0, 1
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# A payload is literal bytes, or (prefix, pool offset, n): prefix + n pseudo-random pool bytes,
# materialized only when the message is emitted.
Payload = bytes | tuple[bytes, int, int]
Msg = tuple[int, int, Payload]  # (time in us since capture start, direction, payload)
Pkt = tuple[int, int, int, int, int, bytes | memoryview]  # (ts_us, dir, flags, seq, ack, payload)

# ---------------------------------------------------------------------------------------------
# Binary layouts, compiled once.
PCAP_GLOBAL = struct.Struct("<IHHiIII")
PCAP_REC = struct.Struct("<IIII")
IP4 = struct.Struct("!BBHHHBBH4s4s")
IP6 = struct.Struct("!IHBB16s16s")
TCPH = struct.Struct("!HHIIHHHH")
UDPH = struct.Struct("!HHHH")
ETH_IP4, ETH_IP6 = b"\x08\x00", b"\x86\xdd"
GATEWAY_MAC = bytes.fromhex("00163e5a0001")
# MSS 1460, NOP, window scale 7, NOP, NOP, SACK permitted: 12 bytes -> 32-byte SYN header.
SYN_OPTS = bytes.fromhex("020405b4") + bytes.fromhex("01030307") + bytes.fromhex("01010402")
SYN_OPTS6 = bytes.fromhex("020405a0") + bytes.fromhex("01030307") + bytes.fromhex("01010402")


def _words(b: bytes) -> int:
    """Sum of the big-endian 16-bit words of ``b`` modulo 0xFFFF (2**16 = 1 mod 0xFFFF)."""
    n = int.from_bytes(b, "big")
    return (n << 8 if len(b) & 1 else n) % 0xFFFF


# ---------------------------------------------------------------------------------------------
# Names and addresses.
SITES = (
    "www.google.com", "www.youtube.com", "www.wikipedia.org", "en.wikipedia.org", "github.com",
    "api.github.com", "www.bing.com", "www.baidu.com", "www.qq.com", "www.taobao.com",
    "www.jd.com", "www.sina.com.cn", "weibo.com", "www.zhihu.com", "www.bilibili.com",
    "www.microsoft.com", "login.microsoftonline.com", "outlook.office365.com", "www.apple.com",
    "updates.cdn-apple.com", "www.amazon.com", "www.netflix.com", "www.linkedin.com",
    "www.reddit.com", "stackoverflow.com", "pypi.org", "files.pythonhosted.org",
    "deb.debian.org", "security.debian.org", "www.mozilla.org", "cdn.jsdelivr.net",
    "fonts.googleapis.com", "fonts.gstatic.com", "www.gstatic.com", "ajax.googleapis.com",
    "www.cloudflare.com", "www.edu.cn", "www.tsinghua.edu.cn", "www.pku.edu.cn",
    "www.gov.cn", "news.ycombinator.com", "www.nytimes.com", "www.bbc.co.uk",
    "docs.python.org", "www.kernel.org", "mirrors.aliyun.com", "mirrors.tuna.tsinghua.edu.cn",
    "www.zoom.us", "teams.microsoft.com", "slack.com", "www.dropbox.com", "drive.google.com",
)
HTTP_SITES = (
    "deb.debian.org", "security.debian.org", "mirrors.aliyun.com", "www.example.com",
    "ocsp.digicert.com", "crl.microsoft.com", "detectportal.firefox.com",
    "connectivitycheck.gstatic.com", "archive.ubuntu.com", "download.windowsupdate.com",
    "www.msftconnecttest.com", "intranet.example.edu.cn", "printer.local.example",
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.77 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:89.0) Gecko/20100101 Firefox/89.0",
    "Debian APT-HTTP/1.3 (2.2.4)",
    "Microsoft-CryptoAPI/10.0",
    "curl/7.74.0",
)
STRATUM_AGENTS = ("cgminer/4.11.1", "bmminer/2.0.0", "BFGMiner/5.5.0", "sgminer/5.6.1",
                  "cpuminer/2.5.1", "NiceHash/1.0.0")
XMRIG_AGENTS = (
    "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",
    "XMRig/6.18.1 (Windows NT 10.0; Win64; x64) libuv/1.44.2 msvc/2019",
    "XMRig/6.16.4 (Linux x86_64) libuv/1.42.0 gcc/9.3.0",
    "XMRig/5.11.1 (Linux x86_64) libuv/1.34.0 gcc/9.3.0",
    "xmr-stak/2.10.8/39f7b9a7 lin/cpu/monero/0",
)
XMRIG_ALGOS = ("cn/1", "cn/2", "cn/r", "cn/fast", "cn/half", "cn/xao", "cn/rto", "cn/rwz",
               "cn/zls", "cn/double", "cn-lite/1", "cn-heavy/0", "cn-heavy/tube", "cn-pico",
               "rx/0", "rx/wow", "rx/arq", "rx/sfx", "argon2/chukwa", "argon2/chukwav2", "ghostrider")
DIALECT_PORTS = {
    "stratum": (3333, 3333, 4444, 25, 443, 5222, 45700, 8888, 1800, 700, 3032, 9332),
    "monero": (3333, 5555, 7777, 10128, 14444, 80, 443, 9000, 4444, 45700),
    "ethproxy": (8008, 4444, 9999, 14444, 443, 5555, 8888, 2020, 25),
}
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _public_v4(rng: random.Random) -> bytes:
    while True:
        a = rng.randrange(1, 224)
        if a in (10, 100, 127, 169, 172, 192, 198, 203):
            continue
        return bytes((a, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)))


def _addr_text(a: bytes) -> str:
    return str(ipaddress.ip_address(a))


def _mac_for(a: bytes) -> bytes:
    return b"\x02\x00" + hashlib.blake2s(a, digest_size=4).digest()


@dataclass(slots=True)
class Host:
    """A client host of the monitored network (IPv4 and IPv6 addresses, next ephemeral port)."""

    v4: bytes
    v6: bytes
    port: int


class Network:
    """Deterministic address book: client hosts, benign servers per site name, pool servers."""

    def __init__(self, rng: random.Random, clients: int) -> None:
        self.rng = rng
        self.hosts: list[Host] = []
        for i in range(clients):
            v4 = bytes((10, 20 + (i >> 16 & 0x3F), i >> 8 & 0xFF, (i & 0xFF) or 1))
            v6 = ipaddress.IPv6Address(f"2001:db8:10:{i >> 8 & 0xFFFF:x}::{i & 0xFF | 0x100:x}").packed
            self.hosts.append(Host(v4, v6, rng.randrange(32768, 60000)))
        self.site_v4: dict[str, list[bytes]] = {}
        self.site_v6: dict[str, list[bytes]] = {}
        self.resolver = (bytes((10, 0, 0, 53)), ipaddress.IPv6Address("2001:db8:10::53").packed)
        self.internal_v4 = [bytes((10, 0, 1, i)) for i in range(10, 40)]

    def site(self, name: str, v6: bool) -> bytes:
        book = self.site_v6 if v6 else self.site_v4
        addrs = book.get(name)
        if addrs is None:
            if v6:
                addrs = [ipaddress.IPv6Address(
                    (0x20010DB8F000 << 80) | self.rng.getrandbits(80)).packed for _ in range(2)]
            else:
                addrs = [_public_v4(self.rng) for _ in range(self.rng.randrange(1, 4))]
            book[name] = addrs
        return self.rng.choice(addrs)

    def ephemeral(self, h: Host) -> int:
        h.port = h.port + 1 if h.port < 60999 else 32768
        return h.port


# ---------------------------------------------------------------------------------------------
# Flows.
@dataclass(slots=True)
class Flow:
    """One connection: addresses, timing, and what the writer needs precomputed per direction."""

    kind: str  #: benign kind or miner dialect
    tcp: bool
    v6: bool
    client: bytes
    server: bytes
    cport: int
    sport: int
    start: int  #: us since capture start
    rtt: int  #: us, capture point to server and back
    seed: int  #: seeds the flow's own random.Random (miner scripts are replayed from it)
    miner: bool = False
    end: int = 0  #: miners: when the session closes (us)
    npackets: int = 0
    eth: tuple[bytes, bytes] = (b"", b"")
    l3sum: tuple[int, int] = (0, 0)  #: IPv4 header word sum without length and id
    l4sum: tuple[int, int] = (0, 0)  #: pseudo-header + ports word sum without length
    ipid: list[int] = field(default_factory=list)
    ttl: tuple[int, int] = (64, 52)

    def prepare(self) -> None:
        """Precompute the per-direction constants the packet writer uses."""
        cm = _mac_for(self.client)
        self.eth = (GATEWAY_MAC + cm + (ETH_IP6 if self.v6 else ETH_IP4),
                    cm + GATEWAY_MAC + (ETH_IP6 if self.v6 else ETH_IP4))
        proto = 6 if self.tcp else 17
        ends = ((self.client, self.server), (self.server, self.client))
        ports = ((self.cport, self.sport), (self.sport, self.cport))
        self.l4sum = tuple(_words(s + d) + proto + p[0] + p[1] for (s, d), p in zip(ends, ports))  # type: ignore[assignment]
        self.l3sum = tuple(0x4500 + 0x4000 + (ttl << 8 | proto) + _words(s + d)  # type: ignore[assignment]
                           for (s, d), ttl in zip(ends, self.ttl))
        self.ipid = [self.seed & 0xFFFF, self.seed >> 16 & 0xFFFF]


def _segments(n: int, mss: int) -> int:
    return -(-n // mss) if n else 0


def _psize(p: Payload) -> int:
    return len(p) if isinstance(p, bytes) else len(p[0]) + p[2]


def tcp_count(sizes: Iterator[int] | list[int], mss: int) -> int:
    """Packets ``tcp_packets`` emits for messages of these sizes (handshake + data/ACKs + FIN)."""
    n = 6
    for size in sizes:
        k = _segments(size, mss)
        n += k + (k + 1) // 2
    return n


def tcp_packets(f: Flow, msgs: Iterator[Msg] | list[Msg], pool: bytes) -> Iterator[Pkt]:
    """Packetize messages into a TCP connection: 3-way handshake, segments at the MSS with a
    receiver ACK after every second segment and after the last, then FIN/FIN/ACK."""
    rng = random.Random(f.seed ^ 0x5EED)
    mss = 1440 if f.v6 else 1460
    lan = rng.randrange(80, 600)  # client-side delay (capture point is next to the clients)
    gap = rng.randrange(30, 400)  # inter-segment gap of a burst
    nxt = [rng.getrandbits(32), rng.getrandbits(32)]
    t = f.start
    yield (t, C2S, SYN, nxt[0], 0, b"")
    t += f.rtt
    yield (t, S2C, SYN | ACK, nxt[1], nxt[0] + 1, b"")
    nxt[0] += 1
    nxt[1] += 1
    t += lan
    yield (t, C2S, ACK, nxt[0], nxt[1], b"")
    last = t
    for mt, d, payload in msgs:
        data = payload if isinstance(payload, bytes) else payload[0] + pool[payload[1]:payload[1] + payload[2]]
        ts = mt if mt > last else last + rng.randrange(20, 200)
        ackdelay = f.rtt if d == C2S else lan
        seq, peer = nxt[d], nxt[1 - d]
        mv = memoryview(data)
        n = len(data)
        out: list[Pkt] = []
        o = i = 0
        while o < n:
            seg = mv[o:o + mss]
            o += len(seg)
            i += 1
            out.append((ts, d, ACK | PSH if o >= n else ACK, seq, peer, seg))
            seq += len(seg)
            if not i & 1 or o >= n:
                out.append((ts + ackdelay, 1 - d, ACK, peer, seq, b""))
            ts += gap
        nxt[d] = seq
        if ackdelay > gap and i > 1:
            out.sort(key=lambda p: p[0])
        yield from out
        last = out[-1][0]
    t = last + rng.randrange(1000, 2_000_000)
    closer = C2S if rng.random() < 0.7 else S2C
    other = 1 - closer
    d1 = f.rtt if closer == C2S else lan
    d2 = lan if closer == C2S else f.rtt
    yield (t, closer, FIN | ACK, nxt[closer], nxt[other], b"")
    nxt[closer] += 1
    yield (t + d1, other, FIN | ACK, nxt[other], nxt[closer], b"")
    nxt[other] += 1
    yield (t + d1 + d2, closer, ACK, nxt[closer], nxt[other], b"")


def udp_packets(msgs: list[Msg]) -> Iterator[Pkt]:
    for mt, d, payload in msgs:
        assert isinstance(payload, bytes)
        yield (mt, d, 0, 0, 0, payload)


# ---------------------------------------------------------------------------------------------
# Benign content.
def _hex(rng: random.Random, nbytes: int) -> str:
    return f"{rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"


def _pool_off(rng: random.Random, n: int) -> int:
    return rng.randrange(0, POOL_BYTES - n)


def _body_size(rng: random.Random, median: float, sigma: float) -> int:
    return max(64, min(MAX_BODY, int(rng.lognormvariate(math.log(median), sigma))))


def client_hello(rng: random.Random, sni: str) -> bytes:
    """A TLS 1.3 ClientHello record carrying ``sni`` (SNI, groups, ALPN, key share, padding)."""
    host = sni.encode()
    exts = [
        (0x0000, struct.pack("!HBH", len(host) + 3, 0, len(host)) + host),
        (0x0017, b""),
        (0xFF01, b"\x00"),
        (0x000A, bytes.fromhex("0008001d001700180019")),
        (0x000B, b"\x01\x00"),
        (0x0023, b""),
        (0x0010, b"\x00\x0c\x02h2\x08http/1.1"),
        (0x0005, b"\x01\x00\x00\x00\x00"),
        (0x000D, bytes.fromhex("0010040308040401050308050501080606010201")[:18]),
        (0x0033, b"\x00\x24\x00\x1d\x00\x20" + rng.randbytes(32)),
        (0x002D, b"\x01\x01"),
        (0x002B, b"\x04\x03\x04\x03\x03"),
    ]
    ciphers = bytes.fromhex("130113031302c02bc02fcca9cca8c02cc030c00ac009c013c014009c009d002f0035")
    def body_with(ex: list[tuple[int, bytes]]) -> bytes:
        eb = b"".join(struct.pack("!HH", t, len(v)) + v for t, v in ex)
        return (b"\x03\x03" + rng_random + b"\x20" + sid + struct.pack("!H", len(ciphers)) + ciphers
                + b"\x01\x00" + struct.pack("!H", len(eb)) + eb)
    rng_random, sid = rng.randbytes(32), rng.randbytes(32)
    body = body_with(exts)
    pad = 508 - len(body) - 4
    if pad >= 0:
        body = body_with(exts + [(0x0015, bytes(pad))])
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def server_hello(rng: random.Random) -> bytes:
    exts = b"".join(struct.pack("!HH", t, len(v)) + v for t, v in (
        (0x002B, b"\x03\x04"), (0x0033, b"\x00\x1d\x00\x20" + rng.randbytes(32))))
    body = (b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32) + b"\x13\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs + b"\x14\x03\x03\x00\x01\x01"


def _appdata(rng: random.Random, n: int, prefix: bytes = b"") -> Payload:
    return (prefix + b"\x17\x03\x03" + struct.pack("!H", n), _pool_off(rng, n), n)


def tls_msgs(rng: random.Random, t: int, rtt: int, sni: str) -> list[Msg]:
    m: list[Msg] = [(t, C2S, client_hello(rng, sni))]
    t += rtt + rng.randrange(200, 3000)
    m.append((t, S2C, _appdata(rng, rng.randrange(2400, 5200), server_hello(rng))))
    t += rng.randrange(500, 5000)
    m.append((t, C2S, _appdata(rng, 53, b"\x14\x03\x03\x00\x01\x01")))
    for _ in range(1 + int(rng.expovariate(1 / 12))):
        t += rng.randrange(100, 3000)
        m.append((t, C2S, _appdata(rng, rng.randrange(120, 900))))
        t += rtt + rng.randrange(1000, 60_000)
        left = _body_size(rng, 560, 1.7)
        while left > 0:
            n = min(left, 16401)
            m.append((t, S2C, _appdata(rng, n)))
            left -= n
            t += rng.randrange(100, 2000)
        t += int(rng.expovariate(1 / 2_000_000))
    return m


def http_msgs(rng: random.Random, t: int, rtt: int, host: str) -> list[Msg]:
    m: list[Msg] = []
    ua = rng.choice(USER_AGENTS)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 4))):
        path = rng.choice(("/", "/index.html", "/debian/dists/bullseye/InRelease", "/pool/main/p/python3.9/",
                           "/connecttest.txt", "/generate_204", "/MFEwTzBNMEswSTAJBgUrDgMCGgUABBQ",
                           "/static/app.js", "/images/logo.png", f"/download/{_hex(rng, 6)}.bin"))
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nAccept: */*\r\n"
               f"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n").encode()
        m.append((t, C2S, req))
        t += rtt + rng.randrange(500, 40_000)
        n = _body_size(rng, 1500, 1.8)
        ctype = rng.choice(("text/html; charset=utf-8", "application/octet-stream", "image/png",
                            "application/javascript", "image/jpeg"))
        hdr = (f"HTTP/1.1 200 OK\r\nServer: nginx/1.18.0\r\nDate: Tue, 01 Jun 2021 00:00:00 GMT\r\n"
               f"Content-Type: {ctype}\r\nContent-Length: {n}\r\nConnection: keep-alive\r\n"
               f"ETag: \"{_hex(rng, 8)}\"\r\nCache-Control: max-age=3600\r\n\r\n").encode()
        m.append((t, S2C, (hdr, _pool_off(rng, n), n)))
        t += int(rng.expovariate(1 / 1_500_000)) + (n // 1460) * 200
    return m


def _http_post(host: str, path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: python-requests/2.25.1\r\n"
            f"Accept: */*\r\nContent-Type: application/json\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def _http_json_response(body: bytes) -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Tue, 01 Jun 2021 00:00:00 GMT\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def web3_msgs(rng: random.Random, t: int, rtt: int, host: str) -> list[Msg]:
    m: list[Msg] = []
    for i in range(1, rng.randrange(2, 9)):
        if rng.random() < 0.5:
            req = {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": [], "id": i}
            res = {"jsonrpc": "2.0", "id": i, "result": hex(12_500_000 + rng.randrange(100000))}
        else:
            req = {"jsonrpc": "2.0", "method": "eth_call", "id": i, "params": [
                {"to": "0x" + _hex(rng, 20), "data": "0x70a08231000000000000000000000000" + _hex(rng, 20)},
                "latest"]}
            res = {"jsonrpc": "2.0", "id": i, "result": "0x" + _hex(rng, 32)}
        m.append((t, C2S, _http_post(host, "/", json.dumps(req, separators=(",", ":")).encode())))
        t += rtt + rng.randrange(1000, 20_000)
        m.append((t, S2C, _http_json_response(json.dumps(res, separators=(",", ":")).encode())))
        t += rng.randrange(100_000, 3_000_000)
    return m


def zabbix_msgs(rng: random.Random, t: int, rtt: int, host: str) -> list[Msg]:
    m: list[Msg] = []
    for i in range(1, rng.randrange(2, 6)):
        req = {"jsonrpc": "2.0", "method": rng.choice(("zabbix.status", "screen.get", "item.get")),
               "params": {"nocache": True, "sid": _hex(rng, 8)}, "id": i}
        res = {"jsonrpc": "2.0", "result": {"data": [{"itemid": str(rng.randrange(10000, 99999)),
                                                    "lastvalue": str(rng.random())[:8]}
                                                   for _ in range(rng.randrange(1, 40))]}, "id": i}
        body = json.dumps(req).encode()
        m.append((t, C2S, _http_post(host, "/zabbix/jsrpc.php?output=json-rpc", body,
                                     f"Cookie: zbx_sessionid={_hex(rng, 16)}\r\nX-Requested-With: XMLHttpRequest\r\n")))
        t += rtt + rng.randrange(2000, 50_000)
        m.append((t, S2C, _http_json_response(json.dumps(res).encode())))
        t += rng.randrange(1_000_000, 10_000_000)
    return m


def echo_msgs(rng: random.Random, t: int, rtt: int) -> list[Msg]:
    m: list[Msg] = []
    for i in range(1, rng.randrange(2, 12)):
        words = " ".join(rng.choice(("hello", "world", "ping", "status", "report", "ok")) for _ in range(rng.randrange(1, 8)))
        m.append((t, C2S, (json.dumps({"jsonrpc": "2.0", "method": "echo", "params": [words], "id": i}) + "\n").encode()))
        t += rtt + rng.randrange(100, 2000)
        m.append((t, S2C, (json.dumps({"jsonrpc": "2.0", "result": [words], "id": i}) + "\n").encode()))
        t += rng.randrange(10_000, 2_000_000)
    return m


def bitcoind_msgs(rng: random.Random, t: int, rtt: int, host: str) -> list[Msg]:
    auth = base64.b64encode(f"rpcuser:{_hex(rng, 8)}".encode()).decode()
    m: list[Msg] = []
    height = 685_000 + rng.randrange(5000)
    for _ in range(rng.randrange(1, 4)):
        req = {"jsonrpc": "1.0", "id": "curltest", "method": "getblockchaininfo", "params": []}
        res = {"result": {"chain": "main", "blocks": height, "headers": height,
                          "bestblockhash": "0000000000000000000" + _hex(rng, 22)[:45],
                          "difficulty": 21047730572451.13, "mediantime": EPOCH0 - 3000,
                          "verificationprogress": 0.9999985, "initialblockdownload": False,
                          "chainwork": "00000000000000000000000000000000000000001d9b8ea27e6f4b4b5c3e1f2a",
                          "size_on_disk": 398_000_000_000 + rng.randrange(10**9), "pruned": False,
                          "softforks": {k: {"type": "buried", "active": True, "height": h} for k, h in (
                              ("bip34", 227931), ("bip66", 363725), ("bip65", 388381), ("csv", 419328),
                              ("segwit", 481824))},
                          "warnings": ""}, "error": None, "id": "curltest"}
        m.append((t, C2S, _http_post(host, "/", json.dumps(req).encode(), f"Authorization: Basic {auth}\r\n")))
        t += rtt + rng.randrange(1000, 30_000)
        m.append((t, S2C, _http_json_response(json.dumps(res).encode())))
        t += rng.randrange(1_000_000, 30_000_000)
    return m


def _dns_name(name: str) -> bytes:
    return b"".join(bytes((len(p),)) + p.encode() for p in name.split(".")) + b"\x00"


def dns_msgs(rng: random.Random, t: int, rtt: int, name: str, answered: bool = True) -> list[Msg]:
    qid = rng.randrange(65536)
    qtype = rng.choice((1, 1, 28, 65))
    q = _dns_name(name) + struct.pack("!HH", qtype, 1)
    m: list[Msg] = [(t, C2S, struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q)]
    if answered:
        rr = b""
        k = rng.randrange(1, 4) if qtype in (1, 28) else 0
        for _ in range(k):
            rdata = rng.randbytes(4 if qtype == 1 else 16)
            rr += struct.pack("!HHHIH", 0xC00C, qtype, 1, rng.randrange(30, 3600), len(rdata)) + rdata
        m.append((t + rng.randrange(300, 40_000), S2C, struct.pack("!HHHHHH", qid, 0x8180, 1, k, 0, 0) + q + rr))
    return m


def ntp_msgs(rng: random.Random, t: int, rtt: int) -> list[Msg]:
    req = b"\x23" + bytes(39) + struct.pack("!II", EPOCH0 + 2208988800 + t // 1_000_000, rng.getrandbits(32))
    res = b"\x24\x02\x00\xe7" + rng.randbytes(12) + bytes(8) + req[40:48] + rng.randbytes(16)
    return [(t, C2S, req), (t + rtt, S2C, res)]


# ---------------------------------------------------------------------------------------------
# Miners: generators replayed from a seed (once to count packets, once to emit them).
def _line(obj: object, spaced: bool = False) -> bytes:
    if spaced:
        return (json.dumps(obj) + "\n").encode()
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def stratum_msgs(rng: random.Random, t: int, end: int, rtt: int) -> Iterator[Msg]:
    worker = f"{rng.choice(('bc1q', 'user', 'acct', 'farm'))}{_hex(rng, 3)}.w{rng.randrange(1, 99):02d}"
    diff = rng.choice((1024, 4096, 8192, 16384, 65536, 131072))
    configure = rng.random() < 0.3
    nid = 1
    def result(i: int, val: object = True) -> bytes:
        return _line({"id": i, "result": val, "error": None})
    if configure:
        yield (t, C2S, _line({"id": nid, "method": "mining.configure", "params": [["version-rolling"],
                             {"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]}))
        t += rtt
        yield (t, S2C, _line({"id": nid, "result": {"version-rolling": True, "version-rolling.mask": "1fffe000"}, "error": None}))
        nid += 1
    yield (t, C2S, _line({"id": nid, "method": "mining.subscribe", "params": [rng.choice(STRATUM_AGENTS)]}))
    t += rtt
    ex1 = _hex(rng, 4)
    yield (t, S2C, result(nid, [[["mining.set_difficulty", _hex(rng, 8)], ["mining.notify", _hex(rng, 8)]], ex1, 4]))
    nid += 1
    t += rng.randrange(500, 5000)
    yield (t, C2S, _line({"id": nid, "method": "mining.authorize", "params": [worker, "x"]}))
    t += rtt
    job = rng.randrange(1, 1 << 20)
    def notify(clean: bool) -> dict[str, object]:
        return {"id": None, "method": "mining.notify", "params": [
            f"{job:x}", _hex(rng, 32), "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff"
            + _hex(rng, rng.randrange(30, 60)), _hex(rng, rng.randrange(40, 90)),
            [_hex(rng, 32) for _ in range(rng.randrange(6, 13))], "20000000", "1709a7af",
            f"{EPOCH0 + t // 1_000_000:08x}", clean]}
    yield (t, S2C, result(nid, True) + _line({"id": None, "method": "mining.set_difficulty", "params": [diff]})
           + _line(notify(True)))
    nid += 1
    sub_mean = rng.uniform(4e6, 40e6)
    next_notify = t + int(rng.expovariate(1 / 30e6))
    next_submit = t + int(rng.expovariate(1 / sub_mean))
    while True:
        if next_notify <= next_submit:
            if next_notify >= end:
                return
            t = next_notify
            job += 1
            yield (t, S2C, _line(notify(rng.random() < 0.15)))
            next_notify = t + int(rng.expovariate(1 / 30e6)) + 1_000_000
        else:
            if next_submit >= end:
                return
            t = next_submit
            params = [worker, f"{job:x}", _hex(rng, 4), f"{EPOCH0 + t // 1_000_000:08x}", _hex(rng, 4)]
            if configure:
                params.append(_hex(rng, 4))
            yield (t, C2S, _line({"id": nid, "method": "mining.submit", "params": params}))
            r = rng.random()
            t += rtt + rng.randrange(100, 3000)
            if r < 0.97:
                yield (t, S2C, result(nid))
            else:
                yield (t, S2C, _line({"id": nid, "result": None, "error": [23, "Low difficulty share", None]}))
            nid += 1
            next_submit = t + int(rng.expovariate(1 / sub_mean)) + 1000


def monero_msgs(rng: random.Random, t: int, end: int, rtt: int) -> Iterator[Msg]:
    wallet = "4" + "".join(rng.choice(B58) for _ in range(94))
    agent = rng.choice(XMRIG_AGENTS)
    escaped = rng.random() < 0.25  # some agents escape '/' as '\/' in JSON
    diff = rng.choice((10000, 25000, 50000, 100000, 120001, 240000))
    target = (0xFFFFFFFF // diff).to_bytes(4, "little").hex()
    sess = f"{rng.getrandbits(64):x}"
    height = 2_370_000 + rng.randrange(2000)
    seed_hash = _hex(rng, 32)
    def line(obj: object) -> bytes:
        s = json.dumps(obj, separators=(",", ":"))
        return ((s.replace("/", "\\/") if escaped else s) + "\n").encode()
    def job() -> dict[str, object]:
        return {"blob": "0e0e" + _hex(rng, 37) + "00000000" + _hex(rng, 33), "job_id": _hex(rng, 4),
                "target": target, "algo": "rx/0", "height": height, "seed_hash": seed_hash}
    yield (t, C2S, line({"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
        "login": wallet, "pass": rng.choice(("x", "worker1", "rig")), "agent": agent,
        "algo": list(XMRIG_ALGOS)}}))
    t += rtt + rng.randrange(1000, 20_000)
    cur = job()
    yield (t, S2C, line({"id": 1, "jsonrpc": "2.0", "error": None, "result": {
        "id": sess, "job": cur, "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"],
        "status": "OK"}}))
    nid = 2
    sub_mean = rng.uniform(8e6, 60e6)
    next_job = t + int(rng.expovariate(1 / 120e6))
    next_sub = t + int(rng.expovariate(1 / sub_mean))
    last_tx = t
    while True:
        next_ka = last_tx + 60_000_000
        nt = min(next_job, next_sub, next_ka)
        if nt >= end:
            return
        t = nt
        if nt == next_job:
            height += 1
            cur = job()
            yield (t, S2C, line({"jsonrpc": "2.0", "method": "job", "params": cur}))
            next_job = t + int(rng.expovariate(1 / 120e6)) + 1_000_000
            continue
        if nt == next_sub:
            yield (t, C2S, line({"id": nid, "jsonrpc": "2.0", "method": "submit", "params": {
                "id": sess, "job_id": cur["job_id"], "nonce": _hex(rng, 4), "result": _hex(rng, 32), "algo": "rx/0"}}))
            t += rtt + rng.randrange(200, 5000)
            yield (t, S2C, line({"id": nid, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}))
            next_sub = t + int(rng.expovariate(1 / sub_mean)) + 1000
        else:
            yield (t, C2S, line({"id": nid, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": sess}}))
            t += rtt + rng.randrange(200, 5000)
            yield (t, S2C, line({"id": nid, "jsonrpc": "2.0", "error": None, "result": {"status": "KEEPALIVED"}}))
        last_tx = nt
        nid += 1


def ethproxy_msgs(rng: random.Random, t: int, end: int, rtt: int) -> Iterator[Msg]:
    spaced = rng.random() < 0.5  # Claymore-style '{"worker": "", "jsonrpc": "2.0", ...}'
    wallet = "0x" + _hex(rng, 20)
    worker = f"rig{rng.randrange(1, 99):02d}"
    diff = rng.choice((2_000_000_000, 4_000_000_000, 8_000_000_000))
    target = f"0x{(1 << 256) // diff:064x}"
    rate = rng.randrange(25_000_000, 500_000_000)
    hid = "0x" + _hex(rng, 32)
    def req(i: int, method: str, params: list[object]) -> bytes:
        if spaced:
            return _line({"worker": "", "jsonrpc": "2.0", "params": params, "id": i, "method": method}, True)
        return _line({"id": i, "jsonrpc": "2.0", "method": method, "params": params, "worker": worker})
    def res(i: int, val: object) -> bytes:
        return _line({"id": i, "jsonrpc": "2.0", "result": val}, spaced)
    def work() -> list[str]:
        return ["0x" + _hex(rng, 32), "0x" + _hex(rng, 32), target]
    login = [f"{wallet}.{worker}", "x"] if spaced else [wallet]
    yield (t, C2S, req(1, "eth_submitLogin", login))
    t += rtt
    yield (t, S2C, res(1, True))
    t += rng.randrange(500, 5000)
    yield (t, C2S, req(2, "eth_getWork", []))
    t += rtt
    cur = work()
    yield (t, S2C, res(2, cur))
    nid = 3
    sub_mean = rng.uniform(5e6, 45e6)
    next_work = t + int(rng.expovariate(1 / 13e6))
    next_sub = t + int(rng.expovariate(1 / sub_mean))
    next_hr = t + 30_000_000
    while True:
        nt = min(next_work, next_sub, next_hr)
        if nt >= end:
            return
        t = nt
        if nt == next_work:
            cur = work()
            yield (t, S2C, res(0, cur))
            next_work = t + int(rng.expovariate(1 / 13e6)) + 500_000
            continue
        if nt == next_sub:
            yield (t, C2S, req(nid, "eth_submitWork", ["0x" + _hex(rng, 8), cur[0], "0x" + _hex(rng, 32)]))
            next_sub = t + int(rng.expovariate(1 / sub_mean)) + rtt + 10_000
        else:
            yield (t, C2S, req(nid, "eth_submitHashrate", [f"0x{rate + rng.randrange(-999_999, 999_999):064x}", hid]))
            next_hr = t + 30_000_000 + rtt + 10_000
        t += rtt + rng.randrange(200, 3000)
        yield (t, S2C, res(nid, True))
        nid += 1


MINER_SCRIPTS = {"stratum": stratum_msgs, "monero": monero_msgs, "ethproxy": ethproxy_msgs}

# Benign kinds: (weight by flow count, IPv6 share, transport). Tuned so that 1M packets give
# ~20k flows at ~480 bytes per record.
BENIGN = (
    ("dns", 0.22, 0.25, "udp"),
    ("ntp", 0.02, 0.2, "udp"),
    ("tls", 0.37, 0.3, "tcp"),
    ("http", 0.13, 0.2, "tcp"),
    ("web3", 0.04, 0.2, "tcp"),
    ("zabbix", 0.03, 0.0, "tcp"),
    ("jsonrpc_echo", 0.04, 0.1, "tcp"),
    ("bitcoind", 0.03, 0.0, "tcp"),
)


# ---------------------------------------------------------------------------------------------
SYN_SUM4, SYN_SUM6 = _words(SYN_OPTS), _words(SYN_OPTS6)


def encode_record(f: Flow, pkt: Pkt, append: Callable[[bytes | memoryview], None]) -> int:
    """Append one pcap record (record header, Ethernet, IPv4/IPv6, TCP/UDP with correct
    checksums, payload) for ``pkt`` of flow ``f``; return the frame length.

    Checksums use 2**16 = 1 (mod 0xFFFF): the ones' complement sum of 16-bit words is the
    integer value of the bytes modulo 0xFFFF, so one ``int.from_bytes`` covers the payload."""
    ts, d, flags, seq, ack, payload = pkt
    plen = len(payload)
    pi = int.from_bytes(payload, "big")
    if plen & 1:
        pi <<= 8
    ports = (f.cport, f.sport) if d == C2S else (f.sport, f.cport)
    if f.tcp:
        if flags & SYN:
            opts, hl, osum = (SYN_OPTS6, 32, SYN_SUM6) if f.v6 else (SYN_OPTS, 32, SYN_SUM4)
        else:
            opts, hl, osum = b"", 20, 0
        l4len = hl + plen
        seq &= 0xFFFFFFFF
        ack &= 0xFFFFFFFF
        off = hl << 10 | flags
        win = 502 if d == C2S else 501
        cs = (f.l4sum[d] + l4len + seq + ack + off + win + osum + pi) % 0xFFFF
        l4 = TCPH.pack(*ports, seq, ack, off, win, 0xFFFF - cs if cs else 0, 0) + opts
    else:
        l4len = 8 + plen
        cs = (f.l4sum[d] + l4len + l4len + pi) % 0xFFFF
        l4 = UDPH.pack(*ports, l4len, 0xFFFF - cs if cs else 0xFFFF)
    src, dst = (f.client, f.server) if d == C2S else (f.server, f.client)
    proto = 6 if f.tcp else 17
    if f.v6:
        l3 = IP6.pack(0x60000000, l4len, proto, f.ttl[d], src, dst)
        iplen = 40 + l4len
    else:
        iplen = 20 + l4len
        ipid = f.ipid
        i = ipid[d] = (ipid[d] + 1) & 0xFFFF
        hs = (f.l3sum[d] + iplen + i) % 0xFFFF
        l3 = IP4.pack(0x45, 0, iplen, i, 0x4000, f.ttl[d], proto, 0xFFFF - hs if hs else 0, src, dst)
    caplen = 14 + iplen
    append(PCAP_REC.pack(EPOCH0 + ts // 1_000_000, ts % 1_000_000, caplen, caplen))
    append(f.eth[d])
    append(l3)
    append(l4)
    append(payload)
    return caplen


class CaptureWriter:
    """Streams pcap records to a file (optionally gzip) and hashes what it writes."""

    def __init__(self, fh: BinaryIO, gzip_out: bool) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.size = 0
        self.z = zlib.compressobj(1, zlib.DEFLATED, 31) if gzip_out else None
        self.buf: list[bytes | memoryview] = []
        self._put(PCAP_GLOBAL.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def _put(self, data: bytes) -> None:
        if self.z is not None:
            data = self.z.compress(data)
        if data:
            self.fh.write(data)
            self.sha.update(data)
            self.size += len(data)

    def flush(self) -> None:
        if self.buf:
            self._put(b"".join(self.buf))
            self.buf.clear()

    def close(self) -> None:
        self.flush()
        if self.z is not None:
            tail = self.z.flush()
            self.fh.write(tail)
            self.sha.update(tail)
            self.size += len(tail)


class Generator:
    """Plans flows, merges their packets on one clock and writes the capture."""

    def __init__(self, packets: int, seed: int, miners: int | None) -> None:
        if packets < 1000:
            raise ValueError("--packets must be at least 1000")
        self.packets = packets
        self.seed = seed
        self.rng = random.Random(seed)
        self.duration = packets * US_PER_PACKET
        self.nminers = max(1, round(packets * MINERS_PER_MILLION / 1_000_000)) if miners is None else miners
        if self.nminers < 0:
            raise ValueError("--miners must be >= 0")
        self.net = Network(random.Random(seed * 7919 + 1), max(64, packets // 400))
        self.pool = random.Random(seed * 104729 + 3).randbytes(POOL_BYTES)
        self.kind_flows: dict[str, int] = {}
        self.kind_packets: dict[str, int] = {}
        self.flows = 0
        self.tcp_flows = 0
        self.v6_flows = 0
        self.wire_bytes = 0
        self.miners: list[Flow] = []
        self.benign_weights = [b[1] for b in BENIGN]

    # -- planning -------------------------------------------------------------------------------
    def _miner_flows(self) -> list[Flow]:
        rng = random.Random(self.seed * 31337 + 7)
        pools: list[tuple[bytes, bool]] = []
        npools = max(4, self.nminers // 6)
        for i in range(npools):
            v6 = i % 4 == 3
            pools.append(((0x20010DB8F0010000 << 64 | rng.getrandbits(64)).to_bytes(16, "big") if v6
                          else _public_v4(rng), v6))
        dialects = ("stratum", "monero", "ethproxy", "stratum", "monero")
        hosts = rng.sample(range(len(self.net.hosts)), min(self.nminers, len(self.net.hosts)))
        out: list[Flow] = []
        seen: set[tuple[bytes, bytes, int]] = set()
        for i in range(self.nminers):
            dialect = dialects[i % len(dialects)]
            server, v6 = pools[rng.randrange(npools)]
            host = self.net.hosts[hosts[i % len(hosts)]]
            client = host.v6 if v6 else host.v4
            port = rng.choice(DIALECT_PORTS[dialect])
            while (client, server, port) in seen:
                port += 1
            seen.add((client, server, port))
            # each miner is active for up to MINER_WINDOW (the whole capture up to 1M packets), so
            # miners stay ~6 % of the packets however large the capture
            span = int(min(self.duration, MINER_WINDOW) * rng.uniform(0.85, 0.99))
            start = rng.randrange(0, max(1, self.duration - span))
            end = start + span
            f = Flow(dialect, True, v6, client, server, self.net.ephemeral(host), port, start,
                     rng.randrange(15_000, 250_000), rng.getrandbits(48), miner=True, end=end)
            mss = 1440 if v6 else 1460
            f.npackets = tcp_count([_psize(p) for _, _, p in self._miner_script(f)], mss)
            out.append(f)
        return out

    def _miner_script(self, f: Flow) -> Iterator[Msg]:
        rng = random.Random(f.seed)
        return MINER_SCRIPTS[f.kind](rng, f.start + f.rtt + 2000, f.end, f.rtt)

    def _benign(self, start: int, remaining: int) -> tuple[Flow, list[Msg]]:
        rng = self.rng
        kind, _, v6share, transport = rng.choices(BENIGN, self.benign_weights)[0]
        if remaining < 40:
            kind, v6share, transport = "dns", 0.25, "udp"
        v6 = rng.random() < v6share
        host = self.net.hosts[rng.randrange(len(self.net.hosts))]
        client = host.v6 if v6 else host.v4
        rtt = rng.randrange(8_000, 180_000)
        seed = rng.getrandbits(48)
        frng = random.Random(seed)
        t0 = start + rtt + 1000
        if kind == "dns":
            name = rng.choice(SITES + HTTP_SITES)
            server, sport = self.net.resolver[v6], 53
            rtt = rng.randrange(300, 5000)
            msgs = dns_msgs(frng, start, rtt, name, answered=remaining != 1)
        elif kind == "ntp":
            server, sport = self.net.site(f"ntp{rng.randrange(4)}.pool.ntp.org", v6), 123
            msgs = ntp_msgs(frng, start, rtt)
        elif kind == "tls":
            sni = rng.choice(SITES)
            server, sport = self.net.site(sni, v6), 443
            msgs = tls_msgs(frng, t0, rtt, sni)
        elif kind == "http":
            name = rng.choice(HTTP_SITES)
            server, sport = self.net.site(name, v6), 80
            msgs = http_msgs(frng, t0, rtt, name)
        elif kind == "web3":
            server, sport = (self.net.site("eth-node.internal", v6), 8545)
            msgs = web3_msgs(frng, t0, rtt, f"{_addr_text(server) if not v6 else '[' + _addr_text(server) + ']'}:8545")
        elif kind == "zabbix":
            server, sport = rng.choice(self.net.internal_v4[:4]), 80
            msgs = zabbix_msgs(frng, t0, rtt, "zabbix.example.edu.cn")
        elif kind == "jsonrpc_echo":
            server, sport = (self.net.site("rpc.internal", v6), 8080)
            msgs = echo_msgs(frng, t0, rtt)
        else:  # bitcoind
            server, sport = rng.choice(self.net.internal_v4[4:8]), 8332
            msgs = bitcoind_msgs(frng, t0, rtt, f"{_addr_text(server)}:8332")
        if len(server) == 4 and v6:  # internal IPv4-only servers
            v6, client = False, host.v4
        tcp = transport == "tcp"
        f = Flow(kind, tcp, v6, client, server, self.net.ephemeral(host), sport, start, rtt, seed)
        f.npackets = tcp_count([_psize(p) for _, _, p in msgs], 1440 if v6 else 1460) if tcp else len(msgs)
        return f, msgs

    # -- writing --------------------------------------------------------------------------------
    def run(self, fh: BinaryIO, gzip_out: bool) -> dict[str, object]:
        """Write the whole capture to ``fh``; return the truth record."""
        w = CaptureWriter(fh, gzip_out)
        self.miners = self._miner_flows()
        mpk = sum(f.npackets for f in self.miners)
        if mpk > self.packets // 2:
            raise ValueError(f"--packets {self.packets} is too small for {self.nminers} miners "
                             f"(they alone need {mpk} packets)")
        emitted = wire = 0
        append = w.buf.append
        for f, pkt in self._merged(self.packets - mpk):
            wire += encode_record(f, pkt, append)
            emitted += 1
            if len(w.buf) >= 40_000:
                w.flush()
        w.close()
        if emitted != self.packets:
            raise AssertionError(f"generator emitted {emitted} packets, planned {self.packets}")
        self.wire_bytes = wire
        return self._truth(w)

    def _merged(self, budget: int) -> Iterator[tuple[Flow, Pkt]]:
        """All packets of all flows in time order. Miners are open from the start; benign flows
        are created one at a time when the clock reaches their start, which is placed so that
        their packets (``budget`` in all) spread evenly over the capture's duration."""
        heap: list[tuple[int, int, Pkt, Iterator[Pkt], Flow]] = []
        tb = 0
        for f in self.miners:
            self._account(f)
            g = tcp_packets(f, self._miner_script(f), self.pool)
            heap.append((f.start, tb, next(g), g, f))
            tb += 1
        heapq.heapify(heap)
        committed = 0
        pending = self._next_benign(0, budget) if budget else None
        while True:
            if pending is not None and (not heap or pending[0].start <= heap[0][0]):
                f, msgs = pending
                committed += f.npackets
                self._account(f)
                g = tcp_packets(f, msgs, self.pool) if f.tcp else udp_packets(msgs)
                heapq.heappush(heap, (f.start, tb, next(g), g, f))
                tb += 1
                left = budget - committed
                pending = None
                if left > 0:
                    nstart = max(f.start, self.duration * committed // budget + self.rng.randrange(0, 3000))
                    pending = self._next_benign(nstart, left)
                continue
            if not heap:
                return
            _, _, pkt, g, f = heap[0]
            nxt = next(g, None)
            if nxt is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (nxt[0], tb, nxt, g, f))
                tb += 1
            yield f, pkt

    def _next_benign(self, start: int, left: int) -> tuple[Flow, list[Msg]]:
        """The next benign flow; when it would overshoot the packet budget, DNS fills the rest."""
        f, msgs = self._benign(start, left)
        if f.npackets > left:
            f, msgs = self._benign(start, 1 if left == 1 else 2)
        return f, msgs

    def _account(self, f: Flow) -> None:
        f.prepare()
        self.flows += 1
        self.tcp_flows += f.tcp
        self.v6_flows += f.v6
        self.kind_flows[f.kind] = self.kind_flows.get(f.kind, 0) + 1
        self.kind_packets[f.kind] = self.kind_packets.get(f.kind, 0) + f.npackets

    def _truth(self, w: CaptureWriter) -> dict[str, object]:
        miners = sorted(({"client": _addr_text(f.client), "server": _addr_text(f.server),
                          "server_port": f.sport, "client_port": f.cport, "dialect": f.kind,
                          "packets": f.npackets} for f in self.miners),
                        key=lambda m: (m["client"], m["server"], m["server_port"]))
        return {
            "generator": "benchmarks/gen_capture.py",
            "seed": self.seed,
            "packets": self.packets,
            "flows": self.flows,
            "flows_tcp": self.tcp_flows,
            "flows_udp": self.flows - self.tcp_flows,
            "flows_ipv6": self.v6_flows,
            "flows_by_kind": dict(sorted(self.kind_flows.items())),
            "packets_by_kind": dict(sorted(self.kind_packets.items())),
            "frame_bytes": self.wire_bytes,
            "file_bytes": w.size,
            "sha256": w.sha.hexdigest(),
            "gzip": w.z is not None,
            "first_ts": EPOCH0,
            "duration_s": self.duration / 1e6,
            "miners": miners,
        }


def generate(out: Path, packets: int, seed: int = 1, miners: int | None = None,
             gzip_out: bool = False) -> dict[str, object]:
    """Write the capture to ``out`` and its truth to ``<out>.truth.json``; return the truth."""
    gen = Generator(packets, seed, miners)
    try:
        with open(out, "wb", buffering=1 << 22) as fh:
            truth = gen.run(fh, gzip_out)
    except ValueError:
        out.unlink(missing_ok=True)
        raise
    truth["capture"] = out.name
    Path(str(out) + ".truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gen_capture.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, required=True, help="exact number of records to write")
    p.add_argument("--out", type=Path, required=True, help="capture path (truth goes to OUT.truth.json)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--miners", type=int, default=None, help="default: 200 per million packets")
    p.add_argument("--gzip", action="store_true", help="gzip the capture (level 1, deterministic)")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        truth = generate(a.out, a.packets, a.seed, a.miners, a.gzip)
    except (ValueError, OSError) as e:
        print(f"gen_capture.py: error: {e}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    print(f"{a.out}: {truth['packets']} packets, {truth['flows']} flows, {len(truth['miners'])} miners, "  # type: ignore[arg-type]
          f"{truth['file_bytes']} bytes in {dt:.1f} s ({truth['packets'] / dt:,.0f} packets/s)",  # type: ignore[operator]
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
