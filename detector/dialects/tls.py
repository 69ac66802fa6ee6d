"""TLS handshake parsing from the start of a TCP stream: ClientHello, ServerHello, certificates.

Pure functions over the first bytes of one direction of a TCP connection (already reassembled in
sequence order; records and handshake messages may be split across segments and records, and
several handshake messages may share one record). Nothing here raises on hostile input: each
parser has three outcomes, the project's "need more" vs "malformed" split (see ``errors.py``):

- a result record (possibly partial, with ``truncated`` / ``malformed`` set),
- ``None`` when the bytes are not a TLS handshake of the expected kind (garbage, other protocol),
- :class:`~detector.errors.NeedMoreData` when the bytes are a valid but incomplete prefix and
  ``final`` is false. With ``final=True`` (flow ended, or the buffer cap was reached) the parser
  salvages what the prefix holds instead and flags the result ``truncated``.

Public functions:

- :func:`parse_client_hello` -> :class:`ClientHello` (version, ciphers, extension types in order,
  SNI, ALPN, supported groups, EC point formats, signature algorithms, supported versions)
- :func:`ja3` -> (JA3 string, MD5) per the Salesforce JA3 README (github.com/salesforce/ja3)
- :func:`ja4` / :func:`ja4_raw` -> JA4 per FoxIO ``technical_details/JA4.md`` (github.com/FoxIO-LLC/ja4)
- :func:`parse_server_hello` -> :class:`ServerHello` (version, cipher, ALPN, supported_version)
- :func:`parse_certificates` -> list of :class:`CertInfo` from the TLS <= 1.2 Certificate message,
  decoded by the small DER walker below (``cryptography`` is not installed in the project venv, and
  five X.509 fields do not justify a dependency).

Bounds: records longer than 2^14 + 2048 bytes (RFC 8446 §5.2), hello messages longer than 64 KiB and
certificate messages longer than 256 KiB are treated as garbage, at most 16 certificates per chain
are decoded, and every loop consumes input. SSLv2-format hellos (first byte 0x80) are not TLS here.
Each call re-reads ``buf`` from its start, so a caller polling a growing buffer pays O(n) per call;
callers stop polling once a result (or None) comes back.
"""

from __future__ import annotations

import calendar
import hashlib
import itertools
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from detector.errors import NeedMoreData

__all__ = [
    "CertInfo",
    "ClientHello",
    "ServerHello",
    "is_grease",
    "ja3",
    "ja4",
    "ja4_raw",
    "parse_certificates",
    "parse_client_hello",
    "parse_server_hello",
]

# --- wire constants --------------------------------------------------------------------------

CT_CHANGE_CIPHER_SPEC, CT_ALERT, CT_HANDSHAKE, CT_APPLICATION_DATA = 20, 21, 22, 23
HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_CERTIFICATE = 1, 2, 11
EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_EC_POINT_FORMATS = 0x0000, 0x000A, 0x000B
EXT_SIGNATURE_ALGORITHMS, EXT_ALPN, EXT_SUPPORTED_VERSIONS = 0x000D, 0x0010, 0x002B
TLS13 = 0x0304

MAX_RECORD = (1 << 14) + 2048  #: RFC 8446 §5.2: TLSCiphertext length limit
MAX_HELLO = 1 << 16  #: largest Client/ServerHello accepted (real ones are < 8 KiB)
MAX_CERT_MSG = 1 << 18  #: largest Certificate message accepted
MAX_CHAIN = 16  #: certificates decoded per chain (real chains have 2-5)
MAX_STRING = 1024  #: longest SNI / ALPN value kept

#: RFC 8446 §4.1.3: ServerHello.random of a HelloRetryRequest (SHA-256 of "HelloRetryRequest")
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

_RECORD = struct.Struct("!BHH")  # content type, legacy record version, length
_HS_HEADER = struct.Struct("!B3s")  # handshake type, 24-bit length

#: JA4 version codes (FoxIO JA4.md, "TLS and DTLS Version")
_JA4_VERSIONS = {
    0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
    0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3",
}
_NO_HASH = "000000000000"


class _Short(Exception):
    """Internal: a read ran past the end of its slice (never escapes this module)."""


