"""`minesweep rules export`: Suricata rules, Zeek signatures and the Zeek Intel file.

Zeek and Suricata are not installed here, so the outputs are checked with parsers instead:
Suricata rules with the PyPI ``suricataparser`` (every rule parses and has msg/sid/rev/classtype/
metadata), Zeek signatures with a small structural parser below; the regular expressions are
compiled with Python's ``re`` (an approximation of PCRE and of Zeek's flex-style patterns) and run
against real protocol lines read from the bundled sample captures: every signature matches a line
of its own message, and none matches the hard-negative JSON-RPC lines of the same captures.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from suricataparser import parse_rules

from detector.capture import open_capture
from detector.capture.model import SYN, TCP
from detector.commands import rules_export
from detector.dialects import claim
from detector.errors import RegistryError
from detector.export import suricata_rules, zeek_intel, zeek_sig
from detector.export.signatures import (
    DIALECTS,
    DNS_SID_BASE,
    SNI_SID_BASE,
    allocate_sids,
    load_signatures,
    python_regex,
)
from detector.jsonrpc import parse_message
from detector.reassembly import Framer, Reassembler
from detector.rules import clear_rules_cache, load_rules

REPO = Path(__file__).resolve().parents[1]
PCAPS = REPO / "pcaps"
SAMPLES = ("stratum-btc-ltc-vlan.pcap", "zcash-equihash-sll-be.pcap", "ethereum-ethproxy-nicehash-rawip.pcap.gz",
           "monero-xmrig-ipv6.pcapng", "bitcoin-gbt-getwork-null-ns.pcap", "stratum-midsession-5222-sll2.pcap")


# --------------------------------------------------------------------------- real protocol units


@dataclass(frozen=True)
class Unit:
    """One message as a sensor buffer sees it: the TCP payload line, or an HTTP head / body."""

    capture: str
    direction: str  #: "to_server" / "to_client" (from the methods, like scan)
    buffer: str  #: "payload", "http.header", "http.request_body"
    data: bytes
    mining: bool  #: a mining method / a mining HTTP exchange


def _streams(path: Path) -> dict[tuple, list[bytes]]:
    """Reassembled bytes of each TCP direction: (src, sport, dst, dport) -> chunks."""
    reasm: dict[tuple, Reassembler] = {}
    out: dict[tuple, list[bytes]] = {}
    with open_capture(path) as cap:
        for p in cap:
            if p.proto != TCP:
                continue
            key = (p.src, p.sport, p.dst, p.dport)
            r = reasm.setdefault(key, Reassembler())
            if p.flags & SYN:
                r.syn(p.seq)
            if p.payload:
                out.setdefault(key, []).extend(c for c in r.push(p.seq, p.payload) if c is not None)
    return out


def _units() -> list[Unit]:
    units: list[Unit] = []
    for name in SAMPLES:
        for chunks in _streams(PCAPS / name).values():
            framer = Framer()
            frames = [f for c in chunks for f in framer.feed(c)] + framer.close()
            for frame in frames:
                if frame[0] == "line":
                    msg = parse_message(frame[1])
                    c = claim(msg) if msg is not None else None
                    if msg is None or msg.method is None:
                        continue
                    direction = ("to_server" if c[1] == "client" else "to_client") if c else "to_server"
                    units.append(Unit(name, direction, "payload", frame[1], c is not None))
                else:
                    head, body = frame[1], frame[2]
                    request = head.is_request
                    direction = "to_server" if request else "to_client"
                    text = "".join(f"{k}: {v}\r\n" for k, v in head.headers.items()).encode()
                    msgs = [parse_message(body)] if body else []
                    mining = any(m is not None and claim(m) is not None for m in msgs) or b"x-stratum" in text \
                        or b"x-mining-extensions" in text
                    units.append(Unit(name, direction, "http.header", text, mining))
                    if request and body:
                        units.append(Unit(name, direction, "http.request_body", body, mining))
    return units


@pytest.fixture(scope="module")
def units() -> list[Unit]:
    return _units()


def _suricata_matches(rule_text: str, data: bytes) -> bool:
    """Evaluate a rule's content and pcre options on one buffer (position modifiers ignored)."""
    rule = parse_rules(rule_text)[0]
    text = data.decode("latin-1")
    for opt in rule.options:
        if opt.name == "content":
            literal = _unhex(opt.value.strip('"'))
            nocase = any(o.name == "nocase" for o in rule.options)
            hay, needle = (text.lower(), literal.lower()) if nocase else (text, literal)
            if needle not in hay:
                return False
        elif opt.name == "pcre":
            negate = opt.value.startswith("!")
            body = opt.value.lstrip("!").strip('"')
            pattern, flags = body[1:body.rindex("/")], body[body.rindex("/") + 1:]
            pattern = python_regex(pattern.replace(r"\/", "/"))
            found = re.search(pattern, text, re.IGNORECASE if "i" in flags else 0) is not None
            if found == negate:
                return False
    return True


