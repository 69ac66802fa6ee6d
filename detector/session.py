"""Per-connection mining session state, filled by the dialect modules while a flow is decoded.

A ``Session`` is created when a TCP connection yields its first JSON-RPC message and becomes a
mining session (``confirmed``) when a dialect recognises a confirming method with its parameter
shape. Dialects record what they decode through the small methods below; ``detector.flows``
finalises the session when the connection ends.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from detector.jsonrpc import Message, excerpt

MAX_PENDING = 1024  #: outstanding requests remembered per session (ids are reused by miners)
MAX_EVIDENCE = 24  #: evidence lines kept per session
MAX_REDIRECTS = 20  #: distinct X-Stratum / client.reconnect targets kept per session
MAX_DIFF_HISTORY = 64  #: difficulty changes kept per session
MAX_SEEN_SHARES = 4096  #: recent share keys remembered to count an application resend once
MAX_SHARE_BUCKETS = 256  #: distinct difficulty values whose share counts are kept exactly
_NO_ERROR = (None, False, "", [], {})  #: ``error`` values that do not reject (compared with ==)
_UNKNOWN_SHARE = ("unknown", 0.0)


def outcome(msg: Message, accepts: Callable[[Any], bool]) -> bool | None:
    """Accepted (True), rejected (False) or undecided (None) for the reply to a submitted share."""
    if msg.error not in _NO_ERROR:
        return False
    if msg.result is None:
        return None
    return accepts(msg.result)


class Pending(NamedTuple):
    """A request waiting for its reply (a named tuple: one is built for most client requests)."""

    method: str
    ts: float
    share: tuple[str, float] | None  #: difficulty key of a submitted share, else None


_new_pending = tuple.__new__  # builds a Pending without the named tuple's Python-level __new__


@dataclass(slots=True)
class Session:
    client: str
    client_port: int
    server: str
    server_port: int
    first_seen: float
    last_seen: float
    dialect: str | None = None
    transport: str = "tcp"  #: "tcp" (line-delimited) or "http"
    confirmed: bool = False
    confidence: str | None = None  #: for sessions not decoded: "strong" (pool SNI/DNS, SV2 handshake)
    tls: dict[str, Any] | None = None  #: handshake facts of an encrypted session (SNI, JA3, JA4, …)
    coin: str | None = None
    algorithm: str | None = None
    pool: str | None = None
    pool_source: str | None = None  #: where the pool name came from (subscribe, http-host, dns, …)
    worker: str | None = None
    login: str | None = None  #: the raw login/user string as sent
    agent: str | None = None
    algo_hint: str | None = None  #: algorithm named by the protocol itself (e.g. Monero "rx/0")
    chain_hint: tuple[int, float] | None = None  #: (coinbase height, block time) of a stratum job
    submits: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0  #: identical shares sent again at the application level
    current_share: tuple[str, float] | None = None  #: ("diff", D) or ("target", T) now in force
    share_counts: Counter[tuple[str, float]] = field(default_factory=Counter)
    share_ts_first: float | None = None
    share_ts_last: float | None = None
    difficulty_history: list[tuple[float, str, float]] = field(default_factory=list)
    reported: list[tuple[float, float]] = field(default_factory=list)  #: (ts, H/s) claims
    methods: Counter[str] = field(default_factory=Counter)
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)  #: X-Stratum / client.reconnect targets
    #: first-in first-out bounded maps: an OrderedDict drops its oldest entry in constant time, where
    #: a dict's ``next(iter(d))`` walks past every entry deleted since its last resize
    pending: OrderedDict[Any, Pending] = field(default_factory=OrderedDict)
    seen_shares: OrderedDict[Any, None] = field(default_factory=OrderedDict)
    bytes_c2s: int = 0
    bytes_s2c: int = 0
    packets_c2s: int = 0
    packets_s2c: int = 0
    gaps: int = 0

    # -- recording helpers used by the dialect modules -------------------------------------
    def saw(self, msg: Message, from_client: bool, ts: float, detail: Any = None) -> None:
        """Count a method and keep the first occurrence of each as evidence."""
        name = msg.method or "result"
        methods = self.methods
        count = methods.get(name, 0) + 1
        methods[name] = count
        if count == 1 and len(self.evidence) < MAX_EVIDENCE:
            self.first_evidence(name, from_client, ts, detail if detail is not None else msg.params)

    def tally(self, name: str) -> bool:
        """Count a method (``saw`` without its evidence line): True when this is the method's first
        message and evidence room remains, for the caller to add ``first_evidence`` (a dialect
        whose evidence detail costs something to build builds it only then)."""
        methods = self.methods
        count = methods.get(name, 0) + 1
        methods[name] = count
        return count == 1 and len(self.evidence) < MAX_EVIDENCE

    def first_evidence(self, name: str, from_client: bool, ts: float, shown: Any) -> None:
        """The evidence line of a method's first message: time, direction, name and an excerpt."""
        arrow = "client→server" if from_client else "server→client"
        self.evidence.append(f"{ts:.6f} {arrow} {name} {excerpt(shown, 120)}")

    def note_evidence(self, line: str) -> None:
        """Keep one more evidence line, within the per-session bound."""
        if len(self.evidence) < MAX_EVIDENCE:
            self.evidence.append(line)

    def confirm(self, dialect: str) -> None:
        if self.dialect is None or self.dialect == "stratum" and dialect == "ethstratum":
            self.dialect = dialect
        self.confirmed = True

    def expect_reply(self, msg: Message, ts: float, share: tuple[str, float] | None = None) -> None:
        ident = msg.id
        if ident is None:
            return
        pending = self.pending
        if len(pending) >= MAX_PENDING:
            pending.popitem(last=False)
        pending[ident] = _new_pending(Pending, (msg.method or "", ts, share))

    def take_reply(self, msg: Message) -> Pending | None:
        return self.pending.pop(msg.id, None)

    def set_share_difficulty(self, kind: str, value: float, ts: float) -> None:
        key = (kind, float(value))
        if key != self.current_share:
            self.current_share = key
            if len(self.difficulty_history) < MAX_DIFF_HISTORY:
                self.difficulty_history.append((ts, kind, float(value)))

    def submit(self, share_key: Any, ts: float) -> tuple[str, float] | None:
        """Record a submitted share; returns its difficulty key, or None for a resend."""
        if share_key is not None:
            if share_key in self.seen_shares:
                self.duplicates += 1
                return None
            if len(self.seen_shares) >= MAX_SEEN_SHARES:
                self.seen_shares.popitem(last=False)
            self.seen_shares[share_key] = None
        self.submits += 1
        if self.share_ts_first is None:
            self.share_ts_first = ts
        self.share_ts_last = ts
        key = self.current_share or _UNKNOWN_SHARE
        counts = self.share_counts
        count = counts.get(key)
        if count is not None:
            counts[key] = count + 1
        elif len(counts) < MAX_SHARE_BUCKETS:
            counts[key] = 1
        else:
            counts[_UNKNOWN_SHARE] += 1
        return key

    def verdict(self, ok: bool | None) -> None:
        if ok is True:
            self.accepted += 1
        elif ok is False:
            self.rejected += 1

    def set_once(self, attr: str, value: str | None, source: str | None = None) -> None:
        """Fill an identity field the first time a usable value is seen."""
        if value and getattr(self, attr) is None:
            setattr(self, attr, value[:512])
            if attr == "pool":
                self.pool_source = source
