"""The inputs' SHA-256 digests settled after the findings are built: placeholders meanwhile
(``detector.scan.Digests``), report.html rendered from them in a forked process
(``detector.commands.report.PageLater``) — and the same eight files as a scan that waits for the
digests first, when every digest is computed and when one is not."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import PCAPS

from detector import cli, prehash
from detector.capture.fast import available as fast_available
from detector.commands import report
from detector.commands import scan as scan_command
from detector.output import forked
from detector.output.findings import dumps
from detector.output.markdown import SHA_SHOWN, render
from detector.output.staged import Staged
from detector.scan import ScanOptions, scan_digests_later

pytestmark = pytest.mark.skipif(not fast_available(), reason="the compiled kernel is not built")

SAMPLE = PCAPS / "campus.pcapng"
NOT_COMPUTED = "no SHA-256: the file changed or could not be read while it was hashed"


def _no_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hash fails, as when the file changes while it is hashed."""
    monkeypatch.setattr(prehash.Pending, "digest", lambda self: None)


def _settled_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scans settle their digests before anything is written: no placeholder, nothing staged."""
    real_later = scan_command.scan_digests_later

    def settled_first(*args: Any, **kwargs: Any) -> Any:
        findings, digests = real_later(*args, **kwargs)
        digests.settle()
        return findings, digests

    monkeypatch.setattr(scan_command, "scan_digests_later", settled_first)


def _scan(out: Path, monkeypatch: pytest.MonkeyPatch, fork: bool) -> dict[str, str]:
    """``minesweep scan SAMPLE --out out``; the files written, the volatile parts made equal.
    Without ``fork`` the digests are also settled first: the files rendered the plain way."""
    monkeypatch.setenv(forked.ENV, "1" if fork else "0")
    with monkeypatch.context() as plain:
        if not fork:
            _settled_first(plain)
        assert cli.main(["scan", str(SAMPLE), "--out", str(out), "--quiet"]) == 0
    files = {p.name: p.read_text("utf-8") for p in sorted(out.iterdir())}
    stamp = re.search(r'"generated_at": "([^"]+)"', files["findings.json"])
    assert stamp is not None
    return {name: text.replace(str(out), "OUT").replace(stamp[1], "STAMP") for name, text in files.items()}


def test_placeholders_until_settled() -> None:
    findings, digests = scan_digests_later([SAMPLE], ScanOptions())
    (record,) = findings["inputs"]
    token = record["sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", token) and len(digests.pending) == 1
    real = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert token != real
    assert digests.settle() == {token: real}
    assert record["sha256"] == real and NOT_COMPUTED not in record["warnings"]
    assert digests.pending == [] and digests.settle() == {}  # settled once


def test_a_digest_not_computed_leaves_a_warning_and_no_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_digest(monkeypatch)
    findings, digests = scan_digests_later([SAMPLE], ScanOptions())
    assert digests.settle() is None
    (record,) = findings["inputs"]
    assert record["sha256"] == "" and record["warnings"][-1] == NOT_COMPUTED


def test_texts_staged_meanwhile_become_the_texts_rendered_after(tmp_path: Path) -> None:
    """findings.json and report.md are rendered with the placeholders while the digest is
    computed and staged; finished with the digests, they are the texts rendered from the settled
    findings (report.md shows a digest's first SHA_SHOWN digits)."""
    findings, digests = scan_digests_later([SAMPLE], ScanOptions())
    (record,) = findings["inputs"]
    token = record["sha256"]
    assert digests.tokens() == [token]
    text, notes = dumps(findings), render(findings)
    assert token in text and f"`{token[:SHA_SHOWN]}…`" in notes
    staged = [Staged(tmp_path / "findings.json", text, [token]), Staged(tmp_path / "report.md", notes, [token], SHA_SHOWN)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json.tmp", "report.md.tmp"]
    tokens = digests.settle()
    assert tokens is not None and digests.tokens() == []
    for file in staged:
        file.finish(tokens)
    real = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert (tmp_path / "findings.json").read_text("utf-8") == dumps(findings) and real in dumps(findings)
    assert (tmp_path / "report.md").read_text("utf-8") == render(findings)
    assert f"`{real[:SHA_SHOWN]}…`" in render(findings) and token[:SHA_SHOWN] not in render(findings)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.json", "report.md"]


@pytest.mark.parametrize("pending", [True, False], ids=["digest-pending", "none-pending"])
def test_the_page_is_forked_when_only_the_digest_is_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          forks: None, pending: bool) -> None:
    """While a digest is pending, report.html is forked once findings.json and report.md are
    rendered (this process then only waits: the page takes its core, not the hash's); with none
    pending, first."""
    order: list[str] = []
    real_start, real_render = report.PageLater.start, scan_command.render

    def start(*args: Any) -> Any:
        order.append("page")
        return real_start(*args)

    def render_md(findings: dict[str, Any]) -> str:
        order.append("report.md")
        return real_render(findings)

    def write_md(findings: dict[str, Any], out: Path) -> Path:
        order.append("report.md")
        return real_write(findings, out)

    real_write = scan_command.write_markdown
    monkeypatch.setattr(report.PageLater, "start", start)
    monkeypatch.setattr(scan_command, "render", render_md)
    monkeypatch.setattr(scan_command, "write_markdown", write_md)
    if not pending:  # the digests settled before the files are written
        _settled_first(monkeypatch)
    out = tmp_path / "out"
    assert scan_command.run(_args(out)) == 0
    assert order == (["report.md", "page"] if pending else ["page", "report.md"])
    real = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    assert real in (out / "report.html").read_text("utf-8") and real in (out / "findings.json").read_text("utf-8")


@pytest.mark.parametrize("computed", [True, False], ids=["digest", "no-digest"])
def test_the_same_files_as_waiting_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: None,
                                         computed: bool) -> None:
    """Forked (page rendered with placeholders, then told the digests or told to stand down) and
    not (digests settled first): the same eight files, the hash or its absence in each."""
    if not computed:
        _no_digest(monkeypatch)
    pages: list[Any] = []
    real_start = report.PageLater.start

    def spy(*args: Any) -> Any:
        pages.append(real_start(*args))
        return pages[-1]

    monkeypatch.setattr(report.PageLater, "start", spy)
    later = _scan(tmp_path / "later", monkeypatch, fork=True)
    assert pages and pages[-1] is not None  # the page was rendered while the digest was pending
    first = _scan(tmp_path / "first", monkeypatch, fork=False)
    assert pages[-1] is None  # no fork: no page rendered ahead
    assert later == first and len(later) == 8
    real = hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    for name in ("findings.json", "report.html"):
        assert (real in later[name]) == computed
    assert (NOT_COMPUTED in later["report.html"]) == (not computed)


