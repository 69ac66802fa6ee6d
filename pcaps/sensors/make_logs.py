#!/usr/bin/env python3
"""Make the sensor-log samples in pcaps/sensors/ from the bundled sample captures.

What a Zeek and a Suricata sensor would have logged for the eight captures in pcaps/ (made by
pcaps/make_samples.py; their mining sessions are listed in pcaps/truth.json), as if one sensor
had watched the captures merged in time order (``mergecap``). Every value is computed from the
packets, read with the project's own capture reader, reassembler, DNS and TLS parsers:

    zeek/conn.log dns.log ssl.log x509.log notice.log     Zeek TSV logs (full headers)
    zeek-json/*.log.gz                                    the same records as Zeek JSON lines
                                                          (gzip, as rotated logs are archived)
    eve.json.gz                                           Suricata EVE: flow, dns, tls, http,
                                                          alert, stats (gzip)
    truth.json                                            every mining association in the logs
                                                          and the evidence each sensor has for it

Zeek conn.log: one line per TCP/UDP connection (5-tuple; originator = the SYN sender, else the
side with the ephemeral port; ``history`` letters ShADadFfRr^; ``conn_state`` S0/SF/S1/S2/S3/
RSTO/RSTR/REJ/OTH as Zeek defines them; bytes from the reassembled streams; ``local_orig`` /
``local_resp`` as if ``Site::local_nets`` were LOCAL_NETS; ``service`` from the first payload:
dns, ssl, http). dns.log: one line per query with its answers and TTLs. ssl.log / x509.log: SNI,
version, cipher, ALPN and ``ssl_history`` from the TLS records; certificates (TLS 1.2 only;
1.3 encrypts them) with the fields the project's DER walker decodes (the others are unset).
notice.log: what jsiwek/zeek-cryptomining raises (mining.zeek): for a connection whose first
JSON-RPC request starts a client payload the way its json-rpc signature requires, a
``Bitcoin::Miner`` notice "Cryptominer at A, using P protocol" (P = Stratum for Stratum client
methods, getblocktemplate, getwork, MinerGate for "login", Bitcoin::Possible_Mining for other
"mining." methods; eth-proxy and TLS are not noticed), ``sub`` = the matched payload. Pool
notices are not raised: zeek-cryptomining raises them only for pools inside local_nets.

eve.json.gz (Suricata 7 layout): one ``flow`` event per connection, ``dns`` query and answer events
(v2 format), ``tls`` events (SNI, version, JA3, certificate subject/issuer/serial/SHA-1
fingerprint/validity), ``http`` events for HTTP requests, and the ``alert`` events a sensor running
ET Open plus ``minesweep rules export --format suricata`` would raise: on the first client
payload of every plaintext mining session (ET POLICY Cryptocurrency Miner Checkin, sid 2024792,
for an XMRig login; the MINESWEEP rule of the request's method otherwise), on the first
``mining.notify`` of one Stratum pool (ET COINMINER ... Mining.Notify, sid 2017873), on the TLS
SNI of a pool and on DNS queries of pool names. Alerts carry ``payload`` (base64 of the packet's
TCP payload) and ``payload_printable``. Two ``stats`` events stand for the event types the
sidecar does not use. Alerts are raised by this script from the method each packet carries, not
by Suricata (Zeek and Suricata are not installed where this runs).

Deterministic: uids and flow ids are hashes of the 5-tuple, times come from the packets.

    .venv/bin/python pcaps/sensors/make_logs.py [--out pcaps/sensors]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import hashlib
import ipaddress
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from detector.capture import open_capture  # noqa: E402
from detector.capture.model import ACK, FIN, RST, SYN, TCP, UDP, Packet  # noqa: E402
from detector.dialects import dns as dnsp  # noqa: E402
from detector.dialects import tls as tlsp  # noqa: E402
from detector.export.signatures import DNS_SID_BASE, SNI_SID_BASE, allocate_sids, load_signatures  # noqa: E402
from detector.jsonrpc import parse_body, parse_message  # noqa: E402
from detector.reassembly import Reassembler  # noqa: E402
from detector.rules import load_rules  # noqa: E402
from detector.sidecar.intel import PoolIntel  # noqa: E402
from detector.sidecar.zeek_ascii import ZeekTsvWriter, json_record  # noqa: E402

PCAPS = REPO / "pcaps"
CAPTURES = (
    "stratum-btc-ltc-vlan.pcap",
    "zcash-equihash-sll-be.pcap",
    "ethereum-ethproxy-nicehash-rawip.pcap.gz",
    "monero-xmrig-ipv6.pcapng",
    "bitcoin-gbt-getwork-null-ns.pcap",
    "stratum-midsession-5222-sll2.pcap",
    "campus.pcapng",
    "encrypted-evasive.pcap",
)
LOCAL_NETS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128",
    "2001:db8:100::/48", "2001:db8:8a10::/48"))
KEEP = 64 << 10  #: stream bytes kept per direction (handshakes and first messages)
FIRST_PAYLOADS = 6  #: first payload packets remembered per direction
SENSOR_IFACE = "eth0"

# --------------------------------------------------------------------------- flows


@dataclass
class Side:
    pkts: int = 0
    ip_bytes: int = 0
    flags: int = 0
    stream: bytearray = field(default_factory=bytearray)
    stream_bytes: int = 0
    reasm: Reassembler = field(default_factory=Reassembler)
    chunks: list[tuple[float, bytes]] = field(default_factory=list)  #: in-order data with its packet ts
    first: list[tuple[float, bytes, tuple[int, int, int, int]]] = field(default_factory=list)


@dataclass
class Flow:
    capture: str
    proto: int
    a: str
    ap: int
    b: str
    bp: int
    first_ts: float
    last_ts: float
    sides: tuple[Side, Side] = field(default_factory=lambda: (Side(), Side()))
    history: list[tuple[int, str]] = field(default_factory=list)  #: (side, letter) in order
    syn_from: int | None = None
    synack_from: int | None = None
    # filled by finish()
    orig: int = 0

    def side_of(self, p: Packet) -> int:
        return 0 if (p.src, p.sport) == (self.a, self.ap) else 1

    @property
    def o(self) -> Side:
        return self.sides[self.orig]

    @property
    def r(self) -> Side:
        return self.sides[1 - self.orig]

    def endpoint(self, side: int) -> tuple[str, int]:
        return (self.a, self.ap) if side == 0 else (self.b, self.bp)

    @property
    def orig_h(self) -> str:
        return self.endpoint(self.orig)[0]

    @property
    def orig_p(self) -> int:
        return self.endpoint(self.orig)[1]

    @property
    def resp_h(self) -> str:
        return self.endpoint(1 - self.orig)[0]

    @property
    def resp_p(self) -> int:
        return self.endpoint(1 - self.orig)[1]

    @property
    def proto_name(self) -> str:
        return "tcp" if self.proto == TCP else "udp"

    def key(self) -> str:
        return f"{self.proto_name} {self.orig_h} {self.orig_p} {self.resp_h} {self.resp_p} {self.first_ts:.6f}"


def _letter(flags: int, payload: bool) -> str | None:
    if flags & RST:
        return "R"
    if flags & SYN:
        return "H" if flags & ACK else "S"
    if flags & FIN:
        return "F"
    if payload:
        return "D"
    if flags & ACK:
        return "A"
    return None


def read_flows(paths: Iterable[Path]) -> tuple[list[Flow], list[tuple[Packet, str]]]:
    """Every TCP/UDP flow of the captures, and the DNS packets (with their capture name)."""
    flows: list[Flow] = []
    dns_packets: list[tuple[Packet, str]] = []
    for path in paths:
        table: dict[tuple, Flow] = {}
        with open_capture(path) as cap:
            for p in cap:
                key = (p.proto, *sorted(((p.src, p.sport), (p.dst, p.dport))))
                flow = table.get(key)
                if flow is not None and p.proto == TCP and p.flags & SYN and not p.flags & ACK and (
                    any(s.flags & (FIN | RST) for s in flow.sides)
                ):
                    flow = None  # a new connection on a reused 4-tuple
                if flow is None:
                    flow = Flow(path.name, p.proto, p.src, p.sport, p.dst, p.dport, p.ts, p.ts)
                    table[key] = flow
                    flows.append(flow)
                _add(flow, p)
                if p.proto == UDP and 53 in (p.sport, p.dport) and p.payload:
                    dns_packets.append((p, path.name))
    for flow in flows:
        _finish(flow)
    flows.sort(key=lambda f: (f.first_ts, f.key()))
    return flows, dns_packets


def _add(flow: Flow, p: Packet) -> None:
    i = flow.side_of(p)
    side = flow.sides[i]
    side.pkts += 1
    side.ip_bytes += p.wirelen
    flow.last_ts = max(flow.last_ts, p.ts)
    if p.proto == TCP:
        side.flags |= p.flags
        if p.flags & SYN and not p.flags & ACK and flow.syn_from is None:
            flow.syn_from = i
        if p.flags & SYN and p.flags & ACK and flow.synack_from is None:
            flow.synack_from = i
        letter = _letter(p.flags, bool(p.payload))
        if letter is not None and (i, letter) not in flow.history:
            flow.history.append((i, letter))
        if p.flags & SYN:
            side.reasm.syn(p.seq)
        if p.payload:
            for chunk in side.reasm.push(p.seq, p.payload):
                _take(side, p.ts, chunk)
    else:
        if (i, "D") not in flow.history:
            flow.history.append((i, "D"))
        _take(side, p.ts, p.payload)
    if p.payload and len(side.first) < FIRST_PAYLOADS:
        s0, s1 = flow.sides
        side.first.append((p.ts, p.payload, (s0.pkts, s1.pkts, s0.ip_bytes, s1.ip_bytes)))


def _take(side: Side, ts: float, chunk: bytes | None) -> None:
    if chunk is None:
        return
    side.stream_bytes += len(chunk)
    room = KEEP - len(side.stream)
    if room > 0:
        side.stream += chunk[:room]
        side.chunks.append((ts, chunk[:room]))


def _finish(flow: Flow) -> None:
    if flow.syn_from is not None:
        flow.orig = flow.syn_from
    elif flow.synack_from is not None:
        flow.orig = 1 - flow.synack_from
    elif flow.proto == TCP and flow.ap != flow.bp:
        flow.orig = 0 if flow.ap > flow.bp else 1  # midstream: the ephemeral port opened it
    else:
        flow.orig = 0


def history(flow: Flow) -> str:
    out = "^" if flow.orig != 0 else ""
    for side, letter in flow.history:
        out += letter if side == flow.orig else letter.lower()
    return out


def conn_state(flow: Flow) -> str:
    o, r = flow.o, flow.r
    if flow.proto == UDP:
        return "SF" if o.pkts and r.pkts else "S0"
    syn = flow.syn_from == flow.orig
    synack = flow.synack_from == 1 - flow.orig
    if not syn and not synack:
        return "OTH"
    if syn and not synack:
        return "REJ" if r.flags & RST else "S0"
    if o.flags & RST:
        return "RSTO"
    if r.flags & RST:
        return "RSTR"
    if o.flags & FIN and r.flags & FIN:
        return "SF"
    if o.flags & FIN:
        return "S2"
    if r.flags & FIN:
        return "S3"
    return "S1"


def service(flow: Flow) -> str | None:
    head = bytes(flow.o.stream[:8])
    if flow.proto == UDP:
        return "dns" if 53 in (flow.orig_p, flow.resp_p) else None
    if head[:1] == b"\x16" and head[1:2] == b"\x03":
        return "ssl"
    if re.match(rb"(GET|POST|HEAD|PUT|OPTIONS) ", head):
        return "http"
    return None


def is_local(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    return any(ip in net for net in LOCAL_NETS if net.version == ip.version)


def uid(text: str, prefix: str = "C") -> str:
    digest = int.from_bytes(hashlib.sha256(text.encode()).digest()[:13], "big")
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = ""
    for _ in range(17):
        digest, rem = divmod(digest, 62)
        out += alphabet[rem]
    return prefix + out


def flow_id(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big") & ((1 << 51) - 1)


# --------------------------------------------------------------------------- DNS

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
          65: "HTTPS"}


@dataclass
class DnsTx:
    ts: float
    client: str
    cport: int
    server: str
    sport: int
    id: int
    query: str
    qtype: int
    flags: int
    response: dnsp.DnsMessage | None = None
    response_ts: float | None = None


def dns_transactions(packets: list[tuple[Packet, str]]) -> list[DnsTx]:
    open_q: dict[tuple, DnsTx] = {}
    out: list[DnsTx] = []
    for p, _ in sorted(packets, key=lambda x: x[0].ts):
        msg = dnsp.parse_dns(p.payload)
        if msg is None or not msg.questions:
            continue
        q = msg.questions[0]
        if not msg.qr:
            tx = DnsTx(p.ts, p.src, p.sport, p.dst, p.dport, msg.id, q.name.rstrip("."), q.qtype, msg.flags)
            open_q[(p.src, p.sport, p.dst, p.dport, msg.id)] = tx
            out.append(tx)
        else:
            tx = open_q.pop((p.dst, p.dport, p.src, p.sport, msg.id), None)
            if tx is not None:
                tx.response, tx.response_ts = msg, p.ts
    return out


def answers_of(tx: DnsTx) -> tuple[list[str], list[float], list[tuple[str, str, int, str]]]:
    """Zeek answers/TTLs and EVE (rrname, rrtype, ttl, rdata) of a response."""
    names, ttls, records = [], [], []
    if tx.response is None:
        return names, ttls, records
    for rr in tx.response.answers:
        if rr.data is None:
            continue
        names.append(rr.data.rstrip(".") if rr.rtype == 5 else rr.data)
        ttls.append(float(rr.ttl))
        records.append((rr.name.rstrip("."), QTYPES.get(rr.rtype, str(rr.rtype)), rr.ttl,
                        rr.data.rstrip(".") if rr.rtype == 5 else rr.data))
    return names, ttls, records


# --------------------------------------------------------------------------- TLS

CIPHERS = {
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
}
ZEEK_VERSIONS = {0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12", 0x0304: "TLSv13"}
EVE_VERSIONS = {0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
#: Zeek ssl_history letters of handshake message types (client capitalised, server lower case)
HS_LETTERS = {0: "h", 1: "c", 2: "s", 3: "v", 4: "t", 11: "x", 12: "k", 13: "r", 14: "n", 15: "y",
              16: "g", 20: "f", 22: "u", 8: "o"}


@dataclass
class TlsInfo:
    hello: tlsp.ClientHello
    server: tlsp.ServerHello | None
    certs: list[tlsp.CertInfo]
    ders: list[bytes]
    history: str
    established: bool
    ts: float  #: time of the ServerHello (or ClientHello)


def _records(chunks: list[tuple[float, bytes]]) -> list[tuple[float, int, bytes]]:
    """(ts of the completing packet, content type, fragment) of each complete TLS record."""
    out: list[tuple[float, int, bytes]] = []
    buf = b""
    for ts, chunk in chunks:
        buf += chunk
        while len(buf) >= 5:
            length = int.from_bytes(buf[3:5], "big")
            if len(buf) < 5 + length:
                break
            out.append((ts, buf[0], buf[5:5 + length]))
            buf = buf[5 + length:]
    return out


def _ssl_events(records: list[tuple[float, int, bytes]], client: bool) -> list[tuple[float, str]]:
    events: list[tuple[float, str]] = []
    encrypted = False
    hs = b""
    for ts, ctype, frag in records:
        letter = None
        if ctype == 20:
            letter, encrypted = "i", True
        elif ctype == 21:
            letter = "l"
        elif ctype == 22 and not encrypted:
            hs += frag
            while len(hs) >= 4:
                n = int.from_bytes(hs[1:4], "big")
                if len(hs) < 4 + n:
                    break
                mt = hs[0]
                hs = hs[4 + n:]
                events.append((ts, HS_LETTERS.get(mt, "z")))
        if letter:
            events.append((ts, letter))
    return [(ts, x.upper() if client else x) for ts, x in events]


def _der_certs(records: list[tuple[float, int, bytes]]) -> list[bytes]:
    hs = b"".join(frag for _, ctype, frag in records if ctype == 22)
    pos = 0
    while pos + 4 <= len(hs):
        mt, n = hs[pos], int.from_bytes(hs[pos + 1:pos + 4], "big")
        body = hs[pos + 4:pos + 4 + n]
        pos += 4 + n
        if mt == 11 and len(body) >= 3:
            out, i = [], 3
            while i + 3 <= len(body):
                m = int.from_bytes(body[i:i + 3], "big")
                out.append(body[i + 3:i + 3 + m])
                i += 3 + m
            return out
        if mt == 2 and b"\x00\x2b\x00\x02\x03\x04" in body:
            return []
    return []


def tls_info(flow: Flow) -> TlsInfo | None:
    if service(flow) != "ssl":
        return None
    hello = tlsp.parse_client_hello(bytes(flow.o.stream), final=True)
    if hello is None:
        return None
    server = tlsp.parse_server_hello(bytes(flow.r.stream), final=True) if flow.r.stream else None
    certs = tlsp.parse_certificates(bytes(flow.r.stream), final=True) if flow.r.stream else []
    c_rec, s_rec = _records(flow.o.chunks), _records(flow.r.chunks)
    events = sorted(_ssl_events(c_rec, True) + _ssl_events(s_rec, False), key=lambda e: e[0])
    established = any(t == 20 for _, t, _ in s_rec) and any(t == 20 for _, t, _ in c_rec)
    established = established or (server is not None and server.version == 0x0304
                                  and any(t == 23 for _, t, _ in c_rec))
    ts = next((t for t, letter in events if letter == "s"), flow.first_ts)
    return TlsInfo(hello, server, certs, _der_certs(s_rec), "".join(x for _, x in events), established, ts)


def sni_matches(sni: str | None, cert: tlsp.CertInfo | None) -> bool | None:
    if not sni or cert is None:
        return None
    names = list(cert.san_dns) or ([cert.subject_cn] if cert.subject_cn else [])
    for name in names:
        name = name.lower()
        if name == sni.lower() or (name.startswith("*.") and sni.lower().split(".", 1)[-1] == name[2:]):
            return True
    return False


# --------------------------------------------------------------------------- mining sessions


@dataclass
class Mining:
    """A truth session of pcaps/truth.json, with its flow."""

    capture: str
    truth: dict[str, Any]
    flow: Flow


def mining_sessions(flows: list[Flow]) -> list[Mining]:
    truth = json.loads((PCAPS / "truth.json").read_text("utf-8"))
    index = {(f.capture, f.orig_h, f.orig_p, f.resp_h, f.resp_p): f for f in flows}
    out: list[Mining] = []
    for name in CAPTURES:
        for s in truth["files"][name].get("sessions", []):
            flow = index.get((name, s["client"], s["client_port"], s["server"], s["server_port"]))
            if flow is None:
                raise SystemExit(f"{name}: truth session {s['client']}:{s['client_port']} -> "
                                 f"{s['server']}:{s['server_port']} not found in the capture")
            out.append(Mining(name, s, flow))
    return out


def encrypted_flows() -> list[dict[str, Any]]:
    truth = json.loads((PCAPS / "truth.json").read_text("utf-8"))
    return list(truth.get("encrypted_evasive", {}).get("flows", []))


_JSONRPC_SIG = re.compile(rb'^\s*\{\s*"(jsonrpc|method|params|id)"\s*:')  # zeek-cryptomining json-rpc.sig


def http_body(payload: bytes) -> tuple[bytes, bytes] | None:
    """(head, body) of an HTTP message in one packet, or None."""
    if not re.match(rb"(POST|GET|HTTP/1\.[01]) ", payload):
        return None
    head, sep, body = payload.partition(b"\r\n\r\n")
    return (head, body) if sep else None


def first_request(m: Mining) -> tuple[float, bytes, tuple[int, int, int, int], str] | None:
    """The first client payload packet carrying a JSON-RPC request: (ts, payload, counts, method)."""
    for ts, payload, counts in m.flow.o.first:
        http = http_body(payload)
        msgs = parse_body(http[1]) if http else [parse_message(line) for line in payload.split(b"\n")]
        for msg in msgs:
            if msg is not None and msg.method:
                return ts, payload, counts, msg.method
    return None


def notice_for(m: Mining) -> tuple[float, str, str, bytes] | None:
    """(ts, note, protocol, sub) of the zeek-cryptomining notice for a session, or None."""
    for ts, payload, _ in m.flow.o.first:
        http = http_body(payload)
        data = http[1] if http else payload
        if not _JSONRPC_SIG.match(data):
            continue
        msg = parse_body(data)[0] if http and parse_body(data) else parse_message(data.split(b"\n")[0])
        if msg is None or not msg.method:
            continue
        method = msg.method
        if "getwork" in method:
            return ts, "Bitcoin::Miner", "getwork", data
        if method in ("getblocktemplate", "submitblock"):
            return ts, "Bitcoin::Miner", "getblocktemplate", data
        if method in ("mining.authorize", "mining.get_transactions", "mining.subscribe", "mining.submit"):
            return ts, "Bitcoin::Miner", "Stratum", data
        if method == "login":
            return ts, "Bitcoin::Miner", "MinerGate", data
        if method.startswith("mining."):
            return ts, "Bitcoin::Possible_Mining", "Stratum", data
        return None
    return None


# --------------------------------------------------------------------------- Zeek logs

CONN_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes "
               "resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts "
               "orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents").split()
CONN_TYPES = ("time string addr port addr port enum string interval count count string bool bool "
              "count string count count count count set[string]").split()
DNS_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass "
              "qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected").split()
DNS_TYPES = ("time string addr port addr port enum count interval string count string count string "
             "count string bool bool bool bool count vector[string] vector[interval] bool").split()
SSL_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name "
              "resumed last_alert next_protocol established ssl_history cert_chain_fps "
              "client_cert_chain_fps sni_matches_cert").split()
SSL_TYPES = ("time string addr port addr port string string string string bool string string bool "
             "string vector[string] vector[string] bool").split()
X509_FIELDS = ("ts fingerprint certificate.version certificate.serial certificate.subject "
               "certificate.issuer certificate.not_valid_before certificate.not_valid_after "
               "certificate.key_alg certificate.sig_alg certificate.key_type certificate.key_length "
               "certificate.exponent certificate.curve san.dns san.uri san.email san.ip "
               "basic_constraints.ca basic_constraints.path_len host_cert client_cert").split()
X509_TYPES = ("time string count string string string time time string string string count string "
              "string vector[string] vector[string] vector[string] vector[addr] bool count bool bool").split()
NOTICE_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p fuid file_mime_type file_desc proto "
                 "note msg sub src dst p n peer_descr actions email_dest suppress_for "
                 "remote_location.country_code remote_location.region remote_location.city "
                 "remote_location.latitude remote_location.longitude").split()
NOTICE_TYPES = ("time string addr port addr port string string string enum enum string string addr "
                "addr port count string set[enum] set[string] interval string string string double "
                "double").split()


def conn_rows(flows: list[Flow]) -> list[tuple[float, list[Any]]]:
    rows = []
    for f in flows:
        single = f.o.pkts + f.r.pkts == 1
        rows.append((f.first_ts, [
            f.first_ts, uid(f.key()), f.orig_h, f.orig_p, f.resp_h, f.resp_p, f.proto_name, service(f),
            None if single else round(f.last_ts - f.first_ts, 6),
            None if single else f.o.stream_bytes, None if single else f.r.stream_bytes,
            conn_state(f), is_local(f.orig_h), is_local(f.resp_h), 0, history(f),
            f.o.pkts, f.o.ip_bytes, f.r.pkts, f.r.ip_bytes, None,
        ]))
    return rows


def dns_rows(txs: list[DnsTx], uids: dict[tuple, str]) -> list[tuple[float, list[Any]]]:
    rows = []
    for tx in txs:
        names, ttls, _ = answers_of(tx)
        r = tx.response
        rows.append((tx.ts, [
            tx.ts, uids.get((tx.client, tx.cport, tx.server, tx.sport)), tx.client, tx.cport, tx.server,
            tx.sport, "udp", tx.id, None if tx.response_ts is None else round(tx.response_ts - tx.ts, 6),
            tx.query, 1, "C_INTERNET", tx.qtype, QTYPES.get(tx.qtype, str(tx.qtype)),
            None if r is None else r.rcode, None if r is None else RCODES.get(r.rcode, str(r.rcode)),
            False if r is None else r.aa, False if r is None else r.tc, bool(tx.flags & 0x0100),
            False if r is None else r.ra, 0, names or None, ttls or None, False,
        ]))
    return rows


def ssl_rows(flows: list[Flow], tls: dict[int, TlsInfo]) -> tuple[list, list]:
    ssl, x509, seen = [], [], set()
    for f in flows:
        info = tls.get(id(f))
        if info is None:
            continue
        sh = info.server
        ver = sh.version if sh else None
        fps = [c.sha256 for c in info.certs]
        ssl.append((info.ts, [
            info.ts, uid(f.key()), f.orig_h, f.orig_p, f.resp_h, f.resp_p,
            ZEEK_VERSIONS.get(ver) if ver else None,
            (CIPHERS.get(sh.cipher_suite, f"unknown-{sh.cipher_suite}") if sh else None),
            None, info.hello.server_name, False, None, sh.alpn if sh else None, info.established,
            info.history or None, fps or None, [] if fps else None,
            sni_matches(info.hello.server_name, info.certs[0] if info.certs else None),
        ]))
        for i, c in enumerate(info.certs):
            if c.sha256 in seen:
                continue
            seen.add(c.sha256)
            x509.append((info.ts, [
                info.ts, c.sha256, c.version, c.serial, c.subject, c.issuer, c.not_before, c.not_after,
                None, None, None, None, None, None, list(c.san_dns) or None, None, None, None,
                None if i == 0 else True, None, True, False,
            ]))
    return ssl, x509


def notice_rows(mining: list[Mining]) -> list[tuple[float, list[Any]]]:
    rows = []
    for m in mining:
        found = notice_for(m)
        if found is None:
            continue
        ts, note, proto, data = found
        f = m.flow
        msg = (f"Cryptominer at {f.orig_h}, using {proto} protocol" if note == "Bitcoin::Miner"
               else "Possible Bitcoin mining over Stratum")
        rows.append((ts, [
            ts, uid(f.key()), f.orig_h, f.orig_p, f.resp_h, f.resp_p, None, None, None, "tcp", note, msg,
            data.decode("utf-8", "backslashreplace"), f.orig_h, f.resp_h, f.resp_p, None, None,
            ["Notice::ACTION_LOG"], [], 3600.0, None, None, None, None, None,
        ]))
    return rows


def write_zeek(out: Path, name: str, fields: list[str], types: list[str],
               rows: list[tuple[float, list[Any]]]) -> None:
    rows = sorted(rows, key=lambda r: r[0])
    first = rows[0][0] if rows else 0.0
    last = rows[-1][0] if rows else 0.0
    (out / "zeek").mkdir(parents=True, exist_ok=True)
    (out / "zeek-json").mkdir(parents=True, exist_ok=True)
    with open(out / "zeek" / f"{name}.log", "w", encoding="utf-8", newline="\n") as fh:
        w = ZeekTsvWriter(fh, name, fields, types, first)
        w.header()
        for _, values in rows:
            w.write(values)
        w.close(last)
    text = "".join(json_record(fields, types, values) + "\n" for _, values in rows)
    write_gzip(out / "zeek-json" / f"{name}.log.gz", text)


def write_gzip(path: Path, text: str) -> None:
    """Deterministic gzip (no name, mtime 0), as logrotate / ZeekControl archives are compressed."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(text.encode("utf-8"))


