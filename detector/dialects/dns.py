"""DNS message parsing (RFC 1035 §4) for pool-domain attribution, hostile-input safe.

Public functions:

- :func:`parse_dns` (one message, UDP payload or one TCP frame) -> :class:`DnsMessage` or None
- :func:`split_tcp_dns` (DNS over TCP, RFC 1035 §4.2.2 / RFC 7766 §8: each message preceded by a
  2-byte length) -> complete messages plus the unconsumed tail
- :func:`answered_addresses` (one response) -> the first question's name and the A / AAAA
  addresses of the answer section: exactly what ``parse_dns`` gives for them, without building
  the other records (the per-response hot path of a scan)
- :func:`ipv6_text` (16 bytes) -> the text ``str(ipaddress.IPv6Address(raw))`` gives, faster

``parse_dns`` returns None only when the 12-byte header is missing or the input cannot be a DNS
message (longer than 65535 bytes). Damage after the header does not raise: the sections decoded
so far are returned and ``malformed`` says where decoding stopped.

Names are decompressed (RFC 1035 §4.1.4) loop-safely: a compression pointer must point strictly
before the label sequence it appears in, at most 128 pointers are followed per name and a name
is at most 255 octets (RFC 1035 §2.3.4), so every name costs O(255) work whatever the input.
Names are returned without the trailing dot ("pool.example.com"; the root is "."); bytes outside
printable ASCII and dots inside a label are escaped as in RFC 4343 §2.1 ("\\DDD", "\\.").
"""

from __future__ import annotations

import ipaddress
import struct

# the C module behind ``socket``: the same functions, without importing socket (selectors, enums:
# ~3 ms of every scan's start, for two address formatters)
from _socket import AF_INET6, inet_ntoa, inet_ntop
from typing import NamedTuple

__all__ = [
    "TYPE_NAMES",
    "DnsMessage",
    "DnsQuestion",
    "DnsRecord",
    "answered_addresses",
    "ipv6_text",
    "parse_dns",
    "split_tcp_dns",
]

_HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
_QFIXED = struct.Struct("!HH")  # qtype, qclass
_RRFIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength
_U16 = struct.Struct("!H")
_COUNTS = struct.Struct("!HH")  # qdcount, ancount (at offset 4)

MAX_MESSAGE = 65535  #: RFC 1035 §4.2.2: a DNS message fits a 16-bit length
MAX_NAME = 255  #: RFC 1035 §2.3.4: octets in a name, length bytes included
MAX_POINTERS = 128  #: compression pointers followed per name (a name has at most 127 labels)
MAX_RECORDS = 1024  #: records decoded per section (more is hostile; the rest is skipped)

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, DNAME = 1, 2, 5, 6, 12, 15, 16, 28, 33, 39
#: mnemonics of common types (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 4034, RFC 6891, RFC 9460)
TYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY",
    50: "NSEC3", 64: "SVCB", 65: "HTTPS", 255: "ANY",
}
_NAME_TYPES = frozenset({NS, CNAME, PTR, DNAME})


class _Malformed(Exception):
    """Internal: decoding stopped; the message says where (never escapes this module)."""


# Records are named tuples (immutable, built fast: a DNS answer seen by a scan builds several;
# a frozen dataclass's __init__ sets each field through object.__setattr__).
class DnsQuestion(NamedTuple):
    name: str
    qtype: int
    qclass: int


class DnsRecord(NamedTuple):
    """One resource record; ``data`` is set for the types this module understands."""

    name: str
    rtype: int
    rclass: int
    ttl: int
    #: A/AAAA: address text; NS/CNAME/PTR/DNAME: target name; MX: "pref exchange";
    #: SRV: "prio weight port target"; SOA: primary server name; TXT: the strings concatenated;
    #: None for other types (see ``rdata``)
    data: str | None
    txt: tuple[str, ...] = ()  #: TXT character-strings, one per element
    rdata: bytes = b""  #: raw RDATA as on the wire


class DnsMessage(NamedTuple):
    id: int
    flags: int  #: the whole 16-bit flags word
    questions: tuple[DnsQuestion, ...]
    answers: tuple[DnsRecord, ...]
    authority: tuple[DnsRecord, ...]
    additional: tuple[DnsRecord, ...]
    counts: tuple[int, int, int, int]  #: qd/an/ns/ar counts as declared in the header
    malformed: str | None = None  #: where decoding stopped early, if it did

    @property
    def qr(self) -> bool:
        """True for a response."""
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def aa(self) -> bool:
        return bool(self.flags & 0x0400)

    @property
    def tc(self) -> bool:
        return bool(self.flags & 0x0200)

    @property
    def rd(self) -> bool:
        return bool(self.flags & 0x0100)

    @property
    def ra(self) -> bool:
        return bool(self.flags & 0x0080)

    @property
    def rcode(self) -> int:
        """Header RCODE (the 4 low bits; EDNS extended bits are not merged)."""
        return self.flags & 0xF