class _Bad(Exception):
    """Internal: a structure is malformed (never escapes this module)."""


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientHello:
    """One parsed ClientHello (RFC 8446 §4.1.2 / RFC 5246 §7.4.1.2); GREASE values are kept."""

    record_version: int  #: legacy version of the first record header (0x0301 typical)
    version: int  #: ClientHello.legacy_version (0x0303 for TLS 1.2 and 1.3)
    cipher_suites: tuple[int, ...]
    compression_methods: tuple[int, ...]
    extensions: tuple[int, ...]  #: extension types in wire order
    server_name: str | None  #: first host_name of the SNI extension (non-ASCII escaped)
    alpn: tuple[str, ...]  #: ALPN protocol names, latin-1 decoded (byte-exact round trip)
    supported_groups: tuple[int, ...]
    ec_point_formats: tuple[int, ...]
    signature_algorithms: tuple[int, ...]
    supported_versions: tuple[int, ...]
    truncated: bool = False  #: parsed from an incomplete message (``final=True``)
    malformed: str | None = None  #: why parsing stopped early, if it did


@dataclass(frozen=True, slots=True)
class ServerHello:
    """One parsed ServerHello (or HelloRetryRequest)."""

    record_version: int
    legacy_version: int  #: ServerHello.legacy_version
    cipher_suite: int
    compression_method: int
    extensions: tuple[int, ...]
    alpn: str | None  #: the selected ALPN protocol, latin-1 decoded
    supported_version: int | None  #: selected version from extension 0x002b (TLS 1.3)
    hello_retry: bool = False  #: the random is the HelloRetryRequest marker
    truncated: bool = False
    malformed: str | None = None

    @property
    def version(self) -> int:
        """The negotiated version: ``supported_version`` when present, else ``legacy_version``."""
        return self.supported_version if self.supported_version is not None else self.legacy_version


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The fields of one X.509 certificate that attribution needs (RFC 5280 §4.1)."""

    sha256: str  #: lower-case hex SHA-256 of the DER (Zeek's ``cert_chain_fps``)
    version: int | None  #: 1..3
    serial: str  #: upper-case hex of the serial's value bytes (Zeek's ``certificate.serial``)
    subject: str  #: RFC 4514 string, most specific RDN first ("CN=x,O=y,C=US"), as Zeek logs it
    issuer: str
    subject_cn: str | None
    issuer_cn: str | None
    san_dns: tuple[str, ...]  #: subjectAltName dNSName entries in order
    not_before: float | None  #: seconds since the epoch, UTC
    not_after: float | None
    malformed: str | None = None  #: why DER decoding stopped early, if it did


# --- byte reader ---------------------------------------------------------------------------------


class _Reader:
    """Bounds-checked big-endian reader over ``buf[pos:end]``; overruns raise ``_Short``."""

    __slots__ = ("buf", "clamped", "end", "pos")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf, self.pos, self.end = buf, pos, len(buf) if end is None else min(end, len(buf))
        self.clamped = False  #: a ``vec(..., clamp=True)`` was cut short

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise _Short
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def rest(self) -> bytes:
        return self.take(self.end - self.pos)

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def vec(self, len_bytes: int, *, clamp: bool = False) -> _Reader:
        """A sub-reader over a length-prefixed vector; the parent moves past it.

        With ``clamp`` a vector longer than what is left is cut to what is left (and
        ``clamped`` is set) instead of failing: used for the outer lists of a hello, so that a
        truncated message still yields the cipher suites and the extensions before the cut.
        """
        n = int.from_bytes(self.take(len_bytes), "big")
        if self.pos + n > self.end:
            if not clamp:
                raise _Short
            n, self.clamped = self.end - self.pos, True
        sub = _Reader(self.buf, self.pos, self.pos + n)
        self.pos += n
        return sub

    def left(self) -> int:
        return self.end - self.pos


def _u16s(r: _Reader) -> tuple[int, ...]:
    return tuple(v for (v,) in struct.iter_unpack("!H", r.take(r.left() & ~1)))


def _text(raw: bytes) -> str:
    return raw[:MAX_STRING].decode("ascii", "backslashreplace")


def is_grease(value: int) -> bool:
    """True for the RFC 8701 GREASE values 0x0a0a, 0x1a1a, ... 0xfafa."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