# --------------------------------------------------------------------------- EVE


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def printable(data: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 or b in (10, 13) else "." for b in data)


def _common(ts: float, f: Flow, event_type: str, src_side: int | None = None) -> dict[str, Any]:
    side = f.orig if src_side is None else src_side
    src, sport = f.endpoint(side)
    dst, dport = f.endpoint(1 - side)
    return {"timestamp": iso(ts), "flow_id": flow_id(f.key()), "in_iface": SENSOR_IFACE,
            "event_type": event_type, "src_ip": src, "src_port": sport, "dest_ip": dst,
            "dest_port": dport, "proto": f.proto_name.upper()}


def _app_proto(f: Flow) -> str | None:
    svc = service(f)
    if svc == "ssl":
        return "tls"
    if svc in ("http", "dns"):
        return svc
    return "failed" if f.proto == TCP and (f.o.stream_bytes or f.r.stream_bytes) else None


def _flags_hex(flags: int) -> str:
    return f"{flags & 0xFF:02x}"


def flow_event(f: Flow, alerted: bool) -> tuple[float, dict[str, Any]]:
    ev = _common(f.last_ts, f, "flow")
    app = _app_proto(f)
    if app:
        ev["app_proto"] = app
    state = conn_state(f)
    closed = f.proto == TCP and state in ("SF", "RSTO", "RSTR", "REJ")
    ev["flow"] = {
        "pkts_toserver": f.o.pkts, "pkts_toclient": f.r.pkts, "bytes_toserver": f.o.ip_bytes,
        "bytes_toclient": f.r.ip_bytes, "start": iso(f.first_ts), "end": iso(f.last_ts),
        "age": int(f.last_ts - f.first_ts), "state": "closed" if closed else "established"
        if f.o.pkts and f.r.pkts else "new", "reason": "timeout", "alerted": alerted,
    }
    if f.proto == TCP:
        both = f.o.flags | f.r.flags
        tcp: dict[str, Any] = {"tcp_flags": _flags_hex(both), "tcp_flags_ts": _flags_hex(f.o.flags),
                               "tcp_flags_tc": _flags_hex(f.r.flags)}
        for bit, name in ((FIN, "fin"), (SYN, "syn"), (RST, "rst"), (0x08, "psh"), (ACK, "ack")):
            if both & bit:
                tcp[name] = True
        tcp["state"] = "closed" if closed else "established"
        ev["tcp"] = tcp
    return f.last_ts, ev


