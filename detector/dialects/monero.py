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
_VOCAB = vocabulary(NAME)  # rules/dialects.toml, read once
_CLIENT, _SERVER, _CONFIRMING = _VOCAB.client, _VOCAB.server, _VOCAB.confirming
_DETAIL_KEYS = ("login", "agent", "algo", "job_id")  #: request members shown in evidence


def role_of(msg: Message) -> str | None:
    if not isinstance(msg.params, dict):
        return None
    method = msg.method
    if method in _CLIENT:
        if _shape_ok(msg):
            return "client"
    elif method in _SERVER and _shape_ok(msg):
        return "server"
    return None


def _shape_ok(msg: Message) -> bool:
    p = msg.params
    if not isinstance(p, dict):
        return False
    method = msg.method
    if method == "submit":
        get = p.get
        return isinstance(get("job_id"), str) and isinstance(get("nonce"), str) and isinstance(get("result"), str)
    if method == "login":
        return isinstance(p.get("login"), str) and ("pass" in p or "agent" in p)
    if method == "job":
        return _is_job(p)
    return isinstance(p.get("id"), str)


def _is_job(job: Any) -> bool:
    if not isinstance(job, dict):
        return False
    get = job.get
    return isinstance(get("blob"), str) and isinstance(get("job_id"), str) and isinstance(get("target"), str)


def confirms(msg: Message) -> bool:
    return msg.method in _CONFIRMING and _shape_ok(msg)


def on_message(s: Session, msg: Message, from_client: bool, ts: float) -> None:
    if msg.is_response:
        _on_response(s, msg, ts)
        return
    method = msg.method
    p = msg.params
    if not isinstance(p, dict):
        p = {}
    if s.tally(method or "result"):  # the evidence detail is built for a method's first message only
        s.first_evidence(method or "result", from_client, ts, {k: p[k] for k in _DETAIL_KEYS if k in p})
    # once confirmed with a dialect, confirm(NAME) changes nothing: skip the shape check
    if (not s.confirmed or s.dialect is None) and confirms(msg):
        s.confirm(NAME)
    if method == "submit":
        share = s.submit((str(p.get("job_id"))[:128], str(p.get("nonce"))[:64]), ts)
        if share is not None:
            s.expect_reply(msg, ts, share)
    elif method == "job":
        _take_job(s, p, ts)
    elif method == "login":
        s.set_once("login", p.get("login") if isinstance(p.get("login"), str) else None)
        s.set_once("agent", p.get("agent") if isinstance(p.get("agent"), str) else None)
        s.set_once("worker", p.get("rigid") if isinstance(p.get("rigid"), str) else None)
        algos = p.get("algo")
        # the login lists every algorithm the miner can run (XMRig 6 starts with cn/1); the pool
        # picks one in its job — only a single-entry list names the algorithm by itself
        if isinstance(algos, list) and len(algos) == 1 and isinstance(algos[0], str):
            s.algo_hint = s.algo_hint or algos[0][:32]
        s.expect_reply(msg, ts)
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


def _status_ok(result: Any) -> bool:
    return isinstance(result, dict) and str(result.get("status", "")).upper() == "OK"


def _on_response(s: Session, msg: Message, ts: float) -> None:
    pending = s.take_reply(msg)
    result = msg.result
    job = result.get("job") if isinstance(result, dict) else None
    if job is not None and _is_job(job):
        s.saw(msg, False, ts, detail={"job_id": job.get("job_id"), "target": job.get("target")})
        s.confirm(NAME)
        _take_job(s, job, ts)
    if pending is not None and pending.method == "submit":
        s.verdict(outcome(msg, _status_ok))