# --- record / handshake layer --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Handshake:
    data: bytes  #: concatenated handshake-record payloads from the start of the stream
    record_version: int  #: version field of the first record header (-1: no header yet)
    closed: bool  #: another record type (or junk) followed: no more plaintext handshake


def _handshake_stream(buf: bytes) -> _Handshake | None:
    """Collect the payloads of the leading handshake records; None if ``buf`` is not TLS."""
    parts: list[bytes] = []
    pos, first_version, closed = 0, -1, False
    while pos + _RECORD.size <= len(buf):
        ctype, version, length = _RECORD.unpack_from(buf, pos)
        if ctype != CT_HANDSHAKE or version >> 8 != 3 or not 0 < length <= MAX_RECORD:
            if pos == 0:
                return None
            closed = True  # CCS, alert, application data or junk: plaintext handshake is over
            break
        if first_version < 0:
            first_version = version
        parts.append(buf[pos + _RECORD.size : pos + _RECORD.size + length])
        pos += _RECORD.size + length
    if first_version < 0 and not _plausible_record_prefix(buf):
        return None
    return _Handshake(b"".join(parts), first_version, closed)


def _plausible_record_prefix(buf: bytes) -> bool:
    """Could these fewer than 5 bytes start a TLS handshake record?"""
    return (len(buf) < 1 or buf[0] == CT_HANDSHAKE) and (len(buf) < 2 or buf[1] == 3)


def _messages(data: bytes, cap: int) -> Iterator[tuple[int, bytes, bool]]:
    """Yield (type, body, complete) per handshake message; only the last may be incomplete.

    An incomplete 4-byte header is yielded as type -1. Raises ``_Bad`` past ``cap``.
    """
    pos = 0
    while pos < len(data):
        if pos + 4 > len(data):
            yield -1, b"", False
            return
        mtype, raw_len = _HS_HEADER.unpack_from(data, pos)
        length = int.from_bytes(raw_len, "big")
        if length > cap:
            raise _Bad(f"handshake message type {mtype} claims {length} bytes")
        body = data[pos + 4 : pos + 4 + length]
        yield mtype, body, len(body) == length
        if len(body) < length:
            return
        pos += 4 + length


def _first_message(buf: bytes, want: int, final: bool) -> tuple[bytes, bool, int] | None:
    """(body, complete, record_version) of the first handshake message if it is of type ``want``.

    None for garbage or another first message; raises NeedMoreData for an incomplete prefix
    unless ``final`` (then an incomplete body is returned with complete=False).
    """
    hs = _handshake_stream(buf)
    if hs is None:
        return None
    try:
        mtype, body, complete = next(_messages(hs.data, MAX_HELLO), (-1, b"", False))
    except _Bad:
        return None
    if mtype not in (-1, want):
        return None
    if mtype == want and (complete or final or hs.closed):
        return body, complete, hs.record_version
    if final or hs.closed:
        return None
    raise NeedMoreData(f"TLS handshake message {want}: {len(buf)} bytes so far")


# --- hello parsing -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Fields:
    """Mutable scratch record filled while a hello is decoded (never leaves the module)."""

    version: int | None = None
    random: bytes = b""
    cipher_suites: tuple[int, ...] = ()
    compression_methods: tuple[int, ...] = ()
    extensions: list[int] = field(default_factory=list)
    server_name: str | None = None
    alpn: tuple[str, ...] = ()
    supported_groups: tuple[int, ...] = ()
    ec_point_formats: tuple[int, ...] = ()
    signature_algorithms: tuple[int, ...] = ()
    supported_versions: tuple[int, ...] = ()
    cipher_suite: int | None = None
    compression_method: int = 0
    selected_version: int | None = None
    stopped: str | None = None  #: "truncated" or a malformation, when decoding stopped early


_ExtDecoder = Callable[[_Reader, _Fields], None]


