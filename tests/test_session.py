"""Session recording helpers: method counts and evidence, shares and their bounds, replies."""

from __future__ import annotations

from typing import Any

import pytest

from detector import session as session_module
from detector.jsonrpc import Message, parse_message
from detector.session import MAX_EVIDENCE, Pending, Session, outcome


def new_session() -> Session:
    return Session("10.0.0.1", 40000, "192.0.2.1", 3333, first_seen=0.0, last_seen=0.0)


def request(method: str, ident: Any = 1, params: Any = None) -> Message:
    return Message(method, ident, params, None, None, False, {})


def test_saw_counts_every_message_and_keeps_the_first_as_evidence() -> None:
    s = new_session()
    s.saw(request("mining.submit", params=["w", "\x00j"]), True, 1.5)
    s.saw(request("mining.submit", params=["w", "j2"]), True, 2.0)
    s.saw(Message(None, 1, None, True, None, True, {}), False, 2.5, detail=[["mining.notify", "1"], "00b617a3", 4])
    assert dict(s.methods) == {"mining.submit": 2, "result": 1}
    assert s.evidence == ['1.500000 client→server mining.submit ["w", "\\u0000j"]',
                          '2.500000 server→client result [["mining.notify", "1"], "00b617a3", 4]']


def test_evidence_stops_at_its_bound_while_counting_goes_on() -> None:
    s = new_session()
    for i in range(MAX_EVIDENCE + 5):
        s.saw(request(f"m{i}"), True, float(i))
    assert len(s.evidence) == MAX_EVIDENCE and len(s.methods) == MAX_EVIDENCE + 5
    assert s.tally("m0") is False and s.methods["m0"] == 2
    assert s.tally("new") is False and s.methods["new"] == 1  # first, but no room left


def test_tally_then_first_evidence_equals_saw() -> None:
    a, b = new_session(), new_session()
    msg = request("login", params={"login": "w"})
    a.saw(msg, True, 3.0, detail={"login": "w"})
    assert b.tally("login") is True
    b.first_evidence("login", True, 3.0, {"login": "w"})
    assert b.tally("login") is False
    a.saw(msg, True, 4.0, detail={"login": "w"})
    assert (a.methods, a.evidence) == (b.methods, b.evidence) == ({"login": 2}, ['3.000000 client→server login {"login": "w"}'])


def test_submit_counts_resends_once_and_forgets_the_oldest_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "MAX_SEEN_SHARES", 3)
    s = new_session()
    s.set_share_difficulty("diff", 64, 0.5)
    keys = [("j", str(n)) for n in range(4)]
    assert [s.submit(k, float(i)) for i, k in enumerate(keys)] == [("diff", 64.0)] * 4  # ("j","0") forgotten
    assert s.submit(keys[3], 5.0) is None and s.submit(keys[1], 6.0) is None
    assert s.submit(keys[0], 7.0) == ("diff", 64.0)  # forgotten: counted as a new share (and ("j","1") dropped)
    assert s.submit(keys[1], 8.0) == ("diff", 64.0)
    assert (s.submits, s.duplicates, s.share_ts_first, s.share_ts_last) == (6, 2, 0.0, 8.0)
    assert list(s.seen_shares) == [keys[3], keys[0], keys[1]]
    assert s.submit(None, 9.0) == ("diff", 64.0)  # no key: never a resend
    assert dict(s.share_counts) == {("diff", 64.0): 7}


def test_share_counts_beyond_their_bound_go_to_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "MAX_SHARE_BUCKETS", 2)
    s = new_session()
    assert s.submit(None, 0.0) == ("unknown", 0.0)
    s.set_share_difficulty("diff", 1.0, 1.0)
    s.submit(None, 1.0)
    s.set_share_difficulty("diff", 2.0, 2.0)
    assert s.submit(None, 2.0) == ("diff", 2.0)
    s.set_share_difficulty("diff", 1.0, 3.0)
    s.submit(None, 3.0)
    assert dict(s.share_counts) == {("unknown", 0.0): 2, ("diff", 1.0): 2}
    assert [(k, v) for _, k, v in s.difficulty_history] == [("diff", 1.0), ("diff", 2.0), ("diff", 1.0)]


def test_pending_requests_are_bounded_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "MAX_PENDING", 3)
    s = new_session()
    for ident in (1, 2, 3):
        s.expect_reply(request("mining.authorize", ident), float(ident))
    s.expect_reply(request("mining.submit", 2), 4.0, ("diff", 8.0))  # an id used again keeps its place
    s.expect_reply(request("mining.subscribe", 4), 5.0)  # full: id 1 is dropped
    s.expect_reply(request("x", None), 6.0)  # a notification: no reply expected
    assert list(s.pending.items()) == [(2, Pending("mining.submit", 4.0, ("diff", 8.0))),
                                       (3, Pending("mining.authorize", 3.0, None)),
                                       (4, Pending("mining.subscribe", 5.0, None))]
    assert s.take_reply(Message(None, 1, None, True, None, True, {})) is None
    assert s.take_reply(Message(None, 3, None, True, None, True, {})) == Pending("mining.authorize", 3.0, None)
    assert list(s.pending) == [2, 4]


@pytest.mark.parametrize(("raw", "want"), [
    (b'{"id":1,"result":true,"error":null}', True),
    (b'{"id":1,"result":false}', False),
    (b'{"id":1,"result":null,"error":null}', None),
    (b'{"id":1,"result":true,"error":0}', True),  # 0 == False: not an error
    (b'{"id":1,"result":true,"error":[]}', True),
    (b'{"id":1,"result":true,"error":{}}', True),
    (b'{"id":1,"result":true,"error":""}', True),
    (b'{"id":1,"result":true,"error":[21,"Job not found",null]}', False),
    (b'{"id":1,"result":true,"error":"stale"}', False),
    (b'{"id":1,"result":true,"error":true}', False),
])
def test_outcome_of_a_share_reply(raw: bytes, want: bool | None) -> None:
    msg = parse_message(raw)
    assert msg is not None
    assert outcome(msg, lambda result: result is True) is want
