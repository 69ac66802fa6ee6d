"""detector.output.staged: a report written before its digests are known, finished in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from detector.output.staged import Staged

A, B = "a" * 64, "b" * 64
DA, DB = "0123456789abcdef" * 4, "fedcba9876543210" * 4


def test_finishing_gives_the_text_with_the_digests(tmp_path):
    # multi-byte text before and between the tokens: the places are byte offsets
    text = f"输入文件 {A} — «{B}» and again {A}\n汉字 {A[:16]}…\n"
    staged = Staged(tmp_path / "report.html", text, [A, B])
    assert not (tmp_path / "report.html").exists()
    assert (tmp_path / "report.html.tmp").read_text("utf-8") == text
    assert staged.finish({A: DA, B: DB}) == tmp_path / "report.html"
    assert (tmp_path / "report.html").read_text("utf-8") == text.replace(A, DA).replace(B, DB)
    assert os.listdir(tmp_path) == ["report.html"]


def test_a_text_showing_a_digest_s_beginning(tmp_path):
    text = f"| capture.pcap | `{A[:16]}…` | `{B[:16]}…` |\n"
    Staged(tmp_path / "report.md", text, [A, B], shown=16).finish({A: DA, B: DB})
    assert (tmp_path / "report.md").read_text("utf-8") == f"| capture.pcap | `{DA[:16]}…` | `{DB[:16]}…` |\n"


def test_nothing_pending_and_tokens_absent_from_the_text(tmp_path):
    Staged(tmp_path / "a.json", "{}\n", []).finish({})
    assert (tmp_path / "a.json").read_text() == "{}\n"
    Staged(tmp_path / "b.json", "no token here\n", [A]).finish({A: DA})
    assert (tmp_path / "b.json").read_text() == "no token here\n"


def test_discard_leaves_nothing(tmp_path):
    staged = Staged(tmp_path / "findings.json", f'"{A}"', [A])
    staged.discard()
    staged.discard()  # twice: nothing to remove
    assert os.listdir(tmp_path) == []


def test_a_digest_of_another_length_is_refused(tmp_path):
    staged = Staged(tmp_path / "findings.json", f'"{A}"', [A])
    with pytest.raises(ValueError, match="as long as"):
        staged.finish({A: "abc"})
    assert not (tmp_path / "findings.json").exists()


def test_a_placeholder_without_its_digest_is_refused(tmp_path):
    """A placeholder left in place would pass for a digest."""
    staged = Staged(tmp_path / "findings.json", f'"{A}" "{B}"', [A, B])
    with pytest.raises(ValueError, match="no digest for the placeholder"):
        staged.finish({A: DA})
    assert not (tmp_path / "findings.json").exists()


def test_a_write_that_fails_leaves_nothing(tmp_path, monkeypatch):
    """A full disk while staging: the part written is removed, the error raised."""
    real = Path.write_bytes

    def full(path, data):
        real(path, data[:10])  # a part reaches the file first
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space"):
        Staged(tmp_path / "findings.json", f'"{A}"' * 100, [A])
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []
