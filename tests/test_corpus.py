"""The shared corpus of real captures: confirmed sessions must equal the ground truth exactly
(negatives yield none), and the figures decoded from real traffic are checked where known."""

from __future__ import annotations

import pytest
from conftest import CORPUS, corpus_cases

from detector.scan import scan

CASES = corpus_cases()


def test_corpus_has_ground_truth():
    assert len(CASES) >= 14, f"expected the shared corpus beside the checkout at {CORPUS}"


@pytest.fixture(scope="module")
def scanned():
    return {name: scan([path]) for name, path, _ in CASES}


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_confirmed_sessions_equal_ground_truth(name, scanned):
    expected = next(e for n, _, e in CASES if n == name)
    want = {(s["client"], s["server"], int(s["port"])) for s in expected["sessions"]}
    got = {(s["client"], s["server"], s["server_port"]) for s in scanned[name]["sessions"]
           if s["confidence"] == "confirmed"}
    assert got == want


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_dialect_families_match(name, scanned):
    expected = next(e for n, _, e in CASES if n == name)
    want = {(s["client"], s["server"], int(s["port"]), d) for s in expected["sessions"] for d in s["dialects"]}
    got = {(s["client"], s["server"], s["server_port"], "stratum" if s["dialect"] == "ethstratum" else s["dialect"])
           for s in scanned[name]["sessions"] if s["confidence"] == "confirmed"}
    assert got == want


def test_mining_pcapng_identities(scanned):
    sessions = {(s["server"], s["server_port"]): s for s in scanned["ndpi_mining.pcapng"]["sessions"]}
    eth = sessions[("185.71.66.39", 9999)]
    assert eth["wallet"] == "0x9c99d212f7e5daa18ab50810e0fd255d1f04303b" and eth["worker"] == "tester.worker1"
    assert eth["algorithm"] == "ethash" and eth["reported_hashrate"]["samples"] == 14
    xmr = sessions[("178.32.196.217", 9050)]
    assert xmr["agent"] == "xmr-stak-cpu/1.3.0-1.5.0" and xmr["coin"] == "XMR"
    assert (xmr["submits"], xmr["accepted"], xmr["rejected"]) == (30, 30, 0)  # one submit is retransmitted 4 times
    zec = sessions[("94.23.199.191", 3333)]
    assert zec["pool"] == "eu1-zcash.flypool.org" and zec["algorithm"] == "equihash" and zec["coin"] == "ZEC"
    assert zec["wallet"] == "t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd" and zec["worker"] == "rig4"
    assert (zec["submits"], zec["accepted"], zec["rejected"]) == (46, 45, 1)
    assert zec["hashrate"]["low"] < zec["hashrate"]["value"] < zec["hashrate"]["high"]


def test_in_progress_capture_infers_roles_from_methods(scanned):
    (s,) = scanned["zeek-cryptomining_Traces_bitcoin-mining-in-progress.pcap"]["sessions"]
    assert (s["client"], s["server"]) == ("10.0.2.15", "74.84.128.158")
    assert any("handshake" in n for n in s["notes"])


def test_coinhive_stratum_pool_name_from_dns(scanned):
    found = scanned["zeek-cryptomining_Traces_coinhive-stratum.pcap"]["sessions"]
    sessions = [s for s in found if s["confidence"] == "confirmed"]
    assert len(sessions) == 3
    (loader,) = [s for s in found if s["confidence"] == "strong"]  # the page fetched coinhive.com over TLS
    assert loader["pool"] == "coinhive.com" and loader["server_port"] == 443
    assert {s["pool"] for s in sessions} == {"la01.supportxmr.com"}
    assert {s["pool_source"] for s in sessions} == {"dns"}


def test_inputs_record_what_was_read(scanned):
    (inp,) = scanned["ndpi_mining.pcapng"]["inputs"]
    assert inp["format"] == "pcapng" and inp["packets"] == 673
    assert inp["sha256"] == "c7f996a51d63d52ed7baebb8bd86d59c427ab9d6cb8eeb5ad494defcc006c239"
    assert inp["warnings"] == []


def test_coinhive_browser_mining_over_tls_flagged_by_sni(scanned):
    sessions = scanned["zeek-cryptomining_Traces_coinhive.pcap"]["sessions"]
    assert sessions and {s["confidence"] for s in sessions} == {"strong"}
    assert {s["pool"] for s in sessions} == {"authedmine.com", "ws027.authedmine.com"}
    assert all(s["dialect"] == "tls" and s["pool_source"] == "tls-sni" for s in sessions)
    assert all(s["hashrate"]["value"] is None and s["hashrate"]["basis"].startswith("not observable") for s in sessions)
    assert any("browser-mining service" in e for s in sessions for e in s["evidence"])
    assert all(s["tls"]["ja3"] and s["tls"]["ja4"] for s in sessions)


def test_tls_hellos_to_a_plaintext_stratum_port_name_the_pool(scanned):
    tls = [s for s in scanned["zeek-cryptomining_Traces_bitcoin-mining.pcap"]["sessions"] if s["dialect"] == "tls"]
    assert {(s["server"], s["server_port"]) for s in tls} == {("113.21.199.11", 3333), ("74.84.128.158", 3333)}
    assert {s["pool"] for s in tls} == {"us1.bitminter.com"} and {s["pool_operator"] for s in tls} == {"BitMinter"}
