"""The scan pipeline end to end: capture files → flows → sessions → hosts/subnets → findings.

``scan(paths, options)`` returns the findings document (a plain dict, schema
``minesweep/findings/1``, documented in docs/findings-schema.md). Files are read in the order
given (directories walked in name order) through one flow table, so a connection that continues
in the next file of a rotated capture stays one session.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector import __version__, flowshape, lifetime, poollists
from detector.aggregate import build_hosts, build_subnets, build_summary
from detector.behaviour import Behaviour, SummaryStore, empty_behaviour
from detector.capture import fast as fastpath
from detector.capture import is_capture_file, open_capture
from detector.capture.model import CaptureInfo
from detector.encrypted import sv2_session
from detector.errors import UnreadableInputError
from detector.finalize import session_record
from detector.flows import FlowTable
from detector.hostfeatures import judge_hosts, sweep_sentences
from detector.model import load_model
from detector.rules import load_rules
from detector.units import attribute_hosts, build_units

if TYPE_CHECKING:
    from detector.attribution import Attributor

SCHEMA = "minesweep/findings/1"
ENGINES = ("fast", "pure")
log = logging.getLogger(__name__)
MAX_INPUT_WARNINGS = 200

ProgressFn = Callable[[str, int, int, int], None]  # (path, file index, file count, packets so far)


@dataclass
class ScanOptions:
    subnet_v4: int = 24
    subnet_v6: int = 64
    pue: float | None = None  #: None = the default PUE of rules/hardware.toml
    command: Sequence[str] = ()
    registries: Sequence[Path] = ()  #: CSV registries cidr,unit,category[,…] (later files win)
    asn_databases: Sequence[Path] = ()  #: MaxMind-format ASN .mmdb files
    public_categories: Sequence[str] | None = None  #: None = rules/categories.toml's public set
    model: Path | None = None  #: a model trained by ``minesweep train`` (JSON); None = rules only
    pool_lists: Sequence[Path] = ()  #: the user's pool domain lists (plain, hosts, adblock style)
    #: hashrate (H/s or Sol/s) assumed for an encrypted session of an algorithm; labelled "assumed"
    assumed_hashrates: dict[str, float] = field(default_factory=dict)
    #: "fast": the compiled capture kernel hands Python only the packets it must inspect;
    #: "pure": every packet through Python — the reference the fast path is tested against
    engine: str = "fast"
    progress: ProgressFn | None = None
    progress_every: int = 50_000
    clock: Callable[[], _dt.datetime] = field(default=lambda: _dt.datetime.now(_dt.UTC))


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files to read: each file as given, each directory's captures in name order (recursive)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_capture_file(p))
            if not found:
                raise UnreadableInputError(f"{path}: directory contains no pcap or pcapng capture")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise UnreadableInputError(f"{path}: no such file or directory")
    return out


def scan(paths: Iterable[str | os.PathLike[str]], options: ScanOptions | None = None) -> dict[str, Any]:
    return _scan_paths(paths, options, None)


def scan_digests_later(paths: Iterable[str | os.PathLike[str]],
                       options: ScanOptions | None = None) -> tuple[dict[str, Any], Digests]:
    """``scan``, returning as soon as the findings are built, before every input's SHA-256 is:
    each digest still being computed stands in ``inputs`` as a placeholder (``Digests``) until
    ``Digests.settle()``. The caller can write what does not show the inputs meanwhile."""
    digests = Digests()
    return _scan_paths(paths, options, digests), digests


def _scan_paths(paths: Iterable[str | os.PathLike[str]], options: ScanOptions | None,
                digests: Digests | None) -> dict[str, Any]:
    options = options or ScanOptions()
    files = expand_inputs(paths)
    with poollists.using(poollists.intelligence(options.pool_lists)), _calm_gc():
        return _scan(files, options, digests)


class Digests:
    """The SHA-256 digests of a scan's inputs that were still being computed when its findings were
    built. Each input record holds a placeholder in ``sha256`` meanwhile: a token of 64 random hex
    digits, the form and length of a digest, that nothing else in the findings can contain. Text
    rendered from the findings meanwhile (findings.json, report.md, report.html) becomes the final
    text by writing each digest over its token (``detector.output.staged``) — unless a digest could
    not be computed: then the record also gains a warning, and such text must be rendered again."""

    def __init__(self) -> None:
        self.pending: list[tuple[dict[str, Any], CaptureInfo, str]] = []  # (input record, info, token)

    def hold(self, record: dict[str, Any], info: CaptureInfo) -> None:
        token = os.urandom(32).hex()
        record["sha256"] = token
        self.pending.append((record, info, token))

    def tokens(self) -> list[str]:
        """The placeholders of the digests still pending."""
        return [token for _, _, token in self.pending]

    def settle(self) -> dict[str, str] | None:
        """Wait for every digest; the input records get their final ``sha256`` and ``warnings``.
        Returns {token: digest} when every digest was computed, None when one was not."""
        tokens: dict[str, str] | None = {}
        pending, self.pending = self.pending, []
        for record, info, token in pending:
            info.settle()
            record["sha256"], record["warnings"] = info.sha256, list(info.warnings)
            if tokens is not None and info.sha256:
                tokens[token] = info.sha256
            else:
                tokens = None
        return tokens


@contextlib.contextmanager
def _calm_gc() -> Iterator[None]:
    """Collect cyclic garbage less often while scanning: the flow table holds tens of thousands of
    long-lived, acyclic objects that full collections would walk again and again."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), max(thresholds[1], 20), max(thresholds[2], 20))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _scan(files: list[Path], options: ScanOptions, digests: Digests | None) -> dict[str, Any]:
    table = FlowTable()
    lifetime.keep(table)  # the console script ends the process without freeing it (and its kernel)
    table.summaries = SummaryStore()  # bounded: behaviour aggregated as flows end
    infos: list[CaptureInfo] = []
    ips: set[str] = set()
    fast = options.engine == "fast" and fastpath.available()
    table.keep_summaries = not fast  # the fast engine's kernel summarises the flows Python never sees
    table.forget_ignored = fast
    if options.engine == "fast" and not fast:
        log.warning("detector._fastpath is not built: scanning with the pure engine")
    ips_screened = 0
    for index, path in enumerate(files):
        if fast:
            # settled in _input_record: the hash runs on beside the summaries and findings
            info, counts = fastpath.fast_scan_file(path, table, _fast_progress(options, str(path), index, len(files)),
                                                   settle=False)
            infos.append(info)
            ips_screened = counts.ips_screened  # running total for the scan
        else:
            with open_capture(path) as capture:
                infos.append(capture.info)
                _read(capture, table, ips, options, str(path), index, len(files))
            info = capture.info
        _attach_flow_warnings(table, info)
    with _no_gc():  # bounded work that makes objects to keep, not cycles
        if fast:
            fastpath.finish_scan(table)  # the kernel summarises the flows still live (table.summaries)
        sessions_state = table.finish()
        if infos:
            _attach_flow_warnings(table, infos[-1])
        return build_findings(infos, sessions_state, table, ips_screened if fast else len(ips), options, digests)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """No cyclic collection while the findings are built: the summaries of every flow still live and
    the records made from them are kept, so each collection (one per 50,000 of them) walked them
    all and freed nothing (~30 ms of the 1M-packet benchmark). After it they join the oldest
    generation (freeze + unfreeze), which the young collections while the reports are written do
    not walk either."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:  # (a caller's frozen objects are left as they are)
            gc.freeze()
            gc.unfreeze()
        if enabled:
            gc.enable()


def _fast_progress(options: ScanOptions, name: str, index: int, count: int) -> fastpath.ProgressFn | None:
    """The fast path reports after each block of about 4 MiB (packets decoded so far in the file)."""
    progress = options.progress
    if progress is None:
        return None
    return lambda n: progress(name, index, count, n)


def _read(capture: Any, table: FlowTable, ips: set[str], options: ScanOptions, name: str,
          index: int, count: int) -> None:
    add = table.add
    every = options.progress_every
    progress = options.progress
    n = 0
    for packet in capture:
        add(packet)
        n += 1
        if n % every == 0:
            if progress is not None:
                progress(name, index, count, n)
    ips.update(table.take_new_ips())
    if progress is not None:
        progress(name, index, count, n)


def _attach_flow_warnings(table: FlowTable, info: CaptureInfo) -> None:
    for warning in table.warnings:
        if len(info.warnings) < MAX_INPUT_WARNINGS:
            info.warnings.append(warning)
    table.warnings.clear()


def build_findings(infos: Sequence[CaptureInfo], sessions_state: Sequence[Any], table: FlowTable,
                   ips_screened: int, options: ScanOptions, digests: Digests | None = None) -> dict[str, Any]:
    """Findings of a packet scan: decoded sessions finalised, then ``assemble``. With ``digests``,
    the SHA-256 digests still being computed are left to it (``Digests``), not waited for."""
    pool_names = {ip: d.name for ip, d in table.dns_names.items()}
    sv2 = [s for f in table.summaries if (s := sv2_session(f, pool_names)) is not None]
    found = [*sessions_state, *sv2]
    # flow shape: supporting evidence for strong sessions, and "suspected" sessions for flows that
    # nothing else identifies (docs/flowshape.md)
    keys = {(s.client, s.client_port, s.server, s.server_port) for s in found}
    by_tuple = flowshape.summaries_by_tuple(table.summaries, keys)
    for s in found:
        summary = by_tuple.get((s.client, s.client_port, s.server, s.server_port))
        line = flowshape.supporting_evidence(summary) if summary is not None and not s.confirmed else None
        if line:
            s.evidence.append(line)
    found += flowshape.suspected_sessions(table.summaries, keys, pool_names)
    sessions = [session_record(s, pool_names, options.assumed_hashrates) for s in found]
    return assemble([_input_record(i, digests) for i in infos], sessions, ips_screened, table.flows_seen, options,
                    behaviour_records(table))


def behaviour_records(table: FlowTable) -> dict[str, dict[str, Any]]:
    """What each host did around its mining, from what the flow stage recorded."""
    store = table.summaries
    behaviour = store.behaviour if isinstance(store, SummaryStore) else Behaviour()
    for host, download in table.downloads:
        behaviour.download(host, download)
    for host, how, name in table.pool_names_seen:
        (behaviour.pool_lookup if how == "dns" else behaviour.pool_sni)(host, name)
    if not isinstance(store, SummaryStore):
        for summary in store:
            behaviour.flow(summary)
    scanners = behaviour.scanners()
    return {ip: behaviour.record(ip, scanners) for ip in behaviour.hosts}


def assemble(inputs: list[dict[str, Any]], sessions: list[dict[str, Any]], ips_screened: int, flows: int,
             options: ScanOptions, behaviour: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The findings document from input records and session records — shared by ``scan`` and the
    sensor sidecar (``minesweep zeek`` / ``suricata``), so every source gets the same hosts,
    subnets, summary and reports."""
    rules = load_rules()
    pue = options.pue if options.pue is not None else rules.default_pue
    sessions = sorted(sessions, key=lambda s: (s["client"], s["server"], s["server_port"], s["first_seen"], s["client_port"]))
    hosts = build_hosts(sessions, pue)
    with _attributor(options) as attributor:
        attribute_hosts(hosts, attributor)
    for h in hosts:
        h["behaviour"] = (behaviour or {}).get(h["ip"], empty_behaviour())
    judge_hosts(hosts, sessions, model=load_model(options.model) if options.model else None)
    subnets = build_subnets(hosts, options.subnet_v4, options.subnet_v6)
    units = build_units(hosts)
    return {
        "schema": SCHEMA,
        "tool": {"name": "minesweep", "version": __version__},
        "generated_at": options.clock().isoformat(timespec="seconds"),
        "command": list(options.command),
        "options": {"subnet_v4": options.subnet_v4, "subnet_v6": options.subnet_v6, "pue": pue,
                    "confidence_level": 0.90},
        "inputs": inputs,
        "sessions": sessions,
        "hosts": hosts,
        "subnets": subnets,
        "units": units,
        "summary": {**build_summary(inputs, sessions, hosts, subnets, ips_screened, flows),
                    "units": sum(1 for u in units if u["unit"] is not None),
                    "sentences": sweep_sentences(hosts)},
    }


@contextlib.contextmanager
def _attributor(options: ScanOptions) -> Iterator[Attributor | None]:
    if not options.registries and not options.asn_databases:
        yield None
        return
    from detector.attribution import Attributor  # only with registries or ASN databases (~5 ms to import)

    attributor = Attributor.from_files(options.registries, asn_databases=options.asn_databases,
                                       public=options.public_categories)
    try:
        yield attributor
    finally:
        attributor.close()


def _input_record(info: CaptureInfo, digests: Digests | None = None) -> dict[str, Any]:
    if digests is None:
        info.settle()  # the fast path's SHA-256 may still be being computed
    record = {
        "path": info.path,
        "sha256": info.sha256,
        "format": info.format,
        "size": info.size,
        "packets": info.packets,
        "bytes": info.bytes,
        "first_ts": info.first_ts,
        "last_ts": info.last_ts,
        "linktypes": list(info.linktypes),
        "warnings": list(info.warnings),
    }
    if digests is not None and info.sha256_later is not None:
        digests.hold(record, info)
    return record
