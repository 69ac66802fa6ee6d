"""Dialect decoding over real message lines (from the shared corpus captures and public specs)."""

from __future__ import annotations

import pytest

from detector.dialects import claim
from detector.jsonrpc import parse_body, parse_message
from detector.session import Session


def session() -> Session:
    return Session("10.0.0.1", 40000, "192.0.2.1", 3333, first_seen=0.0, last_seen=0.0)


def feed(s: Session, lines: list[tuple[bool, bytes]]) -> Session:
    for i, (from_client, raw) in enumerate(lines):
        msg = parse_message(raw)
        assert msg is not None, raw
        claimed = claim(msg)
        from detector.dialects import DIALECTS
        module = claimed[0] if claimed else DIALECTS[s.dialect]
        module.on_message(s, msg, from_client, float(i))
    return s


# ndpi/mining.pcapng (EWBF 0.3.4b on flypool, Zcash Equihash)
EQUIHASH = [
    (True, b'{"id":1,"method":"mining.subscribe","params":["EWBF 0.3.4b",null,"eu1-zcash.flypool.org","3333"]}\n'),
    (False, b'{"id":1,"result":["04d567b212", "04d567b212"], "error": null}\n'),
    (True, b'{"id":2,"method":"mining.authorize","params":["t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4","x"]}\n'),
    (False, b'{"id":2,"result":true, "error": null}\n'),
    (False, b'{"id":null,"method":"mining.set_target","params":["0004189374bc6a7ef9db22d0e5604189374bc6a7ef9db22d0e5604189374bc6a"]}\n'),
    (True, b'{"id":100,"method":"mining.submit","params":["t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4","8c6f2d4c6d2c7014fb26","a9cc405a","3e27","fd40"]}\n'),
    (False, b'{"id":100,"result":true,"error":null}\n'),
    (True, b'{"id":101,"method":"mining.submit","params":["t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4","8c6f2d4c6d2c7014fb26","a9cc405a","3e28","fd41"]}\n'),
    (False, b'{"id":101,"result":null,"error":[21,"Job not found",null]}\n'),
]


def test_stratum_equihash_session():
    s = feed(session(), EQUIHASH)
    assert s.confirmed and s.dialect == "stratum"
    assert s.agent == "EWBF 0.3.4b" and s.pool == "eu1-zcash.flypool.org" and s.pool_source == "mining.subscribe"
    assert s.login == "t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4"
    assert s.algo_hint == "equihash"
    assert (s.submits, s.accepted, s.rejected) == (2, 1, 1)
    assert s.current_share == ("target", float(0x0004189374BC6A7EF9DB22D0E5604189374BC6A7EF9DB22D0E5604189374BC6A))


# zeek-cryptomining bitcoin-mining.pcap (bfgminer 5.2.0 on bitminter)
BFG = [
    (True, b'{"id": 1, "method": "mining.subscribe", "params": ["bfgminer/5.2.0", "1"]}\n'),
    (False, b'{"result":[[["mining.notify","1"],["mining.set_difficulty","2"]],"00b617a3",4],"error":null,"id":1}\n'),
    (False, b'{"method":"mining.set_difficulty","params":[4096],"id":1}\n'),
    (True, b'{"id": "auth", "method": "mining.authorize", "params": ["broatcast", "123"]}\n'),
    (False, b'{"result":true,"error":null,"id":"auth"}\n'),
    (False, b'{"method":"mining.set_difficulty","params":[64],"id":1}\n'),
    (True, b'{"params": ["broatcast", "274f-3", "00000000", "5b646464", "1a2b3c4d"], "id": 7, "method": "mining.submit"}\n'),
    (True, b'{"params": ["broatcast", "274f-3", "00000000", "5b646464", "1a2b3c4d"], "id": 8, "method": "mining.submit"}\n'),
    (False, b'{"result":true,"error":null,"id":7}\n'),
]


def test_stratum_bitcoin_difficulty_history_and_resend():
    s = feed(session(), BFG)
    assert s.dialect == "stratum" and s.agent == "bfgminer/5.2.0" and s.login == "broatcast"
    assert [(k, v) for _, k, v in s.difficulty_history] == [("diff", 4096.0), ("diff", 64.0)]
    assert (s.submits, s.duplicates, s.accepted) == (1, 1, 1)
    assert dict(s.share_counts) == {("diff", 64.0): 1}


