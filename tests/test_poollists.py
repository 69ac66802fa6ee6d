"""User pool lists: formats, sources kept, the allow-list applied, and their use in a scan."""

from __future__ import annotations

import pytest
from conftest import PCAPS

from detector.errors import RegistryError
from detector.poollists import intelligence, load_pool_list
from detector.scan import ScanOptions, scan


def test_formats_and_sources(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("# a comment\n! adblock comment\n\npool.alpha.example\n0.0.0.0 beta.example gamma.example\n"
                    "127.0.0.1 localhost\n||delta.example^\n*.epsilon.example\n192.0.2.1\nPOOL.ALPHA.EXAMPLE\n")
    pools = {p.domains[0]: p for p in load_pool_list(path)}
    assert set(pools) == {"pool.alpha.example", "beta.example", "gamma.example", "delta.example", "epsilon.example"}
    assert pools["beta.example"].sources == (f"{path}:5",)
    assert pools["delta.example"].operator == "(user pool list)"


@pytest.mark.parametrize("content, error", [
    (b"", "no domain names found"), (b"# only comments\n", "no domain names found"),
    (b"\x00\x01binary", "not a text pool list"), (b"a" * 5000 + b"\n", "line longer than"),
])
def test_bad_lists_name_file_and_line(tmp_path, content, error):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(RegistryError, match=error) as info:
        load_pool_list(path)
    assert str(path) in str(info.value)


def test_allow_list_wins_over_a_user_list(tmp_path):
    path = tmp_path / "coinblocker-like.txt"
    path.write_text("0.0.0.0 api.binance.com\n0.0.0.0 pool.alpha.example\n")
    intel = intelligence([path])
    assert intel.pool_for_host("api.binance.com") is None  # an exchange, allow-listed
    assert intel.pool_for_host("eu.pool.alpha.example").domains == ("pool.alpha.example",)


def test_a_user_list_names_a_pool_the_bundled_list_lacks(tmp_path):
    capture = PCAPS / "stratum-btc-ltc-vlan.pcap"
    plain = {s["server"]: s for s in scan([capture])["sessions"]}
    assert plain["203.0.113.10"]["pool_operator"] is not None  # btc.f2pool.com is in rules/pools.toml
    path = tmp_path / "mine.txt"
    path.write_text("f2pool.com\n")
    sessions = {s["server"]: s for s in scan([capture], ScanOptions(pool_lists=[path]))["sessions"]}
    assert sessions["203.0.113.10"]["pool_operator"] == plain["203.0.113.10"]["pool_operator"]  # bundled wins
