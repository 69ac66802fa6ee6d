"""The rules-based verdict engine (detector.verdict) and rules/verdict.toml."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from detector.errors import RegistryError
from detector.verdict import (
    SIGNAL_NAMES,
    Download,
    HostFeatures,
    SignalResult,
    Verdict,
    VerdictRules,
    evaluate_signals,
    judge,
    judge_many,
    load_verdict_rules,
)

REPO = Path(__file__).resolve().parents[1]
RULES_FILE = REPO / "rules" / "verdict.toml"
WALLET = "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD"
XMRIG = "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0"

# A mining host of a public unit that shows no signal at all.
QUIET = HostFeatures(ip="192.0.2.10", unit="Unit Q", category="government", public_institution=True,
                     attribution_confidence=0.95, first_seen=1180.0, last_seen=5000.0)


@pytest.fixture(scope="module")
def rules() -> VerdictRules:
    return load_verdict_rules()


def signals(h: HostFeatures, rules: VerdictRules) -> dict[str, SignalResult]:
    return {s.name: s for s in evaluate_signals(h, rules)}


# ------------------------------------------------------------------------------- each signal

FIRES: list[tuple[str, dict[str, Any], float, str]] = [
    ("cpu_algorithm", {"main_algorithm": "randomx", "algorithms": ("randomx",)}, 1.0,
     "mines randomx, an algorithm built for CPUs - what a hijacked server can mine"),
    ("cpu_algorithm", {"main_algorithm": "rx/0"}, 1.0,
     "mines rx/0, an algorithm built for CPUs - what a hijacked server can mine"),
    ("cpu_algorithm", {"main_algorithm": "GhostRider"}, 1.0,
     "mines ghostrider, an algorithm built for CPUs - what a hijacked server can mine"),
    ("cpu_algorithm", {"main_algorithm": "ethash", "algorithms": ("ethash", "randomx")}, 0.5,
     "also mines randomx (a CPU algorithm) besides ethash"),
    ("xmrig_agent", {"agents": (XMRIG,)}, 1.0,
     "runs 'XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12…', XMRig-family software, the usual payload of cryptojacking"),
    ("xmrig_agent", {"agents": ("cgminer/4.9.0", "xmrig-proxy/5.0.0")}, 1.0,
     "runs 'xmrig-proxy/5.0.0', XMRig-family software, the usual payload of cryptojacking"),
    ("xmrig_agent", {"agents": ("xmr-stak/2.10.8",)}, 1.0,
     "runs 'xmr-stak/2.10.8', XMRig-family software, the usual payload of cryptojacking"),
    ("xmrig_agent", {"agents": ("kdevtmpfsi",)}, 1.0,
     "runs 'kdevtmpfsi', XMRig-family software, the usual payload of cryptojacking"),
    ("shared_wallet_cross_unit", {"wallets": (WALLET,), "shared_wallet_units": ("Unit A", "Unit B")}, 1.0,
     "the same wallet 48ed…oD is used by hosts of 2 other units: Unit A, Unit B"),
    ("shared_wallet_cross_unit", {"logins": ("acct.alpha",), "shared_wallet_units": ("Unit A",)}, 1.0,
     "the same login acct.alpha is used by hosts of 1 other unit: Unit A"),
    ("shared_wallet_cross_unit", {"wallets": (WALLET, "acct9"), "shared_wallet_units": tuple("ABCDE")}, 1.0,
     "its wallets/logins (48ed…oD and 1 more) are also used by hosts of 5 other units: A, B, C and 2 more"),
    ("disguised_port", {"server_ports": (443, 3333), "sessions": 2}, 1.0,
     "reached the pool on port 443 - a common service port that hides mining"),
    ("disguised_port", {"server_ports": (3333,), "sessions": 3, "encrypted_sessions": 2}, 0.5,
     "2 of 3 pool sessions encrypted (TLS / Stratum V2), recognised only by SNI or DNS"),
    ("outbound_scan", {"outbound_scan_targets": 1024, "outbound_scan_ports": (22, 6379)}, 1.0,
     "sent SYNs to 1,024 hosts that never answered (ports 22, 6379) - scanning, as mining worms do"),
    ("outbound_scan", {"outbound_scan_targets": 20}, 1.0,
     "sent SYNs to 20 hosts that never answered - scanning, as mining worms do"),
    ("scanned_into", {"scanned_by": 3}, 1.0,
     "was swept by 3 scanners during the capture - exposed to the mass exploitation that plants miners"),
    ("fetched_script", {"downloads": (Download("script", "http://198.51.100.9/x.sh", 1000.0),)}, 1.0,
     "fetched http://198.51.100.9/x.sh (script) 3 min before mining began"),
    ("fetched_script", {"downloads": (Download("script", "http://198.51.100.9/x.sh", 1180.0 - 7200),)}, 0.5,
     "fetched http://198.51.100.9/x.sh (script) 2.0 h before mining began"),
    ("fetched_binary", {"downloads": (Download("elf", "http://198.51.100.9/kdevtmpfsi", 1150.0),
                                      Download("archive", "http://198.51.100.9/a.tgz", 100.0))}, 1.0,
     "fetched http://198.51.100.9/kdevtmpfsi (ELF executable) 30 s before mining began (and 1 more)"),
    ("fetched_binary", {"downloads": (Download("pe", "http://198.51.100.9/m.exe", 1480.0),)}, 1.0,
     "fetched http://198.51.100.9/m.exe (Windows executable) 5 min after mining began"),
    ("inbound_server", {"inbound_peers": 212, "inbound_ports": (443,)}, 1.0,
     "accepted inbound connections from 212 clients on :443 - a server"),
    ("pool_dns_from_server", {"inbound_peers": 50, "pool_dns_names": ("pool.supportxmr.com",)}, 1.0,
     "a server (50 inbound clients) looked up pool domains: pool.supportxmr.com"),
    ("known_bad_domain", {"pool_dns_names": ("abcdef.onion.to",)}, 1.0,
     r"looked up 'abcdef.onion.to', matching known-bad pattern '\.onion\.(to|ws|ly|pet|city|cab|link)$'"),
    ("known_bad_domain", {"pool_sni": ("x.onion",)}, 1.0,
     r"looked up 'x.onion', matching known-bad pattern '\.onion$'"),
    ("rig_software", {"agents": ("PhoenixMiner/5.5c",)}, 1.0, "runs 'PhoenixMiner/5.5c', GPU/ASIC rig software"),
    ("rig_software", {"agents": ("bmminer/2.0.0",)}, 1.0, "runs 'bmminer/2.0.0', GPU/ASIC rig software"),
    ("rig_software", {"agents": ("EWBF 0.3.4b",)}, 1.0, "runs 'EWBF 0.3.4b', GPU/ASIC rig software"),
    ("rig_software", {"agents": ("T-Rex/0.26.8",)}, 1.0, "runs 'T-Rex/0.26.8', GPU/ASIC rig software"),
    ("rig_software", {"agents": ("lolMiner 1.48",)}, 1.0, "runs 'lolMiner 1.48', GPU/ASIC rig software"),
    ("gpu_or_asic_algorithm", {"main_algorithm": "ethash"}, 1.0,
     "mines ethash, an algorithm mined on GPUs or ASICs - hardware installed on purpose"),
    ("gpu_or_asic_algorithm", {"main_algorithm": "randomx", "algorithms": ("randomx", "kawpow")}, 0.5,
     "also mines kawpow (a GPU/ASIC algorithm)"),
    ("rig_hashrate", {"main_algorithm": "ethash", "hashrate_hps": 4.8e8}, 1.0,
     "hashes at 480 MH/s of ethash, at or above the 50 MH/s only a rig reaches"),
    ("rig_hashrate", {"main_algorithm": "sha256d", "hashrate_hps": 1.1e14}, 1.0,
     "hashes at 110 TH/s of sha256d, at or above the 1 TH/s only a rig reaches"),
    ("rig_hashrate", {"main_algorithm": "equihash", "hashrate_hps": 1500.0, "hashrate_unit": "Sol/s"}, 1.0,
     "hashes at 1.5 kSol/s of equihash, at or above the 1 kSol/s only a rig reaches"),
    ("named_workers", {"workers": ("rig01", "lab-gpu-3", "x")}, 1.0, "named workers: rig01, lab-gpu-3"),
    ("farm_same_account", {"farm_size": 5}, 1.0, "5 hosts of Unit Q mine into one account - a farm"),
]


@pytest.mark.parametrize(("name", "fields", "value", "detail"), FIRES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FIRES)])
def test_signal_fires(rules: VerdictRules, name: str, fields: dict[str, Any], value: float, detail: str) -> None:
    result = signals(replace(QUIET, **fields), rules)[name]
    assert result.value == value
    assert result.detail == detail
    assert result.contribution == pytest.approx(rules.signals[name].weight * value)


NOT_FIRES: list[tuple[str, dict[str, Any]]] = [
    ("cpu_algorithm", {"main_algorithm": "ethash", "algorithms": ("ethash", "sha256d")}),
    ("cpu_algorithm", {"main_algorithm": "rxish"}),
    ("xmrig_agent", {"agents": ("cgminer/4.9.0", "xmriggerd/1")}),
    ("shared_wallet_cross_unit", {"wallets": (WALLET,), "shared_wallet_units": ()}),
    ("disguised_port", {"server_ports": (3333, 14444), "sessions": 2, "encrypted_sessions": 0}),
    ("outbound_scan", {"outbound_scan_targets": 19}),
    ("outbound_scan", {"outbound_scan_targets": -5}),
    ("scanned_into", {"scanned_by": 0}),
    ("fetched_script", {"downloads": (Download("elf", "http://a/b", 1000.0),)}),
    ("fetched_binary", {"downloads": (Download("script", "http://a/b.sh", 1000.0),)}),
    ("inbound_server", {"inbound_peers": 9, "inbound_ports": (22,)}),
    ("pool_dns_from_server", {"inbound_peers": 9, "pool_dns_names": ("pool.supportxmr.com",)}),
    ("pool_dns_from_server", {"inbound_peers": 50}),
    ("known_bad_domain", {"pool_dns_names": ("pool.supportxmr.com", "onion.example.com")}),
    ("rig_software", {"agents": (XMRIG,)}),
    ("gpu_or_asic_algorithm", {"main_algorithm": "randomx", "algorithms": ("randomx",)}),
    ("rig_hashrate", {"main_algorithm": "ethash", "hashrate_hps": 4.9e7}),
    ("rig_hashrate", {"main_algorithm": "equihash", "hashrate_hps": 5000.0, "hashrate_unit": "H/s"}),
    ("rig_hashrate", {"main_algorithm": "randomx", "hashrate_hps": 1e9}),
    ("rig_hashrate", {"main_algorithm": "ethash", "hashrate_hps": math.nan}),
    ("rig_hashrate", {"main_algorithm": "ethash", "hashrate_hps": math.inf}),
    ("rig_hashrate", {"main_algorithm": "ethash", "hashrate_hps": None}),
    ("named_workers", {"workers": ("x", "Worker", "0123abcd89ef", "ip-10-1-2-3", "10.1.2.3", "12345", "",
                                   "0f8fad5b-d9cb-469f-a165-70867728950e")}),
    ("farm_same_account", {"farm_size": 1}),
]


@pytest.mark.parametrize(("name", "fields"), NOT_FIRES, ids=[f"{c[0]}-{i}" for i, c in enumerate(NOT_FIRES)])
def test_signal_does_not_fire(rules: VerdictRules, name: str, fields: dict[str, Any]) -> None:
    result = signals(replace(QUIET, **fields), rules)[name]
    assert (result.value, result.detail) == (0.0, "")


def test_quiet_host_fires_nothing(rules: VerdictRules) -> None:
    results = evaluate_signals(QUIET, rules)
    assert [r.name for r in results] == list(SIGNAL_NAMES)
    assert all(r.value == 0.0 for r in results)


def test_weight_zero_disables_a_signal(tmp_path: Path) -> None:
    path = _edited(tmp_path, lambda t: t.replace("weight = 0.9", "weight = 0", 1))
    rules = load_verdict_rules(path)
    assert signals(replace(QUIET, outbound_scan_targets=5000), rules)["outbound_scan"].value == 0.0


# ------------------------------------------------------------------------------- verdicts

BOTNET = replace(
    QUIET, main_algorithm="randomx", algorithms=("randomx",), hashrate_hps=4000.0, agents=(XMRIG,),
    workers=("x",), wallets=(WALLET,), server_ports=(443,), sessions=2, inbound_peers=212,
    inbound_ports=(443,), shared_wallet_units=("Unit A", "Unit B"))
HIJACKED_WEB = replace(
    QUIET, category="healthcare", server_ports=(443,), sessions=2, encrypted_sessions=2,
    inbound_peers=4800, inbound_ports=(80, 443), scanned_by=4, pool_sni=("pool.supportxmr.com",),
    downloads=(Download("script", "http://198.51.100.9/x.sh", 1000.0),
               Download("elf", "http://198.51.100.9/xm64", 1100.0)))
WORM = replace(QUIET, public_institution=False, category="enterprise", main_algorithm="randomx",
               agents=(XMRIG,), outbound_scan_targets=30000, outbound_scan_ports=(22, 2375, 6379))
GPU_LAB = replace(QUIET, category="education", main_algorithm="ethash", hashrate_hps=3.2e8,
                  agents=("PhoenixMiner/5.5c",), workers=("lab-gpu-3",), farm_size=6,
                  wallets=("0x" + "ab" * 20,), inbound_peers=2, inbound_ports=(22,))
ASIC_SOE = replace(QUIET, category="soe", main_algorithm="sha256d", hashrate_hps=1.1e14,
                   agents=("bmminer/2.0.0",), workers=("s19-row2",), logins=("acctsoe",), farm_size=12)
OFFICE_XMRIG = replace(QUIET, main_algorithm="randomx", hashrate_hps=3000.0, agents=(XMRIG,),
                       workers=("zhang-pc",), wallets=(WALLET,))
HOME_GPU = replace(GPU_LAB, unit="AS4134 CHINANET", category="residential", public_institution=False,
                   attribution_confidence=0.3, farm_size=1)
HOME_XMRIG_443 = replace(OFFICE_XMRIG, category="residential", public_institution=False,
                         attribution_confidence=0.3, server_ports=(443,), workers=("x",))
PRIVATE_FARM = replace(ASIC_SOE, category="hosting", public_institution=False, farm_size=40)
XMRIG_LAB_FARM = replace(OFFICE_XMRIG, category="education", workers=("lab-12",), farm_size=9,
                         server_ports=(443,), scanned_by=1)
RIG_ON_SHARED_ACCOUNT = replace(GPU_LAB, shared_wallet_units=("Unit Z",), sessions=1, encrypted_sessions=1)
UNKNOWN_OWNER = replace(HOME_GPU, unit=None, category="unknown", attribution_confidence=0.0)

ARCHETYPES = [
    ("botnet_xmrig_server", BOTNET, "compromised"),
    ("hijacked_web_server_tls_only", HIJACKED_WEB, "compromised"),
    ("worm_scanner_private_unit", WORM, "compromised"),
    ("gpu_lab", GPU_LAB, "institution_misuse"),
    ("asic_in_soe", ASIC_SOE, "institution_misuse"),
    ("office_xmrig", OFFICE_XMRIG, "institution_misuse"),
    ("home_gpu", HOME_GPU, "private"),
    ("home_xmrig_on_443", HOME_XMRIG_443, "private"),
    ("private_farm", PRIVATE_FARM, "private"),
    ("xmrig_lab_farm", XMRIG_LAB_FARM, "institution_misuse"),
    ("rig_on_shared_account", RIG_ON_SHARED_ACCOUNT, "institution_misuse"),
    ("unknown_owner", UNKNOWN_OWNER, "private"),
    ("quiet_public_host", QUIET, "institution_misuse"),
]


@pytest.mark.parametrize(("name", "host", "expected"), ARCHETYPES, ids=[a[0] for a in ARCHETYPES])
def test_archetype_verdict(rules: VerdictRules, name: str, host: HostFeatures, expected: str) -> None:
    v = judge(host, rules)
    assert (v.verdict, v.rules_verdict) == (expected, expected)
    assert 0.0 <= v.confidence <= 1.0
    assert v.model is None


def test_botnet_scores_and_evidence(rules: VerdictRules) -> None:
    v = judge(BOTNET, rules)
    assert (v.compromise_score, v.deliberate_score) == (2.15, 0.0)
    assert [(e.signal, e.weight, e.side) for e in v.evidence] == [
        ("shared_wallet_cross_unit", 0.8, "compromise"), ("inbound_server", 0.5, "compromise"),
        ("cpu_algorithm", 0.3, "compromise"), ("xmrig_agent", 0.3, "compromise"),
        ("disguised_port", 0.25, "compromise"), ("attribution", 0.95, "attribution"),
    ]
    assert v.evidence[1].detail == "accepted inbound connections from 212 clients on :443 - a server"
    assert v.evidence[-1].detail == "Unit Q (government, a public institution; attribution confidence 0.95)"
    # m = 2.15 - 1.0; confidence = 0.3 + 0.7 * (1 - exp(-1.15))
    assert v.confidence == round(0.3 + 0.7 * (1 - math.exp(-1.15)), 3) == 0.778


def test_public_private_split(rules: VerdictRules) -> None:
    assert judge(QUIET, rules).verdict == "institution_misuse"
    assert judge(replace(QUIET, public_institution=False, category="enterprise"), rules).verdict == "private"
    assert judge(replace(BOTNET, public_institution=False, category="residential"), rules).verdict == "compromised"


def test_threshold_is_inclusive_and_ties_go_to_deliberate(rules: VerdictRules) -> None:
    edge = replace(QUIET, inbound_peers=10, downloads=(Download("script", "http://a/x.sh", 1100.0),))
    v = judge(edge, rules)  # C = 0.5 + 0.5 = 1.0 exactly: at the boundary, lowest confidence
    assert (v.verdict, v.compromise_score, v.confidence) == ("compromised", 1.0, 0.3)
    tie = replace(edge, agents=("PhoenixMiner/5.5c",), main_algorithm="ethash")  # D = 0.6 + 0.4
    v = judge(tie, rules)
    assert (v.verdict, v.compromise_score, v.deliberate_score) == ("institution_misuse", 1.0, 1.0)
    assert v.confidence == round(0.3 * 0.975, 3)


def test_confidence_formula_for_a_quiet_host(rules: VerdictRules) -> None:
    # m = |0 - max(1.0, 0)| = 1; base = 0.3 + 0.7 (1 - e^-1); times 0.5 + 0.5 * 0.95
    expected = round((0.3 + 0.7 * (1 - math.exp(-1))) * 0.975, 3)
    assert judge(QUIET, rules).confidence == expected == 0.724
    assert judge(replace(QUIET, attribution_confidence=0.0), rules).confidence == round(expected / 0.975 * 0.5, 3)


@pytest.mark.parametrize("attribution", [0.0, 0.3, 1.0, -4.0, 7.0, math.nan, math.inf])
@pytest.mark.parametrize("host", [a[1] for a in ARCHETYPES])
def test_confidence_bounds(rules: VerdictRules, host: HostFeatures, attribution: float) -> None:
    v = judge(replace(host, attribution_confidence=attribution), rules)
    assert 0.0 <= v.confidence <= 1.0
    assert 0.0 <= v.rules_confidence <= 1.0


def test_confidence_grows_with_evidence(rules: VerdictRules) -> None:
    weaker = judge(replace(BOTNET, shared_wallet_units=()), rules)
    assert weaker.verdict == "compromised"
    assert weaker.confidence < judge(BOTNET, rules).confidence


def test_verdict_as_dict_is_json(rules: VerdictRules) -> None:
    doc = judge(HIJACKED_WEB, rules).as_dict()
    back = json.loads(json.dumps(doc, allow_nan=False))
    assert back["verdict"] == "compromised"
    assert {e["signal"] for e in back["evidence"]} >= {"fetched_script", "fetched_binary", "inbound_server"}
    assert set(back["evidence"][0]) == {"signal", "weight", "detail", "side"}


def test_default_rules_and_judge_many(rules: VerdictRules) -> None:
    assert load_verdict_rules() is rules
    assert load_verdict_rules(RULES_FILE) is rules
    verdicts = judge_many([BOTNET, GPU_LAB])
    assert all(isinstance(v, Verdict) for v in verdicts)
    assert [v.verdict for v in verdicts] == ["compromised", "institution_misuse"]


def test_shipped_rules_document_every_signal(rules: VerdictRules) -> None:
    for name in SIGNAL_NAMES:
        rule = rules.signals[name]
        assert rule.why and rule.sources, name
    assert set(rules.signals["rig_hashrate"].thresholds) == {
        "sha256d", "scrypt", "ethash", "etchash", "kawpow", "equihash", "autolykos2"}
    assert all(t.source for t in rules.signals["rig_hashrate"].thresholds.values())
    weak = ("cpu_algorithm", "xmrig_agent", "disguised_port", "scanned_into")
    assert sum(rules.signals[n].weight for n in weak) < rules.decision.compromise_threshold


# ------------------------------------------------------------------------------- hostile text

HOSTILE = replace(
    BOTNET,
    unit="\u202eevil\x00unit" + "B" * 10_000,
    category="gov\x1b[31m",
    agents=("XMRig/6.0\r\nInjected: yes\x07" + "Z" * 100_000,),
    workers=tuple(f"rig\x1b[31m{i}\x00\n" + "A" * 1_000 for i in range(2_000)) + ("w" * 1_000_000,),
    wallets=("4\n\t" + "9" * 5000,),
    shared_wallet_units=tuple(f"unit\x00{i}" + "C" * 500 for i in range(10_000)),
    downloads=(Download("script", "http://x/\r\n" + "y" * 100_000, 1000.0),),
    pool_dns_names=("a.onion.to\x00" + "q" * 3000, "x" * 600 + ".onion.to", "c\x00d.onion.to"),
    pool_sni=("\x7f" * 500,),
    outbound_scan_targets=10**12, outbound_scan_ports=tuple(range(1, 5000)),
    inbound_ports=tuple(range(1, 5000)), farm_size=3,
)


def test_hostile_strings_are_short_and_printable(rules: VerdictRules) -> None:
    v = judge(HOSTILE, rules)
    assert v.verdict == "compromised"
    assert len(v.evidence) >= 8
    for e in v.evidence:
        assert 0 < len(e.detail) <= 240, e.signal
        assert e.detail.isprintable(), e.signal
    details = {e.signal: e.detail for e in v.evidence}
    assert details["named_workers"].startswith("named workers: rig?[31m0??AAAAAAAA")
    assert details["named_workers"].endswith("and 1,998 more")
    assert details["outbound_scan"].startswith(
        "sent SYNs to 1,000,000,000,000 hosts that never answered (ports 1, 2, 3, 4, 5 and 4,994 more)")
    # a match needs the name's end within the first 512 characters; NUL is shown as '?'
    assert details["known_bad_domain"].startswith("looked up 'c?d.onion.to', matching")
    assert "\u202e" not in details["attribution"]


def test_hostile_numbers_do_not_break_judging(rules: VerdictRules) -> None:
    odd = replace(QUIET, hashrate_hps=-1.0, sessions=-3, encrypted_sessions=-1, inbound_peers=-10,
                  scanned_by=True, farm_size=-2, first_seen=math.nan,
                  downloads=(Download("script", "http://a/x.sh", math.inf),))
    v = judge(odd, rules)
    assert v.verdict == "institution_misuse"
    assert [e.signal for e in v.evidence] == ["fetched_script", "attribution"]
    assert v.evidence[0].weight == 0.25  # outside the window: outside_value 0.5 x weight 0.5
    assert v.evidence[0].detail == "fetched http://a/x.sh (script)"


# ------------------------------------------------------------------------------- malformed rules


def _edited(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    path = tmp_path / "verdict.toml"
    text = RULES_FILE.read_text("utf-8")
    new = edit(text)
    assert new != text, "the edit did not change the file"
    path.write_text(new, "utf-8")
    return path


def _sub(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new, 1)


BAD_RULES: list[tuple[str, Callable[[str], str], str]] = [
    ("toml-syntax", _sub("compromise_threshold = 1.0", "compromise_threshold = "), r"verdict\.toml:\d+: invalid TOML"),
    ("unknown-signal", _sub("[compromise.scanned_into]", "[compromise.scanned_intoo]"),
     "unknown compromise signal 'scanned_intoo'"),
    ("missing-signal", lambda t: t.split("[deliberate.farm_same_account]")[0],
     r"\[deliberate.farm_same_account\] missing"),
    ("signal-on-wrong-side", _sub("[deliberate.named_workers]", "[compromise.named_workers]"),
     "unknown compromise signal 'named_workers'"),
    ("negative-weight", _sub("weight = 0.8", "weight = -1"), "'weight' must be >= 0"),
    ("text-weight", _sub("weight = 0.8", 'weight = "heavy"'), "'weight' must be a finite number"),
    ("nan-weight", _sub("weight = 0.8", "weight = nan"), "'weight' must be a finite number"),
    ("typo-key", _sub("min_units = 1", "min_unit = 1"), "unknown key 'min_unit'"),
    ("missing-key", _sub("min_units = 1", ""), "'min_units' is required"),
    ("bad-regex", _sub("'xmr-stak'", "'xmr-stak('"), "bad regular expression"),
    ("bad-port", _sub("5222, 8080", "5222, 80800"), "port numbers 1-65535"),
    ("bad-kind", _sub('kinds = ["script"]', 'kinds = ["shell"]'), "unknown download kind 'shell'"),
    ("bad-unit", _sub('unit = "Sol/s"', 'unit = "kSol/s"'), "'unit' must be \"H/s\" or \"Sol/s\""),
    ("zero-threshold", _sub("value = 1e12", "value = 0"), "'value' must be > 0"),
    ("schema", _sub("schema_version = 1", "schema_version = 2"), "schema_version must be 1"),
    ("override-low", _sub("model_override_probability = 0.8", "model_override_probability = 0.3"),
     "'model_override_probability' must be >= 0.5"),
    ("scale-zero", _sub("confidence_scale = 1.0", "confidence_scale = 0"), "'confidence_scale' must be > 0"),
    ("top-float", _sub("model_top_contributions = 3", "model_top_contributions = 3.5"), "must be an integer"),
    ("partial-over-one", _sub("secondary_value = 0.5", "secondary_value = 1.5"), "'secondary_value' must be >= 0 and <= 1"),
    ("empty-patterns", _sub("patterns = ['\\bxmrig\\b', 'xmr-stak', 'kdevtmpfsi', 'kinsing']", "patterns = []"),
     "'patterns' must be a non-empty list"),
    ("unknown-top-level", lambda t: "extra = 1\n" + t, "unknown key 'extra'"),
    ("decision-not-table", _sub("[decision]", "decision = 3\n[decisionx]"), "unknown key 'decisionx'"),
]


@pytest.mark.parametrize(("name", "edit", "message"), BAD_RULES, ids=[b[0] for b in BAD_RULES])
def test_malformed_rules_fail_in_one_line(tmp_path: Path, name: str, edit: Callable[[str], str], message: str) -> None:
    path = _edited(tmp_path, edit)
    with pytest.raises(RegistryError, match=message) as info:
        load_verdict_rules(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(str(path))


def test_rules_file_not_utf8_too_big_or_missing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"schema_version = 1\n\xff\xfe")
    with pytest.raises(RegistryError, match="not UTF-8"):
        load_verdict_rules(bad)
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (1024 * 1024) + b"\n")
    with pytest.raises(RegistryError, match="larger than"):
        load_verdict_rules(big)
    with pytest.raises(RegistryError, match="cannot read rules file"):
        load_verdict_rules(tmp_path / "absent.toml")


def test_copied_rules_load_and_agree(tmp_path: Path, rules: VerdictRules) -> None:
    copy = tmp_path / "verdict.toml"
    shutil.copy(RULES_FILE, copy)
    other = load_verdict_rules(copy)
    assert other is not rules
    assert judge(BOTNET, other) == judge(BOTNET, rules)
