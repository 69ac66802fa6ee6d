"""Decode the payload a sensor logged (a Suricata alert's ``payload``, a Zeek notice's ``sub``)
with the same dialect parsers as ``minesweep scan``.

A payload is one packet (or a stretch of stream) of one direction of a connection. It is framed
like a TCP stream (``detector.reassembly.Framer``: JSON lines or an HTTP message), each frame is
parsed as JSON-RPC (``detector.jsonrpc``) and every message a dialect claims
(``detector.dialects.claim``) is handed to that dialect's ``on_message`` with a
``detector.session.Session`` per connection, so a coin-mining alert yields the dialect, login,
worker, wallet and agent exactly as a packet scan would. Roles come from the methods: the sender
of a client method (``mining.subscribe``, ``login``, ``eth_submitLogin``, ...) is the miner.

Public API

``frame_messages(payload) -> list[Framed]``
    The JSON-RPC messages of a payload, with the HTTP head that carried them (if any).
``PayloadDecoder(max_sessions)``
    ``.decode(key, payload, src, sport, dst, dport, ts) -> Decoded | None``: decode into the
    connection's Session (created on the first claimed message, oriented by its role; the oldest
    of ``max_sessions`` is dropped first). ``None`` when nothing in the payload is mining.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from detector.dialects import DIALECTS, claim
from detector.dialects.gbt import http_detail
from detector.jsonrpc import Message, parse_body, parse_message
from detector.reassembly import Framer, HttpHead
from detector.session import Session

__all__ = ["Decoded", "Framed", "PayloadDecoder", "frame_messages"]

MAX_PAYLOAD = 1 << 20  #: bytes of one payload looked at


@dataclass(frozen=True, slots=True)
class Framed:
    """One JSON-RPC message of a payload and the HTTP head around it (None for a bare line)."""

    message: Message
    head: HttpHead | None


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one payload added to its connection's session."""

    session: Session
    claimed: int  #: messages a dialect recognised in this payload
    sender_is_client: bool


def frame_messages(payload: bytes) -> list[Framed]:
    """JSON-RPC messages in ``payload`` (lines, or HTTP bodies); never raises."""
    framer = Framer()
    frames = framer.feed(payload[:MAX_PAYLOAD]) + framer.close()
    out: list[Framed] = []
    for frame in frames:
        if frame[0] == "line":
            msg = parse_message(frame[1])
            if msg is not None:
                out.append(Framed(msg, None))
        else:
            head: HttpHead = frame[1]
            for msg in parse_body(frame[2]) if frame[2] else []:
                out.append(Framed(msg, head))
    return out


class PayloadDecoder:
    """Per-connection sessions fed from logged payloads (bounded)."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self.sessions: OrderedDict[Hashable, tuple[Session, bool]] = OrderedDict()

    def decode(self, key: Hashable, payload: bytes, src: str, sport: int | None, dst: str,
               dport: int | None, ts: float) -> Decoded | None:
        """Decode ``payload`` sent by ``src`` to ``dst`` into the session of connection ``key``."""
        framed = frame_messages(payload)
        if not framed:
            return None
        known = self.sessions.get(key)
        claims = [(f, claim(f.message)) for f in framed]
        first = next((c for _, c in claims if c is not None), None)
        if known is None and first is None:
            return None
        if known is None:
            assert first is not None
            sender_is_client = first[1] == "client"
            client, cport, server, sport_ = (src, sport, dst, dport) if sender_is_client else (dst, dport, src, sport)
            session = Session(client, cport, server, sport_, first_seen=ts, last_seen=ts)  # type: ignore[arg-type]  # a port the log did not give stays None
            self.sessions[key] = (session, src == client)
            while len(self.sessions) > self.max_sessions:
                self.sessions.popitem(last=False)
        else:
            self.sessions.move_to_end(key)
            session = known[0]
        sender_is_client = src == session.client
        count = 0
        for f, claimed in claims:
            module = claimed[0] if claimed else DIALECTS.get(session.dialect or "")
            if module is None:
                continue
            if claimed:
                count += 1
            module.on_message(session, f.message, sender_is_client, ts)
            if f.head is not None:
                http_detail(session, f.head)
        session.first_seen = min(session.first_seen, ts)
        session.last_seen = max(session.last_seen, ts)
        if count == 0 and not session.confirmed:
            return None
        return Decoded(session, count, sender_is_client)