def dns_events(txs: list[DnsTx], flows_by_tuple: dict[tuple, Flow]) -> list[tuple[float, dict]]:
    out = []
    for tx in txs:
        f = flows_by_tuple.get((tx.client, tx.cport, tx.server, tx.sport))
        if f is None:
            continue
        qtype = QTYPES.get(tx.qtype, str(tx.qtype))
        q = _common(tx.ts, f, "dns")
        q["dns"] = {"type": "query", "id": tx.id, "rrname": tx.query, "rrtype": qtype, "tx_id": 0,
                    "opcode": 0}
        out.append((tx.ts, q))
        r = tx.response
        if r is None or tx.response_ts is None:
            continue
        a = _common(tx.response_ts, f, "dns", src_side=1 - f.orig)
        _, _, records = answers_of(tx)
        body: dict[str, Any] = {"version": 2, "type": "answer", "id": tx.id, "flags": f"{r.flags:x}",
                                "qr": True, "rd": r.rd, "ra": r.ra, "opcode": 0, "rrname": tx.query,
                                "rrtype": qtype, "rcode": RCODES.get(r.rcode, str(r.rcode))}
        if records:
            body["answers"] = [{"rrname": n, "rrtype": t, "ttl": ttl, "rdata": d} for n, t, ttl, d in records]
            grouped: dict[str, list[str]] = {}
            for _, t, _, d in records:
                grouped.setdefault(t, []).append(d)
            body["grouped"] = grouped
        a["dns"] = body
        out.append((tx.response_ts, a))
    return out