def parse_client_hello(buf: bytes, *, final: bool = False) -> ClientHello | None:
    """Parse the ClientHello at the start of a client->server stream.

    Returns None when ``buf`` is not a TLS handshake starting with a ClientHello. Raises
    NeedMoreData when ``buf`` is an incomplete prefix and ``final`` is false; with ``final=True``
    a truncated ClientHello yields whatever fields its prefix holds, flagged ``truncated``.
    """
    found = _first_message(buf, HS_CLIENT_HELLO, final)
    if found is None:
        return None
    body, complete, record_version = found
    f = _Fields()
    try:
        _client_hello_fields(_Reader(body), f)
    except _Short:
        f.stopped = "truncated"
    if f.version is None:
        return None
    return ClientHello(
        record_version=record_version,
        version=f.version,
        cipher_suites=f.cipher_suites,
        compression_methods=f.compression_methods,
        extensions=tuple(f.extensions),
        server_name=f.server_name,
        alpn=f.alpn,
        supported_groups=f.supported_groups,
        ec_point_formats=f.ec_point_formats,
        signature_algorithms=f.signature_algorithms,
        supported_versions=f.supported_versions,
        truncated=not complete,
        malformed=_malformed(f, complete),
    )


def _malformed(f: _Fields, complete: bool) -> str | None:
    """A stop inside a complete message is a malformation; inside a truncated one it is expected."""
    if f.stopped == "truncated":
        return "a length field overruns the message" if complete else None
    return f.stopped


def _client_hello_fields(r: _Reader, f: _Fields) -> None:
    f.version = r.u16()
    f.random = r.take(32)
    r.vec(1)  # legacy_session_id
    f.cipher_suites = _u16s(r.vec(2, clamp=True))
    f.compression_methods = tuple(r.vec(1).rest())
    if r.left():  # SSL 3.0-style hellos may end without an extensions block
        _extensions(r.vec(2, clamp=True), f, _CLIENT_EXTENSIONS)
    if r.clamped:
        f.stopped = "truncated"


def _extensions(r: _Reader, f: _Fields, decoders: dict[int, _ExtDecoder]) -> None:
    """Record extension types in order and decode the known ones; ``_Short`` at a cut."""
    while r.left():
        etype = r.u16()
        body = r.vec(2)
        f.extensions.append(etype)
        decoder = decoders.get(etype)
        if decoder is not None:
            try:
                decoder(body, f)
            except _Short:
                f.stopped = f"extension {etype:#06x} body is malformed"


def _sni(r: _Reader, f: _Fields) -> None:
    names = r.vec(2)
    while names.left() and f.server_name is None:
        name_type, name = names.u8(), names.vec(2)
        if name_type == 0:  # host_name
            f.server_name = _text(name.rest())


def _alpn_list(r: _Reader) -> tuple[str, ...]:
    protos, names = r.vec(2), []
    while protos.left():
        names.append(protos.vec(1).rest()[:MAX_STRING].decode("latin-1"))
    return tuple(names)


def _client_alpn(r: _Reader, f: _Fields) -> None:
    f.alpn = _alpn_list(r)


def _groups(r: _Reader, f: _Fields) -> None:
    f.supported_groups = _u16s(r.vec(2))


def _point_formats(r: _Reader, f: _Fields) -> None:
    f.ec_point_formats = tuple(r.vec(1).rest())


def _signature_algorithms(r: _Reader, f: _Fields) -> None:
    f.signature_algorithms = _u16s(r.vec(2))


def _supported_versions(r: _Reader, f: _Fields) -> None:
    f.supported_versions = _u16s(r.vec(1))


_CLIENT_EXTENSIONS: dict[int, _ExtDecoder] = {
    EXT_SERVER_NAME: _sni,
    EXT_SUPPORTED_GROUPS: _groups,
    EXT_EC_POINT_FORMATS: _point_formats,
    EXT_SIGNATURE_ALGORITHMS: _signature_algorithms,
    EXT_ALPN: _client_alpn,
    EXT_SUPPORTED_VERSIONS: _supported_versions,
}


# --- JA3 / JA4 -----------------------------------------------------------------------------------


