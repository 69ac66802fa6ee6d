"""What each dialect records for the less common shapes of its messages: roles, confirmation of
an already-typed session, requests that fall through to "expect a reply", share keys of odd
parameters, and the evidence a message's first occurrence leaves."""

from __future__ import annotations

import pytest

from detector.dialects import claim, ethproxy, gbt, monero, stratum
from detector.jsonrpc import parse_message
from detector.session import Pending, Session


def new_session(dialect: str | None = None, confirmed: bool = False) -> Session:
    s = Session("10.0.0.1", 40000, "192.0.2.1", 3333, first_seen=0.0, last_seen=0.0)
    s.dialect, s.confirmed = dialect, confirmed
    return s


def feed(s: Session, module, lines: list[tuple[bool, bytes]]) -> Session:
    for i, (from_client, raw) in enumerate(lines):
        msg = parse_message(raw)
        assert msg is not None, raw
        module.on_message(s, msg, from_client, float(i))
    return s


@pytest.mark.parametrize(("raw", "want"), [
    (b'{"id":1,"method":"mining.submit","params":["w","j","n"]}', ("stratum", "client")),
    (b'{"id":null,"method":"mining.notify"}', ("stratum", "server")),
    (b'{"id":1,"method":"mining.submit","params":{"w":1}}', None),  # a Stratum method with object params
    (b'{"id":1,"method":"client.reconnect","params":"pool:3333"}', None),
    (b'{"id":1,"method":"submit","params":{"job_id":"1","nonce":"2","result":"3"}}', ("monero", "client")),
    (b'{"id":1,"method":"submit","params":{"job_id":"1","nonce":2,"result":"3"}}', None),
    (b'{"method":"job","params":{"blob":"07","job_id":"1","target":"b88d0600"}}', ("monero", "server")),
    (b'{"method":"job","params":{"blob":"07","job_id":"1"}}', None),
    (b'{"id":1,"method":"keepalived","params":{"id":"abc"}}', ("monero", "client")),
    (b'{"id":1,"method":"keepalived","params":{"id":5}}', None),
    (b'{"id":1,"method":"login","params":{"login":"w","agent":"a"}}', ("monero", "client")),
    (b'{"id":1,"method":"login","params":{"login":"w"}}', None),
    (b'{"id":1,"method":"eth_submitWork","params":{"x":1}}', ("ethproxy", "client")),  # any shape claims
    (b'{"id":1,"method":"getwork"}', ("gbt", "client")),
    (b'{"id":1,"result":true}', None),
])
def test_claim(raw: bytes, want: tuple[str, str] | None) -> None:
    msg = parse_message(raw)
    assert msg is not None
    claimed = claim(msg)
    assert (None if claimed is None else (claimed[0].NAME, claimed[1])) == want


def test_a_confirmed_stratum_session_still_becomes_ethstratum() -> None:
    s = feed(new_session(), stratum, [
        (True, b'{"id":1,"method":"mining.authorize","params":["w","x"]}'),
        (True, b'{"id":2,"method":"mining.subscribe","params":["ethminer/0.19.0","EthereumStratum/1.0.0"]}'),
    ])
    assert (s.confirmed, s.dialect, s.algo_hint, s.login, s.agent) == (True, "ethstratum", "ethash", "w", "ethminer/0.19.0")


@pytest.mark.parametrize(("module", "raw"), [
    (stratum, b'{"id":1,"method":"mining.authorize","params":["w","x"]}'),
    (monero, b'{"id":1,"method":"submit","params":{"job_id":"1","nonce":"2","result":"3"}}'),
    (ethproxy, b'{"id":1,"method":"eth_getWork","params":[]}'),
    (gbt, b'{"id":1,"method":"getblocktemplate","params":[{}]}'),
])
@pytest.mark.parametrize(("dialect", "confirmed", "want"), [
    (None, False, None),  # -> the module's own name
    ("tls", False, "tls"),  # typed already: confirmed, the type kept
    (None, True, None),  # confirmed without a type: typed now
])
def test_confirming_message_on_a_typed_or_untyped_session(module, raw: bytes, dialect: str | None, confirmed: bool,
                                                          want: str | None) -> None:
    s = feed(new_session(dialect, confirmed), module, [(True, raw)])
    assert s.confirmed and s.dialect == (want or module.NAME)


def test_stratum_requests_without_their_parameters_wait_for_a_reply() -> None:
    s = feed(new_session(), stratum, [
        (True, b'{"id":1,"method":"mining.set_difficulty","params":[]}'),
        (True, b'{"id":2,"method":"mining.notify","params":["j","p","c"]}'),
        (True, b'{"id":3,"method":"client.reconnect","params":[]}'),
        (False, b'{"id":4,"method":"mining.notify","params":["j"]}'),  # from the pool: nothing to wait for
        (True, b'{"id":5,"method":"mining.configure","params":[["version-rolling"]]}'),
        (True, b'{"id":6,"method":"mining.set_target","params":[]}'),
    ])
    assert s.pending == {1: Pending("mining.set_difficulty", 0.0, None), 2: Pending("mining.notify", 1.0, None),
                         3: Pending("client.reconnect", 2.0, None), 5: Pending("mining.configure", 4.0, None),
                         6: Pending("mining.set_target", 5.0, None)}
    assert s.confirmed and s.current_share is None and s.redirects == []  # a 3-part notify confirms


