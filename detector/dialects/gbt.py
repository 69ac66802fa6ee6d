"""Bitcoin getwork and getblocktemplate (BIP 22/23), usually over HTTP POST.

The miner (or a pool's own node client) asks ``getwork`` / ``getblocktemplate`` and returns
blocks with ``submitblock`` (or getwork with data). HTTP headers add detail: ``Host`` (pool),
``User-Agent`` (agent), ``Authorization`` (worker), ``X-Mining-Extensions`` from the miner, and
the pool's ``X-Stratum`` redirect to its stratum port (BIP 23, cgminer).
"""

from __future__ import annotations

from typing import Any

from detector.dialects.vocab import vocabulary
from detector.jsonrpc import Message
from detector.session import Session

NAME = "gbt"


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
    if msg.error not in (None, False, "", [], {}):
        return False
    if msg.result is None or msg.result is True:
        return True
    return False


def role_of(msg: Message) -> str | None:
    return "client" if msg.method in vocabulary(NAME).client else None


def confirms(msg: Message) -> bool:
    return msg.method in vocabulary(NAME).confirming and isinstance(msg.params, (list, dict, type(None)))


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
    if confirms(msg):
        s.confirm(NAME)
    s.algo_hint = s.algo_hint or "sha256d"
    p = msg.params
    if msg.method == "submitblock" or (msg.method == "getwork" and isinstance(p, list) and p):
        share = s.submit(str(p)[:256], ts)
        if share is not None:
            s.expect_reply(Message("getwork-submit" if msg.method == "getwork" else "submitblock",
                                   msg.id, p, None, None, False, {}), ts, share)
    else:
        s.expect_reply(msg, ts)
