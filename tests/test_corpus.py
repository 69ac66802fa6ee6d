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
           for s in scanned[name]["sessions"]}
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
    sessions = scanned["zeek-cryptomining_Traces_coinhive-stratum.pcap"]["sessions"]
    assert len(sessions) == 3
    assert {s["pool"] for s in sessions} == {"la01.supportxmr.com"}
    assert {s["pool_source"] for s in sessions} == {"dns"}


def test_inputs_record_what_was_read(scanned):
    (inp,) = scanned["ndpi_mining.pcapng"]["inputs"]
    assert inp["format"] == "pcapng" and inp["packets"] == 673
    assert inp["sha256"] == "c7f996a51d63d52ed7baebb8bd86d59c427ab9d6cb8eeb5ad494defcc006c239"
    assert inp["warnings"] == []