def _eve_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def tls_event(f: Flow, info: TlsInfo) -> tuple[float, dict[str, Any]]:
    ev = _common(info.ts, f, "tls")
    body: dict[str, Any] = {}
    if info.certs:
        c, der = info.certs[0], info.ders[0] if info.ders else b""
        body.update(subject=c.subject, issuerdn=c.issuer,
                    serial=":".join(c.serial[i:i + 2] for i in range(0, len(c.serial), 2)),
                    fingerprint=":".join(f"{b:02x}" for b in hashlib.sha1(der).digest()) if der else None,
                    notbefore=_eve_time(c.not_before), notafter=_eve_time(c.not_after))
    if info.hello.server_name:
        body["sni"] = info.hello.server_name
    if info.server is not None:
        body["version"] = EVE_VERSIONS.get(info.server.version, "UNDETERMINED")
    ja3_string, ja3_hash = tlsp.ja3(info.hello)
    body["ja3"] = {"hash": ja3_hash, "string": ja3_string}
    ev["tls"] = {k: v for k, v in body.items() if v is not None}
    ev["app_proto"] = "tls"
    return info.ts, ev


def http_event(f: Flow) -> tuple[float, dict[str, Any]] | None:
    if service(f) != "http" or not f.o.first:
        return None
    ts, payload, _ = f.o.first[0]
    head = payload.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    method, url, proto = (head[0].split(" ") + ["", "", ""])[:3]
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
    body: dict[str, Any] = {"hostname": headers.get("host", f.resp_h).rsplit(":", 1)[0], "url": url,
                            "http_method": method, "protocol": proto, "length": 0}
    if "user-agent" in headers:
        body["http_user_agent"] = headers["user-agent"]
    if f.r.first:
        status = f.r.first[0][1].split(b"\r\n", 1)[0].split(b" ")
        if len(status) > 1 and status[1].isdigit():
            body["status"] = int(status[1])
    ev = _common(ts, f, "http")
    ev["http"] = body
    ev["app_proto"] = "http"
    return ts, ev