def test_ethereum_stratum_nicehash():
    s = feed(session(), [
        (True, b'{"id": 1, "method": "mining.subscribe", "params": ["ethminer/0.19.0", "EthereumStratum/1.0.0"]}\n'),
        (False, b'{"id": 1, "result": [["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f", "EthereumStratum/1.0.0"], "080c"], "error": null}\n'),
        (False, b'{"id": null, "method": "mining.set_difficulty", "params": [0.5]}\n'),
        (False, b'{"id": null, "method": "mining.notify", "params": ["bf0488aa", "abad8f99f3918bf903c6a909d9bbc0fdfa5a2f4b9cb1196175ec825c6610126c", "645cf20198c2f3861e947d4f67e3ab63b7b2e24dcc9095bd9123e7b33371f6cc", true]}\n'),
    ])
    assert s.dialect == "ethstratum" and s.algo_hint == "ethash" and s.current_share == ("diff", 0.5)


# ndpi/mining.pcapng (eth-proxy to nanopool)
ETHPROXY = [
    (True, b'{"worker": "eth1.0", "jsonrpc": "2.0", "params": ["0x9c99d212f7e5daa18ab50810e0fd255d1f04303b/tester.worker1/vvesely@mailinator", "x"], "id": 2, "method": "eth_submitLogin"}\n'),
    (False, b'{"jsonrpc":"2.0","id":2,"result":true}\n'),
    (False, b'{"jsonrpc":"2.0","id":0,"result":["0x415559c31768833f25b6dbfbb39be72e71375e14a3a711e589696850bc9431ec","0x71a56feffb6f10ea9d76e1a9464eb0abd86e4349ae98fb794923a65b650282a3","0x00000000dbe6fecebdedd5beb573440e5a884d1b2fbf06fcce912adcb8d8422e"]}\n'),
    (True, b'{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["0x1d08a61", "0x0000000000000000000000000000000000000000000000000000000002df91be"]}\n'),
    (True, b'{"id":4,"method":"eth_submitWork","params":["0x07a05fa4133e5126","0x41f3161ce643ebcf25d34dde1ac0d3e695edcbf136eed96680bac4cf1a82e417","0x44e9206e9c830706f60e0129bdd117a2718d6553f3405b477541994df3583d4b"]}\n'),
    (False, b'{"jsonrpc":"2.0","id":4,"result":true}\n'),
]


def test_ethproxy_login_work_target_and_reported_rate():
    s = feed(session(), ETHPROXY)
    assert s.dialect == "ethproxy" and s.worker == "eth1.0"
    assert s.login.startswith("0x9c99d212f7e5daa18ab50810e0fd255d1f04303b/")
    assert s.current_share == ("target", float(0x00000000DBE6FECEBDEDD5BEB573440E5A884D1B2FBF06FCCE912ADCB8D8422E))
    assert s.reported == [(3.0, float(0x1D08A61))]
    assert (s.submits, s.accepted) == (1, 1)


# ndpi/mining.pcapng (xmr-stak-cpu) and coinhive-stratum.pcap
MONERO = [
    (True, b'{"method":"login","params":{"login":"4BCeEPhodgPMbPWFN1dPwhWXdRX8q4mhhdZdA1dtSMLTLCEYvAj9QXjXAfF7CugEbmfBhgkqHbdgK9b2wKA6nqRZQCgvCDm.ryzen","pass":"x","agent":"xmr-stak-cpu/1.3.0-1.5.0"},"id":1}\n'),
    (False, b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"479059546883218","job":{"blob":"0606e898","job_id":"722134174127131","target":"b88d0600"},"status":"OK"}}\n'),
    (True, b'{"method":"submit","params":{"id":"479059546883218","job_id":"722134174127131","nonce":"98024001","result":"c9be9381"},"id":1}\n'),
    (False, b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}\n'),
    (False, b'{"jsonrpc":"2.0","method":"job","params":{"blob":"06069c99","job_id":"652010620664805","target":"dc460300","algo":"rx/0"}}\n'),
    (True, b'{"method":"submit","params":{"id":"479059546883218","job_id":"652010620664805","nonce":"600a0000","result":"34906d85"},"id":2}\n'),
    (False, b'{"id":2,"jsonrpc":"2.0","error":{"code":-1,"message":"Low difficulty share"}}\n'),
]


def test_monero_login_job_submit():
    s = feed(session(), MONERO)
    assert s.dialect == "monero" and s.agent == "xmr-stak-cpu/1.3.0-1.5.0"
    assert (s.submits, s.accepted, s.rejected) == (2, 1, 1)
    assert s.algo_hint == "rx/0"
    assert s.difficulty_history[0][1:] == ("diff", pytest.approx(10000, rel=1e-9))


