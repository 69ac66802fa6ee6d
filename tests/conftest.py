"""Shared test fixtures: where the shared corpus and the bundled samples live; forking writers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
PCAPS = REPO / "pcaps"


def corpus_cases() -> list[tuple[str, Path, dict]]:
    """(name, capture path, expected document) for every capture with ground truth."""
    cases = []
    for exp in sorted((CORPUS / "expected").glob("*.json")):
        name = exp.name[: -len(".json")]
        matches = [p for p in CORPUS.rglob("*") if p.is_file() and str(p.relative_to(CORPUS)).replace("/", "_") == name]
        if matches:
            cases.append((name, matches[0], json.loads(exp.read_text())))
    return cases


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"shared corpus not found at {CORPUS} (CI keeps it beside the checkout)")
    return CORPUS


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork even if an earlier test left a thread behind (Dask's IO loop lingers after its tests):
    the children in these tests only render a page or fail at once."""
    from detector.output import forked

    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    monkeypatch.delenv(forked.ENV, raising=False)
    monkeypatch.setattr(forked.threading, "active_count", lambda: 1)