ET_CHECKIN = {"action": "allowed", "gid": 1, "signature_id": 2024792, "rev": 5,
              "signature": "ET POLICY Cryptocurrency Miner Checkin",
              "category": "Potential Corporate Privacy Violation", "severity": 1,
              "metadata": {"attack_target": ["Client_Endpoint"], "created_at": ["2017_10_02"],
                           "deployment": ["Perimeter"], "former_category": ["POLICY"],
                           "signature_severity": ["Minor"], "updated_at": ["2023_03_06"]}}
ET_NOTIFY = {"action": "allowed", "gid": 1, "signature_id": 2017873, "rev": 3,
             "signature": "ET COINMINER W32/BitCoinMiner.MultiThreat Stratum Protocol Mining.Notify "
                          "Work Server Response",
             "category": "Crypto Currency Mining Activity Detected", "severity": 2,
             "metadata": {"attack_target": ["Client_Endpoint"], "created_at": ["2013_12_17"],
                          "deployment": ["Perimeter"], "confidence": ["High"],
                          "signature_severity": ["Major"], "tag": ["Coinminer"],
                          "updated_at": ["2019_07_26"], "mitre_tactic_id": ["TA0040"],
                          "mitre_tactic_name": ["Impact"], "mitre_technique_id": ["T1496"],
                          "mitre_technique_name": ["Resource_Hijacking"]}}