def parse_dns(msg: bytes) -> DnsMessage | None:
    """Decode one DNS message; None if it has no complete header or is over 65535 bytes."""
    if len(msg) < _HEADER.size or len(msg) > MAX_MESSAGE:
        return None
    ident, flags, qd, an, ns, ar = _HEADER.unpack_from(msg)
    questions: list[DnsQuestion] = []
    records: tuple[list[DnsRecord], list[DnsRecord], list[DnsRecord]] = ([], [], [])
    pos, malformed = _HEADER.size, None
    try:
        for _ in range(min(qd, MAX_RECORDS)):
            question, pos = _question(msg, pos)
            questions.append(question)
        for section, count in zip(records, (an, ns, ar), strict=True):
            for _ in range(min(count, MAX_RECORDS)):
                record, pos = _record(msg, pos)
                section.append(record)
        if max(qd, an, ns, ar) > MAX_RECORDS:
            raise _Malformed(f"a section declares over {MAX_RECORDS} records; the rest is skipped")
    except _Malformed as exc:
        malformed = f"offset {pos}: {exc}"
    return DnsMessage(
        id=ident,
        flags=flags,
        questions=tuple(questions),
        answers=tuple(records[0]),
        authority=tuple(records[1]),
        additional=tuple(records[2]),
        counts=(qd, an, ns, ar),
        malformed=malformed,
    )


