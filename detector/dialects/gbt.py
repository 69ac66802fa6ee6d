"""Bitcoin getwork and getblocktemplate (BIP 22/23), usually over HTTP POST.

The miner (or a pool's own node client) asks ``getwork`` / ``getblocktemplate`` and returns
blocks with ``submitblock`` (or getwork with data). HTTP headers add detail: ``Host`` (pool),
``User-Agent`` (agent), ``Authorization`` (worker), ``X-Mining-Extensions`` from the miner, and
the pool's ``X-Stratum`` redirect to its stratum port (BIP 23, cgminer).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from detector.dialects.vocab import vocabulary
from detector.jsonrpc import Message, excerpt
from detector.reassembly import HttpHead
from detector.session import MAX_REDIRECTS, Session

NAME = "gbt"
_PARAMS = (list, dict, type(None))
_VOCAB = vocabulary(NAME)  # rules/dialects.toml, read once
_CLIENT, _CONFIRMING = _VOCAB.client, _VOCAB.confirming
_NO_ERROR = (None, False, "", [], {})  #: ``error`` values that do not reject (compared with ==)


def http_detail(s: Session, head: HttpHead) -> None:
    """What the HTTP head of a getwork / getblocktemplate message says: the pool's name (Host),
    the miner's software (User-Agent), its worker (Basic authorization), its extensions, and the
    pool's stratum redirect (X-Stratum — every reply may repeat it: each target is kept once)."""
    h = head.headers
    if head.is_request:
        host = h.get("host", "").rsplit(":", 1)[0].strip().lower()
        if host and not host.replace(".", "").isdigit():
            s.set_once("pool", host, "http-host")
        s.set_once("agent", h.get("user-agent"))
        s.set_once("login", basic_user(h.get("authorization", "")))
        if "x-mining-extensions" in h:
            s.note_evidence(f"HTTP X-Mining-Extensions: {excerpt(h['x-mining-extensions'], 120)}")
        return
    redirect = h.get("x-stratum")
    if redirect and redirect[:300] not in s.redirects and len(s.redirects) < MAX_REDIRECTS:
        s.redirects.append(redirect[:300])
        s.note_evidence(f"HTTP X-Stratum: {excerpt(redirect, 120)}")


def basic_user(authorization: str) -> str | None:
    """The user name of an HTTP Basic ``Authorization`` value (the pool worker), or None."""
    if not authorization.lower().startswith("basic "):
        return None
    try:
        user = base64.b64decode(authorization[6:].strip()[:1024], validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    return user.partition(":")[0] or None


def work_target(result: dict[str, Any]) -> int | None:
    """The share target of a getwork or getblocktemplate result.

    getwork's ``target`` is 32 bytes little-endian hex (the original getwork RPC; difficulty 1 is
    ``ff…ff00000000``); getblocktemplate's is big-endian hex (BIP 22 "target").
    """
    text = result.get("target")
    if not isinstance(text, str) or len(text) != 64:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    little_endian = "data" in result and ("midstate" in result or "hash1" in result)
    value = int.from_bytes(raw, "little" if little_endian else "big")
    return value or None


def submit_outcome(msg: Message) -> bool | None:
    """BIP 22: submitblock answers null when accepted, a reason string when not; getwork with
    data answers true or false."""
    if msg.error not in _NO_ERROR:
        return False
    if msg.result is None or msg.result is True:
        return True
    return False


def role_of(msg: Message) -> str | None:
    return "client" if msg.method in _CLIENT else None


def confirms(msg: Message) -> bool:
    return msg.method in _CONFIRMING and isinstance(msg.params, _PARAMS)


def on_message(s: Session, msg: Message, from_client: bool, ts: float) -> None:
    if msg.is_response:
        pending = s.take_reply(msg)
        if pending is not None and pending.method in ("submitblock", "getwork-submit"):
            s.verdict(submit_outcome(msg))
        elif isinstance(msg.result, dict):
            target = work_target(msg.result)
            if target:
                s.set_share_difficulty("target", float(target), ts)
        return
    s.saw(msg, from_client, ts)
    # once confirmed with a dialect, confirm(NAME) changes nothing: skip the check
    if (not s.confirmed or s.dialect is None) and confirms(msg):
        s.confirm(NAME)
    if not s.algo_hint:
        s.algo_hint = "sha256d"
    p = msg.params
    if msg.method == "submitblock" or (msg.method == "getwork" and isinstance(p, list) and p):
        share = s.submit(str(p)[:256], ts)
        if share is not None:
            s.expect_reply(Message("getwork-submit" if msg.method == "getwork" else "submitblock",
                                   msg.id, p, None, None, False, {}), ts, share)
    else:
        s.expect_reply(msg, ts)
