"""detector._fastpath.MessageParser: a JSON-RPC line's common case in C, exactly as
detector.jsonrpc's Python parser takes it — every other line left to that parser."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from detector import jsonrpc

pytestmark = pytest.mark.skipif(jsonrpc._fast is None, reason="the compiled kernel is not built")

SHAPES: list[Any] = [
    {"id": 4, "result": True, "error": None},
    {"id": 5, "result": False, "error": [23, "Low difficulty share", None]},
    {"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0", None, "pool.example", 3333]},
    {"id": 2, "method": "mining.authorize", "params": ["wallet.rig1", "x"]},
    {"id": 3, "method": "mining.submit", "params": ["wallet.rig1", "4f", "00000000", "5e9a3c1b", "1a2b3c4d"]},
    {"id": None, "method": "mining.notify", "params": ["4f", "ab" * 32, "01", "02", [], "20000000", "1703a30c",
                                                      "5e9a3c1b", True]},
    {"id": None, "method": "mining.set_difficulty", "params": [65536]},
    {"jsonrpc": "2.0", "id": 1, "method": "login", "params": {"login": "4" + "A" * 94, "pass": "x", "agent": "XMRig/6"}},
    {"jsonrpc": "2.0", "method": "job", "params": {"blob": "0707" * 38, "job_id": "1", "target": "b88d0600"}},
    {"id": 7, "jsonrpc": "2.0", "result": {"status": "OK"}, "error": None},
    {"id": 8, "method": "eth_submitWork", "params": ["0x" + "1" * 16, "0x" + "2" * 64, "0x" + "3" * 64],
     "worker": "rig7"},
    {"id": 9, "method": "eth_submitHashrate", "params": ["0x1dcd6500", "0x" + "a" * 64], "jsonrpc": "2.0"},
    {"id": "abc", "method": "x"},
    {"id": 1.5, "method": "x"},
    {"id": 10**30, "method": "x"},
    {"id": -1, "result": None},
    {"id": True, "result": 1},
    {"id": [1, {"b": 2, "a": 1}], "method": "x"},
    {"id": {"nested": [1, 2]}, "result": "ok"},
    {"method": None, "result": None},
    {"method": None},
    {"method": 5, "id": 1},
    {"method": ["a"], "id": 1},
    {"params": [1], "id": 1},
    {"error": {"code": -1, "message": "bad"}},
    {"method": "mining.submit", "x-extra": 1, "y": [1, 2], "id": 3},
    {"method": "ünïcödé.方法", "params": ["\u0000", "\ud800", "\U0001f600"], "id": "é"},
    {},
]

TEXTS = [
    '{"id":1,"method":"a","id":2}',  # a duplicate member: the last one counts
    '{"id": 1e400, "method": "a"}',  # infinity
    '{"id": NaN, "result": true}',
    '{"id":1,"method":"a"}\r\n',
    '{"id":1,"method":"a"} \t ',
    '{"id":1,"method":"a"}\x0b',  # whitespace Python's str.strip knows, JSON does not
    '{"id":1,"method":"a"}{"id":2}',
    '{"id":1,"method":"a"} // comment',
    '{"id":1,"method":"a"',
    '{"id":01,"method":"a"}',
    '{"id":1,"method":"\\u006dining.subscribe"}',
    '{' * 5000 + '}' * 5000,  # deeper than the recursion limit
    '{"a":' * 3000 + '1' + '}' * 3000,
    "{\u00a0}",
    "{}",
    "{ }",
    '{"method":"a","params":[1,2,3],"id":1}' + " " * 10,
]


def _lines() -> list[bytes]:
    out = [json.dumps(shape).encode() for shape in SHAPES]
    out += [json.dumps(shape, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass") for shape in SHAPES]
    out += [text.encode("utf-8", "surrogatepass") for text in TEXTS]
    out += [b"{\xff\xfe}", b'{"id":1,"method":"\xc3"}', b'{"id":1,"method":"\xed\xa0\x80"}', b"", b" {}", b"[]",
            b"null", b"{", b"}"]
    return out


def _mutations(lines: list[bytes], n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    alphabet = b'{}[]":,0123456789.eE+-tfnul \t\r\n\\xyz\x00\xff\xc3\xa9'
    out = []
    for _ in range(n):
        line = bytearray(rng.choice(lines) or b"{")
        for _ in range(rng.randint(1, 4)):
            op, at = rng.randrange(4), rng.randrange(len(line) + 1)
            if op == 0 and line:
                del line[min(at, len(line) - 1)]
            elif op == 1:
                line.insert(at, rng.choice(alphabet))
            elif op == 2 and line:
                line[min(at, len(line) - 1)] = rng.choice(alphabet)
            else:
                del line[at:]
        out.append(b"{" + bytes(line[1:]) if rng.random() < 0.8 else bytes(line))
    return out


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind < 3:
        return (None, True, False)[kind]
    if kind == 3:
        return rng.randint(-10**20, 10**20)
    if kind == 4:
        return rng.uniform(-1e6, 1e6)
    if kind == 5:
        return "".join(rng.choice("abcé方\"\n\u0001 ") for _ in range(rng.randrange(8)))
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return {rng.choice(["a", "b", "id", "method"]): _value(rng, depth + 1) for _ in range(rng.randrange(3))}
    return rng.choice(["mining.submit", "login", "job"])


def _random_messages(n: int, seed: int) -> list[bytes]:
    """Valid JSON objects with the members a message may have, and others, in any order."""
    rng = random.Random(seed)
    names = ["method", "id", "params", "result", "error", "jsonrpc", "worker", "x"]
    out = []
    for _ in range(n):
        obj = {name: _value(rng) for name in rng.sample(names, rng.randint(0, 5))}
        if rng.random() < 0.5:
            obj["method"] = rng.choice(["mining.submit", "mining.notify", "login", "eth_getWork", None, 3])
        text = json.dumps(obj, ensure_ascii=rng.random() < 0.5) + rng.choice(["", " ", "\n", "\r\n", "\t "])
        out.append(text.encode("utf-8", "surrogatepass"))
    return out


def _same(fast: Any, reference: Any) -> None:
    assert fast == reference and type(fast) is type(reference)
    if reference is None:
        return
    assert [type(field) for field in fast] == [type(field) for field in reference]
    assert (fast.extra is jsonrpc._NO_EXTRA) == (reference.extra is jsonrpc._NO_EXTRA)
    assert list(fast.extra.items()) == list(reference.extra.items())  # the members' order too


def test_the_common_case_is_parsed_as_the_python_parser_parses_it() -> None:
    lines = _lines() + _random_messages(3000, seed=5)
    lines += _mutations(lines, 6000, seed=7)
    rng = random.Random(11)
    lines += [b"{" + rng.randbytes(rng.randrange(40)) for _ in range(2000)]
    taken = left = 0
    for raw in lines:
        reference = jsonrpc._parse_python(raw)
        fast = jsonrpc._fast(raw)
        if fast is NotImplemented:
            left += 1
        else:
            taken += 1
            _same(fast, reference)
        _same(jsonrpc._parse(raw), reference)
        jsonrpc._remembered.clear()
        _same(jsonrpc.parse_message(raw), reference)
        _same(jsonrpc.parse_message(raw), reference)  # remembered or not, the same
    assert taken > 2000 and left > 2000  # both parsers had their share


def test_what_the_c_parser_leaves_to_python() -> None:
    fast = jsonrpc._fast
    for raw in (b"", b" {}", b"[1]", b"null", b"{\xff}", b'{"a":1} x', b'{"a":1}\x0b', b"{" * 5000 + b"}" * 5000,
                b'{"a":1', "{}", bytearray(b"{}")):
        assert fast(raw) is NotImplemented, raw[:20]
    assert fast(b'{"id":1,"method":"a"}\r\n').method == "a"
    assert fast(b"{}") is None and fast(b'{"method":5}') is None and fast(b'[1]') is NotImplemented
    with pytest.raises(TypeError):
        fast()


def test_an_id_that_is_not_plain_is_normalised_as_python_does() -> None:
    msg = jsonrpc._fast(b'{"id":{"b":[1,2],"a":null},"method":"m","zz":1}')
    assert msg.id == '{"a": null, "b": [1, 2]}' and msg.extra == {"zz": 1}
    assert msg.id == jsonrpc._hashable_id({"b": [1, 2], "a": None})