def ja3(ch: ClientHello) -> tuple[str, str]:
    """JA3 string and its MD5 hex digest (github.com/salesforce/ja3, README "How it works").

    ``SSLVersion,Cipher,SSLExtension,EllipticCurve,EllipticCurvePointFormat``: decimal values,
    '-' within a field, ',' between fields, GREASE values removed, empty fields left empty.
    SSLVersion is ClientHello.legacy_version (not the record-layer version).
    """
    text = ",".join((
        str(ch.version),
        _dash(ch.cipher_suites),
        _dash(ch.extensions),
        _dash(ch.supported_groups),
        "-".join(str(v) for v in ch.ec_point_formats),
    ))
    return text, hashlib.md5(text.encode("ascii")).hexdigest()


def _dash(values: tuple[int, ...]) -> str:
    return "-".join(str(v) for v in values if not is_grease(v))


def ja4(ch: ClientHello, transport: str = "t", *, original: bool = False) -> str:
    """JA4 fingerprint (FoxIO JA4.md), e.g. ``t13d1516h2_8daaf6152771_e5627efa2ab1``.

    ``transport`` is "t" (TLS over TCP), "q" (QUIC) or "d" (DTLS). ``original=True`` gives
    JA4_o: lists in wire order, SNI and ALPN kept in the extension list.
    """
    a, ciphers, exts, sigs = _ja4_parts(ch, transport, original)
    ext_hash = _sha12(exts + ("_" + sigs if sigs else "")) if exts else _NO_HASH
    return f"{a}_{_sha12(ciphers) if ciphers else _NO_HASH}_{ext_hash}"


def ja4_raw(ch: ClientHello, transport: str = "t", *, original: bool = False) -> str:
    """JA4_r (``original=False``) or JA4_ro: the unhashed lists behind :func:`ja4`."""
    a, ciphers, exts, sigs = _ja4_parts(ch, transport, original)
    return f"{a}_{ciphers}_{exts}" + (f"_{sigs}" if sigs else "")


def _ja4_parts(ch: ClientHello, transport: str, original: bool) -> tuple[str, str, str, str]:
    ciphers = [c for c in ch.cipher_suites if not is_grease(c)]
    exts = [e for e in ch.extensions if not is_grease(e)]
    versions = [v for v in ch.supported_versions if not is_grease(v)]
    version = _JA4_VERSIONS.get(max(versions) if versions else ch.version, "00")
    sni = "d" if EXT_SERVER_NAME in exts else "i"
    head = f"{transport}{version}{sni}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{_ja4_alpn(ch)}"
    if not original:
        ciphers = sorted(ciphers)
        exts = sorted(e for e in exts if e not in (EXT_SERVER_NAME, EXT_ALPN))
    sigs = [s for s in ch.signature_algorithms if not is_grease(s)]
    return head, _hex_list(ciphers), _hex_list(exts), _hex_list(sigs)


def _ja4_alpn(ch: ClientHello) -> str:
    """First and last character of the first ALPN value; hex digits when either is not alnum."""
    if not ch.alpn or not ch.alpn[0]:
        return "00"
    raw = ch.alpn[0].encode("latin-1")
    if _alnum(raw[0]) and _alnum(raw[-1]):
        return chr(raw[0]) + chr(raw[-1])
    hexed = raw.hex()
    return hexed[0] + hexed[-1]


def _alnum(b: int) -> bool:
    return 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def _hex_list(values: list[int]) -> str:
    return ",".join(f"{v:04x}" for v in values)


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


# --- ServerHello ---------------------------------------------------------------------------------


def parse_server_hello(buf: bytes, *, final: bool = False) -> ServerHello | None:
    """Parse the ServerHello at the start of a server->client stream (same outcomes as above)."""
    found = _first_message(buf, HS_SERVER_HELLO, final)
    if found is None:
        return None
    body, complete, record_version = found
    f = _Fields()
    try:
        _server_hello_fields(_Reader(body), f)
    except _Short:
        f.stopped = "truncated"
    if f.version is None or f.cipher_suite is None:
        return None
    return ServerHello(
        record_version=record_version,
        legacy_version=f.version,
        cipher_suite=f.cipher_suite,
        compression_method=f.compression_method,
        extensions=tuple(f.extensions),
        alpn=f.alpn[0] if f.alpn else None,
        supported_version=f.selected_version,
        hello_retry=f.random == HRR_RANDOM,
        truncated=not complete,
        malformed=_malformed(f, complete),
    )