def test_stratum_share_keys_of_odd_parameters() -> None:
    long_a, long_b = "a" * 256 + "1", "a" * 256 + "2"  # equal in their first 256 characters
    s = feed(new_session(), stratum, [
        (True, b'{"id":1,"method":"mining.submit","params":["w",5,"n"]}'),
        (True, b'{"id":2,"method":"mining.submit","params":["w","5","n"]}'),  # str(5) == "5": a resend
        (True, b'{"id":3,"method":"mining.submit","params":["w","%s"]}' % long_a.encode()),
        (True, b'{"id":4,"method":"mining.submit","params":["w","%s"]}' % long_b.encode()),  # a resend
        (True, b'{"id":5,"method":"mining.submit","params":["w"]}'),  # no share key: never a resend
        (True, b'{"id":6,"method":"mining.submit","params":["w"]}'),
        (True, b'{"id":7,"method":"mining.submit","params":["w",[1,2],{"a":null}]}'),
        (True, b'{"id":8,"method":"mining.submit","params":["w","[1, 2]","{\'a\': None}"]}'),  # str() of those
    ])
    assert (s.submits, s.duplicates) == (5, 3)
    assert sorted(s.pending) == [1, 3, 5, 6, 7]
    assert dict(s.methods) == {"mining.submit": 8}
    assert s.evidence == ['0.000000 client→server mining.submit ["w", 5, "n"]']


def test_monero_evidence_names_the_first_login_only() -> None:
    s = feed(new_session(), monero, [
        (True, b'{"id":1,"method":"login","params":{"login":"w","pass":"x","agent":"XMRig/6.21.0","algo":["rx/0"],"x":1}}'),
        (True, b'{"id":2,"method":"login","params":{"login":"w2","pass":"x","rigid":"rig7"}}'),
        (False, b'{"id":1,"result":{"id":"1","job":{"blob":"07","job_id":"9","target":"b88d0600"},"status":"OK"}}'),
        (True, b'{"id":3,"method":"submit","params":{"id":"1","job_id":"9","nonce":"2","result":"3"}}'),
        (False, b'{"id":3,"result":{"status":"ok"}}'),
        (True, b'{"id":4,"method":"submit","params":{"id":"1","job_id":"9","nonce":"2","result":"3"}}'),  # a resend
        (True, b'{"id":5,"method":"keepalived","params":"x"}'),
    ])
    assert s.evidence == ['0.000000 client→server login {"login": "w", "agent": "XMRig/6.21.0", "algo": ["rx/0"]}',
                          '2.000000 server→client result {"job_id": "9", "target": "b88d0600"}',
                          '3.000000 client→server submit {"job_id": "9"}',
                          '6.000000 client→server keepalived {}']
    assert dict(s.methods) == {"login": 2, "result": 1, "submit": 2, "keepalived": 1}
    assert (s.login, s.worker, s.agent, s.algo_hint) == ("w", "rig7", "XMRig/6.21.0", "rx/0")
    assert (s.submits, s.duplicates, s.accepted, s.rejected) == (1, 1, 1, 0)
    assert s.current_share == ("diff", 10000.0) and sorted(s.pending) == [2, 5]


def test_ethproxy_fills_an_empty_algorithm_hint_only() -> None:
    s = new_session()
    s.algo_hint = ""
    feed(s, ethproxy, [(True, b'{"id":1,"method":"eth_getWork","params":[]}')])
    assert s.algo_hint == "ethash"
    s.algo_hint = "etchash"
    feed(s, ethproxy, [(True, b'{"id":2,"method":"eth_submitLogin","params":["0xabc.rig","x"],"worker":"rig9"}')])
    assert (s.algo_hint, s.login, s.worker) == ("etchash", "0xabc.rig", "rig9")


def test_ethproxy_share_keys_are_cut_at_80_characters() -> None:
    nonce = "0x" + "1" * 80
    s = feed(new_session(), ethproxy, [
        (True, b'{"id":1,"method":"eth_submitWork","params":["%s0","0xaa"]}' % nonce.encode()),
        (True, b'{"id":2,"method":"eth_submitWork","params":["%s1","0xaa"]}' % nonce.encode()),  # same first 80
        (True, b'{"id":3,"method":"eth_submitWork","params":[]}'),
        (True, b'{"id":4,"method":"eth_submitWork","params":[]}'),
        (False, b'{"id":1,"result":true}'),
        (False, b'{"id":3,"result":false}'),
        (False, b'{"id":4,"error":"stale"}'),
    ])
    assert (s.submits, s.duplicates, s.accepted, s.rejected) == (3, 1, 1, 2)


def test_gbt_names_sha256d_unless_hinted() -> None:
    s = feed(new_session(), gbt, [(True, b'{"id":1,"method":"getwork","params":[]}')])
    assert (s.algo_hint, s.confirmed, s.dialect, s.submits) == ("sha256d", True, "gbt", 0)
    s = new_session()
    s.algo_hint = "scrypt"
    feed(s, gbt, [(True, b'{"id":1,"method":"submitblock","params":["00"]}'), (False, b'{"id":1,"result":null}')])
    assert (s.algo_hint, s.submits, s.accepted) == ("scrypt", 1, 1)