def test_xmrig_escaped_slash_agent():
    s = feed(session(), [(True, b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"x","pass":"x","agent":"XMRig\\/2.13.1 (Linux x86_64) libuv\\/1.24.1","algo":["cn\\/r"]}}\n')])
    assert s.agent == "XMRig/2.13.1 (Linux x86_64) libuv/1.24.1" and s.algo_hint == "cn/r" and s.confirmed


def test_gbt_request_over_http_body():
    msgs = parse_body(b'{"id": 0, "method": "getblocktemplate", "params": [{"capabilities": ["coinbasetxn", "workid"]}]}\n')
    assert len(msgs) == 1
    s = session()
    module, role = claim(msgs[0])
    assert module.NAME == "gbt" and role == "client"
    module.on_message(s, msgs[0], True, 0.0)
    assert s.confirmed and s.dialect == "gbt"


@pytest.mark.parametrize("raw", [
    b'{"jsonrpc": "2.0", "method": "echo", "params": ["Testing!"], "id": "ca08159b"}',  # ndpi jsonrpc.pcap
    b'{"jsonrpc":"2.0","method":"user.checkAuthentication","params":{"sessionid":"x"},"id":103796}',  # zabbix
    b'{"id":1,"jsonrpc":"2.0","method":"web3_clientVersion","params":[]}',  # peafowl geth
    b'{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":83}',
    b'{"method":"getblockchaininfo","params":[],"id":1}',
    b'{"method":"login","params":{"username":"alice","password":"x"},"id":1}',  # a web app's login
    b'{"method":"submit","params":{"form":"contact"},"id":2}',
    b'{"method":"job","params":{"name":"backup"}}',
    b'{"method":"mining.set_difficulty","params":["lots"]}',
])
def test_plain_json_rpc_is_not_claimed_as_mining(raw):
    msg = parse_message(raw)
    assert msg is not None
    claimed = claim(msg)
    if claimed is None:
        return
    module, _ = claimed
    assert not module.confirms(msg)


@pytest.mark.parametrize("raw", [
    b"", b"not json", b"[1,2,3]", b'{"id":1}', b"{" * 100000, b"[" * 100000, b'{"id":' + b"9" * 10000 + b"}",
    b'{"method": 5}', b"\xff\xfe{\x00", b'{"method":"mining.submit","params":[]} trailing',
])
def test_hostile_lines_never_raise(raw):
    msg = parse_message(raw)
    assert msg is None or msg.method is None or isinstance(msg.method, str)


def test_xmrig_algorithm_list_does_not_name_the_mined_algorithm_until_the_job_does():
    s = feed(session(), [(True, b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"x","pass":"x",'
                               b'"agent":"XMRig/6.21.0","algo":["cn/1","cn/2","cn/r","rx/0","rx/wow"]}}\n')])
    assert s.algo_hint is None
    feed(s, [(False, b'{"jsonrpc":"2.0","method":"job","params":{"blob":"0707","job_id":"1","target":"b88d0600","algo":"rx/0"}}\n')])
    assert s.algo_hint == "rx/0"


@pytest.mark.parametrize("raw", [
    b'{"id":1,"method":"mining.subscribe","params":[]}',
    b'{"id":1,"method":"mining.subscribe","params":[]}\r',
    b'{"id":1,"result":true} \t\r',
    b'{"id":1,"result":true}\x0b',  # whitespace for str.strip, not for JSON
    b'{"id":1,"result":true}\xe2\x80\xa8',  # U+2028 after the object
    b'{"id":1,"result":true}{"id":2,"result":true}',
    b'{"id":1,"result":true} x',
    b'{"id":1,"method":"login","params":{"login":"w\xff\xfe"}}',  # invalid UTF-8
    b'{"id":1,"method":"login","params":{"login":"\xed\xa0\x80"}}',  # an encoded lone surrogate
    b'{"id":1,"method":"login","params":{"login":"\\ud800"}}',  # an escaped lone surrogate
    b'{"id":NaN,"result":Infinity}',
    b'{"id":' + b"9" * 5000 + b',"result":1}',
    b"{" * 100_000,
    b'{"id":1,"result":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"id":[1,{"a":2}],"method":"x","params":[],"worker":"w"}',
    b"{}",
    b"{",
    b'{"method":5}',
    b"\xef\xbb\xbf{\"id\":1,\"result\":1}",  # BOM first: not '{'
])
def test_byte_lines_decode_as_their_text(raw: bytes) -> None:
    """The bytes fast path of parse_message decides every line as the general (text) path does."""
    assert parse_message(raw) == parse_message(raw.decode("utf-8", "replace"))