MINESWEEP_META = {"mitre_tactic_id": ["TA0040"], "mitre_tactic_name": ["Impact"],
                  "mitre_technique_id": ["T1496"], "mitre_technique_name": ["Resource_Hijacking"],
                  "mitre_subtechnique_id": ["T1496.001"]}


def minesweep_alert(sid: int, msg: str) -> dict[str, Any]:
    return {"action": "allowed", "gid": 1, "signature_id": sid, "rev": 1, "signature": f"MINESWEEP {msg}",
            "category": "Crypto Currency Mining Activity Detected", "severity": 2,
            "metadata": MINESWEEP_META}


def alert_event(f: Flow, ts: float, payload: bytes, counts: tuple[int, int, int, int], alert: dict,
                from_orig: bool) -> tuple[float, dict[str, Any]]:
    side = f.orig if from_orig else 1 - f.orig
    ev = _common(ts, f, "alert", src_side=side)
    ev["direction"] = "to_server" if from_orig else "to_client"
    ev["alert"] = alert
    app = _app_proto(f)
    if app:
        ev["app_proto"] = app
    o, r = (counts[0], counts[1]) if f.orig == 0 else (counts[1], counts[0])
    ob, rb = (counts[2], counts[3]) if f.orig == 0 else (counts[3], counts[2])
    ev["flow"] = {"pkts_toserver": o, "pkts_toclient": r, "bytes_toserver": ob, "bytes_toclient": rb,
                  "start": iso(f.first_ts)}
    ev["payload"] = base64.b64encode(payload).decode("ascii")
    ev["payload_printable"] = printable(payload)
    ev["stream"] = 0
    return ts, ev


