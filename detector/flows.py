"""Per-connection lifecycle: packets in, mining sessions out.

``FlowTable.add(packet)`` creates a flow on first sight, keeps its counters, and — only for
flows whose payload can be a mining protocol — reassembles each direction, frames it and hands
every JSON-RPC message to the dialect that claims it. A flow ends on FIN/RST from both sides,
on a new SYN reusing the 4-tuple, on idle expiry, or at the end of the input; ``finish()`` ends
them all. Confirmed sessions are collected in ``FlowTable.sessions``.

Payload inspection is gated so that bulk traffic costs one dictionary lookup per packet: a TCP
flow is inspected from its first segment that could start or carry a JSON-RPC/HTTP message
(``could_be_mining``); a flow that shows nothing of the kind in its first payload segments, or
no mining method in its first messages, is ignored from then on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from detector import poollists
from detector.behaviour import FIRST_PAYLOADS, Download, FlowSummary, classify_download
from detector.capture.model import ACK, FIN, PSH, RST, SYN, TCP, UDP, Packet
from detector.dialects import DIALECTS, claim
from detector.dialects import dns as dns_parser
from detector.dialects.gbt import http_detail
from detector.encrypted import TlsWatch
from detector.jsonrpc import parse_body, parse_message
from detector.reassembly import MASK, Framer, HttpHead, Reassembler, seq_after
from detector.session import Session

#: byte strings of which at least one is in any segment that starts or carries a JSON-RPC message
#: and the start of a TLS handshake record (TLS 1.0-1.3 ClientHellos carry 0x0301 or 0x0303)
HINTS = (b'"method"', b'"result"', b'"error"', b'"id"', b"POST ", b"GET ", b"HTTP/1.",
         b"\x16\x03\x01", b"\x16\x03\x03")
UNHINTED_LIMIT = 8  #: payload segments without a hint before a flow is ignored
UNCONFIRMED_MESSAGE_LIMIT = 16  #: messages without a mining method before a flow is ignored
#: requests of methods no mining dialect knows (web3, wallet, Zabbix calls…) before a flow that has
#: shown no mining method is ignored: every dialect's first messages are its own methods
FOREIGN_METHOD_LIMIT = 4
IDLE_TIMEOUT = 1800.0  #: seconds of silence that end a flow (capture time)
SWEEP_EVERY = 1 << 16  #: packets between idle sweeps
MAX_WARNINGS = 200
MAX_DNS_NAMES = 1_000_000  #: answered addresses remembered for naming pools
MAX_DOWNLOADS = 10_000  #: downloads of scripts and executables remembered
#: dns_answer's memo: (the pool intelligence it was filled under, asked name -> names a pool);
#: replaced whole when poollists.active() is another object, cleared at 4096 names
_DNS_POOL_MEMO: list[tuple[object, dict[str, bool]]] = [(None, {})]


def could_be_mining(payload: bytes) -> bool:
    """True when a segment may start or carry a JSON-RPC or HTTP message (cheap, no parsing)."""
    return payload[:1] == b"{" or any(h in payload for h in HINTS)


class Direction:
    """One direction of a flow: counters and, once inspected, reassembly and framing."""

    __slots__ = ("packets", "bytes", "payload_bytes", "next_seq", "reasm", "framer",
                 "payload_packets", "sumsq", "pushes", "flags", "gap_n", "gap_sum", "gap_sumsq", "last_payload_ts")

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.payload_bytes = 0
        # flow-shape accumulators, summarised when the flow ends (detector.behaviour.FlowSummary)
        self.payload_packets = 0
        self.sumsq = 0
        self.pushes = 0
        self.flags = 0
        self.gap_n = 0
        self.gap_sum = 0.0
        self.gap_sumsq = 0.0
        self.last_payload_ts: float | None = None
        self.next_seq: int | None = None  #: while not inspected: the stream position reached
        self.reasm: Reassembler | None = None
        self.framer: Framer | None = None


class Flow:
    __slots__ = ("a", "ap", "b", "bp", "proto", "first_ts", "last_ts", "client_is_a", "role_source",
                 "dirs", "state", "unhinted", "messages", "foreign", "session", "fin", "rst", "request", "tls",
                 "first_payloads", "syn_client_is_a")

    def __init__(self, p: Packet) -> None:
        self.a, self.ap, self.b, self.bp, self.proto = p.src, p.sport, p.dst, p.dport, p.proto
        self.first_ts = self.last_ts = p.ts
        self.client_is_a: bool | None = None
        self.role_source = "guess"
        self.dirs = (Direction(), Direction())
        self.state = "new"  # "new" -> "inspect" -> ("ignored" | stays "inspect")
        self.unhinted = 0
        self.messages = 0
        self.foreign = 0  #: JSON-RPC requests of methods no dialect claims
        self.session: Session | None = None
        self.fin = [False, False]
        self.rst = False
        self.request: str | None = None  #: URL of the last HTTP request seen on the flow
        self.tls: TlsWatch | None = None  #: the handshake of a TLS flow, until it is settled
        self.first_payloads: list[tuple[int, int]] = []  #: (direction, length) of the first payloads
        self.syn_client_is_a: bool | None = None  #: who opened the connection, by its first SYN


@dataclass(frozen=True, slots=True)
class Prelude:
    """A flow's state just before it is first inspected (see ``FlowTable.adopt``)."""

    a: str  #: sender of the flow's first packet
    ap: int
    b: str
    bp: int
    proto: int
    first_ts: float
    last_ts: float
    packets: tuple[int, int]  #: per direction: a→b, b→a
    bytes: tuple[int, int]
    payload_bytes: tuple[int, int]
    next_seq: tuple[int | None, int | None]
    client_is_a: bool | None
    role_source: str  #: "guess" or "handshake"
    fin: tuple[bool, bool]
    rst: bool
    unhinted: int


