"""Monero / CryptoNote stratum (XMRig, xmr-stak, xmrig-proxy, browser miners).

``login`` {login, pass, agent, algo[]} is answered with {id, job}; the pool pushes ``job``
{blob, job_id, target, algo, height, seed_hash}; the miner sends ``submit`` {id, job_id, nonce,
result} (accepted when the reply's result.status is "OK"), ``keepalived`` and ``getjob``.
"login" and "submit" are common method names elsewhere, so each counts only with its parameter
shape. Share difficulty comes from the job target (xmrig Job.cpp): see detector.estimate.
"""

from __future__ import annotations

from typing import Any

from detector.dialects.vocab import vocabulary
from detector.estimate import monero_target_to_difficulty
from detector.jsonrpc import Message
from detector.session import Session, outcome

NAME = "monero"


def role_of(msg: Message) -> str | None:
    vocab = vocabulary(NAME)
    if not isinstance(msg.params, dict):
        return None
    if msg.method in vocab.client and _shape_ok(msg):
        return "client"
    if msg.method in vocab.server and _shape_ok(msg):
        return "server"
    return None


def _shape_ok(msg: Message) -> bool:
    p = msg.params
    if not isinstance(p, dict):
        return False
    if msg.method == "login":
        return isinstance(p.get("login"), str) and ("pass" in p or "agent" in p)
    if msg.method == "submit":
        return all(isinstance(p.get(k), str) for k in ("job_id", "nonce", "result"))
    if msg.method == "job":
        return _is_job(p)
    return isinstance(p.get("id"), str)


def _is_job(job: Any) -> bool:
    return isinstance(job, dict) and all(isinstance(job.get(k), str) for k in ("blob", "job_id", "target"))


def confirms(msg: Message) -> bool:
    return msg.method in vocabulary(NAME).confirming and _shape_ok(msg)


def on_message(s: Session, msg: Message, from_client: bool, ts: float) -> None:
    if msg.is_response:
        _on_response(s, msg, ts)
        return
    p = msg.params if isinstance(msg.params, dict) else {}
    s.saw(msg, from_client, ts, detail={k: p[k] for k in ("login", "agent", "algo", "job_id") if k in p})
    if confirms(msg):
        s.confirm(NAME)
    if msg.method == "login":
        s.set_once("login", p.get("login") if isinstance(p.get("login"), str) else None)
        s.set_once("agent", p.get("agent") if isinstance(p.get("agent"), str) else None)
        s.set_once("worker", p.get("rigid") if isinstance(p.get("rigid"), str) else None)
        algos = p.get("algo")
        # the login lists every algorithm the miner can run (XMRig 6 starts with cn/1); the pool
        # picks one in its job — only a single-entry list names the algorithm by itself
        if isinstance(algos, list) and len(algos) == 1 and isinstance(algos[0], str):
            s.algo_hint = s.algo_hint or algos[0][:32]
        s.expect_reply(msg, ts)
    elif msg.method == "submit":
        share = s.submit((str(p.get("job_id"))[:128], str(p.get("nonce"))[:64]), ts)
        if share is not None:
            s.expect_reply(msg, ts, share)
    elif msg.method == "job":
        _take_job(s, p, ts)
    else:
        s.expect_reply(msg, ts)


def _take_job(s: Session, job: dict[str, Any], ts: float) -> None:
    if not _is_job(job):
        return
    diff = monero_target_to_difficulty(job["target"])
    if diff:
        s.set_share_difficulty("diff", diff, ts)
    algo = job.get("algo")
    if isinstance(algo, str) and algo:
        s.algo_hint = algo[:32]


def _on_response(s: Session, msg: Message, ts: float) -> None:
    pending = s.take_reply(msg)
    result = msg.result if isinstance(msg.result, dict) else {}
    if _is_job(result.get("job")):
        s.saw(msg, False, ts, detail={"job_id": result["job"].get("job_id"), "target": result["job"].get("target")})
        s.confirm(NAME)
        _take_job(s, result["job"], ts)
    if pending is not None and pending.method == "submit":
        s.verdict(outcome(msg, lambda r: isinstance(r, dict) and str(r.get("status", "")).upper() == "OK"))