def _server_hello_fields(r: _Reader, f: _Fields) -> None:
    f.version = r.u16()
    f.random = r.take(32)
    r.vec(1)  # legacy_session_id_echo
    f.cipher_suite = r.u16()
    f.compression_method = r.u8()
    if r.left():
        _extensions(r.vec(2, clamp=True), f, _SERVER_EXTENSIONS)
    if r.clamped:
        f.stopped = "truncated"


def _server_version(r: _Reader, f: _Fields) -> None:
    f.selected_version = r.u16()


_SERVER_EXTENSIONS: dict[int, _ExtDecoder] = {
    EXT_ALPN: _client_alpn,  # same wire shape; the server lists exactly one protocol
    EXT_SUPPORTED_VERSIONS: _server_version,
}


# --- Certificate ---------------------------------------------------------------------------------


def parse_certificates(buf: bytes, *, final: bool = False) -> list[CertInfo]:
    """Certificates of the first Certificate message in a server->client stream (TLS <= 1.2).

    Returns [] when the stream is not TLS, negotiates TLS 1.3 (certificates are encrypted) or
    holds no Certificate before the handshake turns encrypted. Raises NeedMoreData while the
    Certificate message is incomplete and ``final`` is false; with ``final=True`` the complete
    certificates of an incomplete message are returned.
    """
    hs = _handshake_stream(buf)
    if hs is None:
        return []
    try:
        for mtype, body, complete in _messages(hs.data, MAX_CERT_MSG):
            if mtype == HS_SERVER_HELLO and complete and _is_tls13(body):
                return []
            if mtype == HS_CERTIFICATE and (complete or final or hs.closed):
                return [_cert_info(der) for der in itertools.islice(_cert_list(body), MAX_CHAIN)]
    except _Bad:
        return []
    if final or hs.closed:
        return []
    raise NeedMoreData(f"TLS Certificate: {len(buf)} bytes so far")


def _is_tls13(server_hello: bytes) -> bool:
    f = _Fields()
    try:
        _server_hello_fields(_Reader(server_hello), f)
    except _Short:
        return False
    return f.selected_version == TLS13


def _cert_list(body: bytes) -> Iterator[bytes]:
    """DER blobs of a TLS 1.0-1.2 Certificate body; stops at the first incomplete entry."""
    chain = _Reader(body, 3, 3 + int.from_bytes(body[:3], "big")) if len(body) >= 3 else _Reader(b"")
    while chain.left() >= 3:
        try:
            yield chain.vec(3).rest()
        except _Short:
            return


# --- minimal DER walker for X.509 ----------------------------------------------------------------

_OID_NAMES = {
    "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L",
    "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title",
    "2.5.4.15": "businessCategory", "2.5.4.17": "postalCode", "2.5.4.42": "GN",
    "2.5.4.97": "organizationIdentifier", "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC", "1.2.840.113549.1.9.1": "emailAddress",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL", "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}
_OID_SAN = "2.5.29.17"
#: directory string tags: UTF8String, PrintableString, T61String, IA5String, VisibleString,
#: UniversalString, BMPString
_STRING_CODECS = {
    0x0C: "utf-8", 0x13: "latin-1", 0x14: "latin-1", 0x16: "latin-1", 0x1A: "latin-1",
    0x1C: "utf-32-be", 0x1E: "utf-16-be",
}
_MAX_CHILDREN = 4096  #: most TLVs visited under one constructed value


@dataclass(frozen=True, slots=True)
class _Tlv:
    tag: int
    offset: int  #: position of the tag byte
    start: int  #: first content byte
    end: int  #: one past the last content byte


def _tlv(buf: bytes, pos: int, end: int) -> _Tlv:
    """Decode the DER TLV at ``pos``; it must lie inside ``[pos, end)``."""
    if pos + 2 > end:
        raise _Short
    tag, first = buf[pos], buf[pos + 1]
    if tag & 0x1F == 0x1F:
        raise _Bad("high-tag-number form")
    start = pos + 2
    if first >= 0x80:
        n = first & 0x7F
        if n == 0 or n > 4:
            raise _Bad("indefinite or oversized length")
        if start + n > end:
            raise _Short
        length, start = int.from_bytes(buf[start : start + n], "big"), start + n
    else:
        length = first
    if start + length > end:
        raise _Short
    return _Tlv(tag, pos, start, start + length)