def split_tcp_dns(stream: bytes) -> tuple[list[bytes], bytes]:
    """Split a DNS-over-TCP byte stream into messages.

    Returns (complete messages in order, unconsumed tail). The tail is a prefix of the next
    message (a partial length or a partial body): keep it and prepend the next bytes. Zero-length
    frames carry nothing and are skipped.
    """
    messages: list[bytes] = []
    pos = 0
    while pos + 2 <= len(stream):
        (length,) = _U16.unpack_from(stream, pos)
        if pos + 2 + length > len(stream):
            break
        if length:
            messages.append(stream[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return messages, stream[pos:]


def answered_addresses(msg: bytes) -> tuple[str | None, list[tuple[str, str]]] | None:
    """The addresses a DNS response gives, as ``parse_dns`` decodes them, and nothing else.

    None when ``parse_dns(msg)`` is None or the message is not a response (QR clear). Otherwise
    ``(asked, addresses)``: ``asked`` is the first question's name (None when the message has no
    complete first question), ``addresses`` lists ``(address text, name)`` for each A record with
    4 bytes of RDATA and each AAAA record with 16, in the order of the answer section, where
    ``name`` is ``asked`` or, in a message without a question, the record's own name. Exactly
    the records ``parse_dns`` decodes into ``answers`` (every question must decode before the
    answers do; decoding stops at the first damaged record), with its texts. Names that are only
    skipped are checked as ``parse_dns`` checks them (pointer direction, 128 pointers, 255
    octets, label types, bounds), each pointer target's tail once per message.
    """
    n = len(msg)
    if n < 12 or n > MAX_MESSAGE or not msg[2] & 0x80:
        return None
    qd, an = _COUNTS.unpack_from(msg, 4)
    asked: str | None = None
    addresses: list[tuple[str, str]] = []
    tails: dict[int, int] = {}  # pointer target -> octets its labels add, or -1: undecodable
    pos = 12
    if qd:
        # most first questions are in-line labels seen before: known by their bytes
        zero = msg.find(0, 12)
        asked = _PLAIN_NAMES.get(msg[12 : zero + 1]) if zero > 12 else None
        if asked is not None:
            pos = zero + 1
        else:
            try:
                asked, pos = _name(msg, 12)
            except _Malformed:
                return None, addresses
            if _plain_end(msg, 12, n) != pos:
                zero = -1  # a pointer: not cached
            else:  # no pointer: the text depends on these bytes only
                if len(_PLAIN_NAMES) >= MAX_PLAIN_NAMES:
                    _PLAIN_NAMES.clear()
                _PLAIN_NAMES[msg[12:pos]] = asked
                zero = pos - 1
        if pos + 4 > n:  # the first question is incomplete: parse_dns keeps no question
            return None, addresses
        if zero == pos - 1:  # in-line labels only: what a pointer to 12 adds (the usual owner)
            tails[12] = pos - 13
        pos += 4
        for _ in range(min(qd, MAX_RECORDS) - 1):
            pos = _skip_name(msg, pos, n, tails)
            if pos < 0 or pos + 4 > n:
                return asked, addresses
            pos += 4
    for _ in range(min(an, MAX_RECORDS)):
        if asked is None:
            try:
                owner, pos = _name(msg, pos)
            except _Malformed:
                break
        else:
            owner = asked
            if pos + 1 < n and msg[pos] >= 0xC0:  # the usual owner: one pointer (_skip_name, inlined)
                target = ((msg[pos] & 0x3F) << 8) | msg[pos + 1]
                if target >= pos:
                    break
                tail = tails.get(target)
                if tail is None:
                    tail = tails[target] = _tail_octets(msg, target, n)
                if tail < 0:  # a tail is at most 254 octets: 1 + tail fits the 255
                    break
                pos += 2
            else:
                pos = _skip_name(msg, pos, n, tails)
                if pos < 0:
                    break
        start = pos + 10  # type, class, TTL, RDLENGTH
        if start > n:
            break
        end = start + (msg[pos + 8] << 8 | msg[pos + 9])
        if end > n:
            break
        if not msg[pos]:
            rtype, size = msg[pos + 1], end - start
            if rtype == A and size == 4:
                addresses.append((inet_ntoa(msg[start:end]), owner))
            elif rtype == AAAA and size == 16:
                addresses.append((ipv6_text(msg[start:end]), owner))
        pos = end
    return asked, addresses


def ipv6_text(raw: bytes) -> str:
    """``str(ipaddress.IPv6Address(raw))`` for 16 bytes: the C library's ``inet_ntop`` where it
    is known to print the same (RFC 5952 compression, first longest run, no single-group
    ``::``), ``ipaddress`` for the ::/80 forms that C libraries print with a dotted quad."""
    if _NTOP_AGREES and raw[:10] != _ZERO10:
        return inet_ntop(AF_INET6, raw)
    return str(ipaddress.IPv6Address(raw))


_ZERO10 = bytes(10)
#: in-line names (wire bytes, terminating zero included) -> their text, for answered_addresses
_PLAIN_NAMES: dict[bytes, str] = {}
MAX_PLAIN_NAMES = 4096


def _ntop_agrees() -> bool:
    """True when this platform's inet_ntop prints what ipaddress prints for addresses outside
    ::/80 (checked once, on forms where implementations have differed)."""
    probes = ("2001:db8::1", "2001:db8:0:1:0:0:0:1", "1:0:2:0:0:3:0:0", "0:0:1::", "1::", "1:0:1:0:1:0:1:0",
              "fe80::1:0:0:1", "64:ff9b::102:304", "0:0:0:0:1:ffff:102:304", "abcd:ef01:2345:6789:0:0:0:0",
              "0:0:0:0:0:1:0:0", "2001:db8:0:0:1:0:0:1", "ff02::2", "1:2:3:4:5:6:7:8")
    try:
        for text in probes:
            raw = ipaddress.IPv6Address(text).packed
            if inet_ntop(AF_INET6, raw) != str(ipaddress.IPv6Address(raw)):
                return False
    except (OSError, ValueError):
        return False
    return True


_NTOP_AGREES = _ntop_agrees()


# --- sections ------------------------------------------------------------------------------------


def _question(msg: bytes, pos: int) -> tuple[DnsQuestion, int]:
    name, pos = _name(msg, pos)
    if pos + _QFIXED.size > len(msg):
        raise _Malformed("question truncated")
    qtype, qclass = _QFIXED.unpack_from(msg, pos)
    return DnsQuestion(name, qtype, qclass), pos + _QFIXED.size


def _record(msg: bytes, pos: int) -> tuple[DnsRecord, int]:
    name, pos = _name(msg, pos)
    if pos + _RRFIXED.size > len(msg):
        raise _Malformed("resource record header truncated")
    rtype, rclass, ttl, rdlength = _RRFIXED.unpack_from(msg, pos)
    start = pos + _RRFIXED.size
    end = start + rdlength
    if end > len(msg):
        raise _Malformed(f"RDATA of {rdlength} bytes overruns the message")
    try:
        data, txt = _rdata(msg, rtype, start, end)
    except _Malformed:
        data, txt = None, ()  # undecodable RDATA: keep the record, raw bytes only
    return DnsRecord(name, rtype, rclass, ttl, data, txt, msg[start:end]), end


def _rdata(msg: bytes, rtype: int, start: int, end: int) -> tuple[str | None, tuple[str, ...]]:
    size = end - start
    if rtype == A and size == 4:
        return inet_ntoa(msg[start:end]), ()  # the dotted quad ipaddress.IPv4Address prints
    if rtype == AAAA and size == 16:
        return str(ipaddress.IPv6Address(msg[start:end])), ()
    if rtype in _NAME_TYPES or rtype == SOA:
        return _name_within(msg, start, end), ()
    if rtype == MX and size >= 3:
        return f"{_U16.unpack_from(msg, start)[0]} {_name_within(msg, start + 2, end)}", ()
    if rtype == SRV and size >= 7:
        prio, weight, port = struct.unpack_from("!HHH", msg, start)
        return f"{prio} {weight} {port} {_name_within(msg, start + 6, end)}", ()
    if rtype == TXT:
        strings = _character_strings(msg, start, end)
        return "".join(strings), strings
    return None, ()


def _name_within(msg: bytes, start: int, end: int) -> str:
    """A name inside RDATA: its in-line part must not run past the RDATA."""
    name, after = _name(msg, start)
    if after > end:
        raise _Malformed("name overruns RDATA")
    return name


def _character_strings(msg: bytes, start: int, end: int) -> tuple[str, ...]:
    strings: list[str] = []
    pos = start
    while pos < end:
        length = msg[pos]
        if pos + 1 + length > end:
            raise _Malformed("TXT string overruns RDATA")
        strings.append(msg[pos + 1 : pos + 1 + length].decode("utf-8", "backslashreplace"))
        pos += 1 + length
    return tuple(strings)


# --- names ---------------------------------------------------------------------------------------


def _name(msg: bytes, pos: int) -> tuple[str, int]:
    """Decode the name at ``pos``; returns (text, offset after its in-line part)."""
    labels: list[str] = []
    octets, jumps = 1, 0
    after: int | None = None  # where the in-line part ended (set at the first pointer)
    floor = pos  # a pointer must point strictly before the sequence it appears in
    while True:
        if pos >= len(msg):
            raise _Malformed("name runs past the end of the message")
        length = msg[pos]
        if length == 0:
            return (".".join(labels) or "."), (pos + 1 if after is None else after)
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= len(msg):
                raise _Malformed("compression pointer truncated")
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            jumps += 1
            if target >= floor or jumps > MAX_POINTERS:
                raise _Malformed(f"compression pointer to {target} loops or points forward")
            if after is None:
                after = pos + 2
            pos = floor = target
            continue
        if kind:
            raise _Malformed(f"label type {kind:#04x} is not supported")
        octets += 1 + length
        if octets > MAX_NAME:
            raise _Malformed("name longer than 255 octets")
        if pos + 1 + length > len(msg):
            raise _Malformed("label runs past the end of the message")
        labels.append(_label_text(msg[pos + 1 : pos + 1 + length]))
        pos += 1 + length


def _skip_name(msg: bytes, pos: int, n: int, tails: dict[int, int]) -> int:
    """The offset after the in-line part of the name at ``pos``, or -1 exactly where ``_name``
    would raise. ``tails`` memoises, per pointer target, the octets of the labels the name
    continues with from there (-1: undecodable); that is all the rest of the check needs."""
    floor, octets = pos, 1
    while pos < n:
        length = msg[pos]
        if not length:
            return pos + 1
        if length >= 0xC0:
            if pos + 1 >= n:
                return -1
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            if target >= floor:
                return -1
            tail = tails.get(target)
            if tail is None:
                tail = tails[target] = _tail_octets(msg, target, n)
            # _name: after this first pointer, at most 127 more (checked in the tail), <= 255 octets
            return pos + 2 if tail >= 0 and octets + tail <= MAX_NAME else -1
        if length & 0xC0:
            return -1
        octets += 1 + length
        pos += 1 + length
        if octets > MAX_NAME or pos > n:
            return -1
    return -1


def _plain_end(msg: bytes, pos: int, n: int) -> int:
    """The offset after the name at ``pos`` when it is in-line labels only (no pointer), else -1;
    for a name ``_name`` has decoded (so within the 255 octets)."""
    while pos < n:
        length = msg[pos]
        if not length:
            return pos + 1
        if length & 0xC0:
            return -1
        pos += 1 + length
    return -1


def _tail_octets(msg: bytes, pos: int, n: int) -> int:
    """Octets of the labels of a name continued at ``pos`` (a pointer's target, after one
    pointer), or -1 when ``_name`` would raise whatever came before (a tail is at least as
    long as any name it ends, and had one pointer already)."""
    floor, octets, jumps = pos, 0, 1
    while pos < n:
        length = msg[pos]
        if not length:
            return octets
        if length >= 0xC0:
            if pos + 1 >= n:
                return -1
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            jumps += 1
            if target >= floor or jumps > MAX_POINTERS:
                return -1
            pos = floor = target
            continue
        if length & 0xC0:
            return -1
        octets += 1 + length
        pos += 1 + length
        if octets >= MAX_NAME or pos > n:
            return -1
    return -1


def _label_text(raw: bytes) -> str:
    if (raw.isascii() and raw.isalnum()) or all(_plain(b) for b in raw):
        return raw.decode("ascii")
    return "".join(chr(b) if _plain(b) else ("\\." if b == 0x2E else f"\\{b:03d}") for b in raw)


def _plain(b: int) -> bool:
    """Printable ASCII other than '.' and '\\' (which need escaping)."""
    return 0x21 <= b <= 0x7E and b not in (0x2E, 0x5C)