def protocol_alerts(mining: list[Mining]) -> list[tuple[float, dict[str, Any], Flow]]:
    by_method: dict[str, Any] = {}
    for sig in load_signatures():
        if sig.buffer == "http.header":
            continue
        by_method.setdefault(sig.method, sig)
    out = []
    notify_done = False
    for m in mining:
        found = first_request(m)
        if found is None:
            continue
        ts, payload, counts, method = found
        if method == "login":
            alert = ET_CHECKIN
        elif method in by_method:
            sig = by_method[method]
            if sig.dialect == "stratum" and b"EthereumStratum/" in payload:
                sig = next(s for s in load_signatures() if s.id == "ethstratum-subscribe")
            alert = minesweep_alert(sig.sid, sig.msg)
        else:
            continue
        out.append((*alert_event(m.flow, ts, payload, counts, alert, True), m.flow))
        if not notify_done and m.truth.get("dialect") == "stratum":
            for nts, npayload, ncounts in m.flow.r.first:
                if b'"mining.notify"' in npayload:
                    out.append((*alert_event(m.flow, nts, npayload, ncounts, ET_NOTIFY, False), m.flow))
                    notify_done = True
                    break
    return out


def name_alerts(flows: list[Flow], tls: dict[int, TlsInfo], txs: list[DnsTx],
                by_tuple: dict[tuple, Flow]) -> list[tuple[float, dict[str, Any], Flow]]:
    intel = PoolIntel(load_rules())
    suffixes = sorted({d for p in intel.rules.pools for d in p.domains})
    sni_sids, dns_sids = allocate_sids(suffixes, SNI_SID_BASE), allocate_sids(suffixes, DNS_SID_BASE)
    out = []
    for f in flows:
        info = tls.get(id(f))
        match = intel.pool(info.hello.server_name) if info else None
        if info is None or match is None or match.pool is None:
            continue
        ts, payload, counts = f.o.first[0]
        what = "browser-mining service" if match.pool.browser else "mining pool"
        alert = minesweep_alert(sni_sids[match.suffix], f"TLS SNI of {what} {match.pool.name} ({match.suffix})")
        ts, ev = alert_event(f, ts, payload, counts, alert, True)
        ev["app_proto"] = "tls"
        ev["tls"] = {"sni": info.hello.server_name}
        out.append((ts, ev, f))
    for tx in txs:
        match = intel.pool(tx.query)
        f = by_tuple.get((tx.client, tx.cport, tx.server, tx.sport))
        if match is None or match.pool is None or f is None:
            continue
        what = "browser-mining service" if match.pool.browser else "mining pool"
        ev = _common(tx.ts, f, "alert")
        ev["direction"] = "to_server"
        ev["alert"] = minesweep_alert(dns_sids[match.suffix], f"DNS query for {what} {match.pool.name} "
                                                             f"({match.suffix})")
        ev["app_proto"] = "dns"
        ev["dns"] = {"query": [{"type": "query", "id": tx.id, "rrname": tx.query,
                                "rrtype": QTYPES.get(tx.qtype, str(tx.qtype)), "tx_id": 0, "opcode": 0}]}
        out.append((tx.ts, ev, f))
    return out