def _children(buf: bytes, parent: _Tlv) -> Iterator[_Tlv]:
    pos = parent.start
    for _ in range(_MAX_CHILDREN):
        if pos >= parent.end:
            return
        child = _tlv(buf, pos, parent.end)
        yield child
        pos = child.end


def _next(items: Iterator[_Tlv], what: str) -> _Tlv:
    for item in items:
        return item
    raise _Bad(f"{what} missing")


def _cert_info(der: bytes) -> CertInfo:
    got = _CertFields()
    try:
        _walk_certificate(der, got)
    except _Short:
        got.stopped = "DER truncated"
    except _Bad as exc:
        got.stopped = f"DER malformed: {exc}"
    return CertInfo(
        sha256=hashlib.sha256(der).hexdigest(),
        version=got.version,
        serial=got.serial,
        subject=got.subject,
        issuer=got.issuer,
        subject_cn=got.subject_cn,
        issuer_cn=got.issuer_cn,
        san_dns=got.san_dns,
        not_before=got.not_before,
        not_after=got.not_after,
        malformed=got.stopped,
    )


@dataclass(slots=True)
class _CertFields:
    version: int | None = None
    serial: str = ""
    subject: str = ""
    issuer: str = ""
    subject_cn: str | None = None
    issuer_cn: str | None = None
    san_dns: tuple[str, ...] = ()
    not_before: float | None = None
    not_after: float | None = None
    stopped: str | None = None


def _walk_certificate(der: bytes, got: _CertFields) -> None:
    """Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature } (RFC 5280 §4.1)."""
    cert = _tlv(der, 0, len(der))
    tbs = _tlv(der, cert.start, cert.end)
    if cert.tag != 0x30 or tbs.tag != 0x30:
        raise _Bad("not a SEQUENCE")
    items = _children(der, tbs)
    item = _next(items, "serialNumber")
    got.version = 1
    if item.tag == 0xA0:  # [0] EXPLICIT Version DEFAULT v1
        got.version = _integer(der, _tlv(der, item.start, item.end)) + 1
        item = _next(items, "serialNumber")
    got.serial = _serial_hex(der, item)
    _next(items, "signature")
    got.issuer, got.issuer_cn = _name(der, _next(items, "issuer"))
    times = list(_children(der, _next(items, "validity")))
    if len(times) == 2:
        got.not_before, got.not_after = _time(der, times[0]), _time(der, times[1])
    got.subject, got.subject_cn = _name(der, _next(items, "subject"))
    _next(items, "subjectPublicKeyInfo")
    for item in items:
        if item.tag == 0xA3:  # [3] EXPLICIT Extensions
            got.san_dns = _san_dns(der, _tlv(der, item.start, item.end))


def _integer(der: bytes, tlv: _Tlv) -> int:
    return int.from_bytes(der[tlv.start : min(tlv.end, tlv.start + 8)], "big", signed=True)


def _serial_hex(der: bytes, tlv: _Tlv) -> str:
    raw = der[tlv.start : tlv.end][:64]
    if len(raw) > 1 and raw[0] == 0 and raw[1] & 0x80:
        raw = raw[1:]  # the sign pad of a positive INTEGER is not part of its value
    return raw.hex().upper()


