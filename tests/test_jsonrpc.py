"""JSON-RPC messages: building them from decoded objects, remembering repeated short lines, and
the bounded evidence excerpts of attacker-controlled values."""

from __future__ import annotations

from typing import Any

import pytest

from detector import jsonrpc
from detector.jsonrpc import Message, excerpt, message_from_object, parse_message

NO_EXTRA: dict[str, Any] = {}


@pytest.mark.parametrize(("obj", "want"), [
    ({"id": 3, "method": "mining.submit", "params": ["w", "5056d"]},
     Message("mining.submit", 3, ["w", "5056d"], None, None, False, NO_EXTRA)),
    ({"id": 4, "result": True, "error": None}, Message(None, 4, None, True, None, True, NO_EXTRA)),
    ({"id": 6, "error": [23, "Low difficulty share", None]},
     Message(None, 6, None, None, [23, "Low difficulty share", None], True, NO_EXTRA)),
    ({"result": None}, Message(None, None, None, None, None, True, NO_EXTRA)),  # a null result is still a reply
    ({"worker": "rig01", "jsonrpc": "2.0", "params": [], "id": 2, "method": "eth_getWork"},
     Message("eth_getWork", 2, [], None, None, False, {"worker": "rig01"})),
    ({"id": [1, {"b": 2, "a": 1}], "method": "x", "params": []},  # a structured id: canonical JSON text
     Message("x", '[1, {"a": 1, "b": 2}]', [], None, None, False, NO_EXTRA)),
    ({"id": 1.5, "method": "", "params": None}, Message("", 1.5, None, None, None, False, NO_EXTRA)),
])
def test_message_from_object(obj: dict[str, Any], want: Message) -> None:
    assert message_from_object(obj) == want


@pytest.mark.parametrize("obj", [{}, {"id": 1}, {"method": 5, "params": []}, {"method": ["x"]}, {"params": [1]}])
def test_objects_that_are_not_messages(obj: dict[str, Any]) -> None:
    assert message_from_object(obj) is None


ACK = b'{"id":4,"result":true,"error":null}'


def test_a_repeated_acknowledgement_is_decoded_once() -> None:
    jsonrpc._remembered.clear()
    first = parse_message(ACK)
    assert first == Message(None, 4, None, True, None, True, NO_EXTRA)
    assert parse_message(bytes(ACK)) is first  # an immutable message: shared safely
    assert parse_message(bytearray(ACK)) == first  # bytearray and str take the general path
    assert parse_message(ACK.decode()) == first


@pytest.mark.parametrize("raw", [
    b'{"id":1,"method":"mining.set_difficulty","params":[131072]}',  # a list: never shared
    b'{"id":1,"result":{"status":"OK"},"error":null}',  # a dict: never shared
    b'{"id":1,"result":true,"error":null,"worker":"w"}',  # extra members: never shared
    b'{"id":2,"jsonrpc":"2.0","method":"submit","params":{"id":"23f596eac649218c","job_id":"91f19b06","nonce":"d4"}}',
    b'{"id":1,"result":"' + b"a" * 100 + b'"}',  # longer than REMEMBER_LINE
])
def test_lines_with_containers_or_long_lines_are_decoded_each_time(raw: bytes) -> None:
    jsonrpc._remembered.clear()
    first, second = parse_message(raw), parse_message(raw)
    assert first == second and first is not second
    assert first is not None and (first.params is None or first.params is not second.params)
    assert raw not in jsonrpc._remembered


@pytest.mark.parametrize("raw", [b"{", b'{"id":1}', b'{"id":1,"result":true} x', b"\xff{}", b"", b"[1]"])
def test_short_lines_that_are_not_messages_stay_none(raw: bytes) -> None:
    jsonrpc._remembered.clear()
    assert parse_message(raw) is None and parse_message(raw) is None
    assert not jsonrpc._remembered


def test_remembered_lines_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonrpc, "REMEMBER_MAX", 8)
    jsonrpc._remembered.clear()
    for i in range(50):
        raw = b'{"id":%d,"result":true,"error":null}' % i
        assert parse_message(raw) == Message(None, i, None, True, None, True, NO_EXTRA)
        assert 1 <= len(jsonrpc._remembered) <= 8
    jsonrpc._remembered.clear()


@pytest.mark.parametrize(("value", "limit", "want"), [
    ("ok", 10, "ok"),
    ("a\x00b\u2028c", 160, "a\\x00b\\x28c"),  # unprintable characters escaped (low byte of the code point)
    ({"a": "é", "b": [1, 2.5, None, True]}, 160, '{"a": "\\u00e9", "b": [1, 2.5, null, true]}'),
    ({"x": {1, 2}}, 160, '{"x": "{1, 2}"}'),  # not JSON: rendered with str
    ("w" * 300, 10, "w" * 9 + "…"),
    ("\x00" * 30, 10, "\\x00\\x00\\…"),  # escaped first, then cut
    (["farm7da1de.w89", "5056d"], 160, '["farm7da1de.w89", "5056d"]'),
    ("", 5, ""),
])
def test_excerpt(value: Any, limit: int, want: str) -> None:
    assert excerpt(value, limit) == want


def test_excerpt_of_huge_value_is_bounded() -> None:
    text = excerpt({"params": ["\x01" * 100_000, list(range(10_000))]}, 120)
    assert len(text) == 120 and text.endswith("…") and text.isprintable()
