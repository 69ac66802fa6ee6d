"""Loading and validating rules/*.toml (detector.rules)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from detector.errors import InputError, RegistryError
from detector.rules import RULES_ENV, Rules, default_rules_dir, load_rules

REPO = Path(__file__).resolve().parents[1]
RULE_FILES = ("algorithms.toml", "hardware.toml", "pools.toml")


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    for name in RULE_FILES:
        shutil.copy(REPO / "rules" / name, tmp_path / name)
    return tmp_path


def _edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text("utf-8")
    assert old in text, f"fixture text {old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), "utf-8")


# ------------------------------------------------------------------------------ the shipped data

def test_default_directory_is_the_checkout(rules: Rules) -> None:
    assert rules.directory == REPO / "rules"
    assert default_rules_dir() == REPO / "rules"


def test_load_is_cached(rules: Rules) -> None:
    assert load_rules() is rules
    assert load_rules(REPO / "rules") is rules
    assert load_rules(str(REPO / "rules" / "." )) is rules


def test_required_algorithms_and_coins(rules: Rules) -> None:
    assert {"sha256d", "scrypt", "ethash", "etchash", "kawpow", "equihash", "randomx", "cryptonight",
            "autolykos2", "kheavyhash"} <= set(rules.algorithms)
    assert dict(rules.coins) == {
        "BTC": "sha256d", "BCH": "sha256d", "BSV": "sha256d", "LTC": "scrypt", "DOGE": "scrypt",
        "ETH": "ethash", "ETHW": "ethash", "ETC": "etchash", "RVN": "kawpow", "ZEC": "equihash",
        "XMR": "randomx", "ERG": "autolykos2", "KAS": "kheavyhash",
    }
    assert rules.algorithms["scrypt"].coins == ("LTC", "DOGE")
    assert rules.coin_info["ETH"].note is not None and "2022-09-15" in rules.coin_info["ETH"].note


@pytest.mark.parametrize(("name", "work", "unit", "encoding"), [
    ("sha256d", 2.0 ** 32, "H/s", "be256"),
    ("scrypt", 2.0 ** 16, "H/s", "be256"),
    ("ethash", 2.0 ** 32, "H/s", "be256"),
    ("equihash", 8192.0, "Sol/s", "be256"),
    ("randomx", 1.0, "H/s", "cryptonote"),
    ("kawpow", None, "H/s", "be256"),
    ("autolykos2", None, "H/s", "be256"),
])
def test_algorithm_conventions(rules: Rules, name: str, work: float | None, unit: str, encoding: str) -> None:
    algo = rules.algorithms[name]
    assert (algo.work_per_difficulty, algo.unit, algo.target_encoding) == (work, unit, encoding)
    assert algo.sources and all(s.strip() for s in algo.sources)


@pytest.mark.parametrize(("alias", "name"), [
    ("rx/0", "randomx"), ("RandomX", "randomx"), ("rx/wow", "randomx"), ("cn/r", "cryptonight"),
    ("cn-pico/tlo", "cryptonight-pico"), ("daggerhashimoto", "ethash"), ("ETCHASH", "etchash"),
    ("kawpow", "kawpow"), ("autolykos", "autolykos2"), ("sha256", "sha256d"), (" scrypt ", "scrypt"),
])
def test_algorithm_aliases(rules: Rules, alias: str, name: str) -> None:
    algo = rules.algorithm(alias)
    assert algo is not None and algo.name == name


@pytest.mark.parametrize("alias", ["", "x11", "sha512", None, 7])
def test_unknown_algorithm_alias(rules: Rules, alias: object) -> None:
    assert rules.algorithm(alias) is None  # type: ignore[arg-type]


def test_equihash_diff1_is_pow_limit(rules: Rules) -> None:
    assert rules.algorithms["equihash"].diff1_target == (1 << 243) - 1
    assert rules.algorithms["sha256d"].diff1_target == 0xFFFF << 208


@pytest.mark.parametrize("algorithm", ["sha256d", "scrypt", "ethash", "etchash", "kawpow", "equihash",
                                       "randomx", "autolykos2"])
def test_hardware_profiles(rules: Rules, algorithm: str) -> None:
    profile = rules.hardware[algorithm]
    assert profile.low.joules_per_unit <= profile.best.joules_per_unit <= profile.high.joules_per_unit
    for point in (profile.low, profile.best, profile.high):
        assert point.model.strip() and point.source.strip() and point.value > 0


@pytest.mark.parametrize(("algorithm", "bound", "joules"), [
    ("sha256d", "low", 17.5e-12), ("sha256d", "high", 98e-12),   # S21, S9
    ("scrypt", "best", 0.36e-6),                                  # L7
    ("ethash", "best", 2.03e-6),                                  # RTX 3070
    ("equihash", "low", 3.6e-3),                                  # Z15, per Sol
    ("randomx", "high", 107.8e-3),                                # i3-3220, per hash
])
def test_efficiency_unit_conversion(rules: Rules, algorithm: str, bound: str, joules: float) -> None:
    assert getattr(rules.hardware[algorithm], bound).joules_per_unit == pytest.approx(joules, rel=1e-12)


def test_default_pue(rules: Rules) -> None:
    assert rules.default_pue == 1.10
    assert "CBECI" in rules.pue_source


def test_every_pool_is_sourced(rules: Rules) -> None:
    assert len(rules.pools) >= 30
    for pool in rules.pools:
        assert pool.sources and pool.domains and pool.name and pool.operator


@pytest.mark.parametrize("name", [
    "F2Pool", "AntPool", "Poolin", "ViaBTC", "BTC.com pool", "Binance Pool", "Huobi Pool", "SparkPool",
    "Ethermine", "Flypool", "Nanopool", "2Miners", "SupportXMR", "C3Pool", "MoneroOcean", "HeroMiners",
    "HashVault", "MineXMR", "NiceHash", "unMineable", "Braiins Pool (formerly Slush Pool)", "BitMinter",
    "MinerGate", "Coinhive", "AuthedMine", "Crypto-Loot", "JSEcoin", "CoinImp",
])
def test_required_pools_present(rules: Rules, name: str) -> None:
    assert any(p.name == name for p in rules.pools)


def test_browser_flags(rules: Rules) -> None:
    browser = {p.name for p in rules.pools if p.browser}
    assert {"Coinhive", "AuthedMine", "Crypto-Loot", "JSEcoin", "CoinImp", "WebMinePool"} <= browser
    assert "Ethermine" not in browser and "SupportXMR" not in browser


# ------------------------------------------------------------------------------ pool_for_host

@pytest.mark.parametrize(("host", "pool"), [
    # names seen in the shared corpus captures (DNS, TLS SNI, HTTP Host)
    ("la01.supportxmr.com", "SupportXMR"),
    ("www.supportxmr.com", "SupportXMR"),
    ("coinhive.com", "Coinhive"),
    ("ws027.authedmine.com", "AuthedMine"),
    ("authedmine.com", "AuthedMine"),
    ("us1.bitminter.com", "BitMinter"),
    ("us1.bitminter.com:3333", "BitMinter"),
    ("bitminter.com", "BitMinter"),
    # published stratum hosts
    ("eu1.ethermine.org", "Ethermine"),
    ("asia1-eth.ethermine.org", "Ethermine"),
    ("eth.f2pool.com", "F2Pool"),
    ("daggerhashimoto.usa.nicehash.com", "NiceHash"),
    ("xmr.pool.minergate.com", "MinerGate"),
    ("ethash.poolbinance.com", "Binance Pool"),
    ("en.huobipool.com", "Huobi Pool"),
    ("us.ss.btc.com", "BTC.com pool"),
    ("solo.stratum.braiins.com", "Braiins Pool (formerly Slush Pool)"),
    ("us-east.stratum.slushpool.com", "Braiins Pool (formerly Slush Pool)"),
    ("rx.unmineable.com", "unMineable"),
    ("de.zano.herominers.com", "HeroMiners"),
    # case and the root dot do not matter
    ("ETH-EU1.NANOPOOL.ORG.", "Nanopool"),
    ("  Mine.C3Pool.com  ", "C3Pool"),
])
def test_pool_for_host(rules: Rules, host: str, pool: str) -> None:
    found = rules.pool_for_host(host)
    assert found is not None and found.name == pool


@pytest.mark.parametrize("host", [
    "notethermine.org",          # suffix, but not on a label boundary
    "ethermine.org.evil.com",    # pool name inside another domain
    "peer1.eoshuobipool.com",    # an EOS API node, not Huobi Pool
    "btc.com", "www.btc.com",    # block explorer
    "braiins.com", "binance.com", "www.binance.com",
    "org", "com", "", ".", "..", "192.168.1.1", "2001:db8::1",
    "éthermine.org", "ethermine.org\x00", "*.authedmine.com", "eu1.ethermine.org:4444:5",
    "a" * 300, "ethermine.org/", None, 123, b"ethermine.org",
])
def test_pool_for_host_non_matches(rules: Rules, host: object) -> None:
    assert rules.pool_for_host(host) is None


def test_pool_for_host_is_fast_on_hostile_input(rules: Rules) -> None:
    started = time.perf_counter()
    for _ in range(1000):
        rules.pool_for_host("a." * 120 + "ethermine.org")
    assert rules.pool_for_host("x" * 10_000_000) is None
    assert time.perf_counter() - started < 0.5


# ------------------------------------------------------------------------------ malformed files

@pytest.mark.parametrize(("name", "old", "new", "expected"), [
    ("algorithms.toml", 'unit = "Sol/s"', 'unit = "Sol/s', "algorithms.toml:"),  # TOML syntax -> line
    ("algorithms.toml", '[coins.KAS]\nname = "Kaspa"\nalgorithm = "kheavyhash"',
     '[coins.KAS]\nname = "Kaspa"\nalgorithm = "kheavyhashh"', "[coins.KAS] unknown algorithm 'kheavyhashh'"),
    ("algorithms.toml", '[coins.BTC]', '[coins.btc]', "[coins.btc] coin ticker"),
    ("algorithms.toml", 'unit = "Sol/s"', 'unit = "S/s"', "[algorithms.equihash] 'unit'"),
    ("algorithms.toml", "work_per_difficulty = 65536", "work_per_difficulty = -65536",
     "[algorithms.scrypt] 'work_per_difficulty' must be a positive"),
    ("algorithms.toml", "work_per_difficulty = 65536", 'work_per_difficulty = "65536"',
     "[algorithms.scrypt] 'work_per_difficulty' must be a number"),
    ("algorithms.toml", 'aliases = ["scrypt"]', 'aliases = ["scrypt", "rx/0"]', "alias 'rx/0' is already used"),
    ("algorithms.toml", 'target_encoding = "cryptonote"', 'target_encoding = "le32"', "'target_encoding'"),
    ("algorithms.toml", 'diff1_target = "0x0007', 'diff1_target = "0xg007', "'diff1_target'"),
    ("algorithms.toml", 'sources = ["xmrig/xmrig src/base/net/stratum/Job.cpp (commit 0ce9664)"]',
     "sources = []", "'sources' must be a non-empty list"),
    ("hardware.toml", "value = 98.0", "value = 9.0", "[hardware.sha256d] bounds must satisfy low <= best <= high"),
    ("hardware.toml", 'unit = "J/kSol"', 'unit = "J/TH"', "[hardware.equihash] unit J/TH does not fit"),
    ("hardware.toml", 'unit = "J/kH"', 'unit = "J/kiloH"', "[hardware.randomx] 'unit' must be one of"),
    ("hardware.toml", "[hardware.kawpow]\n", "[hardware.progpow]\n", "[hardware.progpow] unknown algorithm"),
    ("hardware.toml", 'model = "Bitmain Antminer S9 (13.5 TH/s, 1323 W)"', 'model = ""',
     "[hardware.sha256d.high] 'model' must be a non-empty string"),
    ("hardware.toml", "default = 1.10", "default = 0.9", "[pue] 'default' PUE must be between"),
    ("hardware.toml", "value = 17.5", "value = nan", "[hardware.sha256d.low] 'value' must be a positive finite"),
    ("pools.toml", 'domains = ["ethpool.org"]', 'domains = ["ethermine.org"]',
     "domain 'ethermine.org' is already listed for 'Ethermine'"),
    ("pools.toml", 'domains = ["ethpool.org"]', 'domains = ["EthPool.org"]', "invalid domain suffix 'EthPool.org'"),
    ("pools.toml", 'domains = ["ethpool.org"]', 'domains = ["ethpool"]', "invalid domain suffix 'ethpool'"),
    ("pools.toml", "ports = [1800]\nsources = [\"Antminer", "ports = [70000]\nsources = [\"Antminer",
     "pool #5 'BTC.com pool'] 'ports'"),
    ("pools.toml", "browser = true\nsources = [\"hoshsadiq/adblock-nocoin-list hosts.txt (commit 4d043c6): crypto-loot",
     "browser = \"yes\"\nsources = [\"hoshsadiq/adblock-nocoin-list hosts.txt (commit 4d043c6): crypto-loot",
     "'Crypto-Loot'] 'browser' must be true or false"),
    ("pools.toml", 'coins = ["XMR", "DERO"]', 'coins = ["xmr"]', "coin 'xmr' must be an upper-case ticker"),
])
def test_malformed_rules_name_file_and_key(rules_copy: Path, name: str, old: str, new: str, expected: str) -> None:
    _edit(rules_copy, name, old, new)
    with pytest.raises(RegistryError) as info:
        load_rules(rules_copy)
    message = str(info.value)
    assert str(rules_copy / name) in message
    assert expected in message
    assert "\n" not in message


def test_toml_syntax_error_names_the_line(rules_copy: Path) -> None:
    text = (rules_copy / "pools.toml").read_text("utf-8").splitlines()
    line = next(i for i, t in enumerate(text, 1) if t.startswith('name = "Ethermine"'))
    _edit(rules_copy, "pools.toml", 'name = "Ethermine"', 'name = "Ethermine')
    with pytest.raises(RegistryError, match=rf"pools\.toml:{line}: invalid TOML"):
        load_rules(rules_copy)


def test_missing_file(rules_copy: Path) -> None:
    (rules_copy / "hardware.toml").unlink()
    with pytest.raises(RegistryError, match=r"hardware\.toml: cannot read rules file"):
        load_rules(rules_copy)


def test_not_utf8(rules_copy: Path) -> None:
    (rules_copy / "pools.toml").write_bytes(b"[[pool]]\nname = \"\xff\xfe\"\n")
    with pytest.raises(RegistryError, match=r"pools\.toml: not UTF-8"):
        load_rules(rules_copy)


def test_oversized_file_is_refused_quickly(rules_copy: Path) -> None:
    (rules_copy / "algorithms.toml").write_bytes(b"#" * (5 * 1024 * 1024))
    started = time.perf_counter()
    with pytest.raises(RegistryError, match="larger than"):
        load_rules(rules_copy)
    assert time.perf_counter() - started < 0.5


def test_empty_pool_list(rules_copy: Path) -> None:
    (rules_copy / "pools.toml").write_text("# nothing\n", "utf-8")
    with pytest.raises(RegistryError, match=r"pools\.toml: \[\[pool\]\] must be a non-empty array"):
        load_rules(rules_copy)


def test_registry_error_is_an_input_error() -> None:
    assert issubclass(RegistryError, InputError)


def test_environment_override(rules_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _edit(rules_copy, "hardware.toml", "default = 1.10", "default = 1.25")
    monkeypatch.setenv(RULES_ENV, str(rules_copy))
    assert default_rules_dir() == rules_copy
    assert load_rules().default_pue == 1.25
    monkeypatch.setenv(RULES_ENV, str(rules_copy / "absent"))
    assert default_rules_dir() == REPO / "rules"  # falls back to the checkout
