"""detector.scan's collector settings: what the scan changes it puts back."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from detector import scan

PCAPS = Path(__file__).resolve().parents[1] / "pcaps"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was(enabled: bool) -> None:
    thresholds = gc.get_threshold()
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        findings = scan.scan(sorted(PCAPS.glob("*.pcap"))[:1])
        assert findings["inputs"] and gc.isenabled() is enabled and gc.get_threshold() == thresholds
    finally:
        gc.enable() if was else gc.disable()


def test_no_collection_while_findings_are_built_and_a_callers_frozen_objects_stay_frozen() -> None:
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.freeze()
    frozen = gc.get_freeze_count()
    gc.callbacks.append(count)
    try:
        with scan._no_gc():
            assert not gc.isenabled()
            kept = [[i] for i in range(200_000)]  # would trigger young collections
            assert collections == []
        assert gc.isenabled() and len(kept) == 200_000
        assert gc.get_freeze_count() == frozen  # not unfrozen by the scan
    finally:
        gc.callbacks.remove(count)
        gc.unfreeze()


def test_what_was_kept_is_not_walked_by_young_collections_after() -> None:
    with scan._no_gc():
        kept = [[i] for i in range(200_000)]
    assert gc.get_freeze_count() == 0
    young = len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))
    assert young < 10_000 and len(kept) == 200_000  # in the oldest generation
