"""eth-proxy (Claymore, PhoenixMiner, …) over TCP and Ethereum getwork over HTTP.

The miner logs in with ``eth_submitLogin`` (wallet[.worker], password; some miners add a top-level
``worker`` member), asks for work with ``eth_getWork``, submits with ``eth_submitWork`` and reports
its own rate with ``eth_submitHashrate`` (hex H/s, the independent check on our estimate). Work
arrives as a result ``[header, seed, target]`` — as a reply or pushed unsolicited (often id 0);
one share is worth 2^256 / target hashes (open-ethereum-pool util/util.go).
"""

from __future__ import annotations

from typing import Any

from detector.dialects.vocab import vocabulary
from detector.jsonrpc import Message
from detector.session import Session, outcome

NAME = "ethproxy"
_LIST_OR_NONE = (list, type(None))
_VOCAB = vocabulary(NAME)  # rules/dialects.toml, read once
_CLIENT, _CONFIRMING = _VOCAB.client, _VOCAB.confirming


def role_of(msg: Message) -> str | None:
    return "client" if msg.method in _CLIENT else None


def confirms(msg: Message) -> bool:
    return msg.method in _CONFIRMING and isinstance(msg.params, _LIST_OR_NONE)


def on_message(s: Session, msg: Message, from_client: bool, ts: float) -> None:
    if msg.is_response:
        _on_response(s, msg, ts)
        return
    method, p = msg.method, msg.params
    if not isinstance(p, list):
        p = []
    s.saw(msg, from_client, ts)
    # once confirmed with a dialect, confirm(NAME) changes nothing: skip the check
    if (not s.confirmed or s.dialect is None) and confirms(msg):
        s.confirm(NAME)
    if not s.algo_hint:
        s.algo_hint = "ethash"
    if method == "eth_submitWork":
        share = s.submit(tuple([str(x)[:80] for x in p[:2]]) or None, ts)
        if share is not None:
            s.expect_reply(msg, ts, share)
    elif method == "eth_submitLogin" or method == "eth_login":
        if p and isinstance(p[0], str):
            s.set_once("login", p[0])
        worker = msg.extra.get("worker")
        if isinstance(worker, str) and worker:
            s.set_once("worker", worker)
        s.expect_reply(msg, ts)
    elif method == "eth_submitHashrate":
        rate = _hex_int(p[0]) if p else None
        if rate is not None and len(s.reported) < 10_000:
            s.reported.append((ts, float(rate)))
        s.expect_reply(msg, ts)
    else:
        s.expect_reply(msg, ts)


def _on_response(s: Session, msg: Message, ts: float) -> None:
    work = msg.result
    if isinstance(work, list) and len(work) >= 3:
        target = _hex_int(work[2])
        if target:
            s.set_share_difficulty("target", float(target), ts)
    pending = s.take_reply(msg)
    if pending is not None and pending.method == "eth_submitWork":
        s.verdict(outcome(msg, _is_true))


def _is_true(result: Any) -> bool:
    return result is True


def _hex_int(value: Any) -> int | None:
    if not isinstance(value, str) or not value[:2].lower() == "0x" or len(value) > 66:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None