@dataclass(slots=True)
class DnsName:
    name: str
    ts: float


@dataclass
class FlowTable:
    """All live flows of a scan, plus what they produced."""

    sessions: list[Session] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dns_names: dict[str, DnsName] = field(default_factory=dict)  #: answered IP -> name
    flows_seen: int = 0
    #: called with (a, ap, b, bp, proto) when a flow stops being inspected (the fast path's kernel
    #: then stops selecting its packets)
    on_ignore: Callable[[str, int, str, int, int], None] | None = None
    #: (receiving host, Download) for every script or executable fetched over HTTP
    downloads: list[tuple[str, Download]] = field(default_factory=list)
    #: finished flows' summaries (kept only when ``keep_summaries``; see detector.behaviour)
    summaries: list[FlowSummary] = field(default_factory=list)
    #: emit a FlowSummary per finished flow (the pure engine; the fast engine's kernel emits them)
    keep_summaries: bool = False
    #: drop a flow as soon as it is ignored (the fast engine, whose kernel keeps its counters and
    #: summarises it; the pure engine must keep counting it)
    forget_ignored: bool = False
    #: (host, "dns" | "sni", pool name) for every pool name a host looked up or sent in a ClientHello
    pool_names_seen: list[tuple[str, str, str]] = field(default_factory=list)
    #: take the steady state of a line protocol without the general calls (see ``add``; the same
    #: result: tests/test_flows.py runs both ways)
    line_shortcut: ClassVar[bool] = True
    _new_ips: set[str] = field(default_factory=set)
    _flows: dict[tuple, Flow] = field(default_factory=dict)
    _since_sweep: int = 0

    # -- packets ------------------------------------------------------------------------------
    def add(self, p: Packet) -> None:
        key = (p.src, p.sport, p.dst, p.dport, p.proto)
        flow = self._flows.get(key)
        if flow is None:
            key = (p.dst, p.dport, p.src, p.sport, p.proto)
            flow = self._flows.get(key)
        if flow is not None and p.proto == TCP and p.flags & (SYN | ACK) == SYN and (flow.rst or all(flow.fin)):
            self._end(key, flow)
            flow = None
        if flow is None:
            flow = Flow(p)
            key = (p.src, p.sport, p.dst, p.dport, p.proto)
            self._flows[key] = flow
            self.flows_seen += 1
            self._new_ips.add(p.src)
            self._new_ips.add(p.dst)
        elif p.ts - flow.last_ts > IDLE_TIMEOUT:
            self._end(key, flow)
            flow = Flow(p)
            self._flows[key] = flow
            self.flows_seen += 1
        flow.last_ts = p.ts
        fwd = p.src == flow.a and p.sport == flow.ap
        d = flow.dirs[0 if fwd else 1]
        d.packets += 1
        d.bytes += p.wirelen
        n = len(p.payload)
        d.payload_bytes += n
        if self.keep_summaries:  # flow-shape accumulators (the fast engine's kernel keeps its own)
            d.flags |= p.flags
            if p.flags & PSH:
                d.pushes += 1
            if n:
                d.payload_packets += 1
                d.sumsq += n * n
                if d.last_payload_ts is not None:
                    gap = p.ts - d.last_payload_ts
                    d.gap_n += 1
                    d.gap_sum += gap
                    d.gap_sumsq += gap * gap
                d.last_payload_ts = p.ts
                if len(flow.first_payloads) < FIRST_PAYLOADS:
                    flow.first_payloads.append((0 if fwd else 1, n))
        if p.proto == TCP:
            reasm, framer = d.reasm, d.framer
            if (self.line_shortcut and flow.state == "inspect" and flow.tls is None and n
                    and not p.flags & (SYN | FIN | RST) and p.seq == reasm.next_seq  # type: ignore[union-attr]
                    and not reasm.ooo and framer.mode == "line" and not framer.buf  # type: ignore[union-attr]
                    and not framer.skipping and p.payload.find(b"\n") == n - 1):  # type: ignore[union-attr]
                # the steady state of a line protocol (Stratum, Monero, eth-proxy): one whole line
                # in order, nothing held. What _tcp -> Reassembler.push -> _stream -> Framer.feed ->
                # _frames would do with it, without their calls (a third of a miner packet's cost)
                reasm.next_seq = (p.seq + n) & MASK  # type: ignore[union-attr]
                framer.offset += n  # type: ignore[union-attr]
                if p.payload.strip():
                    self._message(flow, fwd, parse_message(p.payload[:-1]), p.ts, "tcp")
            else:
                self._tcp(flow, p, fwd, d)
        elif p.proto == UDP and (p.sport == 53 or p.dport == 53) and p.payload:
            self._dns(p)
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self._sweep(p.ts)

    def _tcp(self, flow: Flow, p: Packet, fwd: bool, d: Direction) -> None:
        flags = p.flags
        if flags & SYN and flow.syn_client_is_a is None:
            flow.syn_client_is_a = fwd if not flags & ACK else not fwd
        if flags & SYN and flow.role_source == "guess":
            flow.client_is_a = fwd if not flags & ACK else not fwd
            flow.role_source = "handshake"
        if flags & FIN:
            flow.fin[0 if fwd else 1] = True
        if flags & RST:
            flow.rst = True
        state = flow.state
        if state == "inspect":
            reasm = d.reasm
            assert reasm is not None
            if flags & SYN:
                reasm.syn(p.seq)
            if p.payload:
                self._chunks(flow, fwd, d, reasm.push(p.seq, p.payload), p.ts)
            return
        if state != "new":  # "ignored", or "tracked": an encrypted pool session, counted only
            return
        # state "new": track where each direction's stream stands without keeping its bytes
        if flags & SYN and d.next_seq is None:
            d.next_seq = (p.seq + 1) & MASK
        payload = p.payload
        if not payload:
            return
        if not could_be_mining(payload):
            end = (p.seq + len(payload)) & MASK
            if d.next_seq is None or seq_after(end, d.next_seq):
                d.next_seq = end
            flow.unhinted += 1
            if flow.unhinted >= UNHINTED_LIMIT:
                self._ignore(flow)
            return
        flow.state = "inspect"
        if payload[:2] == b"\x16\x03":
            by_dns = self.dns_names.get(p.dst)
            flow.tls = TlsWatch(server_name_by_dns=by_dns.name if by_dns else None)
        for direction in flow.dirs:
            direction.reasm = Reassembler()
            direction.reasm.next_seq = direction.next_seq
            direction.framer = Framer()
        self._chunks(flow, fwd, d, d.reasm.push(p.seq, payload), p.ts)  # type: ignore[union-attr]

    def _chunks(self, flow: Flow, fwd: bool, d: Direction, chunks: list[bytes | None], ts: float) -> None:
        """What one segment made contiguous, in order, while the flow is still inspected: a segment
        that fills a hole can deliver many lines, and one of them can end the inspection (the flow
        ignored, or found to be a pool session behind TLS), which lets go of the framers."""
        for chunk in chunks:
            if flow.state != "inspect":
                return
            self._stream(flow, fwd, d, chunk, ts)

    def adopt(self, pre: Prelude) -> None:
        """Take over a flow whose earlier packets were counted elsewhere (the fast path's kernel).

        The prelude holds the flow's state just before its first packet that can carry a mining
        protocol; that packet and every later one are then given to ``add`` as usual, so the
        result is the same as if this table had seen every packet.
        """
        key = (pre.a, pre.ap, pre.b, pre.bp, pre.proto)
        for k in (key, (pre.b, pre.bp, pre.a, pre.ap, pre.proto)):
            old = self._flows.get(k)
            if old is not None:
                self._end(k, old)
        flow = Flow.__new__(Flow)
        flow.a, flow.ap, flow.b, flow.bp, flow.proto = pre.a, pre.ap, pre.b, pre.bp, pre.proto
        flow.first_ts, flow.last_ts = pre.first_ts, pre.last_ts
        flow.client_is_a, flow.role_source = pre.client_is_a, pre.role_source
        flow.dirs = (Direction(), Direction())
        for i, direction in enumerate(flow.dirs):
            direction.packets, direction.bytes = pre.packets[i], pre.bytes[i]
            direction.payload_bytes, direction.next_seq = pre.payload_bytes[i], pre.next_seq[i]
        flow.state, flow.unhinted, flow.messages, flow.foreign, flow.session = "new", pre.unhinted, 0, 0, None
        flow.fin, flow.rst, flow.request, flow.tls = list(pre.fin), pre.rst, None, None
        # flow-shape accumulators stay empty: the kernel that counted the first packets summarises
        flow.first_payloads = []
        flow.syn_client_is_a = pre.client_is_a if pre.role_source == "handshake" else None
        self._flows[key] = flow

    # -- stream -> frames -> messages ---------------------------------------------------------
    def _stream(self, flow: Flow, fwd: bool, d: Direction, chunk: bytes | None, ts: float) -> None:
        if flow.tls is not None:
            self._tls(flow, fwd, chunk, ts)
            return
        framer = d.framer
        assert framer is not None
        if chunk is None:
            frames = framer.gap()
            if flow.session is not None:
                flow.session.gaps += 1
        else:
            frames = framer.feed(chunk)
        self._frames(flow, fwd, frames, ts)
        if framer.warnings:
            self._warn(flow, framer.warnings)
            framer.warnings.clear()

    def _frames(self, flow: Flow, fwd: bool, frames: list[tuple], ts: float) -> None:
        for frame in frames:
            if flow.state == "ignored":
                return
            if frame[0] == "line":
                msg = parse_message(frame[1])
                self._message(flow, fwd, msg, ts, "tcp")
            elif frame[0] == "http-head":
                self._http_head(flow, fwd, frame[1], frame[2], ts)
            else:
                head: HttpHead = frame[1]
                msgs = parse_body(frame[2]) if frame[2] else []
                for msg in msgs:
                    self._message(flow, fwd, msg, ts, "http")
                if flow.session is not None:
                    http_detail(flow.session, head)

    def _tls(self, flow: Flow, fwd: bool, chunk: bytes | None, ts: float) -> None:
        watch = flow.tls
        assert watch is not None
        verdict = watch.feed(fwd, chunk) if chunk is not None else "none"
        if verdict == "wait":
            return
        facts = watch.facts
        if verdict == "none" or facts is None or facts.pool is None:
            self._ignore(flow)
            return
        # a pool behind TLS: keep counting the connection (its bytes and time), decode nothing
        client_fwd = bool(watch.client_is_fwd)
        flow.client_is_a, flow.role_source = client_fwd, "tls"
        s = flow.session = self._new_session(flow, ts, "tls")
        s.dialect, s.confidence, s.tls = "tls", "strong", facts.record()
        s.set_once("pool", facts.pool_name, facts.pool_source)
        kind = "browser-mining service" if facts.pool.browser else "mining pool"
        s.evidence.append(f"{ts:.6f} TLS to {facts.pool_name} ({kind} {facts.pool.name}, from {facts.pool_source});"
                          f" JA3 {facts.ja3}, JA4 {facts.ja4}")
        s.notes.append("encrypted: shares and difficulty are not visible, so the hashrate is not observable")
        if facts.pool_source == "tls-sni" and len(self.pool_names_seen) < MAX_DOWNLOADS:
            self.pool_names_seen.append((s.client, "sni", facts.pool_name or ""))
        flow.state, flow.tls = "tracked", None
        for d in flow.dirs:
            d.reasm = d.framer = None

    def _http_head(self, flow: Flow, fwd: bool, head: HttpHead, prefix: bytes, ts: float) -> None:
        """Settle an HTTP exchange from its head: a JSON-RPC body is followed; anything else ends
        the inspection of a flow that is not mining — after noting a download of a script or
        executable, evidence of a compromise (BRIEF §4)."""
        if head.is_request:
            parts = head.start.split(" ")
            host = head.headers.get("host", "")
            flow.request = f"http://{host}{parts[1]}"[:300] if len(parts) > 1 and host else None
            return
        if flow.session is not None:
            return
        ctype = head.headers.get("content-type", "").lower()
        if "json" in ctype or (not ctype and prefix.lstrip()[:1] in (b"{", b"[")):
            return  # may carry JSON-RPC (getwork / getblocktemplate replies)
        kind = classify_download(ctype, prefix)
        if kind is not None and len(self.downloads) < MAX_DOWNLOADS:
            receiver = flow.b if fwd else flow.a
            self.downloads.append((receiver, Download(kind, flow.request or "(request not captured)", ts)))
        self._ignore(flow)

    def _message(self, flow: Flow, fwd: bool, msg, ts: float, transport: str) -> None:
        flow.messages += 1
        if msg is None:
            return
        claimed = claim(msg)
        if claimed is not None and not flow.role_source.startswith("methods"):
            client_is_a = fwd if claimed[1] == "client" else not fwd
            if flow.client_is_a != client_is_a and flow.session is not None:
                swap_roles(flow.session)
            contradicts = flow.role_source == "handshake" and flow.client_is_a != client_is_a
            flow.client_is_a = client_is_a
            flow.role_source = {"handshake": "methods+handshake", "guess": "methods"}[flow.role_source]
            if contradicts:
                flow.role_source = "methods-contradict-handshake"
        s = flow.session
        if s is None:
            if claimed is None:
                if msg.method is not None:
                    flow.foreign += 1
                if flow.messages >= UNCONFIRMED_MESSAGE_LIMIT or flow.foreign >= FOREIGN_METHOD_LIMIT:
                    self._ignore(flow)
                return
            s = flow.session = self._new_session(flow, ts, transport)
        if transport == "http":
            s.transport = "http"
        from_client = self._from_client(flow, fwd)
        module = claimed[0] if claimed else (DIALECTS.get(s.dialect) if s.dialect else None)
        if module is None:
            return
        module.on_message(s, msg, from_client, ts)
        if not s.confirmed and flow.messages >= UNCONFIRMED_MESSAGE_LIMIT:
            self._ignore(flow)

    def _from_client(self, flow: Flow, fwd: bool) -> bool:
        if flow.client_is_a is None:
            flow.client_is_a = flow.bp < flow.ap if flow.ap != flow.bp else True
        return fwd == flow.client_is_a

    def _new_session(self, flow: Flow, ts: float, transport: str) -> Session:
        a_client = bool(flow.client_is_a) if flow.client_is_a is not None else True
        c, cp, sv, sp = (flow.a, flow.ap, flow.b, flow.bp) if a_client else (flow.b, flow.bp, flow.a, flow.ap)
        return Session(c, cp, sv, sp, first_seen=flow.first_ts, last_seen=ts, transport=transport)

    # -- DNS ----------------------------------------------------------------------------------
    def _dns(self, p: Packet) -> None:
        if len(p.payload) < 3 or not p.payload[2] & 0x80:
            return  # a query: its response repeats the question, with the answers
        self.dns_answer(p.ts, p.dst, p.payload)

    def dns_answer(self, ts: float, dst: str, payload: bytes) -> None:
        """A DNS response (UDP, port 53, QR set) sent to ``dst`` at ``ts``: remember the names it
        gives addresses, and pool names a host looked up. The fast path's kernel calls this for
        the responses of the DNS flows it keeps (``add`` does for the flows this table holds)."""
        found = dns_parser.answered_addresses(payload)  # what parse_dns gives for these, only
        if found is not None:
            self.dns_answered(ts, dst, *found)

    def dns_answered(self, ts: float, dst: str, asked: str | None,
                     addresses: Sequence[tuple[str, str]]) -> None:
        """``dns_answer`` of a response already read: ``asked`` and ``addresses`` as
        ``detector.dialects.dns.answered_addresses`` gives them (the fast path's kernel reads the
        common responses itself)."""
        if asked:
            intel = poollists.active()
            filled_under, pools = _DNS_POOL_MEMO[0]  # one read: another thread may replace the pair
            if filled_under is not intel:
                pools = {}
                _DNS_POOL_MEMO[0] = (intel, pools)
            is_pool = pools.get(asked)
            if is_pool is None:
                is_pool = intel.pool_for_host(asked) is not None
                if len(pools) >= 4096:
                    pools.clear()
                pools[asked] = is_pool
            if is_pool and len(self.pool_names_seen) < MAX_DOWNLOADS:
                self.pool_names_seen.append((dst, "dns", asked.rstrip(".").lower()[:253]))
        names = self.dns_names
        raw, name = None, ""
        # the name the client asked for, not the end of a CNAME chain: that is the pool's name
        for address, owner_name in addresses:
            if len(names) < MAX_DNS_NAMES:
                if owner_name is not raw:
                    raw, name = owner_name, owner_name.rstrip(".").lower()[:253]
                names[address] = DnsName(name, ts)

    # -- lifecycle ----------------------------------------------------------------------------
    def _ignore(self, flow: Flow) -> None:
        flow.state = "ignored"
        if self.forget_ignored:  # the fast path's kernel counts it from now on: hold nothing
            key = (flow.a, flow.ap, flow.b, flow.bp, flow.proto)
            if self._flows.get(key) is flow:
                del self._flows[key]
        if self.on_ignore is not None:
            self.on_ignore(flow.a, flow.ap, flow.b, flow.bp, flow.proto)
        for d in flow.dirs:
            d.reasm = None
            d.framer = None

    def _sweep(self, now: float) -> None:
        self._since_sweep = 0
        stale = [(k, f) for k, f in self._flows.items() if now - f.last_ts > IDLE_TIMEOUT]
        for key, flow in stale:
            self._end(key, flow)

    def _end(self, key: tuple, flow: Flow) -> None:
        self._flows.pop(key, None)
        if self.keep_summaries:
            self.summaries.append(summarise(flow))
        for fwd, d in ((True, flow.dirs[0]), (False, flow.dirs[1])):
            reasm = d.reasm
            if reasm is None or d.framer is None or flow.state == "ignored":
                continue
            self._chunks(flow, fwd, d, reasm.flush(), flow.last_ts)  # may settle it: not mining, or TLS
            if flow.state != "ignored" and d.framer is not None:
                self._frames(flow, fwd, d.framer.close(), flow.last_ts)
        s = flow.session
        if s is not None and (s.confirmed or s.confidence is not None):
            c2s, s2c = flow.dirs if flow.client_is_a else flow.dirs[::-1]
            s.bytes_c2s, s.packets_c2s, s.bytes_s2c, s.packets_s2c = c2s.bytes, c2s.packets, s2c.bytes, s2c.packets
            # capture times can run backwards (merged or badly clocked captures): keep the window valid
            s.first_seen, s.last_seen = min(flow.first_ts, flow.last_ts), max(flow.first_ts, flow.last_ts)
            if flow.role_source == "methods":
                s.notes.append("no TCP handshake seen: client and pool told apart by the methods each side sent")
            elif flow.role_source == "methods-contradict-handshake":
                s.notes.append("the side that opened the connection speaks the pool's methods: roles taken from the methods")
            s.pending.clear()
            s.seen_shares.clear()
            self.sessions.append(s)

    # -- hand-over between tables (detector.parallel merges per-file tables into one) ----------
    def lookup(self, key: tuple) -> tuple[tuple, Flow] | None:
        """The live flow of this 5-tuple, in either orientation, with the key it is held under."""
        flow = self._flows.get(key)
        if flow is not None:
            return key, flow
        rkey = (key[2], key[3], key[0], key[1], key[4])
        flow = self._flows.get(rkey)
        return (rkey, flow) if flow is not None else None

    def live(self) -> list[tuple[tuple, Flow]]:
        """Every live flow as (key, flow), in creation order."""
        return list(self._flows.items())

    def detach(self, key: tuple) -> Flow | None:
        """Take the live flow of this 5-tuple (either orientation) out of the table without ending it."""
        found = self.lookup(key)
        if found is None:
            return None
        del self._flows[found[0]]
        return found[1]

    def install(self, key: tuple, flow: Flow) -> None:
        """Make ``flow`` (built by another table) live under ``key``; a live flow of the same
        5-tuple in either orientation is ended first, as a new connection would end it."""
        found = self.lookup(key)
        if found is not None:
            self._end(*found)
        self._flows[key] = flow

    def sweep(self, now: float) -> None:
        """End every flow idle for more than ``IDLE_TIMEOUT`` at capture time ``now``."""
        self._sweep(now)

    def credit(self, key: tuple, packets: tuple[int, int], nbytes: tuple[int, int], flags: tuple[int, int],
               pushes: tuple[int, int], last_ts: float | None) -> None:
        """Count packets of a live flow that ``add`` would only have counted: pure ACKs (no payload,
        no SYN/FIN/RST) the fast path's kernel held back. Per direction of ``key`` (a→b, b→a):
        packets, wire bytes, OR of their TCP flags, those with PSH; ``last_ts`` is the flow's new
        last_ts when its last packet was one of them. Not counted toward the idle sweep."""
        found = self.lookup(key)
        if found is None:
            return
        flow = found[1]
        dirs = flow.dirs if (key[0], key[1]) == (flow.a, flow.ap) else flow.dirs[::-1]
        for d, n, size, f, push in zip(dirs, packets, nbytes, flags, pushes):
            d.packets += n
            d.bytes += size
            d.flags |= f
            d.pushes += push
        if last_ts is not None:
            flow.last_ts = last_ts

    def take_new_ips(self) -> set[str]:
        """Addresses seen in flows created since the last call (for the "IPs screened" count)."""
        ips, self._new_ips = self._new_ips, set()
        return ips

    def finish(self) -> list[Session]:
        """End every live flow (end of input) and return all confirmed sessions."""
        for key, flow in list(self._flows.items()):
            self._end(key, flow)
        return self.sessions

    def _warn(self, flow: Flow, messages: Iterable[str]) -> None:
        for m in messages:
            if len(self.warnings) < MAX_WARNINGS:
                self.warnings.append(f"flow {flow.a}:{flow.ap}-{flow.b}:{flow.bp}: {m}")


def swap_roles(s: Session) -> None:
    """The methods showed the other side is the miner: swap client and server of a session."""
    s.client, s.client_port, s.server, s.server_port = s.server, s.server_port, s.client, s.client_port


def summarise(flow: Flow) -> FlowSummary:
    d0, d1 = flow.dirs
    return FlowSummary(
        flow.a, flow.ap, flow.b, flow.bp, flow.proto, flow.first_ts, flow.last_ts,
        (d0.packets, d1.packets), (d0.bytes, d1.bytes), (d0.payload_packets, d1.payload_packets),
        (d0.payload_bytes, d1.payload_bytes), (d0.sumsq, d1.sumsq), (d0.pushes, d1.pushes), (d0.flags, d1.flags),
        (d0.gap_n, d1.gap_n), (d0.gap_sum, d1.gap_sum), (d0.gap_sumsq, d1.gap_sumsq),
        tuple(flow.first_payloads), flow.syn_client_is_a,
    )
