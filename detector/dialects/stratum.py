"""Stratum v1 in its Bitcoin, Equihash (``mining.set_target``) and EthereumStratum/1.0.0 forms.

Client requests: subscribe (agent, optionally EthereumStratum/1.0.0, Equihash host/port),
authorize (worker, password), submit (worker, job, nonce parts) and friends; pool notifications:
notify, set_difficulty (D), set_target (256-bit target), set_extranonce, client.reconnect.
Responses are matched to requests by id: ``result: true`` accepts a share, ``false`` or an
``error`` rejects it.
"""

from __future__ import annotations

from typing import Any

from detector.chains import coinbase_height
from detector.dialects.vocab import vocabulary
from detector.jsonrpc import Message
from detector.session import MAX_REDIRECTS, Session, outcome

NAME = "stratum"
ETH_STRATUM = "EthereumStratum/1.0.0"
_HEX = frozenset("0123456789abcdefABCDEF")
_LIST_OR_NONE = (list, type(None))
_VOCAB = vocabulary(NAME)  # rules/dialects.toml, read once
_CLIENT, _SERVER, _CONFIRMING = _VOCAB.client, _VOCAB.server, _VOCAB.confirming


def role_of(msg: Message) -> str | None:
    """"client" or "server" when the message is a Stratum method with a plausible shape."""
    if not isinstance(msg.params, _LIST_OR_NONE):
        return None
    method = msg.method
    if method in _CLIENT:
        return "client"
    if method in _SERVER:
        return "server"
    return None


def confirms(msg: Message) -> bool:
    return msg.method in _CONFIRMING and _shape_ok(msg)


def _shape_ok(msg: Message) -> bool:
    p = msg.params if isinstance(msg.params, list) else []
    if msg.method == "mining.set_difficulty":
        return bool(p) and _number(p[0]) is not None
    if msg.method == "mining.set_target":
        return bool(p) and _hex_int(p[0]) is not None
    if msg.method == "mining.notify":
        return len(p) >= 3
    if msg.method in ("mining.submit", "mining.authorize"):
        return len(p) >= 1 and isinstance(p[0], str)
    return True


def on_message(s: Session, msg: Message, from_client: bool, ts: float) -> None:
    if msg.is_response:
        _on_response(s, msg, ts)
        return
    method, p = msg.method, msg.params
    if not isinstance(p, list):
        p = []
    s.saw(msg, from_client, ts)
    # once confirmed with a dialect, confirm(NAME) changes nothing: skip the shape check
    if (not s.confirmed or s.dialect is None) and confirms(msg):
        s.confirm(NAME)
    if method == "mining.submit":
        if s.login is None and p and isinstance(p[0], str):
            s.set_once("login", p[0])
        share = s.submit(tuple([str(x)[:256] for x in p[1:6]]) or None, ts)
        if share is not None:
            s.expect_reply(msg, ts, share)
    elif method == "mining.subscribe":
        if p and isinstance(p[0], str):
            s.set_once("agent", p[0])
        if len(p) > 1 and p[1] == ETH_STRATUM:
            s.confirm("ethstratum")
            s.algo_hint = s.algo_hint or "ethash"
        if len(p) > 2 and isinstance(p[2], str) and "." in p[2]:
            s.set_once("pool", p[2].lower(), "mining.subscribe")
        s.expect_reply(msg, ts)
    elif method == "mining.authorize":
        if p and isinstance(p[0], str):
            s.set_once("login", p[0])
        s.expect_reply(msg, ts)
    elif method == "mining.set_difficulty" and p:
        d = _number(p[0])
        if d is not None and d > 0:
            s.set_share_difficulty("diff", d, ts)
    elif method == "mining.set_target" and p:
        t = _hex_int(p[0])
        if t:
            s.set_share_difficulty("target", float(t), ts)
            s.algo_hint = s.algo_hint or "equihash"
    elif method == "mining.notify" and s.chain_hint is None and len(p) >= 8:
        height = coinbase_height(p[2]) if isinstance(p[2], str) else None
        ntime = _hex_int(p[7]) if isinstance(p[7], str) and len(p[7]) == 8 else None
        if height is not None and ntime:
            s.chain_hint = (height, float(ntime))
    elif method == "client.reconnect" and p:
        target = ":".join(str(x)[:255] for x in p[:2])
        if target not in s.redirects and len(s.redirects) < MAX_REDIRECTS:
            s.redirects.append(target)
    elif from_client:
        s.expect_reply(msg, ts)


def _on_response(s: Session, msg: Message, ts: float) -> None:
    pending = s.take_reply(msg)
    if pending is None:
        return
    if pending.method == "mining.submit":
        s.verdict(outcome(msg, _is_true))
    elif pending.method == "mining.subscribe":
        s.saw(msg, False, ts, detail=msg.result)


def _is_true(result: Any) -> bool:
    return result is True


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _hex_int(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    text = value[2:] if value[:2].lower() == "0x" else value
    if not 0 < len(text) <= 64 or not set(text) <= _HEX:
        return None
    return int(text, 16)
