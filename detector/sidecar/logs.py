"""Mining detection from sensor log records: the sidecar's decision stage.

``zeek_cmd`` and ``suricata_cmd`` turn Zeek log records and EVE events into calls on a
``Detector``; the Detector links what the logs say about one client -> pool association (one
*finding*) and ``findings_document`` hands the findings, as session records, to
``detector.scan.assemble`` so findings.json, report.md and hosts.csv come out exactly as a
packet scan's.

What a finding may rest on, and how much each kind counts (the finding's confidence is the
strongest of its evidence):

==============  ==============================================================  ===========
kind            what the logs show                                              strength
==============  ==============================================================  ===========
decoded         a mining protocol decoded by minesweep's own dialect parsers    confirmed
                from a logged payload (EVE alert payload, Zeek notice ``sub``)
alert           a Suricata alert whose rule names mining (rules/sidecar.toml)   strong
notice          zeek-cryptomining Bitcoin::Miner / Mining_Pool_Server           strong
signature       a MINESWEEP Zeek signature match (Signatures::Sensitive_...)    strong
tls-sni         TLS SNI of a pool domain                                        strong
x509            the server certificate names a pool (subject CN / SAN dns)      strong
http-host       HTTP Host header of a pool domain                               strong
intel           Zeek intel.log hit of a minesweep / pool indicator              strong
pool-address    a connection to an address a logged DNS answer gave a pool      strong
dns-query       the client asked a DNS server for a pool name (no connection)   suspected
notice-possible zeek-cryptomining Bitcoin::Possible_Mining                      suspected
flow-shape      long-lived, small, symmetric, steady connection (totals only)   suspected
==============  ==============================================================  ===========

Port numbers are never evidence. Names under an allow-listed suffix (rules/allowlist.toml) are
not pools. Hashrate is never estimated from logs: a log holds connection summaries or single
payloads, not a session's share stream, so every record's hashrate is ``null`` with a basis
saying why (the miner's own ``eth_submitHashrate`` claim, when a payload holds one, stays in
``reported_hashrate``).

Memory is bounded by rules/sidecar.toml [limits]; ``state()`` / ``Detector.restore(state)``
serialise everything a restart needs (follow mode's checkpoint).

Public API

``Detector(sensor, *, rules_dir=None, flow_shape=True)``
    ``.dns(...)``, ``.conn(Conn)``, ``.tls(...)``, ``.x509(...)``, ``.http(...)``,
    ``.notice(...)``, ``.alert(...)``, ``.intel(...)``, ``.saw_record(ts, ips)``;
    ``.findings`` (id -> Finding), ``.take_changes() -> list[Finding]`` (created or raised since
    the last call), ``.records(min_confidence) -> list[dict]``, ``.state()``, ``.restore(doc)``
``Conn``          one connection summary (Zeek conn.log line, EVE flow event)
``Finding``       one client -> pool association, its evidence and confidence
``findings_document(detector, inputs, options, min_confidence) -> dict``
    the findings document (schema minesweep/findings/1) built with ``detector.scan.assemble``
``CONFIDENCE``, ``RANK``, ``STRENGTH``
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections import Counter, OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.errors import InputError
from detector.finalize import session_record
from detector.rules import load_rules
from detector.scan import ScanOptions, assemble
from detector.session import Session
from detector.sidecar.decode import Decoded, PayloadDecoder
from detector.sidecar.intel import (
    PoolIntel,
    SidecarRules,
    is_ip_text,
    load_allowlist,
    load_sidecar_rules,
    normalise_name,
)

__all__ = ["CONFIDENCE", "RANK", "STRENGTH", "Conn", "Detector", "Finding", "findings_document"]

log = logging.getLogger(__name__)

CONFIDENCE = ("suspected", "strong", "confirmed")
RANK = {c: i for i, c in enumerate(CONFIDENCE, 1)}
STRENGTH = {
    "decoded": "confirmed", "alert": "strong", "notice": "strong", "signature": "strong",
    "tls-sni": "strong", "x509": "strong", "http-host": "strong", "intel": "strong",
    "pool-address": "strong", "dns-query": "suspected", "notice-possible": "suspected",
    "flow-shape": "suspected",
}
STATE_VERSION = 1
MAX_IPS = 200_000  #: distinct addresses counted for "IPs screened" (more are counted as this)
MAX_PENDING_PER_CERT = 64
MAX_FLOWS_PER_FINDING = 16  #: decoded flows whose counters are kept apart (older ones are summed)
COUNTERS = ("methods", "submits", "accepted", "rejected", "duplicate_submits")
#: zeek-cryptomining's protocol names -> minesweep dialects (a hint, not a decode)
NOTICE_DIALECTS = {"stratum": "stratum", "getblocktemplate": "gbt", "getwork": "gbt", "minergate": "monero"}
#: RFC 6666 discard-only prefix: stand-ins for sensor host ids that are not addresses (see _alias)
_ALIAS_NET = ipaddress.ip_network("100::/64")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Conn:
    """One connection summary: a Zeek conn.log line or a Suricata EVE flow event."""

    ts: float
    client: str  #: originator (Zeek id.orig_h, EVE src_ip of a flow event)
    client_port: int | None
    server: str
    server_port: int | None
    proto: str | None  #: "tcp", "udp", ... (lower case)
    service: str | None  #: protocol the sensor identified (Zeek service, EVE app_proto)
    duration: float | None
    orig_bytes: int | None  #: payload bytes client -> server (Zeek); None when not logged
    resp_bytes: int | None
    orig_pkts: int | None
    resp_pkts: int | None
    orig_ip_bytes: int | None  #: IP bytes client -> server (Zeek orig_ip_bytes, EVE bytes_toserver)
    resp_ip_bytes: int | None
    where: str  #: "file:line" or "file@offset"

    @property
    def exchanged_data(self) -> bool:
        """Payload went both ways (a scan probe or a refused SYN carries none)."""
        if self.orig_bytes is not None and self.resp_bytes is not None:
            return self.orig_bytes > 0 and self.resp_bytes > 0
        op, rp, ob, rb = self.orig_pkts, self.resp_pkts, self.orig_ip_bytes, self.resp_ip_bytes
        if op is None or rp is None or ob is None or rb is None:
            return False
        # EVE has no payload counters: a handshake plus data both ways takes at least 3 packets
        # from the client and 2 from the server (a SYN probe, a refused or reset connection do
        # not), and more than bare 40-byte headers per packet
        return op >= 3 and rp >= 2 and ob > 40 * op and rb > 40 * rp


class ConnStats:
    """Connections of one association, summed."""

    __slots__ = ("connections", "exchanged", "first", "last", "bytes_c2s", "bytes_s2c", "packets_c2s",
                 "packets_s2c", "client_port", "where")

    def __init__(self) -> None:
        self.connections = 0
        self.exchanged = 0  #: connections that carried payload both ways
        self.first: float | None = None
        self.last: float | None = None
        self.bytes_c2s = self.bytes_s2c = self.packets_c2s = self.packets_s2c = 0
        self.client_port: int | None = None
        self.where: str | None = None

    def add(self, c: Conn) -> None:
        self.connections += 1
        self.exchanged += c.exchanged_data
        end = c.ts + (c.duration or 0.0)
        self.first = c.ts if self.first is None else min(self.first, c.ts)
        self.last = end if self.last is None else max(self.last, end)
        self.bytes_c2s += c.orig_ip_bytes or c.orig_bytes or 0
        self.bytes_s2c += c.resp_ip_bytes or c.resp_bytes or 0
        self.packets_c2s += c.orig_pkts or 0
        self.packets_s2c += c.resp_pkts or 0
        if self.client_port is None:
            self.client_port, self.where = c.client_port, c.where

    def merge(self, other: ConnStats) -> None:
        if not other.connections:
            return
        self.connections += other.connections
        self.exchanged += other.exchanged
        for name in ("bytes_c2s", "bytes_s2c", "packets_c2s", "packets_s2c"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        assert other.first is not None and other.last is not None
        self.first = other.first if self.first is None else min(self.first, other.first)
        self.last = other.last if self.last is None else max(self.last, other.last)
        if self.client_port is None:
            self.client_port, self.where = other.client_port, other.where

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConnStats:
        s = cls()
        for k in cls.__slots__:
            setattr(s, k, d.get(k, getattr(s, k)))
        return s


class Finding:
    """One client -> pool association and everything the logs say about it."""

    __slots__ = ("id", "key", "client", "client_port", "server", "server_port", "pool",
                 "pool_source", "first_seen", "last_seen", "stats", "evidence", "kinds",
                 "decoded", "flow_counters", "counter_base", "dialect_hint", "transport", "sources",
                 "emitted", "last_evidence_ts")

    def __init__(self, key: tuple[str, str, int | None] | tuple[str, str, str], client: str,
                 client_port: int | None, server: str, server_port: int | None, ts: float) -> None:
        self.key = key
        self.id = "MS" + hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        self.client, self.client_port = client, client_port
        self.server, self.server_port = server, server_port
        self.pool: str | None = None
        self.pool_source: str | None = None
        self.first_seen = self.last_seen = ts
        self.last_evidence_ts = ts
        self.stats = ConnStats()
        self.evidence: list[str] = []
        self.kinds: Counter[str] = Counter()
        self.decoded: dict[str, Any] | None = None  #: identity decoded from payloads (first value wins)
        self.flow_counters: OrderedDict[str, dict[str, Any]] = OrderedDict()  #: latest counters per flow
        self.counter_base: dict[str, Any] = _zero_counters()  #: counters of flows no longer kept
        self.dialect_hint: str | None = None
        self.transport: str | None = None
        self.sources: set[str] = set()
        self.emitted: str | None = None  #: confidence last reported (live alerts)

    def count(self, flow: str, record: dict[str, Any]) -> None:
        """The latest counters of one decoded flow (a flow's session counts cumulatively)."""
        self.flow_counters[flow] = {k: record.get(k) for k in COUNTERS}
        self.flow_counters.move_to_end(flow)
        while len(self.flow_counters) > MAX_FLOWS_PER_FINDING:
            _, old = self.flow_counters.popitem(last=False)
            self.counter_base = _add_counters(self.counter_base, old)

    def counters(self) -> dict[str, Any]:
        total = dict(self.counter_base)
        for c in self.flow_counters.values():
            total = _add_counters(total, c)
        return total

    @property
    def confidence(self) -> str:
        best = max((RANK[STRENGTH[k]] for k in self.kinds), default=RANK["suspected"])
        return CONFIDENCE[best - 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": list(self.key), "client": self.client, "client_port": self.client_port,
            "server": self.server, "server_port": self.server_port, "pool": self.pool,
            "pool_source": self.pool_source, "first_seen": self.first_seen, "last_seen": self.last_seen,
            "last_evidence_ts": self.last_evidence_ts, "stats": self.stats.to_json(),
            "evidence": self.evidence, "kinds": dict(self.kinds), "decoded": self.decoded,
            "flow_counters": list(self.flow_counters.items()), "counter_base": self.counter_base,
            "dialect_hint": self.dialect_hint, "transport": self.transport,
            "sources": sorted(self.sources), "emitted": self.emitted,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Finding:
        key = tuple(d["key"])
        f = cls(key, d["client"], d["client_port"], d["server"], d["server_port"], float(d["first_seen"]))  # type: ignore[arg-type]
        f.pool, f.pool_source = d.get("pool"), d.get("pool_source")
        f.last_seen = float(d["last_seen"])
        f.last_evidence_ts = float(d.get("last_evidence_ts", f.last_seen))
        f.stats = ConnStats.from_json(d.get("stats") or {})
        f.evidence = [str(e) for e in d.get("evidence", [])]
        f.kinds = Counter({str(k): int(v) for k, v in (d.get("kinds") or {}).items() if k in STRENGTH})
        f.decoded = d.get("decoded")
        f.flow_counters = OrderedDict((str(k), v) for k, v in d.get("flow_counters") or [])
        f.counter_base = d.get("counter_base") or _zero_counters()
        f.dialect_hint, f.transport = d.get("dialect_hint"), d.get("transport")
        f.sources = set(d.get("sources", []))
        f.emitted = d.get("emitted")
        return f


def _zero_counters() -> dict[str, Any]:
    return {"methods": {}, "submits": 0, "accepted": 0, "rejected": 0, "duplicate_submits": 0}


def _add_counters(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    methods = Counter(a.get("methods") or {})
    methods.update(b.get("methods") or {})
    out: dict[str, Any] = {"methods": dict(sorted(methods.items()))}
    for k in COUNTERS[1:]:
        out[k] = int(a.get(k) or 0) + int(b.get(k) or 0)
    return out


# --------------------------------------------------------------------------- detector


def _lru_put(table: OrderedDict, key: Hashable, value: Any, limit: int) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)


class Detector:
    """Links sensor records into findings; see the module docstring."""

    def __init__(self, sensor: str, *, rules_dir: Path | str | None = None, flow_shape: bool = True) -> None:
        self.sensor = sensor
        self.rules = load_rules(rules_dir)
        self.names = PoolIntel(self.rules, load_allowlist(self.rules.directory))
        self.cfg: SidecarRules = load_sidecar_rules(self.rules.directory)
        self.limits = self.cfg.limits
        self.flow_shape = flow_shape and self.cfg.flow_shape.enabled
        self.findings: OrderedDict[str, Finding] = OrderedDict()
        self._by_key: dict[tuple, str] = {}
        self._by_server: dict[str, set[str]] = {}
        self._dns_only: dict[tuple[str, str], str] = {}  #: (client, pool name) -> finding id
        self._by_client_pool: dict[tuple[str, str], str] = {}  #: (client, pool name) -> connection finding
        self.pool_addrs: OrderedDict[str, str] = OrderedDict()  #: address -> pool name (from DNS)
        self.recent: OrderedDict[tuple, ConnStats] = OrderedDict()  #: connections with no finding yet
        self.pool_certs: OrderedDict[str, str] = OrderedDict()  #: fingerprint / file id -> name
        self.pending_certs: OrderedDict[str, list[tuple]] = OrderedDict()
        self.decoder = PayloadDecoder(self.limits.max_payload_sessions)
        self.ips: set[str] = set()
        self.ips_overflow = 0
        self.flows = 0
        self.records_seen = 0
        self.allowlisted: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self._changed: dict[str, None] = {}

    # -- bookkeeping ------------------------------------------------------------------------

    def saw_record(self, *ips: str | None) -> None:
        """Count one record and the addresses in it (for "IPs screened")."""
        self.records_seen += 1
        for ip in ips:
            if ip and ip not in self.ips:
                if len(self.ips) < MAX_IPS:
                    self.ips.add(ip)
                else:
                    self.ips_overflow += 1

    @property
    def ips_screened(self) -> int:
        return len(self.ips) + self.ips_overflow

    def take_changes(self) -> list[Finding]:
        """Findings created, or whose confidence rose, since the last call (in that order)."""
        out = []
        for fid in self._changed:
            f = self.findings.get(fid)
            if f is not None and f.emitted != f.confidence:
                out.append(f)
        self._changed.clear()
        return out

    def _pool_name(self, text: str | None) -> str | None:
        """The normalised name when ``text`` names a pool (counting allow-list hits)."""
        m = self.names.classify(text)
        if m is None:
            return None
        if m.allowed is not None:
            self.allowlisted[m.allowed.name] += 1
            return None
        return m.name

    def _finding(self, client: str, client_port: int | None, server: str, server_port: int | None,
                 ts: float) -> Finding:
        key = (client, server, server_port)
        fid = self._by_key.get(key)
        if fid is not None:
            f = self.findings[fid]
            self.findings.move_to_end(fid)
            return f
        f = Finding(key, client, client_port, server, server_port, ts)
        self._insert(f)
        pending = self.recent.pop(key, None)
        if pending is not None:
            f.stats.merge(pending)
            if pending.first is not None:
                f.first_seen = min(f.first_seen, pending.first)
        name = self.pool_addrs.get(server)
        if name is not None:
            self._set_pool(f, name, "dns")
            self._merge_dns_only(f, name)
        return f

    def _insert(self, f: Finding) -> None:
        self.findings[f.id] = f
        self._by_key[f.key] = f.id
        self._by_server.setdefault(f.server, set()).add(f.id)
        self._mark(f.id)
        while len(self.findings) > self.limits.max_findings:
            _, old = self.findings.popitem(last=False)
            self._forget(old)

    def _forget(self, f: Finding) -> None:
        self._by_key.pop(f.key, None)
        ids = self._by_server.get(f.server)
        if ids is not None:
            ids.discard(f.id)
            if not ids:
                del self._by_server[f.server]
        if len(f.key) == 3 and isinstance(f.key[2], str):
            self._dns_only.pop((f.client, f.key[2]), None)
        for key in [k for k, v in self._by_client_pool.items() if v == f.id and k[0] == f.client]:
            del self._by_client_pool[key]

    def _set_pool(self, f: Finding, name: str, source: str) -> None:
        if f.pool is None:
            f.pool, f.pool_source = name, source
        if f.server_port is not None:  # later lookups of this name belong to this connection finding
            self._by_client_pool.setdefault((f.client, name), f.id)

    def _connection_finding(self, client: str, name: str) -> Finding | None:
        fid = self._by_client_pool.get((client, name))
        return self.findings.get(fid) if fid else None

    def _evidence(self, f: Finding, kind: str, text: str, ts: float, where: str | None = None) -> None:
        before = f.confidence if f.kinds else None
        f.kinds[kind] += 1
        line = f"{kind}: {text}" + (f" [{where}]" if where else "")
        if line not in f.evidence and len(f.evidence) < self.limits.max_evidence:
            f.evidence.append(line)
        if where:
            f.sources.add(where.rsplit(":", 1)[0].rsplit("@", 1)[0])
        f.first_seen = min(f.first_seen, ts)
        f.last_seen = max(f.last_seen, ts)
        f.last_evidence_ts = max(f.last_evidence_ts, ts)
        self.counts[kind] += 1
        if before != f.confidence:
            self._mark(f.id)

    def _mark(self, fid: str) -> None:
        """Remember a new or raised finding for ``take_changes`` (bounded like the findings)."""
        self._changed[fid] = None
        while len(self._changed) > self.limits.max_findings:
            self._changed.pop(next(iter(self._changed)))

    # -- DNS ----------------------------------------------------------------------------------

    def dns(self, ts: float, client: str | None, queries: Iterable[str], answers: Iterable[str],
            where: str, *, via: str = "dns") -> None:
        """A DNS query (and its answers, if logged) from ``client``."""
        if not client:
            return
        asked = [q for q in queries if q]
        answer_list = [a for a in answers if a]
        names = [n for n in (*asked, *(a for a in answer_list if not is_ip_text(a))) if n]
        pool_name = next((p for n in names if (p := self._pool_name(n)) is not None), None)
        if pool_name is None:
            return
        addrs = [a for a in answer_list if is_ip_text(a)]
        for addr in addrs:
            new = addr not in self.pool_addrs
            _lru_put(self.pool_addrs, addr, pool_name, self.limits.max_pool_addresses)
            if new:
                self._learnt_address(addr, pool_name, ts)
        shown = ", ".join(addrs[:4]) + (" …" if len(addrs) > 4 else "")
        text = f"{client} looked up {asked[0] if asked else pool_name}" + (f" -> {shown}" if shown else "")
        existing = [self.findings[fid] for a in addrs for fid in self._by_server.get(a, ())
                    if self.findings[fid].client == client]
        known = self._connection_finding(client, pool_name)
        if known is not None and known not in existing:
            existing.append(known)
        if existing:
            for f in existing:
                self._set_pool(f, pool_name, "dns")
                self._evidence(f, "dns-query", text, ts, where)
            return
        fid = self._dns_only.get((client, pool_name))
        if fid is not None and fid in self.findings:
            f = self.findings[fid]
        else:
            key = (client, "dns", pool_name)
            f = Finding(key, client, None, addrs[0] if addrs else pool_name, None, ts)
            self._insert(f)
            self._dns_only[(client, pool_name)] = f.id
            self._set_pool(f, pool_name, via)
        self._evidence(f, "dns-query", text, ts, where)

    def _learnt_address(self, addr: str, name: str, ts: float) -> None:
        """A DNS answer named ``addr`` a pool: connections already seen to it become findings."""
        for fid in list(self._by_server.get(addr, ())):
            f = self.findings[fid]
            self._set_pool(f, name, "dns")
            if f.stats.exchanged and not f.kinds.get("pool-address"):
                self._evidence(f, "pool-address", f"{f.client} -> {addr}:{f.server_port} "
                                                  f"({name} per a DNS answer)", ts)
        for key in [k for k in self.recent if k[1] == addr and self.recent[k].exchanged]:
            stats = self.recent[key]
            f = self._finding(key[0], stats.client_port, addr, key[2], stats.first or ts)
            self._evidence(f, "pool-address", f"{key[0]} -> {addr}:{key[2]} ({name} per a DNS answer; "
                                              f"{stats.connections} connection(s))", stats.first or ts,
                           stats.where)

    def _merge_dns_only(self, f: Finding, name: str) -> None:
        fid = self._dns_only.pop((f.client, name), None)
        if fid is None or fid == f.id or fid not in self.findings:
            return
        dns_f = self.findings.pop(fid)
        self._forget(dns_f)
        for line in dns_f.evidence:
            if line not in f.evidence and len(f.evidence) < self.limits.max_evidence:
                f.evidence.append(line)
        f.kinds.update(dns_f.kinds)
        f.sources |= dns_f.sources
        f.first_seen = min(f.first_seen, dns_f.first_seen)

    # -- connections --------------------------------------------------------------------------

    def conn(self, c: Conn) -> None:
        """A connection summary (logged when the connection ended)."""
        self.flows += 1
        self.saw_record(c.client, c.server)
        if c.proto not in (None, "tcp"):
            return
        key = (c.client, c.server, c.server_port)
        shape = self._shape(c) if self.flow_shape else None
        fid = self._by_key.get(key)
        f = self.findings.get(fid) if fid else None
        name = self.pool_addrs.get(c.server) if c.exchanged_data else None
        if f is None:
            if name is None and shape is None:
                stats = self.recent.get(key) or ConnStats()
                stats.add(c)
                _lru_put(self.recent, key, stats, self.limits.max_recent_connections)
                return
            f = self._finding(c.client, c.client_port, c.server, c.server_port, c.ts)
        if name is not None and not f.kinds.get("pool-address"):
            self._evidence(f, "pool-address", f"{c.client} -> {c.server}:{c.server_port} ({name} "
                                              "per a DNS answer)", c.ts, c.where)
        f.stats.add(c)
        if f.client_port is None:
            f.client_port = c.client_port
        f.first_seen = min(f.first_seen, c.ts)
        f.last_seen = max(f.last_seen, c.ts + (c.duration or 0.0))
        if shape is not None:
            self._evidence(f, "flow-shape", shape, c.ts, c.where)

    def _shape(self, c: Conn) -> str | None:
        """Evidence text when the connection has a mining-like shape, else None."""
        r = self.cfg.flow_shape
        if c.service and any(s.strip().lower() in r.skip_services for s in c.service.split(",")):
            return None
        if c.duration is None or c.duration < r.min_duration_s:
            return None
        op, rp = c.orig_pkts, c.resp_pkts
        if op is None or rp is None or min(op, rp) < r.min_packets_each_way:
            return None
        if max(op, rp) / min(op, rp) > r.max_packet_ratio:
            return None
        ob = c.orig_bytes if c.orig_bytes is not None else None
        rb = c.resp_bytes if c.resp_bytes is not None else None
        if ob is None and c.orig_ip_bytes is not None:  # EVE: IP bytes; take off 40 header bytes
            ob = max(0, c.orig_ip_bytes - 40 * op)
        if rb is None and c.resp_ip_bytes is not None:
            rb = max(0, c.resp_ip_bytes - 40 * rp)
        if ob is None or rb is None or ob / op > r.max_mean_payload_orig or rb / rp > r.max_mean_payload_resp:
            return None
        ppm = (op + rp) / (c.duration / 60.0)
        if not r.min_packets_per_minute <= ppm <= r.max_packets_per_minute:
            return None
        return (f"{c.client} -> {c.server}:{c.server_port} open {c.duration:.0f} s, {op}/{rp} packets "
                f"({ppm:.1f}/min), {ob / op:.0f}/{rb / rp:.0f} payload bytes per packet")

    # -- names of the server ------------------------------------------------------------------

    def tls(self, ts: float, client: str, client_port: int | None, server: str, server_port: int | None,
            sni: str | None, where: str, *, cert_names: Iterable[str] = (), cert_ids: Iterable[str] = ()) -> None:
        """A TLS connection: its SNI, certificate names logged with it, certificate ids."""
        self.saw_record(client, server)
        name = self._pool_name(sni)
        kind = "tls-sni"
        if name is None:
            name = next((p for n in cert_names if (p := self._pool_name(n)) is not None), None)
            kind = "x509"
        ids = [i for i in cert_ids if i]
        if name is None:
            name = next((self.pool_certs[i] for i in ids if i in self.pool_certs), None)
            kind = "x509"
        if name is None:
            for cid in ids[:1]:  # the leaf: a later x509 record may name a pool
                pending = self.pending_certs.get(cid) or []
                if len(pending) < MAX_PENDING_PER_CERT:
                    pending.append((ts, client, client_port, server, server_port, where))
                _lru_put(self.pending_certs, cid, pending, self.limits.max_certificates)
            return
        f = self._finding(client, client_port, server, server_port, ts)
        self._set_pool(f, name, kind)
        f.transport = f.transport or "tls"
        what = f"SNI {sni}" if kind == "tls-sni" else f"certificate names {name}"
        self._evidence(f, kind, f"{client} -> {server}:{server_port} {what}", ts, where)

    def x509(self, ts: float, cert_id: str | None, names: Iterable[str], where: str) -> None:
        """A certificate (Zeek x509.log): remember it when it names a pool."""
        if not cert_id:
            return
        name = next((p for n in names if (p := self._pool_name(n)) is not None), None)
        if name is None:
            return
        _lru_put(self.pool_certs, cert_id, name, self.limits.max_certificates)
        for ts0, client, cport, server, sport, where0 in self.pending_certs.pop(cert_id, []):
            f = self._finding(client, cport, server, sport, ts0)
            self._set_pool(f, name, "x509")
            f.transport = f.transport or "tls"
            self._evidence(f, "x509", f"{client} -> {server}:{sport} certificate names {name} ({where})",
                           ts0, where0)

    def http(self, ts: float, client: str, client_port: int | None, server: str, server_port: int | None,
             host: str | None, where: str) -> None:
        """An HTTP request and its Host header."""
        self.saw_record(client, server)
        name = self._pool_name(host)
        if name is None:
            return
        f = self._finding(client, client_port, server, server_port, ts)
        self._set_pool(f, name, "http-host")
        self._evidence(f, "http-host", f"{client} -> {server}:{server_port} Host {host}", ts, where)

    # -- payloads, alerts, notices ------------------------------------------------------------

    def _decode(self, key: Hashable, payload: bytes, ts: float, where: str, *, src: str | None = None,
                sport: int | None = None, dst: str | None = None, dport: int | None = None,
                client: tuple[str, int | None, str, int | None] | None = None) -> Finding | None:
        """Decode a logged payload; the finding of its session when a mining protocol decodes.

        The payload's sender is ``src`` (EVE alerts), or unknown with the ``client`` endpoints
        known (Zeek notices): then the sender follows from each message's role.
        """
        if client is not None:
            c, cp, s, sp = client
            decoded = self._decode_roles(key, payload, ts, c, cp, s, sp)
        else:
            assert src is not None and dst is not None
            decoded = self.decoder.decode(key, payload, src, sport, dst, dport, ts)
        if decoded is None or not decoded.session.confirmed:
            return None
        s = decoded.session
        record = session_record(s, dict(self.pool_addrs))
        f = self._finding(s.client, s.client_port, s.server, s.server_port, ts)
        f.decoded = _merge_decoded(f.decoded, record)
        f.count(repr(key), record)
        if record.get("pool"):
            self._set_pool(f, record["pool"], record.get("pool_source") or "payload")
        methods = ", ".join(sorted(record.get("methods", {})))
        self._evidence(f, "decoded", f"{record['dialect']} from the logged payload ({methods})", ts, where)
        return f

    def _decode_roles(self, key: Hashable, payload: bytes, ts: float, client: str, cport: int | None,
                      server: str, sport: int | None) -> Decoded | None:
        from detector.dialects import claim
        from detector.sidecar.decode import frame_messages

        framed = frame_messages(payload)
        first = next((c for f in framed if (c := claim(f.message)) is not None), None)
        if first is None:
            return None
        sender_is_client = first[1] == "client"
        src, sp, dst, dp = (client, cport, server, sport) if sender_is_client else (server, sport, client, cport)
        return self.decoder.decode(key, payload, src, sp, dst, dp, ts)

    def alert(self, ts: float, where: str, *, signature: str | None, signature_id: int | None,
              category: str | None, mitre: Iterable[str], payload: bytes | None, src: str | None,
              src_port: int | None, dest: str | None, dest_port: int | None, direction: str | None,
              app_proto: str | None, flow_key: Hashable, dns_names: Iterable[str] = (),
              sni: str | None = None) -> None:
        """A Suricata alert (with its payload, when logged)."""
        self.saw_record(src, dest)
        if not src or not dest:
            return
        label = f"[{signature_id}] {signature or '?'}"
        decoded = None
        if payload:
            decoded = self._decode(flow_key, payload, ts, where, src=src, sport=src_port, dst=dest,
                                   dport=dest_port)
        mining = self._mining_alert(signature, category, mitre)
        if decoded is not None:
            if mining:
                self._evidence(decoded, "alert", label, ts, where)
            return
        if not mining:
            return
        to_client = direction == "to_client"
        client, cport, server, sport = (dest, dest_port, src, src_port) if to_client else (src, src_port, dest, dest_port)
        names = [n for n in dns_names if n]
        if names or app_proto == "dns":
            for name in names or ["(name not logged)"]:
                self._alert_dns(ts, client, name, label, where)
            return
        f = self._finding(client, cport, server, sport, ts)
        if sni:
            pool = self._pool_name(sni)
            if pool:
                self._set_pool(f, pool, "tls-sni")
                f.transport = f.transport or "tls"
        self._evidence(f, "alert", f"{client} -> {server}:{sport} {label}", ts, where)

    def _alert_dns(self, ts: float, client: str, name: str, label: str, where: str) -> None:
        pool = normalise_name(name) or name
        known = self._pool_name(name)
        if self.names.classify(name) is not None and known is None:
            return  # allow-listed name
        pool = known or pool
        conn_f = self._connection_finding(client, pool)
        if conn_f is not None:
            self._evidence(conn_f, "dns-query", f"{client} looked up {name}: alert {label}", ts, where)
            return
        fid = self._dns_only.get((client, pool))
        if fid is not None and fid in self.findings:
            f = self.findings[fid]
        else:
            f = Finding((client, "dns", pool), client, None, pool, None, ts)
            self._insert(f)
            self._dns_only[(client, pool)] = f.id
            self._set_pool(f, pool, "alert")
        self._evidence(f, "dns-query", f"{client} looked up {name}: alert {label}", ts, where)

    def _mining_alert(self, signature: str | None, category: str | None, mitre: Iterable[str]) -> bool:
        cfg = self.cfg
        if category and category in cfg.alert_categories:
            return True
        if signature and any(p.search(signature) for p in cfg.alert_signatures):
            return True
        return any(m in cfg.mitre_techniques for m in mitre)

    def notice(self, ts: float, where: str, *, note: str | None, msg: str | None, sub: str | None,
               orig_h: str | None, orig_p: int | None, resp_h: str | None, resp_p: int | None,
               uid: str | None) -> None:
        """A Zeek notice (zeek-cryptomining, or a MINESWEEP signature match)."""
        self.saw_record(orig_h, resp_h)
        cfg = self.cfg
        if note in cfg.notices_strong:
            kind = "notice"
        elif note in cfg.notices_suspected:
            kind = "notice-possible"
        elif note == "Signatures::Sensitive_Signature" and msg and "MINESWEEP" in msg:
            kind = "signature"
        else:
            return
        text = msg or ""
        miner = cfg.notice_miner.search(text)
        pool_at = cfg.notice_pool.search(text)
        client, cport, server, sport = orig_h, orig_p, resp_h, resp_p
        if miner and miner.group(1) == resp_h or pool_at and pool_at.group(1).strip("[]") == orig_h:
            client, cport, server, sport = resp_h, resp_p, orig_h, orig_p
        if not client or not server:
            return
        proto = cfg.notice_protocol.search(text)
        if sub:
            self._decode(("zeek", uid or (client, cport, server, sport)), sub.encode("utf-8", "surrogateescape"),
                         ts, where, client=(client, cport, server, sport))
        f = self._finding(client, cport, server, sport, ts)
        if proto and f.dialect_hint is None:
            f.dialect_hint = NOTICE_DIALECTS.get(proto.group(1).lower())
        self._evidence(f, kind, f"{note}: {text[:160]}", ts, where)

    def intel(self, ts: float, where: str, *, indicator: str | None, indicator_type: str | None,
              seen_where: str | None, sources: Iterable[str], orig_h: str | None, orig_p: int | None,
              resp_h: str | None, resp_p: int | None) -> None:
        """A Zeek intel.log hit: counted only for minesweep's or a pool's indicators."""
        self.saw_record(orig_h, resp_h)
        if not indicator or not orig_h:
            return
        ours = any("minesweep" in s.lower() for s in sources)
        name = self._pool_name(indicator) if indicator_type != "Intel::ADDR" else None
        if not ours and name is None:
            return
        if (seen_where or "").startswith("DNS::"):
            self.dns(ts, orig_h, [indicator], [], where, via="intel")
            return
        if not resp_h:
            return
        f = self._finding(orig_h, orig_p, resp_h, resp_p, ts)
        if name or indicator_type == "Intel::DOMAIN":
            self._set_pool(f, name or indicator.lower(), "intel")
        self._evidence(f, "intel", f"{indicator} ({indicator_type}) seen in {seen_where}", ts, where)

    # -- output -------------------------------------------------------------------------------

    def record(self, f: Finding) -> dict[str, Any]:
        """The findings.json session record of a finding (schema of detector.finalize)."""
        first = f.stats.first if f.stats.first is not None else f.first_seen
        last = max(f.stats.last if f.stats.last is not None else f.last_seen, first)
        dummy = Session(f.client, f.client_port, f.server, f.server_port, first_seen=first, last_seen=last)  # type: ignore[arg-type]
        rec = session_record(dummy, {})
        if f.decoded:
            rec.update({k: v for k, v in f.decoded.items() if k in rec})
            rec.update(f.counters())
        else:
            rec.update(self._identity(f))
        pool = f.pool or rec.get("pool")
        known = self.rules.pool_for_host(pool) if pool else None
        rec.update(
            client=f.client, client_port=f.client_port if f.client_port is not None else f.stats.client_port,
            server=f.server, server_port=f.server_port, first_seen=first, last_seen=last,
            duration_s=round(last - first, 6), pool=pool,
            pool_source=f.pool_source if f.pool else rec.get("pool_source"),
            pool_operator=known.operator if known else rec.get("pool_operator"),
            bytes_c2s=f.stats.bytes_c2s, bytes_s2c=f.stats.bytes_s2c,
            packets_c2s=f.stats.packets_c2s, packets_s2c=f.stats.packets_s2c,
            confidence=f.confidence,
        )
        rec["hashrate"] = self._hashrate(rec, f, last - first)
        decoded_evidence = list((f.decoded or {}).get("evidence") or [])
        rec["evidence"] = f.evidence + [f"payload: {e}" for e in decoded_evidence][: self.limits.max_evidence]
        notes = list((f.decoded or {}).get("notes") or [])
        notes.append(f"from {self.sensor} logs: {f.stats.connections} connection(s) logged"
                     + (f"; evidence in {', '.join(sorted(f.sources))}" if f.sources else ""))
        if f.server_port is None:
            notes.append("no connection to the pool was logged: the finding rests on a DNS lookup")
        rec["notes"] = notes
        return rec

    def _identity(self, f: Finding) -> dict[str, Any]:
        """Coin and algorithm when nothing was decoded: only the pool's single coin can tell."""
        known = self.rules.pool_for_host(f.pool) if f.pool else None
        coins = [c for c in (known.coins if known else ()) if c in self.rules.coins]
        out: dict[str, Any] = {"dialect": f.dialect_hint or ("tls" if f.transport == "tls" else "unknown"),
                               "transport": f.transport or "tcp", "methods": {}, "evidence": [],
                               "notes": [], "login": None, "account": None, "worker": None,
                               "wallet": None, "wallet_coin": None, "agent": None, "coin": None}
        if len(coins) == 1:
            out.update(coin=coins[0], algorithm=self.rules.coins[coins[0]], algorithm_basis="pool's coin")
        else:
            why = "the pool mines several coins" if known else "the pool is not in rules/pools.toml"
            out.update(algorithm="unknown", algorithm_basis=f"not observable: no mining message decoded and {why}")
        return out

    def _hashrate(self, rec: dict[str, Any], f: Finding, seconds: float) -> dict[str, Any]:
        """Never an estimate: logs do not hold a session's share stream (module docstring)."""
        h = dict(rec.get("hashrate") or {})
        algorithm = self.rules.algorithms.get(rec.get("algorithm") or "")
        h.update(value=None, low=None, high=None, shares=0, work=0.0, seconds=round(seconds, 3),
                 unit=algorithm.unit if algorithm else h.get("unit", "H/s"))
        if f.decoded:
            basis = "not observable: sensor logs hold single payloads of the session, not its share stream"
        else:
            basis = "not observable: sensor logs hold connection summaries and names, not the mining messages"
        if rec.get("reported_hashrate"):
            basis += "; the miner's own claim is in reported_hashrate"
        h["basis"] = basis
        return h

    def records(self, min_confidence: str = "suspected") -> list[dict[str, Any]]:
        """Session records of every finding at least ``min_confidence``."""
        floor = RANK[min_confidence]
        return [self.record(f) for f in self.findings.values() if RANK[f.confidence] >= floor]

    # -- state --------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to resume (JSON-serialisable)."""
        return {
            "version": STATE_VERSION, "sensor": self.sensor,
            "findings": [f.to_json() for f in self.findings.values()],
            "pool_addrs": list(self.pool_addrs.items()),
            "recent": [[list(k), v.to_json()] for k, v in self.recent.items()],
            "pool_certs": list(self.pool_certs.items()),
            "pending_certs": [[k, [list(p) for p in v]] for k, v in self.pending_certs.items()],
            "ips": sorted(self.ips), "ips_overflow": self.ips_overflow, "flows": self.flows,
            "records_seen": self.records_seen, "allowlisted": dict(self.allowlisted),
            "counts": dict(self.counts),
        }

    def restore(self, doc: dict[str, Any]) -> None:
        """Load a ``state()`` document (raises InputError when it does not fit)."""
        try:
            if doc.get("version") != STATE_VERSION or doc.get("sensor") != self.sensor:
                raise ValueError(f"version {doc.get('version')!r} / sensor {doc.get('sensor')!r}")
            for item in doc["findings"]:
                f = Finding.from_json(item)
                self._insert(f)
                if len(f.key) == 3 and f.key[1] == "dns" and isinstance(f.key[2], str):
                    self._dns_only[(f.client, f.key[2])] = f.id
                elif f.pool is not None and f.server_port is not None:
                    self._by_client_pool.setdefault((f.client, f.pool), f.id)
            self._changed.clear()
            self.pool_addrs = OrderedDict((str(a), str(n)) for a, n in doc["pool_addrs"])
            self.recent = OrderedDict((tuple(k), ConnStats.from_json(v)) for k, v in doc["recent"])
            self.pool_certs = OrderedDict((str(a), str(n)) for a, n in doc["pool_certs"])
            self.pending_certs = OrderedDict((str(k), [tuple(p) for p in v]) for k, v in doc["pending_certs"])
            self.ips = set(doc["ips"])
            self.ips_overflow = int(doc["ips_overflow"])
            self.flows, self.records_seen = int(doc["flows"]), int(doc["records_seen"])
            self.allowlisted = Counter(doc.get("allowlisted") or {})
            self.counts = Counter(doc.get("counts") or {})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"detector state does not fit this run ({exc})") from None


def _merge_decoded(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Identity decoded from payloads: the first non-empty value of each field wins."""
    new = {k: v for k, v in new.items() if k not in COUNTERS}
    if old is None:
        return new
    out = dict(old)
    for key, value in new.items():
        if out.get(key) in (None, "", [], {}) and value not in (None, "", [], {}):
            out[key] = value
    evidence = list(old.get("evidence") or [])
    out["evidence"] = (evidence + [e for e in new.get("evidence") or [] if e not in evidence])[:24]
    return out


# --------------------------------------------------------------------------- document


def _alias(sessions: list[dict[str, Any]]) -> dict[str, str]:
    """Stand-in addresses for client ids that are not IP addresses (a sensor may redact them,
    e.g. qnsm's "A.B.C.D"): aggregation needs addresses; the ids are put back afterwards."""
    aliases: dict[str, str] = {}
    for s in sessions:
        client = s["client"]
        if not is_ip_text(client) and client not in aliases:
            aliases[client] = str(_ALIAS_NET.network_address + len(aliases) + 1)
    return aliases


def _fold_lookups(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A host with connections to pools keeps its other pool lookups as evidence of its first
    connection record, not as sessions of their own (a lookup is not a session)."""
    first_conn: dict[str, dict[str, Any]] = {}
    for s in sorted(sessions, key=lambda r: (r["first_seen"], r["server"], r["server_port"] or 0)):
        if s["server_port"] is not None:
            first_conn.setdefault(s["client"], s)
    out = []
    for s in sessions:
        target = first_conn.get(s["client"]) if s["server_port"] is None else None
        if target is None:
            out.append(s)
            continue
        target["evidence"] = target["evidence"] + [e for e in s["evidence"] if e not in target["evidence"]]
        target["notes"] = target["notes"] + [f"the host also looked up {s['pool'] or s['server']} "
                                             "(no connection to it logged)"]
    return out


def _in_alias_net(subnet: str) -> bool:
    try:
        net = ipaddress.ip_network(subnet)
    except ValueError:
        return False
    return net.version == 6 and net.overlaps(_ALIAS_NET)


def findings_document(det: Detector, inputs: list[dict[str, Any]], options: ScanOptions,
                      min_confidence: str = "suspected") -> dict[str, Any]:
    """The findings document of everything ``det`` found (schema minesweep/findings/1)."""
    sessions = _fold_lookups(det.records(min_confidence))
    aliases = _alias(sessions)
    back = {v: k for k, v in aliases.items()}
    for s in sessions:
        s["client"] = aliases.get(s["client"], s["client"])
    doc = assemble(inputs, sessions, det.ips_screened, det.flows, options)
    best: dict[str, int] = {}
    for s in doc["sessions"]:
        best[s["client"]] = max(best.get(s["client"], 0), RANK[s["confidence"]])
        s["client"] = back.get(s["client"], s["client"])
    for h in doc["hosts"]:
        h["confidence"] = CONFIDENCE[best.get(h["ip"], 1) - 1]
        h["ip"] = back.get(h["ip"], h["ip"])
    for n in doc["subnets"]:
        n["ips"] = [back.get(ip, ip) for ip in n["ips"]]
        if aliases and _in_alias_net(n["subnet"]):
            n["subnet"] = "(not an IP address)"
    doc["sensor"] = {
        "kind": det.sensor, "records": det.records_seen, "flows": det.flows,
        "evidence": dict(sorted(det.counts.items())), "allowlisted": dict(sorted(det.allowlisted.items())),
        "min_confidence": min_confidence, "findings_below_min_confidence":
            sum(1 for f in det.findings.values() if RANK[f.confidence] < RANK[min_confidence]),
    }
    return doc