def _unhex(content: str) -> str:
    return re.sub(r"\|([0-9A-Fa-f ]+)\|", lambda m: bytes.fromhex(m.group(1)).decode("latin-1"), content)


# --------------------------------------------------------------------------- Suricata


@pytest.fixture(scope="module")
def suricata_text() -> str:
    return suricata_rules.render()


def test_every_suricata_rule_parses_with_the_required_options(suricata_text: str) -> None:
    lines = [line for line in suricata_text.splitlines() if line and not line.startswith("#")]
    rules = parse_rules(suricata_text)
    assert len(rules) == len(lines) > 60
    sids = set()
    for rule in rules:
        names = [o.name for o in rule.options]
        for required in ("msg", "sid", "rev", "classtype", "metadata"):
            assert required in names, (required, rule.raw)
        assert rule.msg.strip('"').startswith("MINESWEEP ")
        assert rule.classtype == "coin-mining"
        assert 1_000_000 <= int(rule.sid) <= 1_999_999
        assert int(rule.rev) >= 1
        meta = str(next(o.value for o in rule.options if o.name == "metadata"))
        assert "mitre_technique_id T1496" in meta and "mitre_subtechnique_id T1496.001" in meta
        sids.add(int(rule.sid))
    assert len(sids) == len(rules)


def test_every_decoded_dialect_and_required_message_has_a_rule(suricata_text: str) -> None:
    sigs = load_signatures()
    assert {s.dialect for s in sigs} == set(DIALECTS)
    methods = {(s.dialect, s.method) for s in sigs}
    for needed in [("stratum", "mining.subscribe"), ("stratum", "mining.authorize"), ("stratum", "mining.submit"),
                   ("stratum", "mining.notify"), ("stratum", "mining.set_target"),
                   ("ethstratum", "mining.subscribe"), ("ethproxy", "eth_submitLogin"), ("ethproxy", "eth_getWork"),
                   ("ethproxy", "eth_submitWork"), ("ethproxy", "eth_submitHashrate"), ("monero", "login"),
                   ("gbt", "getblocktemplate"), ("gbt", "getwork"), ("gbt", "X-Mining-Extensions")]:
        assert needed in methods
    for sig in sigs:
        assert f"sid:{sig.sid};" in suricata_text
    assert "tls.sni; dotprefix;" in suricata_text and "dns.query; dotprefix;" in suricata_text


@pytest.mark.parametrize("sig_id", [s.id for s in load_signatures()])
def test_suricata_rule_fires_on_a_real_line_of_its_message(sig_id: str, units: list[Unit]) -> None:
    sig = next(s for s in load_signatures() if s.id == sig_id)
    text = suricata_rules.protocol_rule(sig)
    hits = [u for u in units if u.buffer == sig.buffer and u.direction == sig.direction
            and _suricata_matches(text, u.data)]
    if sig.id == "ethproxy-login":  # no sample miner sends eth_login (Claymore uses eth_submitLogin)
        line = b'{"id":1,"jsonrpc":"2.0","method":"eth_login","params":["0xa0f58072b5303ccb97da69928f897b85adc6cf8c"]}'
        hits = [Unit("-", sig.direction, sig.buffer, line, True)] if _suricata_matches(text, line) else []
    assert hits, f"{sig.id} matched no real line"
    assert all(u.mining for u in hits), [u.data[:80] for u in hits if not u.mining]


def test_no_protocol_rule_fires_on_the_hard_negatives(units: list[Unit]) -> None:
    negatives = [u for u in units if not u.mining]
    assert len(negatives) >= 5  # wallet RPC, web3 polling, JSON-RPC echo, chat websocket
    for sig in load_signatures():
        text = suricata_rules.protocol_rule(sig)
        fired = [u.data[:80] for u in negatives if u.buffer == sig.buffer and _suricata_matches(text, u.data)]
        assert not fired, (sig.id, fired)


