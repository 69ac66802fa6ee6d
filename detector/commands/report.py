"""``minesweep report FINDINGS.json --out DIR [--lang en|zh]``: re-render the reports from saved
findings, with no capture needed.

Writes ``report.html`` (the self-contained audit report), ``iocs.csv``, ``sessions.csv`` and
``subnets.csv`` into DIR. :func:`write_outputs` is the same step for ``minesweep scan``, so both
commands write identical files from identical findings.

Public API: ``register(subparsers)``, ``run(args, stdout=None) -> int``,
``write_outputs(findings, out_dir, lang="en", first=()) -> list[Path]``,
``PageLater.start(findings, out_dir, lang, tokens=()) -> PageLater | None`` (report.html rendered
while the inputs' digests are still being computed; ``tokens``: their placeholders),
``write_report_html(findings, out_dir, lang) -> Path`` (Jinja2 imported only there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from detector.errors import UnreadableInputError
from detector.output import LANGS, forked
from detector.output.csvs import write_sessions_csv, write_subnets_csv
from detector.output.findings import read_findings
from detector.output.iocs import write_iocs_csv
from detector.output.staged import Staged

__all__ = ["PageLater", "register", "run", "write_outputs", "write_report_html"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="render report.html and CSV tables from a saved findings.json",
                       description="Re-render report.html (self-contained, opens offline), iocs.csv, sessions.csv "
                                   "and subnets.csv from a findings.json written by 'minesweep scan'.")
    p.add_argument("findings", type=Path, metavar="FINDINGS.json")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (created)")
    p.add_argument("--lang", choices=LANGS, default="en", help="report language: en or zh (default en)")
    p.add_argument("--quiet", action="store_true", help="do not list the files written")
    p.set_defaults(run=run)


def write_outputs(findings: dict[str, Any], out_dir: Path, lang: str = "en",
                  first: Sequence[Callable[[], Path]] = ()) -> list[Path]:
    """report.html, iocs.csv, sessions.csv and subnets.csv for ``findings`` in ``out_dir``; the
    writers in ``first`` (their paths come first in the list) run before the CSV files. report.html
    is written by a forked process meanwhile where that is safe (``detector.output.forked``)."""
    page = Path(out_dir) / "report.html"
    html = forked.start(write_report_html, findings, out_dir, lang, what=str(page), result=page)
    try:
        paths = [write() for write in first]
        paths += [write_iocs_csv(findings, out_dir), write_sessions_csv(findings, out_dir),
                  write_subnets_csv(findings, out_dir)]
    except BaseException:
        html.abandon()
        raise
    return [*paths[:len(first)], html.wait(), *paths[len(first):]]


def write_report_html(findings: dict[str, Any], out_dir: Path, lang: str) -> Path:
    """report.html. The renderer and Jinja2 are imported here, in the forked process when there is
    one: a scan that never imports them in its own process saves ~15 ms."""
    from detector.output.html import write_html

    return write_html(findings, out_dir, lang)


class PageLater:
    """report.html rendered in a forked process from findings whose inputs may still hold
    placeholder digests (``detector.scan.Digests``), while this process waits for the digests and
    writes the other files: rendering the page (~0.1 s on the benchmark capture) is no longer work
    left for after the last digest. The child renders at once and stages the page
    (``detector.output.staged``: written under a temporary name, where the placeholders ``tokens``
    lie noted), then reads what to do from a pipe: the {placeholder: digest} pairs, which it
    writes over the placeholders before renaming the page into place; or nothing (the pipe closed
    empty: a digest could not be computed, or this process failed), and it removes the staged
    page. ``finish`` then writes the page here from the settled findings."""

    def __init__(self, job: forked.Job, tell: int, findings: dict[str, Any], out_dir: Path, lang: str) -> None:
        self.job, self.tell = job, tell
        self.findings, self.out_dir, self.lang = findings, out_dir, lang

    @classmethod
    def start(cls, findings: dict[str, Any], out_dir: Path, lang: str, tokens: Sequence[str] = ()) -> PageLater | None:
        """The child begun, or None where it cannot be (no fork: render after settling instead).
        ``tokens``: the placeholders of the digests still pending (``Digests.tokens()``)."""
        if not forked.enabled():
            return None
        listen, tell = os.pipe()
        page = Path(out_dir) / "report.html"
        job = forked.start(_page_when_told, findings, lang, out_dir, listen, tell, tuple(tokens), what=str(page),
                           result=page)
        os.close(listen)
        if job.pid is None:  # no process to spare; job.wait() would block on the pipe here
            os.close(tell)
            return None
        return cls(job, tell, findings, out_dir, lang)

    def finish(self, tokens: dict[str, str] | None) -> Path:
        """Tell the child the digests (``Digests.settle()``'s result; {} when none was pending) and
        wait for it; with None, the child stands down and the page is rendered here, from the
        settled findings."""
        try:
            if tokens is not None:
                _write_all(self.tell, json.dumps(tokens).encode("ascii"))
        except BrokenPipeError:
            pass  # the child ended early: wait() raises what it reported
        finally:
            os.close(self.tell)
        path = self.job.wait()
        return path if tokens is not None else write_report_html(self.findings, self.out_dir, self.lang)

    def abandon(self) -> None:
        """This process is failing: the child writes nothing and is waited for."""
        os.close(self.tell)
        self.job.abandon()


def _page_when_told(findings: dict[str, Any], lang: str, out_dir: Path, listen: int, tell: int,
                    tokens: tuple[str, ...]) -> None:
    from detector.output.html import render_html

    os.close(tell)  # the parent's end: only its closing it ends what is read below
    page = Staged(Path(out_dir) / "report.html", render_html(findings, lang), tokens)
    try:
        chunks = []
        while chunk := os.read(listen, 65536):
            chunks.append(chunk)
        os.close(listen)
        if chunks:
            page.finish(json.loads(b"".join(chunks)))
        else:  # told nothing: no page
            page.discard()
    except BaseException:
        page.discard()
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    findings = read_findings(args.findings)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnreadableInputError(f"{args.out}: cannot create output directory ({exc.strerror})") from None
    try:
        paths = write_outputs(findings, args.out, args.lang)
    except OSError as exc:
        raise UnreadableInputError(f"{args.out}: cannot write the reports ({exc.strerror})") from None
    if not args.quiet:
        print(f"wrote {', '.join(str(p) for p in paths)}", file=stdout)
    return 0
