"""JSON-RPC message parsing shared by every line-delimited mining dialect.

``parse_message(raw)`` turns one framed message (a line, or an HTTP body) into a ``Message`` or
``None``. It parses the JSON for real — a substring that looks like a method name proves nothing
— and it never raises: hostile input (deep nesting, huge numbers, bad UTF-8) yields ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any, NamedTuple

_decoder = json.JSONDecoder()
_scan_once = _decoder.scan_once  # the C scanner raw_decode calls: (value, end) from an index
_KNOWN = frozenset(("method", "id", "params", "result", "error", "jsonrpc"))
_PLAIN_ID = (str, int, float, bool)
_NO_EXTRA: dict[str, Any] = {}  # shared by every message without extra members: never mutated
_SCALARS = (str, int, float, bool, type(None))
REMEMBER_LINE = 96  #: bytes: parse_message remembers lines this short that decode to scalars only
REMEMBER_MAX = 4096  #: lines remembered at most (all forgotten at once when full)
_remembered: dict[bytes, Message] = {}  #: raw line -> its immutable Message (see parse_message)
_new_tuple = tuple.__new__  # builds a Message from its seven fields without the Python-level __new__
#: the same encoder ``json.dumps(value, default=str, ensure_ascii=True)`` builds on every call
_EXCERPT_ENCODER = json.JSONEncoder(ensure_ascii=True, default=str)


class Message(NamedTuple):
    """One JSON-RPC object: a request/notification (``method`` set) or a response.

    Immutable; a named tuple rather than a frozen dataclass because one is built for every
    message of every inspected flow, and a frozen dataclass's ``__init__`` costs three times as
    much (one ``object.__setattr__`` per field)."""

    method: str | None  #: method name, None for a response
    id: Hashable  #: the JSON-RPC id, normalised to a hashable value (None when absent or null)
    params: Any  #: ``params`` member (list, dict or None)
    result: Any  #: ``result`` member of a response
    error: Any  #: ``error`` member of a response (None when absent or null)
    is_response: bool  #: has ``result`` or ``error`` and no ``method``
    extra: dict[str, Any]  #: other top-level members (e.g. eth-proxy's ``worker``)


def _hashable_id(value: Any) -> Hashable:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True, default=str)[:200]


def parse_message(raw: bytes | str) -> Message | None:
    """Parse one JSON-RPC object; ``None`` for anything that is not one.

    A short line whose message holds only scalars (a share's acknowledgement such as
    ``{"id":4,"result":true,"error":null}``, repeated by every miner of a capture) is remembered:
    its next occurrence returns the same immutable ``Message`` without decoding it again."""
    if raw.__class__ is bytes and len(raw) <= REMEMBER_LINE:
        msg = _remembered.get(raw)  # type: ignore[arg-type]
        if msg is None:
            msg = _parse(raw)
            if (msg is not None and msg.params is None and msg.extra is _NO_EXTRA
                    and isinstance(msg.result, _SCALARS) and isinstance(msg.error, _SCALARS)):
                if len(_remembered) >= REMEMBER_MAX:
                    _remembered.clear()
                _remembered[raw] = msg  # type: ignore[index]
        return msg
    return _parse(raw)


def _parse(raw: bytes | str) -> Message | None:
    if _fast is not None:  # the common case in C (detector._fastpath.MessageParser); NotImplemented: the rest
        msg = _fast(raw)
        if msg is not NotImplemented:
            return msg  # type: ignore[no-any-return]
    return _parse_python(raw)


def _parse_python(raw: bytes | str) -> Message | None:
    """``_parse`` in Python: the reference for MessageParser's common case, and every other case."""
    if isinstance(raw, (bytes, bytearray)):
        if raw[:1] == b"{":
            # the common case: strict UTF-8, one JSON value with at most JSON whitespace after
            # it; anything this refuses (invalid UTF-8, a syntax error, other trailing text)
            # takes the general path below, which decides as before
            try:
                text = raw.decode()
                obj, end = _scan_once(text, 0)
            except (ValueError, RecursionError, StopIteration):
                pass
            else:
                if end == len(text) or not text[end:].strip(" \t\r\n"):
                    return message_from_object(obj) if isinstance(obj, dict) else None
        elif raw.lstrip()[:1] != b"{":
            return None  # not an object: no need to decode it
    try:
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
        text = text.strip()
        if not text.startswith("{"):
            return None
        obj, end = _decoder.raw_decode(text)
    except (ValueError, RecursionError, UnicodeError):
        return None
    if not isinstance(obj, dict) or text[end:].strip():
        return None
    return message_from_object(obj)


def message_from_object(obj: dict[str, Any]) -> Message | None:
    """Build a ``Message`` from an already-decoded JSON object (e.g. an element of a batch)."""
    get = obj.get
    method = get("method")
    if method is None:
        if "result" not in obj and "error" not in obj:
            return None
        is_response = True
    elif isinstance(method, str):
        is_response = False
    else:
        return None
    ident = get("id")
    if ident is not None and not isinstance(ident, _PLAIN_ID):
        ident = _hashable_id(ident)
    extra = _NO_EXTRA if _KNOWN.issuperset(obj) else {k: v for k, v in obj.items() if k not in _KNOWN}
    return _new_tuple(Message, (method, ident, get("params"), get("result"), get("error"), is_response, extra))


try:  # the compiled kernel's parser of the common case; without it, _parse_python parses everything
    from detector._fastpath import MessageParser as _MessageParser
except ImportError:
    _fast: Any = None
else:
    _fast = _MessageParser(_scan_once, Message, _KNOWN, _NO_EXTRA, _hashable_id)


def parse_body(raw: bytes) -> list[Message]:
    """Parse an HTTP body: one object, a batch array, or newline-separated objects."""
    if raw.lstrip()[:1] not in (b"{", b"["):
        return []
    try:
        obj = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError, UnicodeError):
        out = [parse_message(line) for line in raw.split(b"\n") if line.strip()]
        return [m for m in out if m is not None]
    items = obj if isinstance(obj, list) else [obj]
    msgs = [message_from_object(o) for o in items[:1000] if isinstance(o, dict)]
    return [m for m in msgs if m is not None]


def excerpt(value: Any, limit: int = 160) -> str:
    """A short, printable, single-line rendering of attacker-controlled data for evidence."""
    text = value if isinstance(value, str) else _EXCERPT_ENCODER.encode(value)
    text = text[: limit * 2]
    if not text.isprintable():  # escape each unprintable character (the common text has none)
        text = "".join(ch if ch.isprintable() else "\\x%02x" % (ord(ch) & 0xFF) for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