def test_a_failure_here_leaves_no_page_and_reaps_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           forks: None) -> None:
    """findings.json cannot be written: the error is raised, the child (told nothing) writes no
    report.html and is waited for, and no staged file is left behind."""
    children: list[int] = []
    real_start = report.PageLater.start

    def spy(*args: Any) -> Any:
        page = real_start(*args)
        children.append(page.job.pid)
        return page

    class Full(scan_command.Staged):  # type: ignore[name-defined,misc]
        def finish(self, digests: Any) -> Path:
            if self.path.name == "findings.json":
                raise OSError(28, "No space left on device")
            return super().finish(digests)

    monkeypatch.setattr(report.PageLater, "start", spy)
    monkeypatch.setattr(scan_command, "Staged", Full)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="No space"):
        scan_command.run(_args(out))
    with pytest.raises(ChildProcessError):
        os.waitpid(children[0], os.WNOHANG)  # reaped already
    assert (out / "hosts.csv").is_file()  # written while the digest was awaited
    assert not [p.name for p in out.iterdir() if p.name.startswith(("findings", "report"))]


def test_a_failing_page_is_raised_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: None) -> None:
    """The child cannot render: its exception is raised here once the other files are written."""
    import detector.output.html as html

    def broken(*_: Any) -> str:
        raise ValueError("template broke")

    monkeypatch.setattr(html, "render_html", broken)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="template broke"):
        scan_command.run(_args(out))
    assert (out / "findings.json").is_file() and not (out / "report.html").exists()


def _args(out: Path) -> argparse.Namespace:
    parser = cli.build_parser(["scan"])
    args = parser.parse_args(["scan", str(SAMPLE), "--out", str(out), "--quiet"])
    args.argv = ["minesweep", "scan", str(SAMPLE)]
    return args
