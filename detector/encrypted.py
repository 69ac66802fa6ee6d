"""Encrypted mining: what a TLS handshake tells about a connection that cannot be decoded.

``TlsWatch`` follows the first bytes of a TLS connection (both directions, bounded) and settles
it: the ClientHello's SNI, the server certificate's names (TLS <= 1.2 sends them in clear) or an
earlier DNS answer for the server's address name a pool of rules/pools.toml — or nothing does.
The handshake's fingerprints (JA3, JA4) are kept so that users can build their own lists of
miner fingerprints. Shares and difficulty travel encrypted: such sessions are ``strong`` at best
and their hashrate is not observable (docs/methodology.md §7).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from detector import poollists
from detector.behaviour import FlowSummary
from detector.capture.model import TCP
from detector.dialects import sv2
from detector.errors import NeedMoreData
from detector.rules import Pool
from detector.session import Session

if TYPE_CHECKING:
    from detector.dialects import tls

#: act-1 sizes (64, 32): a Stratum V2 flow's first payload, its client's, has one of them
SV2_FIRST_SIZES = frozenset(size for sizes in sv2.ACTS.values() for size in sizes[:1])
SV2_MIN_FIRST = 4  #: first payload sizes a flow's summary must hold to be read as a Stratum V2 handshake
CLIENT_BYTES = 16 << 10  #: ClientHello bytes waited for
SERVER_BYTES = 32 << 10  #: server handshake bytes waited for (certificate chains)


@dataclass(slots=True)
class TlsFacts:
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    ja3: str | None = None  #: MD5 of the JA3 string
    ja4: str | None = None
    version: int | None = None  #: highest supported version offered
    cert_names: tuple[str, ...] = ()
    pool: Pool | None = None
    pool_name: str | None = None  #: the name that matched
    pool_source: str | None = None  #: "tls-sni", "tls-certificate" or "dns"

    def record(self) -> dict[str, object]:
        return {"sni": self.sni, "alpn": list(self.alpn), "ja3": self.ja3, "ja4": self.ja4,
                "version": f"0x{self.version:04x}" if self.version else None,
                "certificate_names": list(self.cert_names)}


@dataclass(slots=True)
class TlsWatch:
    """The start of one TLS connection; ``client_is_fwd`` is set by the first ClientHello."""

    server_name_by_dns: str | None = None  #: the name a DNS answer gave the server's address
    client_is_fwd: bool | None = None
    bufs: list[bytes] = field(default_factory=lambda: [b"", b""])
    facts: TlsFacts | None = None
    hello_done: bool = False
    certs_done: bool = False
    hello: tls.ClientHello | None = None  #: kept while waiting for the certificate

    def feed(self, fwd: bool, chunk: bytes) -> str:
        """Add stream bytes; "wait", "pool" (facts.pool set) or "none" (not a pool / not TLS)."""
        from detector.dialects import tls  # (~5 ms to import: only a scan that inspects TLS needs it)

        i = 0 if fwd else 1
        limit = CLIENT_BYTES if self.client_is_fwd in (None, fwd) else SERVER_BYTES
        if len(self.bufs[i]) < limit:
            self.bufs[i] += chunk[: limit - len(self.bufs[i])]
        if not self.hello_done:
            if self.client_is_fwd is None:
                self.client_is_fwd = fwd
            if fwd != self.client_is_fwd:
                return "wait"
            final = len(self.bufs[i]) >= CLIENT_BYTES
            quick = tls.peek_server_name(self.bufs[i])
            if quick and not _is_ip_literal(quick) and poollists.active().pool_for_host(quick) is None \
                    and not (self.server_name_by_dns and poollists.active().pool_for_host(self.server_name_by_dns)):
                return "none"  # an ordinary named server: settled without a full parse
            try:
                hello = tls.parse_client_hello(self.bufs[i], final=final)
            except NeedMoreData:
                return "wait"
            if hello is None:
                return "none"
            self.hello_done = True
            self.facts = _facts(hello)
            verdict = self._match_names()
            if verdict == "pool":
                _fingerprint(self.facts, hello)  # only for pool connections: it is not free
                return verdict
            if self.facts.sni and not _is_ip_literal(self.facts.sni):
                return "none"  # the client named a server that is not a pool: its certificate will too
            self.hello = hello
            return "wait"  # no name yet: a TLS <= 1.2 certificate may still name a pool
        if fwd == self.client_is_fwd or self.certs_done:
            return "wait" if not self.certs_done else "none"
        final = len(self.bufs[i]) >= SERVER_BYTES
        try:
            certs = tls.parse_certificates(self.bufs[i], final=final)
        except NeedMoreData:
            return "wait"
        self.certs_done = True
        assert self.facts is not None
        self.facts.cert_names = tuple(dict.fromkeys(n for c in certs for n in (c.subject_cn, *c.san_dns) if n))[:16]
        verdict = self._match_names(certificates=True)
        if verdict == "pool" and self.hello is not None:
            _fingerprint(self.facts, self.hello)
        return verdict

    def _match_names(self, certificates: bool = False) -> str:
        facts = self.facts
        assert facts is not None
        intel = poollists.active()
        candidates = ([(n, "tls-certificate") for n in facts.cert_names] if certificates
                      else [(facts.sni, "tls-sni"), (self.server_name_by_dns, "dns")])
        for name, source in candidates:
            pool = intel.pool_for_host(name) if name else None
            if pool is not None:
                facts.pool, facts.pool_name, facts.pool_source = pool, name.lstrip("*.").lower(), source
                return "pool"
        return "none" if certificates else "wait"


def _facts(hello: tls.ClientHello) -> TlsFacts:
    return TlsFacts(sni=hello.server_name.lower() if hello.server_name else None, alpn=hello.alpn,
                    version=max(hello.supported_versions or (hello.version,)))


def _fingerprint(facts: TlsFacts, hello: tls.ClientHello) -> None:
    from detector.dialects import tls

    try:
        facts.ja3 = tls.ja3(hello)[1]
        facts.ja4 = tls.ja4(hello)
    except (ValueError, IndexError):  # a malformed hello keeps its SNI, loses its fingerprints
        pass


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def sv2_session(summary: FlowSummary, dns_names: dict[str, str]) -> Session | None:
    """A Stratum V2 session when the flow's first payload sizes are its Noise NX handshake and
    SetupConnection exchange (detector.dialects.sv2); everything after is encrypted by design."""
    if summary.proto != TCP or len(summary.first_payloads) < SV2_MIN_FIRST:
        return None
    client_is_a = summary.client_is_a if summary.client_is_a is not None else summary.first_payloads[0][0] == 0
    first_dir, first_size = summary.first_payloads[0]
    if (first_dir == 0) != client_is_a or first_size not in SV2_FIRST_SIZES:
        return None  # the handshake's act 1 is the client's own first segment of 32 or 64 bytes
    detector = sv2.Sv2Detector()
    for direction, size in summary.first_payloads:
        detector.feed(sv2.C2S if (direction == 0) == client_is_a else sv2.S2C, size, summary.first_ts)
    detector.finish()
    if not detector.is_sv2_handshake(strict=True):
        return None
    a = (summary.a, summary.ap, 0)
    b = (summary.b, summary.bp, 1)
    (c, cp, ci), (sv, sp, si) = (a, b) if client_is_a else (b, a)
    s = Session(c, cp, sv, sp, first_seen=min(summary.first_ts, summary.last_ts),
                last_seen=max(summary.first_ts, summary.last_ts), dialect="sv2", transport="sv2",
                confidence="strong")
    s.bytes_c2s, s.bytes_s2c = summary.bytes[ci], summary.bytes[si]
    s.packets_c2s, s.packets_s2c = summary.packets[ci], summary.packets[si]
    ev = detector.evidence
    sizes = " ".join(f"{t.direction}:{t.size}" for t in ev.turns)
    s.evidence.append(f"{summary.first_ts:.6f} Stratum V2 Noise NX handshake ({ev.variant}): turns {sizes}")
    s.notes.append("Stratum V2 encrypts every message by design (spec §4.1): the hashrate is not observable")
    if sv in dns_names:
        s.set_once("pool", dns_names[sv], "dns")
    return s