def _name(der: bytes, name: _Tlv) -> tuple[str, str | None]:
    """(RFC 4514 string, last RDN first; first CN value) of an X.501 Name."""
    rdns: list[str] = []
    cn: str | None = None
    for rdn in _children(der, name):
        parts: list[str] = []
        for atv in _children(der, rdn):
            kids = list(_children(der, atv))
            if len(kids) != 2 or kids[0].tag != 0x06:
                raise _Bad("AttributeTypeAndValue")
            oid = _oid(der[kids[0].start : kids[0].end])
            key = _OID_NAMES.get(oid)
            if key is None:  # RFC 4514 §2.4: unknown types as dotted OID and hex of the BER
                parts.append(f"{oid}=#{der[kids[1].offset : kids[1].end][:MAX_STRING].hex()}")
                continue
            value = _string(der, kids[1])
            if key == "CN" and cn is None:
                cn = value
            parts.append(f"{key}={_escape_dn(value)}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns)), cn


def _oid(raw: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in raw[:64]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        raise _Bad("empty OID")
    top = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [top, arcs[0] - 40 * top, *arcs[1:]])


def _string(der: bytes, tlv: _Tlv) -> str:
    raw = der[tlv.start : tlv.end][: 4 * MAX_STRING]
    return raw.decode(_STRING_CODECS.get(tlv.tag, "latin-1"), "replace")


def _escape_dn(value: str) -> str:
    """RFC 4514 §2.4 escaping of an attribute value."""
    out = "".join("\\" + ch if ch in ',+"\\<>;' else ch for ch in value)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


def _time(der: bytes, tlv: _Tlv) -> float | None:
    """UTCTime (RFC 5280 §4.1.2.5.1) or GeneralizedTime (§4.1.2.5.2), "Z" form -> epoch seconds."""
    text = der[tlv.start : tlv.end][:32].decode("ascii", "replace")
    if not text.endswith("Z"):
        return None
    digits = text[:-1].split(".")[0]
    if not digits.isdigit():
        return None
    if tlv.tag == 0x17 and len(digits) in (10, 12):
        digits = ("19" if int(digits[:2]) >= 50 else "20") + digits
    elif not (tlv.tag == 0x18 and len(digits) in (12, 14)):
        return None
    digits = digits.ljust(14, "0")  # seconds may be omitted
    y = int(digits[:4])
    mo, d, h, mi, s = (int(digits[i : i + 2]) for i in (4, 6, 8, 10, 12))
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        return None
    return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))


def _san_dns(der: bytes, extensions: _Tlv) -> tuple[str, ...]:
    """dNSName entries of the subjectAltName extension (RFC 5280 §4.2.1.6)."""
    for ext in _children(der, extensions):
        kids = list(_children(der, ext))
        if len(kids) < 2 or kids[0].tag != 0x06 or _oid(der[kids[0].start : kids[0].end]) != _OID_SAN:
            continue
        general_names = _tlv(der, kids[-1].start, kids[-1].end)
        return tuple(
            der[g.start : g.end][:MAX_STRING].decode("ascii", "backslashreplace")
            for g in _children(der, general_names)
            if g.tag == 0x82  # [2] IMPLICIT IA5String dNSName
        )
    return ()


def peek_server_name(buf: bytes) -> str | None:
    """The SNI host name of a ClientHello that starts ``buf`` and sits whole in its first record,
    read without decoding anything else; "" when the hello has no SNI; None when this quick read
    cannot tell (split across records, not a hello, malformed): use ``parse_client_hello`` then.
    Settles most connections at a fraction of a full parse."""
    if len(buf) < 9 or buf[0] != CT_HANDSHAKE or buf[5] != HS_CLIENT_HELLO:
        return None
    record_end = 5 + int.from_bytes(buf[3:5], "big")
    hello_end = 9 + int.from_bytes(buf[6:9], "big")
    if hello_end > record_end or record_end > len(buf):
        return None
    pos = 9 + 2 + 32  # legacy_version, random
    try:
        pos += 1 + buf[pos]  # session id
        pos += 2 + int.from_bytes(buf[pos:pos + 2], "big")  # cipher suites
        pos += 1 + buf[pos]  # compression methods
        if pos == hello_end:
            return ""
        end = pos + 2 + int.from_bytes(buf[pos:pos + 2], "big")
        pos += 2
        if end > hello_end:
            return None
        while pos + 4 <= end:
            ext_type = int.from_bytes(buf[pos:pos + 2], "big")
            ext_len = int.from_bytes(buf[pos + 2:pos + 4], "big")
            pos += 4
            if pos + ext_len > end:
                return None
            if ext_type == 0:  # server_name: list length, then (type 0 = host_name, length, name)
                if ext_len < 5 or buf[pos + 2] != 0:
                    return None
                size = int.from_bytes(buf[pos + 3:pos + 5], "big")
                raw = buf[pos + 5:pos + 5 + size]
                if len(raw) != size or not raw or not all(32 < b < 127 for b in raw):
                    return None
                return raw.decode("ascii").lower()
            pos += ext_len
    except IndexError:
        return None
    return ""
