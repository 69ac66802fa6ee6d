"""The sample campus end to end: attribution by the registry, verdicts with evidence, the units
table and the sweep sentences (pcaps/truth.json "campus" holds the generator's intent)."""

from __future__ import annotations

import json

import pytest
from conftest import PCAPS

from detector.scan import ScanOptions, scan

TRUTH = json.loads((PCAPS / "truth.json").read_text())["campus"]
EXPECTED = {h["ip"]: h for h in TRUTH["hosts"]}


@pytest.fixture(scope="module")
def campus():
    return scan([PCAPS / "campus.pcapng"], ScanOptions(registries=[PCAPS / "campus-registry.csv"]))


def test_every_mining_host_found(campus):
    assert {h["ip"] for h in campus["hosts"]} == set(EXPECTED)


@pytest.mark.parametrize("ip", sorted(EXPECTED))
def test_attribution_and_verdict(campus, ip):
    host = next(h for h in campus["hosts"] if h["ip"] == ip)
    want = EXPECTED[ip]
    assert (host["unit"], host["category"], host["public_institution"]) == (
        want["unit"], want["category"], want["public_institution"])
    assert host["attribution"]["source"] == "registry:campus-registry.csv"
    assert host["verdict"] == want["verdict"]
    assert 0.5 <= host["verdict_confidence"] <= 1.0
    details = [e["detail"] for e in host["evidence"]]
    assert details and all(d and d.isprintable() and len(d) <= 240 for d in details)


def test_units_table_and_sentences(campus):
    units = {u["unit"]: u for u in campus["units"]}
    lab = units["Example University of Technology School of Physics GPU Laboratory"]
    assert lab["mining_ips"] == 3 and lab["verdicts"] == {"institution_misuse": 3}
    s = campus["summary"]["sentences"]
    misuse = [h for h in TRUTH["hosts"] if h["verdict"] == "institution_misuse"]
    assert s["public_resource_ips"] == len(misuse)
    assert s["public_resource_units"] == len({h["unit"] for h in misuse})
    compromised_public = [h for h in TRUTH["hosts"] if h["verdict"] == "compromised" and h["public_institution"]]
    assert s["compromised_public_share"] == pytest.approx(len(compromised_public) / len(TRUTH["hosts"]))


def test_pure_engine_sees_the_behaviour_around_the_hijacked_server():
    findings = scan([PCAPS / "campus.pcapng"], ScanOptions(registries=[PCAPS / "campus-registry.csv"], engine="pure"))
    hosts = {h["ip"]: h for h in findings["hosts"]}
    for ip, want in EXPECTED.items():
        fired = {e["signal"] for e in hosts[ip]["evidence"]}
        for signal in ("inbound_server", "scanned_into", "outbound_scan", "fetched_script"):
            if signal in want["signals"]:
                assert signal in fired, (ip, signal)
    hijacked = next(h for h in findings["hosts"] if "fetched_elf" in EXPECTED[h["ip"]]["signals"])
    assert {d["kind"] for d in hijacked["behaviour"]["downloads"]} == {"script", "elf"}


def test_engines_agree_on_the_campus():
    def masked(engine):
        doc = scan([PCAPS / "campus.pcapng"], ScanOptions(registries=[PCAPS / "campus-registry.csv"], engine=engine))
        doc.pop("generated_at")
        return doc
    assert masked("fast") == masked("pure")


def _all_captures():
    from conftest import CORPUS

    return sorted(p for p in [*PCAPS.iterdir(), *CORPUS.rglob("*")]
                  if p.is_file() and p.name.endswith((".pcap", ".pcapng", ".pcap.gz")))


@pytest.mark.parametrize("capture", _all_captures(), ids=lambda p: p.name)
def test_whole_scan_equal_between_engines(capture):
    """scan() with the fast engine (bounded summary store, ignored flows forgotten) equals the
    pure engine on every bundled sample and corpus capture."""
    def doc(engine):
        d = scan([capture], ScanOptions(engine=engine))
        d.pop("generated_at")
        return d
    assert doc("fast") == doc("pure")
