"""Bitcoin getwork and getblocktemplate (BIP 22/23), usually over HTTP POST.

The miner (or a pool's own node client) asks ``getwork`` / ``getblocktemplate`` and returns
blocks with ``submitblock`` (or getwork with data). HTTP headers add detail: ``Host`` (pool),
``User-Agent`` (agent), ``Authorization`` (worker), ``X-Mining-Extensions`` from the miner, and
the pool's ``X-Stratum`` redirect to its stratum port (BIP 23, cgminer).
"""

from __future__ import annotations

from detector.jsonrpc import Message
from detector.dialects.vocab import vocabulary
from detector.session import Session, outcome

NAME = "gbt"


def role_of(msg: Message) -> str | None:
    return "client" if msg.method in vocabulary(NAME).client else None


def confirms(msg: Message) -> bool:
    return msg.method in vocabulary(NAME).confirming and isinstance(msg.params, (list, dict, type(None)))


def on_message(s: Session, msg: Message, from_client: bool, ts: float) -> None:
    if msg.is_response:
        pending = s.take_reply(msg)
        if pending is not None and pending.method in ("submitblock", "getwork-submit"):
            s.verdict(outcome(msg, lambda result: result is True))
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
