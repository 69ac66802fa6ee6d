"""``minesweep scan CAPTURE_OR_DIR... --out DIR``: captures in, findings and reports out."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from detector import prehash
from detector.argtypes import add_findings_options
from detector.capture.fast import available as fast_available
from detector.commands.report import PageLater, write_report_html
from detector.errors import InputError, UnreadableInputError
from detector.output import LANGS
from detector.output.csvs import write_sessions_csv, write_subnets_csv
from detector.output.findings import dumps, write_findings
from detector.output.fmt import kwh, rate
from detector.output.iocs import write_iocs_csv
from detector.output.markdown import SHA_SHOWN, render, write_markdown
from detector.output.staged import Staged
from detector.output.tables import write_hosts_csv, write_units_csv
from detector.scan import ENGINES, Digests, ScanOptions, expand_inputs, scan_digests_later

if TYPE_CHECKING:
    from detector.parallel import FileResult, LostFile, ScanOutcome

# detector.parallel (engines, --watch) is imported where several files or --watch need it: a scan
# of one file does without it (~4 ms of the command's start)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="scan packet captures for mining",
                       description="Scan pcap/pcapng captures (plain or gzip, files or directories) for "
                                   "cryptocurrency mining and write findings.json, report.md and hosts.csv.")
    p.add_argument("inputs", nargs="*", metavar="CAPTURE_OR_DIR", help="captures or directories (none with --watch)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (created)")
    add_findings_options(p)
    p.add_argument("--pool-list", action="append", type=Path, default=[], metavar="FILE",
                   help="more pool domains: a plain list, a hosts file or ||name^ lines, e.g. CoinBlockerLists "
                        "(repeatable; the allow-list of exchanges and wallets still applies)")
    p.add_argument("--assume-hashrate", action="append", type=_assumption, default=[], metavar="ALG=RATE",
                   help="hashrate to assume for an encrypted session mining ALG (e.g. randomx=5k, ethash=100M), "
                        "labelled as assumed everywhere; default: not observable")
    p.add_argument("--engine", choices=(*ENGINES, "dask"), default="fast",
                   help="fast: compiled capture kernel (default); pure: every packet through Python (slower, same "
                        "findings); dask: one file per task on a Dask cluster (needs --scheduler)")
    scale = p.add_argument_group("many files", "scan files in parallel, on a cluster, or as a ring buffer fills "
                                 "(docs/scaling.md); the findings are those of one serial scan")
    scale.add_argument("--jobs", type=_count, default=None, metavar="N",
                       help="worker processes, one file each (default: the usable cores; 1: this process only)")
    scale.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler for --engine dask, e.g. tcp://10.0.0.5:8786; "
                       "the workers must read the captures at the same path")
    scale.add_argument("--watch", type=Path, metavar="DIR",
                       help="scan the captures a ring buffer (dumpcap -b) writes into DIR as each is closed, rewriting "
                            "the outputs after each file, until Ctrl-C or SIGTERM")
    scale.add_argument("--settle", type=_seconds, default=30.0, metavar="SECONDS",
                       help="with --watch: the newest file counts as closed once it has not grown for this long (default 30)")
    scale.add_argument("--watch-max-files", type=_count, default=None, metavar="N", help="with --watch: stop after N files")
    p.add_argument("--lang", choices=LANGS, default="en", help="language of report.html (default en)")
    p.add_argument("--quiet", action="store_true", help="no progress and no summary table")
    p.set_defaults(run=run)


_SI_SUFFIX = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def _assumption(text: str) -> tuple[str, float]:
    algorithm, sep, rate = text.partition("=")
    rate = rate.strip().removesuffix("H/s").removesuffix("Sol/s").strip()
    suffix = rate[-1:] if rate[-1:] in _SI_SUFFIX else ""
    try:
        value = float(rate[: len(rate) - len(suffix)]) * _SI_SUFFIX[suffix]
    except ValueError:
        value = -1.0
    if not sep or not algorithm.strip() or not 0 < value < 1e21:
        raise argparse.ArgumentTypeError("expected ALGORITHM=RATE, e.g. randomx=5k or sha256d=100T")
    return algorithm.strip().lower(), value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError("must be 0..86400")
    return value


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnreadableInputError(f"{args.out}: cannot create output directory ({exc.strerror})") from None
    _check_scale(args)
    progress = Progress(stderr) if not args.quiet and stderr.isatty() and args.watch is None else None
    options = ScanOptions(subnet_v4=args.subnet_v4, subnet_v6=args.subnet_v6, pue=args.pue,
                          registries=args.registry, asn_databases=args.asn_db, public_categories=args.public, model=args.model, pool_lists=args.pool_list, engine="pure" if args.engine == "dask" else args.engine, assumed_hashrates=dict(args.assume_hashrate),
                          command=args.argv, progress=progress)
    if args.watch is not None:
        prehash.discard()
        return _watch(args, options, stdout, stderr)
    files = expand_inputs(args.inputs)
    jobs = 1  # one file: this process (the worker count matters only to several files or dask)
    if len(files) > 1 or args.engine == "dask":
        from detector import parallel

        files = parallel.order_files(files)  # first timestamp: a rotated capture in the order it was written
        jobs = args.jobs or parallel.default_jobs()
    code = 0
    if args.engine == "dask" or (jobs > 1 and len(files) > 1) or args.engine != "fast" or not fast_available():
        prehash.discard()  # only the fast path in this process reads the hashes begun ahead
    if args.engine == "dask" or (jobs > 1 and len(files) > 1):
        from detector.parallel import run_jobs

        outcome = run_jobs(files, options, jobs=jobs, engine=_engine(args, jobs) if args.engine == "dask" else None)
        _tell_outcome(outcome, len(files), args.quiet, stderr)
        findings, code = outcome.findings, outcome.exit_code
        digests = None
    else:
        findings, digests = scan_digests_later(files, options)
        prehash.discard()  # begun for a file that was not read as hashed (e.g. replaced meanwhile)
    if progress is not None:
        progress.done()
    _write(findings, args, digests)
    if not args.quiet:
        print_summary(findings, stdout)
        print(f"wrote {args.out / 'findings.json'}, report.md, report.html, hosts.csv, units.csv, sessions.csv,"
              " subnets.csv, iocs.csv", file=stdout)
    return code


def _write(findings: dict, args: argparse.Namespace, digests: Digests | None = None) -> None:
    """The eight files. report.html is rendered meanwhile in a forked process (``PageLater``), even
    while the inputs' digests are still being computed; the files that do not show the inputs are
    written first. While a digest is pending, findings.json and report.md are rendered with its
    placeholder and staged (``Staged``: written under a temporary name, the placeholders
    overwritten in place once the digests are settled); otherwise they are written at once. Where
    there is no fork, the page is rendered here, last. The files are the same either way.

    While a digest is pending, the page is forked only when this process has nothing left but to
    wait for it: the hash then keeps a core of its own, and the page takes the one this process
    leaves idle (rendered sooner, the page took turns with the hash on one core while this process
    wrote the other files). With no digest pending, the page is forked first."""
    out = args.out
    pending = digests.tokens() if digests is not None else []
    page = None if pending else PageLater.start(findings, out, args.lang)
    staged: list[Staged] = []
    try:
        for write in (write_hosts_csv, write_units_csv, write_iocs_csv, write_sessions_csv, write_subnets_csv):
            write(findings, out)
        if pending:
            staged.append(Staged(out / "findings.json", dumps(findings), pending))
            staged.append(Staged(out / "report.md", render(findings), pending, SHA_SHOWN))
            page = PageLater.start(findings, out, args.lang, pending)
        tokens = digests.settle() if digests is not None else {}
        if staged and tokens is not None:
            for file in staged:
                file.finish(tokens)
        else:  # nothing was pending, or a digest is missing: the inputs gained a warning
            for file in staged:
                file.discard()
            write_findings(findings, out)
            write_markdown(findings, out)
    except BaseException:
        for file in staged:
            file.discard()
        if page is not None:
            page.abandon()
        raise
    if page is not None:
        page.finish(tokens)
    else:
        write_report_html(findings, out, args.lang)


def _check_scale(args: argparse.Namespace) -> None:
    if args.engine == "dask" and not args.scheduler:
        raise InputError("--engine dask needs --scheduler ADDRESS (the Dask scheduler, e.g. tcp://10.0.0.5:8786)")
    if args.scheduler and args.engine != "dask":
        raise InputError("--scheduler is for --engine dask")
    if args.watch is None and not args.inputs:
        raise InputError("nothing to scan: give CAPTURE_OR_DIR arguments, or --watch DIR")
    if args.watch is not None and args.inputs:
        raise InputError("--watch DIR takes no CAPTURE_OR_DIR arguments")
    if args.watch is None and args.watch_max_files is not None:
        raise InputError("--watch-max-files is for --watch")


def _engine(args: argparse.Namespace, jobs: int):
    if args.engine == "dask":
        from detector.dask_engine import DaskEngine

        return DaskEngine(args.scheduler)
    from detector.parallel import InlineEngine, LocalEngine

    return LocalEngine(jobs) if jobs > 1 else InlineEngine()


def _tell_outcome(outcome: ScanOutcome, count: int, quiet: bool, stderr: TextIO) -> None:
    for path, why in outcome.serial if not quiet else ():
        print(f"minesweep: note: {path}: read in the main process ({why})", file=stderr)
    for lost in outcome.lost:
        print(f"minesweep: warning: {lost.path}: not scanned: {lost.reason}", file=stderr)
    if outcome.lost:
        print(f"minesweep: {len(outcome.lost)} of {count} files could not be scanned: partial results (exit 3)",
              file=stderr)


def _watch(args: argparse.Namespace, options: ScanOptions, stdout: TextIO, stderr: TextIO) -> int:
    from detector.parallel import LostFile, default_jobs, install_stop_handlers, watch

    engine = _engine(args, args.jobs or default_jobs())
    stop = threading.Event()
    restore = install_stop_handlers(stop)
    taken = [0]

    def update(findings: dict, result: FileResult | LostFile) -> None:
        _write(findings, args)
        taken[0] += 1
        if isinstance(result, LostFile) or result.error is not None:
            reason = result.reason if isinstance(result, LostFile) else result.error
            print(f"minesweep: warning: {result.path}: not scanned: {reason}", file=stderr)
        elif not args.quiet:
            s = findings["summary"]
            print(f"{Path(result.path).name}: {s['packets']:,} packets, {s['sessions']} sessions, "
                  f"{s['mining_ips']} mining IPs so far", file=stdout, flush=True)

    try:
        outcome = watch(args.watch, update, options, engine=engine, settle=args.settle,
                        max_files=args.watch_max_files, stop=stop)
    finally:
        restore()
        engine.close()
    _tell_outcome(outcome, taken[0], args.quiet, stderr)
    if outcome.findings is not None and not args.quiet:
        print_summary(outcome.findings, stdout)
    return outcome.exit_code


class Progress:
    """A one-line progress display on a terminal: file i/N, packets, packets/s."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.start, self.width = stream, time.monotonic(), 0

    def __call__(self, name: str, index: int, count: int, packets: int) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        line = f"\r[{index + 1}/{count}] {Path(name).name[-40:]}: {packets:,} packets ({packets / elapsed:,.0f}/s)"
        self.width = max(self.width, len(line))
        self.stream.write(line.ljust(self.width))
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\r" + " " * self.width + "\r")
        self.stream.flush()


def print_summary(findings: dict, out: TextIO, unit: str = "packets") -> None:
    """The terminal summary; ``unit`` names what was read (packets, or a sensor's log records)."""
    s = findings["summary"]
    print(f"{s['packets']:,} {unit}, {s['flows']:,} flows, {s['ips_screened']:,} IPs screened: "
          f"{s['mining_ips']} mining IPs, {s['sessions']} sessions, {len(s['pools'])} pools", file=out)
    hosts = findings["hosts"]
    if not hosts:
        return
    header = f"{'IP':<40} {'sess':>4}  {'coin':<8} {'hashrate (90% interval)':<40} kWh/day low/best/high"
    print(header, file=out)
    for h in hosts[:20]:
        coin = ",".join(h["coins"])[:8] or "?"
        r = h["hashrate"]
        print(f"{h['ip']:<40} {h['sessions']:>4}  {coin:<8} {rate(r)[:40]:<40} {kwh(h['energy_kwh_per_day'])}", file=out)
    if len(hosts) > 20:
        print(f"… and {len(hosts) - 20} more hosts (see report.md)", file=out)