def test_domain_rules_match_subdomains_on_label_boundaries(suricata_text: str) -> None:
    rule = next(r for r in suricata_text.splitlines() if "TLS SNI" in r and "(f2pool.com)" in r)
    buffer = lambda name: ("." + name).encode()  # noqa: E731 - dotprefix adds the dot
    content = _unhex(re.search(r'content:"([^"]+)"', rule).group(1))
    for name, expected in (("btc.f2pool.com", True), ("f2pool.com", True), ("notf2pool.com", False)):
        assert buffer(name).decode().lower().endswith(content.lower()) is expected
    sids = allocate_sids([d for p in load_rules().pools for d in p.domains], SNI_SID_BASE)
    assert f"sid:{sids['f2pool.com']};" in rule


def test_sid_allocation_is_stable_and_collision_free() -> None:
    names = [f"pool{i}.example" for i in range(3000)]
    a = allocate_sids(names, DNS_SID_BASE)
    b = allocate_sids(list(reversed(names)), DNS_SID_BASE)
    assert a == b and len(set(a.values())) == 3000
    assert all(DNS_SID_BASE <= s < DNS_SID_BASE + 100_000 for s in a.values())


def _rules_copy(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    shutil.copytree(REPO / "rules", d)
    return d


def test_allowlisted_names_below_a_pool_suffix_are_excluded(tmp_path: Path) -> None:
    d = _rules_copy(tmp_path)
    with open(d / "allowlist.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[[allow]]\nname = "www.nicehash.com"\nmatch = "exact"\nkind = "pool-website"\n'
                 'reason = "test"\nsources = ["test"]\n')
    clear_rules_cache()
    try:
        text = suricata_rules.render(d)
        rule = next(r for r in text.splitlines() if "DNS query" in r and "(nicehash.com)" in r)
        assert r'pcre:!"/^\.www\.nicehash\.com$/i";' in rule
        assert _suricata_matches(rule, b".www.nicehash.com") is False
        assert _suricata_matches(rule, b".daggerhashimoto.eu.nicehash.com") is True
    finally:
        clear_rules_cache()


# --------------------------------------------------------------------------- Zeek signatures

_SIG = re.compile(r"signature (minesweep-[a-z0-9-]+) \{\n(.*?)\n\}", re.S)
_COND = re.compile(r"    (ip-proto == tcp|tcp-state (?:originator|responder)|event \"[^\"]*\""
                   r"|(payload|http-request-body|http-request-header|http-reply-header) /(.*)/)\Z")


def parse_zeek_signatures(text: str) -> list[dict[str, str]]:
    """A structural parser for the subset of Zeek's signature language the exporter writes."""
    out = []
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    for m in _SIG.finditer(body):
        sig: dict[str, str] = {"id": m.group(1)}
        for line in m.group(2).splitlines():
            c = _COND.match(line)
            assert c, f"unexpected line in {m.group(1)}: {line!r}"
            if c.group(2):
                sig["condition"], sig["pattern"] = c.group(2), c.group(3)
            elif line.strip().startswith("event"):
                sig["event"] = line.strip()[len('event "'):-1]
            elif line.strip().startswith("tcp-state"):
                sig["state"] = line.strip().split()[1]
        out.append(sig)
    assert body.count("signature ") == len(out)
    return out


def _zeek_to_python(pattern: str) -> str:
    return python_regex(pattern.replace('\\"', '"').replace("\\/", "/"))


def test_zeek_signatures_are_well_formed_and_compile() -> None:
    sigs = parse_zeek_signatures(zeek_sig.render())
    assert len(sigs) == len(load_signatures())
    for s in sigs:
        assert s["event"].startswith("MINESWEEP ") and "[sid 14960" in s["event"]
        assert s["pattern"].startswith(".*")  # Zeek anchors payload patterns at the start
        assert '"' not in s["pattern"].replace('\\"', "")  # every quote escaped for Zeek
        re.compile(_zeek_to_python(s["pattern"]))
        if s["condition"] == "payload":
            assert s["state"] in ("originator", "responder")


@pytest.mark.parametrize("sig_id", [s.id for s in load_signatures()])
def test_zeek_signature_matches_what_the_suricata_rule_matches(sig_id: str, units: list[Unit]) -> None:
    sig = next(s for s in load_signatures() if s.id == sig_id)
    zs = next(s for s in parse_zeek_signatures(zeek_sig.render()) if s["id"] == f"minesweep-{sig_id}")
    regex = re.compile(_zeek_to_python(zs["pattern"]))
    rule = suricata_rules.protocol_rule(sig)
    for u in units:
        if u.buffer != sig.buffer or u.direction != sig.direction:
            continue
        data = u.data.decode("latin-1")
        if sig.buffer == "http.header":  # Zeek matches header lines one by one
            zeek_hit = any(regex.match(line) for line in data.split("\r\n"))
        else:
            zeek_hit = regex.match(data) is not None
        assert zeek_hit == _suricata_matches(rule, u.data), (sig_id, u.data[:100])


# --------------------------------------------------------------------------- Zeek intel


def test_intel_file_lists_every_pool_domain() -> None:
    text = zeek_intel.render()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    header = next(line for line in text.splitlines() if line.startswith("#fields"))
    assert header.split("\t") == ["#fields", "indicator", "indicator_type", "meta.source", "meta.desc", "meta.url"]
    rows = [line.split("\t") for line in lines]
    assert all(len(r) == 5 for r in rows)
    domains = {r[0] for r in rows if r[1] == "Intel::DOMAIN"}
    assert domains == {d for p in load_rules().pools for d in p.domains}
    assert all(r[2] == "minesweep" and r[4] == "-" for r in rows)


def test_intel_file_has_addresses_when_rules_give_them(tmp_path: Path) -> None:
    d = _rules_copy(tmp_path)
    text = (d / "pools.toml").read_text("utf-8")
    text = text.replace('name = "F2Pool"\n', 'name = "F2Pool"\naddresses = ["203.0.113.10", "198.51.100.0/28"]\n', 1)
    (d / "pools.toml").write_text(text, "utf-8")
    clear_rules_cache()
    try:
        intel = zeek_intel.render(d)
        assert "203.0.113.10\tIntel::ADDR\tminesweep\tmining pool F2Pool address\t-" in intel
        assert "198.51.100.0/28\tIntel::SUBNET\tminesweep" in intel
        rules = suricata_rules.render(d)
        assert "alert ip $HOME_NET any -> 203.0.113.10 any" in rules
        assert all(r.classtype == "coin-mining" for r in parse_rules(rules))
    finally:
        clear_rules_cache()


def test_a_bad_address_in_pools_is_a_registry_error(tmp_path: Path) -> None:
    d = _rules_copy(tmp_path)
    text = (d / "pools.toml").read_text("utf-8").replace('name = "F2Pool"\n', 'name = "F2Pool"\naddresses = ["not-an-ip"]\n', 1)
    (d / "pools.toml").write_text(text, "utf-8")
    clear_rules_cache()
    try:
        with pytest.raises(RegistryError, match="not an IP address"):
            zeek_intel.render(d)
    finally:
        clear_rules_cache()


def test_a_signature_outside_the_sid_block_is_rejected(tmp_path: Path) -> None:
    d = _rules_copy(tmp_path)
    text = (d / "signatures.toml").read_text("utf-8").replace("sid = 1496001", "sid = 2000001", 1)
    (d / "signatures.toml").write_text(text, "utf-8")
    with pytest.raises(RegistryError, match="sid must be an integer in 1496000-1496999"):
        load_signatures(d)


# --------------------------------------------------------------------------- command


@pytest.mark.parametrize("fmt, marker", [("suricata", "alert tcp"), ("zeek-sig", "signature minesweep-"),
                                         ("zeek-intel", "Intel::DOMAIN")])
def test_export_command_writes_the_file(tmp_path: Path, fmt: str, marker: str) -> None:
    import argparse

    out = tmp_path / "out.txt"
    args = argparse.Namespace(format=fmt, out=str(out), rules=None)
    assert rules_export.run(args) == 0
    text = out.read_text("utf-8")
    assert marker in text
    buf = io.StringIO()
    assert rules_export.run(argparse.Namespace(format=fmt, out="-", rules=None), stdout=buf) == 0
    if fmt != "suricata":  # the Suricata header names the output path
        assert buf.getvalue() == text


def test_export_parser_registers_rules_export() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    rules_export.register(sub)
    args = parser.parse_args(["rules", "export", "--format", "zeek-intel", "--out", "x.intel"])
    assert args.run is rules_export.run and args.format == "zeek-intel"
    with pytest.raises(SystemExit):
        parser.parse_args(["rules", "export", "--format", "snort", "--out", "x"])



def test_sample_eve_alerts_use_the_exported_sids_and_messages(suricata_text: str) -> None:
    import gzip
    import json

    rules = {int(r.sid): r.msg.strip('"') for r in parse_rules(suricata_text)}
    lines = gzip.decompress((PCAPS / "sensors" / "eve.json.gz").read_bytes()).decode().splitlines()
    ours = [json.loads(x)["alert"] for x in lines if '"MINESWEEP ' in x and '"event_type":"alert"' in x]
    assert len(ours) >= 20
    for a in ours:
        assert rules[a["signature_id"]] == a["signature"]