def stats_event(ts: float, uptime: int) -> tuple[float, dict[str, Any]]:
    return ts, {"timestamp": iso(ts), "event_type": "stats",
                "stats": {"uptime": uptime, "capture": {"kernel_packets": 0, "kernel_drops": 0}}}


# --------------------------------------------------------------------------- truth


def truth_doc(mining: list[Mining], eve_alerts: list, dns_names: dict[str, str],
              tls: dict[int, TlsInfo], flows: list[Flow]) -> dict[str, Any]:
    noticed = {id(m.flow) for m in mining if notice_for(m) is not None}
    alerted = {id(f) for _, _, f in eve_alerts}
    intel = PoolIntel(load_rules())
    out = []
    for m in mining:
        f = m.flow
        out.append({"capture": m.capture, "client": f.orig_h, "server": f.resp_h, "server_port": f.resp_p,
                    "dialect": m.truth["dialect"], "agent": m.truth.get("agent"),
                    "pool_name_in_dns": dns_names.get(f.resp_h),
                    "zeek_notice": id(f) in noticed, "eve_alert": id(f) in alerted})
    for entry in encrypted_flows():
        if not entry.get("mining"):
            continue
        f = next(x for x in flows if x.capture == "encrypted-evasive.pcap" and x.orig_h == entry["client"]
                 and x.orig_p == entry["client_port"])
        info = tls.get(id(f))
        sni = info.hello.server_name if info else None
        out.append({"capture": "encrypted-evasive.pcap", "client": f.orig_h, "server": f.resp_h,
                    "server_port": f.resp_p, "dialect": None, "agent": None,
                    "pool_name_in_dns": dns_names.get(f.resp_h), "sni_pool": bool(intel.pool(sni)),
                    "transport": entry.get("transport"), "zeek_notice": False,
                    "eve_alert": id(f) in alerted})
    return {"generator": "pcaps/sensors/make_logs.py", "captures": list(CAPTURES), "mining": out}


# --------------------------------------------------------------------------- main


def build(out: Path) -> dict[str, Any]:
    flows, dns_packets = read_flows(PCAPS / name for name in CAPTURES)
    by_tuple = {(f.orig_h, f.orig_p, f.resp_h, f.resp_p): f for f in flows}
    uids = {k: uid(f.key()) for k, f in by_tuple.items()}
    txs = dns_transactions(dns_packets)
    tls = {id(f): info for f in flows if (info := tls_info(f)) is not None}
    mining = mining_sessions(flows)
    intel = PoolIntel(load_rules())
    dns_names: dict[str, str] = {}
    for tx in txs:
        if intel.pool(tx.query):
            for a in answers_of(tx)[0]:
                dns_names.setdefault(a, tx.query)

    notices = notice_rows(mining)
    write_zeek(out, "conn", CONN_FIELDS, CONN_TYPES, conn_rows(flows))
    write_zeek(out, "dns", DNS_FIELDS, DNS_TYPES, dns_rows(txs, uids))
    ssl, x509 = ssl_rows(flows, tls)
    write_zeek(out, "ssl", SSL_FIELDS, SSL_TYPES, ssl)
    write_zeek(out, "x509", X509_FIELDS, X509_TYPES, x509)
    write_zeek(out, "notice", NOTICE_FIELDS, NOTICE_TYPES, notices)

    alerts = protocol_alerts(mining) + name_alerts(flows, tls, txs, by_tuple)
    alerted = {id(f) for _, _, f in alerts}
    events: list[tuple[float, dict[str, Any]]] = [(ts, ev) for ts, ev, _ in alerts]
    events += [flow_event(f, id(f) in alerted) for f in flows]
    events += dns_events(txs, by_tuple)
    events += [tls_event(f, tls[id(f)]) for f in flows if id(f) in tls]
    events += [e for f in flows if (e := http_event(f)) is not None]
    first = min(ts for ts, _ in events)
    last = max(ts for ts, _ in events)
    events += [stats_event(first + 8, 8), stats_event(last, int(last - first))]
    events.sort(key=lambda e: (e[0], e[1]["event_type"], e[1].get("flow_id", 0)))
    write_gzip(out / "eve.json.gz", "".join(json.dumps(ev, separators=(",", ":")) + "\n" for _, ev in events))

    truth = truth_doc(mining, alerts, dns_names, tls, flows)
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", "utf-8")
    return truth


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    truth = build(args.out)
    print(f"wrote {args.out}: {len(truth['mining'])} mining associations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
