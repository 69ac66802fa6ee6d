"""Scan many capture files at once — on local cores, on a Dask cluster, or as a ring buffer fills —
with the findings of one serial scan.

The serial scan (``detector.scan.scan``) reads every file, in order, through one ``FlowTable``,
so a connection that runs over a file boundary stays one flow and one session. Here a worker
scans ONE file with a fresh table (``scan_file_result``) and returns a picklable ``FileResult``;
the parent (``Merger``) merges the results strictly in file order into one table that ends up in
the state the serial scan would have reached:

* everything the file's own table decided stands: sessions and flow summaries of flows that
  ended inside the file, flows still live at its end (with their reassembly, framing and session
  state), DNS answers, pool names looked up, downloads, the addresses of created flows, the flow
  count and warnings;
* except for flows that may continue a flow of the earlier files — every flow the file's table
  creates within ``IDLE_TIMEOUT`` + ``SLACK`` of the file's first packet. For one that does not
  begin with a TCP SYN the worker records its packets (a ``Continuation``, up to its first
  silence longer than ``IDLE_TIMEOUT``). When the merged table holds a live flow of that 5-tuple
  (either orientation) within ``IDLE_TIMEOUT``, the packets are replayed into that flow through
  ``FlowTable.add`` and the worker's own version — its sessions, summaries, live state, flow
  count and events — is dropped;
* once the worker's own flow is ignored (no mining protocol), its packets are kept as compact
  ``Headers`` (time, direction, lengths, flags, sequence number) with their payloads beside them;
  a worker over its budget drops those payloads, and the headers alone are replayed when the
  merged flow no longer looks at payloads (ignored, or counted only);
* a flow that begins with a SYN is recorded by its 5-tuple only: if an unclosed merged flow that
  carried no payload yet takes that SYN (the earlier tries of a SYN retransmitted across the
  boundary), its counters and start are put in front of the worker's flow;
* when that reasoning cannot be applied, the parent reads the file itself into the merged table
  (``Merger.read_serial``) and says why (``ScanOutcome.serial``): the worker's records exceeded
  the budget, the file begins more than ``SLACK`` seconds before the earlier files end, a SYN
  reuses the 5-tuple of an unclosed flow that carried data, payloads were dropped for a flow the
  merged table still inspects, or a TLS connection's server is named a pool only by a DNS answer
  in an earlier file (the worker's table could not know it).

The parent also ends idle flows itself (``FlowTable.sweep`` at each file's earliest packet). Two
things about warnings of damaged streams are not bit-for-bit the serial scan's: a warning raised
while a flow is ENDED by the idle sweep (end-of-stream framing of an expired flow) may be listed
under a neighbouring input, since the serial sweep runs every ``SWEEP_EVERY`` packets of the whole
scan and a worker cannot know where those fall; and the order of such warnings among flows that
end together may differ (the merged table holds flows in merge order, not creation order). DNS
names beyond ``MAX_DNS_NAMES`` answered addresses are merged first come.

Public API
    FileResult, Continuation, Headers              the worker's picklable result records
    scan_file_result(path, index=0, *, record=True, budget=DEFAULT_BUDGET) -> FileResult
    first_timestamp(path) -> float | None;  order_files(paths) -> list[Path]
    Merger()  .add(result) / .read_serial(path) / .snapshot(options) / .findings(options)
    InlineEngine(), LocalEngine(jobs, ...)         ``results(items)`` yields results in file order
    run_jobs(files, options, *, jobs, engine, ...) -> ScanOutcome
    scan_parallel(paths, options, *, jobs, engine, ...) -> ScanOutcome
    watch(directory, on_update, options, *, engine, settle, poll, max_files, clock, sleep, stop)
        -> ScanOutcome
    install_stop_handlers(event) -> restore;  default_jobs();  EXIT_PARTIAL (3)
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import os
import signal
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from detector import flows, poollists
from detector.capture import is_capture_file, open_capture
from detector.capture.model import ACK, SYN, TCP, CaptureInfo, Packet
from detector.errors import InputError
from detector.flows import IDLE_TIMEOUT, DnsName, Flow, FlowTable
from detector.reassembly import MASK
from detector.scan import MAX_INPUT_WARNINGS, ScanOptions, build_findings, expand_inputs
from detector.session import Session

if TYPE_CHECKING:  # the process pool's modules are imported by LocalEngine only (~9 ms a scan)
    import multiprocessing.context
    from concurrent.futures import Future, ProcessPoolExecutor

__all__ = [
    "DEFAULT_BUDGET", "EXIT_PARTIAL", "SLACK", "Continuation", "FileResult", "Headers", "InlineEngine", "LocalEngine",
    "LostFile", "Merger", "ScanOutcome", "default_jobs", "first_timestamp", "install_stop_handlers", "order_files",
    "run_jobs", "scan_file_result", "scan_parallel", "watch",
]

log = logging.getLogger(__name__)

Key = tuple  #: a flow's 5-tuple (address, port, address, port, protocol)

EXIT_PARTIAL = 3  #: exit code when some files could not be scanned (their results are missing)
SLACK = 60.0  #: seconds by which a file may begin before the previous files end (clock disorder)
#: bytes of records (packets, headers, payloads, events) a worker keeps before it asks for a serial
#: read; per-flow records, like the live flows, grow with the flows of the file and are not counted
DEFAULT_BUDGET = 64 << 20
PACKET_COST = 160  #: bytes counted per recorded packet besides its payload
HEADER_COST = 32  #: bytes counted per header record
EVENT_COST = 120  #: bytes counted per recorded event besides its text

#: per-packet events of a table, what bounds each in ``FlowTable``, and (kind, cap) in the records
WARNING, DOWNLOAD, POOL_NAME, LOOKUP = "warning", "download", "pool-name", "lookup"


def _reverse(key: Key) -> Key:
    return (key[2], key[3], key[0], key[1], key[4])


def _canonical(key: Key) -> Key:
    return key if (key[0], key[1]) <= (key[2], key[3]) else _reverse(key)


def _prefix(key: Key) -> str:
    """How ``FlowTable._warn`` begins a warning about the flow whose first packet had this key."""
    return f"flow {key[0]}:{key[1]}-{key[2]}:{key[3]}: "


# -- the worker's records ------------------------------------------------------------------------
@dataclass(slots=True)
class Headers:
    """Packets of a continuation, compactly: what ``FlowTable.add`` reads of a packet that it does
    not inspect (time, direction, wire length, payload length, TCP flags and sequence number), and
    the payloads themselves (``kept``) for a merged flow that still inspects them — None when the
    worker's budget made it drop them. Side 0 = sent by the continuation key's first address."""

    index: array = field(default_factory=lambda: array("q"))  #: packet index in the file
    ts: array = field(default_factory=lambda: array("d"))
    side_flags: array = field(default_factory=lambda: array("H"))  #: side << 8 | TCP flags
    wirelen: array = field(default_factory=lambda: array("I"))
    plen: array = field(default_factory=lambda: array("I"))
    seq: array = field(default_factory=lambda: array("I"))
    kept: list[bytes] | None = field(default_factory=list)
    #: the worker's flow took these packets without ever being inspected, and their payloads made
    #: it give up (``UNHINTED_LIMIT``): a merged flow not yet inspected gives up on them too
    unhinted_only: bool = False

    def add(self, side: int, index: int, p: Packet) -> None:
        self.index.append(index)
        self.ts.append(p.ts)
        self.side_flags.append(side << 8 | p.flags)
        self.wirelen.append(p.wirelen)
        self.plen.append(len(p.payload))
        self.seq.append(p.seq)
        if self.kept is not None:
            self.kept.append(p.payload)

    def __len__(self) -> int:
        return len(self.index)

    def packets(self, key: Key) -> Iterator[tuple[int, Packet]]:
        """The packets again (payloads as zero bytes of the same length when they were dropped)."""
        for i in range(len(self.index)):
            sf = self.side_flags[i]
            src, sport, dst, dport = key[:4] if not sf >> 8 else (key[2], key[3], key[0], key[1])
            payload = self.kept[i] if self.kept is not None else bytes(self.plen[i])
            yield self.index[i], Packet(self.ts[i], src, dst, key[4], sport, dport, payload, self.wirelen[i],
                                        sf & 0xFF, self.seq[i])


@dataclass(slots=True)
class Continuation:
    """A flow of the file that may continue one of the earlier files: its packets up to the first
    silence longer than ``IDLE_TIMEOUT`` (or the end of the file) — or, for a flow begun by a
    SYN, only its 5-tuple, start and extent."""

    key: Key  #: 5-tuple of its first packet in the file
    first_index: int  #: packet index (TCP/UDP packets of the file, from 0) of that packet
    first_ts: float
    last_ts: float
    created: int = 1  #: flows the worker's table created for this key within the continuation
    end_index: int | None = None  #: packet that began a new flow after the silence; None: open at the end
    items: list[tuple[int, Packet] | Headers] = field(default_factory=list)  #: (index, packet) or headers
    syn_seq: int | None = None  #: begun by a TCP SYN with this sequence number (no packets kept)
    compact: bool = False  #: the worker's flow is ignored: packets go into Headers
    keep_packets: bool = False  #: a SYN arrived while compact: every later packet is kept whole


@dataclass(slots=True)
class FileResult:
    """What a worker found in one file (picklable; see the module docstring)."""

    index: int  #: position of the file in the scan
    path: str
    info: CaptureInfo | None = None
    error: str | None = None  #: the file could not be read: its results are missing
    needs_serial: str | None = None  #: why the parent must read the file itself
    recorded: bool = True  #: continuations were recorded (not for the first file of a scan)
    packets: int = 0  #: TCP/UDP packets given to the table
    first_ts: float | None = None  #: of the first such packet
    min_ts: float | None = None
    max_ts: float | None = None
    flows_seen: int = 0
    ips: set[str] = field(default_factory=set)  #: addresses of the flows created
    dns_names: dict[str, DnsName] = field(default_factory=dict)
    sessions: list[tuple[int, Session]] = field(default_factory=list)  #: (continuation or -1, session)
    summaries: list[tuple[int, Any]] = field(default_factory=list)  #: (continuation or -1, FlowSummary)
    live: list[tuple[Key, Flow, int]] = field(default_factory=list)  #: (key, flow, continuation or -1)
    #: (packet index, continuation or -1, kind, value): warnings, downloads, pool names, DNS misses
    events: list[tuple[int, int, str, Any]] = field(default_factory=list)
    continuations: list[Continuation] = field(default_factory=list)
    recorded_bytes: int = 0
    worker_pid: int = 0


class LostFile(NamedTuple):
    """A file whose results are missing from the findings, and why."""

    index: int
    path: str
    reason: str


# -- one file ------------------------------------------------------------------------------------
class _Lookups(dict):  # type: ignore[type-arg]
    """A worker table's ``dns_names`` that notes every lookup and its answer: a TLS connection
    names its server by an earlier DNS answer, which may lie in an earlier file."""

    __slots__ = ("looked",)

    def __init__(self) -> None:
        super().__init__()
        self.looked: list[tuple[str, DnsName | None]] = []

    def get(self, key: Any, default: Any = None) -> Any:
        value = dict.get(self, key, default)
        self.looked.append((key, value))
        return value


_MISSING = object()


class _ReplayNames(dict):  # type: ignore[type-arg]
    """The ``dns_names`` of a scratch table replaying a continuation: a lookup gets what the serial
    scan's table held at that packet — the answer the worker's table found at the same packet
    (this file's), else the merged table's (the earlier files'). A lookup the worker did not make
    at that packet is answered from the earlier files and noted in ``unknown``."""

    __slots__ = ("earlier", "worker", "index", "unknown")

    def __init__(self, earlier: dict[str, DnsName], worker: dict[tuple[int, str], DnsName | None]) -> None:
        super().__init__()
        self.earlier, self.worker, self.index = earlier, worker, -1
        self.unknown: list[str] = []

    def get(self, key: Any, default: Any = None) -> Any:
        found = self.worker.get((self.index, key), _MISSING)
        if found is _MISSING:
            self.unknown.append(key)
            found = None
        return found if found is not None else self.earlier.get(key, default)


def _new_table(lookups: bool) -> FlowTable:
    table = FlowTable(keep_summaries=True)
    if lookups:
        table.dns_names = _Lookups()
    return table


def _drain(table: FlowTable) -> list[tuple[str, Any]]:
    """Take the events the table noted since the last call, as (kind, value)."""
    out: list[tuple[str, Any]] = []
    if table.warnings:
        out += [(WARNING, w) for w in table.warnings]
        table.warnings.clear()
    if table.downloads:
        out += [(DOWNLOAD, d) for d in table.downloads]
        table.downloads.clear()
    if table.pool_names_seen:
        out += [(POOL_NAME, n) for n in table.pool_names_seen]
        table.pool_names_seen.clear()
    looked = getattr(table.dns_names, "looked", None)
    if looked:
        out += [(LOOKUP, item) for item in looked]
        looked.clear()
    return out


_CAPS = {WARNING: flows.MAX_WARNINGS, DOWNLOAD: flows.MAX_DOWNLOADS, POOL_NAME: flows.MAX_DOWNLOADS,
         LOOKUP: 1 << 62}  #: lookups are all kept (one per TLS connection; the budget bounds them)


class _FileScan:
    """Feeds one capture through a fresh table, recording continuations (the worker's loop)."""

    def __init__(self, result: FileResult, record: bool, budget: int) -> None:
        self.result = result
        self.table = _new_table(lookups=True)
        self.record = record
        self.budget = budget
        self.open: dict[Key, int] = {}  #: both orientations of open continuations -> number
        self.prefixes: dict[str, int] = {}  #: warning prefixes of open continuations -> number
        self.by_key: dict[Key, int] = {}  #: canonical key -> continuation number
        self.seen: set[Key] = set()  #: canonical keys of flows created in the window
        self.window_end = float("inf")
        self.counts: dict[tuple[int, str], int] = {}  #: events kept per (owner, kind)
        self.dropped = False  #: headers no longer keep their payloads (budget)

    def run(self, capture: Any) -> None:
        table, result = self.table, self.result
        add = table.add
        record = self.record
        index = 0
        lo, hi = float("inf"), float("-inf")
        warnings, downloads, pools = table.warnings, table.downloads, table.pool_names_seen
        looked = table.dns_names.looked  # type: ignore[attr-defined]
        for p in capture:
            if index == 0:
                result.first_ts = p.ts
                self.window_end = p.ts + IDLE_TIMEOUT + SLACK
            before = table.flows_seen
            add(p)
            owner, ended = -1, False
            if record:
                key = (p.src, p.sport, p.dst, p.dport, p.proto)
                number = self.open.get(key) if self.open else None
                if number is not None:
                    owner = number
                    ended = self._extend(number, key, index, p, table.flows_seen != before)
                elif table.flows_seen != before and p.ts <= self.window_end:
                    owner = self._created(key, index, p)
            if warnings or downloads or pools or looked:
                self._take_events(index, owner)
            if ended:  # after its last events: those of the flow the silence ended
                self._close_span(key)
            if record:
                if result.recorded_bytes > self.budget and not self._drop_payloads():
                    result.needs_serial = (f"its continuation records passed the {self.budget:,}-byte budget "
                                           f"at packet {index:,}")
                    return
            ts = p.ts
            if ts < lo:
                lo = ts
            if ts > hi:
                hi = ts
            index += 1
        result.packets = index
        if index:
            result.min_ts, result.max_ts = lo, hi
        self._close()

    def _created(self, key: Key, index: int, p: Packet) -> int:
        """A flow the table just created in the window: a continuation, or -1 if it cannot be one."""
        canon = _canonical(key)
        if canon in self.seen:
            return -1
        self.seen.add(canon)
        result = self.result
        number = len(result.continuations)
        span = Continuation(key, index, p.ts, p.ts)
        result.continuations.append(span)
        self.open[key] = self.open[_reverse(key)] = number
        self.by_key[canon] = number
        self.prefixes[_prefix(key)] = self.prefixes[_prefix(_reverse(key))] = number
        if p.proto == TCP and p.flags & (SYN | ACK) == SYN:
            span.syn_seq = p.seq  # a new connection, unless an unclosed flow absorbs the SYN (Merger)
        elif p.proto == TCP:
            self._keep(span, index, p)
        else:  # UDP: no table looks at its payloads but for DNS, which the file's own table did
            span.compact = True
            headers = Headers(kept=None)
            headers.add(0, index, p)
            span.items.append(headers)
            result.recorded_bytes += HEADER_COST
        return number

    def _close_span(self, key: Key) -> None:
        for k in (key, _reverse(key)):
            del self.open[k]
            self.prefixes.pop(_prefix(k), None)

    def _extend(self, number: int, key: Key, index: int, p: Packet, created: bool) -> bool:
        """The continuation's next packet; True when a silence ended it (``p`` began a new flow)."""
        span = self.result.continuations[number]
        if p.ts - span.last_ts > IDLE_TIMEOUT:
            span.end_index = index
            return True
        span.last_ts = p.ts
        if created:
            span.created += 1
        if span.syn_seq is not None:
            return False
        if not span.compact:
            self._keep(span, index, p)
            return False
        if p.proto == TCP and p.flags & (SYN | ACK) == SYN:  # may end the merged flow: keep it all
            span.compact, span.keep_packets = False, True
            self._keep(span, index, p)
            return False
        last = span.items[-1] if span.items else None
        if not isinstance(last, Headers):
            last = Headers(kept=None if self.dropped or p.proto != TCP else [])
            span.items.append(last)
        last.add(0 if (p.src == span.key[0] and p.sport == span.key[1]) else 1, index, p)
        self.result.recorded_bytes += HEADER_COST + (len(p.payload) + 40 if last.kept is not None else 0)
        return False

    def _keep(self, span: Continuation, index: int, p: Packet) -> None:
        span.items.append((index, p))
        self.result.recorded_bytes += len(p.payload) + PACKET_COST
        if span.keep_packets:
            return
        found = self.table.lookup(span.key)
        if found is None or found[1].state != "ignored":
            return
        span.compact = True
        if span.created == 1 and found[1].unhinted >= flows.UNHINTED_LIMIT and not any(
                isinstance(i, tuple) and i[1].flags & (SYN | ACK) == SYN for i in span.items[1:]):
            # ignored for want of hints (never inspected), one flow, no new SYN: what it took so
            # far leads any flow not yet inspected to the same end, so it can be headers too
            headers = Headers(kept=None if self.dropped else [], unhinted_only=True)
            for item in span.items:
                assert isinstance(item, tuple)
                i, q = item
                headers.add(0 if (q.src == span.key[0] and q.sport == span.key[1]) else 1, i, q)
                self.result.recorded_bytes += HEADER_COST - PACKET_COST + (40 if headers.kept is not None else -len(q.payload))
            span.items = [headers]

    def _drop_payloads(self) -> bool:
        """Over budget: forget the payloads kept beside headers; False if that is not enough."""
        if not self.dropped:
            self.dropped = True
            for span in self.result.continuations:
                for item in span.items:
                    if isinstance(item, Headers) and item.kept is not None:
                        self.result.recorded_bytes -= sum(len(b) + 40 for b in item.kept)
                        item.kept = None
        return self.result.recorded_bytes <= self.budget

    def _take_events(self, index: int, own: int) -> None:
        """The table's events while adding a packet of continuation ``own`` (or -1): a warning
        belongs to the flow it names, a download, a TLS pool name or a DNS lookup to the packet's
        flow, a DNS pool lookup to no flow."""
        result, counts = self.result, self.counts
        for kind, value in _drain(self.table):
            owner = own
            if kind == WARNING:
                cut = value.find(": ")
                owner = self.prefixes.get(value[: cut + 2], -1) if cut > 0 else -1
            elif kind == POOL_NAME and value[1] == "dns":
                owner = -1
            kept = counts.get((owner, kind), 0)
            if kept < _CAPS[kind]:
                counts[(owner, kind)] = kept + 1
                result.events.append((index, owner, kind, value))
                result.recorded_bytes += EVENT_COST + (len(value) if isinstance(value, str) else 0)

    def _owner(self, key: Key, first_ts: float) -> int:
        """The continuation a flow (by 5-tuple and start) belonged to, or -1."""
        number = self.by_key.get(_canonical(key), -1)
        if number >= 0 and first_ts > self.result.continuations[number].last_ts:
            return -1  # a later flow of the same 5-tuple, begun after the continuation's silence
        return number

    def _close(self) -> None:
        table, result = self.table, self.result
        for key, flow in table.live():
            result.live.append((key, flow, self.open.get(key, -1)))
        for s in table.sessions:
            result.sessions.append((self._owner((s.client, s.client_port, s.server, s.server_port, TCP),
                                                s.first_seen), s))
        for f in table.summaries:
            result.summaries.append((self._owner((f.a, f.ap, f.b, f.bp, f.proto), f.first_ts), f))
        result.flows_seen = table.flows_seen
        result.ips = table.take_new_ips()
        result.dns_names = dict(table.dns_names)


@functools.lru_cache(maxsize=4)
def _intelligence(pool_lists: tuple[str, ...]) -> Any:
    return poollists.intelligence(pool_lists)


def scan_file_result(path: str | os.PathLike[str], index: int = 0, *, record: bool = True,
                     budget: int = DEFAULT_BUDGET, pool_lists: Sequence[str | os.PathLike[str]] = ()) -> FileResult:
    """Scan one capture with a fresh flow table (the per-file worker; runs in any process).

    ``record``: keep continuation records (not needed for the first file of a scan).
    ``pool_lists``: the user's pool lists (``ScanOptions.pool_lists``), which the worker reads too.
    A file that cannot be read gives a result with ``error`` set; it never raises ``InputError``.
    """
    name = os.fspath(path)
    result = FileResult(index=index, path=name, recorded=record, worker_pid=os.getpid())
    scan = _FileScan(result, record, budget)
    try:
        with poollists.using(_intelligence(tuple(os.fspath(p) for p in pool_lists))), open_capture(name) as capture:
            size_at_open = capture.info.size
            scan.run(capture)
            info = capture.info
    except InputError as exc:
        result.error = str(exc)
        return result
    if result.needs_serial:
        result.continuations, result.events = [], []
        return result
    _note_growth(name, size_at_open, info)
    result.info = info
    return result


def _note_growth(name: str, size_at_open: int, info: CaptureInfo) -> None:
    """Warn when the file changed size while it was read (a writer still had it open)."""
    try:
        size_now = os.stat(name).st_size
    except OSError:
        size_now = info.size
    if size_now != size_at_open and len(info.warnings) < MAX_INPUT_WARNINGS:
        info.warnings.append(f"the file grew from {size_at_open:,} to {size_now:,} bytes while it was read "
                             f"({info.size:,} bytes read): scan it again once its writer has closed it")


def first_timestamp(path: str | os.PathLike[str]) -> float | None:
    """Capture time at the start of a file: the earliest record read up to its first TCP/UDP packet
    (None for a capture without packets). Raises what ``open_capture`` raises."""
    with open_capture(path) as capture:
        first = next(iter(capture), None)
    if capture.info.first_ts is not None:
        return capture.info.first_ts
    return first.ts if first is not None else None


def order_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files in the order of their first timestamp (files without packets last; ties as given)."""
    keyed = []
    for position, path in enumerate(paths):
        ts = first_timestamp(path)
        keyed.append((ts is None, ts if ts is not None else 0.0, position, Path(path)))
    return [item[3] for item in sorted(keyed)]


# -- merging -------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Replay:
    number: int  #: continuation number in the file
    mkey: Key  #: key of the merged flow it continues
    table: FlowTable  #: the scratch table the packets were replayed into
    events: list[tuple[int, str, Any]]  #: (packet index, kind, value)


@dataclass(slots=True)
class _Plan:
    replays: list[_Replay] = field(default_factory=list)
    prepend: list[tuple[int, Key, Flow]] = field(default_factory=list)  #: (continuation, key, merged flow)


class _Abort(Exception):
    """A file's result cannot be merged from its records: the file must be read serially."""


def _names_pool(name: DnsName | None) -> bool:
    """Whether a DNS answer's name is one a TLS connection would be matched to a pool by
    (``detector.encrypted.TlsWatch`` uses the name for nothing else)."""
    return name is not None and poollists.active().pool_for_host(name.name) is not None


def _headers_suffice(flow: Flow, headers: Headers) -> bool:
    """True when ``flow`` would not look at these packets' payloads: UDP (DNS is the file's own
    business), a TCP flow ignored or only counted, or one not yet inspected that these very
    payloads (unhinted) would make give up."""
    if flow.proto != TCP or flow.state not in ("new", "inspect"):
        return True
    return flow.state == "new" and headers.unhinted_only


def _risky(span: Continuation, flow: Flow) -> bool:
    """True when replaying the continuation into ``flow`` may be abandoned (``_Abort``)."""
    if flow.state == "new":
        return True
    for item in span.items:
        if isinstance(item, Headers):
            if item.kept is None and span.key[4] == TCP:
                return True
        elif item[1].proto == TCP and item[1].flags & (SYN | ACK) == SYN:
            return True
    return False


def _absorbs(flow: Flow, span: Continuation) -> bool:
    """True when an unclosed merged flow that takes the file's opening SYN then behaves exactly as
    the file's fresh flow did: it carried no payload and knows nothing the SYN would not tell it
    (typically the earlier tries of a SYN that is retransmitted across the file boundary)."""
    a, b = flow.dirs
    return (flow.state == "new" and flow.session is None and flow.unhinted == 0
            and flow.a == span.key[0] and flow.ap == span.key[1]
            and a.payload_bytes == 0 and b.payload_bytes == 0 and b.next_seq is None
            and a.next_seq in (None, (span.syn_seq + 1) & MASK)  # type: ignore[operator]
            and (flow.role_source == "guess" or flow.role_source == "handshake" and flow.client_is_a is True)
            and flow.syn_client_is_a in (None, True))


def _prepend(merged: Flow, result: FileResult, number: int) -> None:
    """Put an absorbing merged flow's counters and start in front of the file's first flow of the
    continuation: live, or ended (its summary, and its session if it was mining)."""
    span = result.continuations[number]
    for _, flow, owner in result.live:
        if owner == number and flow.first_ts == span.first_ts:
            flow.first_ts = merged.first_ts
            for mine, theirs in zip(flow.dirs, merged.dirs):
                mine.packets += theirs.packets
                mine.bytes += theirs.bytes
                mine.flags |= theirs.flags
                mine.pushes += theirs.pushes
            return
    a, b = merged.dirs
    for i, (owner, f) in enumerate(result.summaries):
        if owner == number and f.first_ts == span.first_ts:
            result.summaries[i] = (owner, dataclasses.replace(
                f, first_ts=merged.first_ts, packets=(f.packets[0] + a.packets, f.packets[1] + b.packets),
                bytes=(f.bytes[0] + a.bytes, f.bytes[1] + b.bytes), flags=(f.flags[0] | a.flags, f.flags[1] | b.flags),
                pushes=(f.pushes[0] + a.pushes, f.pushes[1] + b.pushes)))
            break
    for owner, s in result.sessions:
        if owner == number and s.first_seen <= span.first_ts:  # the first flow's (later ones start later)
            # ``FlowTable._end`` keeps first_seen <= last_seen when capture time runs backwards
            last = s.last_seen if s.first_seen == span.first_ts else s.first_seen
            s.first_seen, s.last_seen = min(merged.first_ts, last), max(merged.first_ts, last)
            c2s, s2c = (a, b) if s.client == span.key[0] and s.client_port == span.key[1] else (b, a)
            s.bytes_c2s += c2s.bytes
            s.packets_c2s += c2s.packets
            s.bytes_s2c += s2c.bytes
            s.packets_s2c += s2c.packets
            return


def _replay(span: Continuation, number: int, mkey: Key, flow: Flow, names: _ReplayNames) -> _Replay:
    """Feed a continuation's packets to the merged flow it continues, in a scratch table."""
    scratch = _new_table(lookups=False)
    scratch.dns_names = names
    scratch.install(mkey, flow)
    events: list[tuple[int, str, Any]] = []
    for item in span.items:
        if isinstance(item, Headers):
            found = scratch.lookup(span.key)
            if item.kept is None and (found is None or not _headers_suffice(found[1], item)):
                raise _Abort("a continued flow that the merged scan still inspects was ignored in the file, "
                             "and its payloads were over the worker's budget")
            packets: Iterable[tuple[int, Packet]] = item.packets(span.key)
        else:
            packets = (item,)
        for index, packet in packets:
            names.index = index
            scratch.add(packet)
            if scratch.warnings or scratch.downloads or scratch.pool_names_seen:
                events += [(index, kind, value) for kind, value in _drain(scratch)]
    if span.end_index is not None:  # a silence ended it in the file: end it as the serial scan did
        scratch.finish()
        events += [(span.end_index, kind, value) for kind, value in _drain(scratch)]
    return _Replay(number, mkey, scratch, events)


class Merger:
    """One serial flow table built from per-file results taken strictly in file order."""

    def __init__(self) -> None:
        self.table = _new_table(lookups=False)
        self.infos: list[CaptureInfo] = []
        self.ips: set[str] = set()
        self.lost: list[LostFile] = []
        self.serial: list[tuple[str, str]] = []  #: (path, why) of files this process read itself
        self.files = 0  #: files merged
        self.packets = 0
        self.max_ts: float | None = None
        self.continued = 0  #: flows of a file merged into a flow of the earlier files

    # -- taking a file ----------------------------------------------------------------------------
    def add(self, result: FileResult | LostFile) -> None:
        """Merge the next file's result (or note a lost file)."""
        if isinstance(result, LostFile):
            self.lost.append(result)
            return
        if result.error is not None:
            self.lost.append(LostFile(result.index, result.path, result.error))
            return
        reason = result.needs_serial or self._unmergeable(result)
        plan = _Plan()
        if reason is None:
            try:
                plan = self._plan(result)
            except _Abort as exc:
                reason = str(exc)
        if reason is not None:
            self.serial.append((result.path, reason))
            log.info("%s: read serially: %s", result.path, reason)
            self.read_serial(result.path, result.index)
            return
        self._commit(result, plan)

    def _unmergeable(self, result: FileResult) -> str | None:
        if self.files == 0 or result.first_ts is None:
            return None
        if not result.recorded:
            return "it was scanned without continuation records"
        if self.max_ts is not None and self.max_ts > result.first_ts + SLACK:
            return f"it begins more than {SLACK:.0f} s before the earlier files end"
        return None

    def _plan(self, result: FileResult) -> _Plan:
        """Which flows of the file continue merged flows, and their replays (raises ``_Abort``)."""
        plan = _Plan()
        replay: list[tuple[int, Continuation, Key, Flow]] = []
        for number, span in enumerate(result.continuations):
            found = self.table.lookup(span.key)
            if found is None or span.first_ts - found[1].last_ts > IDLE_TIMEOUT:
                continue  # nothing to continue: the file's own flow is the serial scan's
            mkey, flow = found
            if span.syn_seq is None:
                replay.append((number, span, mkey, flow))
            elif not (flow.rst or all(flow.fin)):  # the SYN does not end the flow: it joins it
                if not _absorbs(flow, span):
                    raise _Abort(f"a new connection reuses the 5-tuple {span.key[0]}:{span.key[1]}-"
                                 f"{span.key[2]}:{span.key[3]} of an unclosed one")
                plan.prepend.append((number, mkey, flow))
        replaced = {number for number, _, _, _ in replay}
        earlier = self.table.dns_names
        looked: dict[tuple[int, str], DnsName | None] = {}
        for index, owner, _kind, (ip, answer) in (e for e in result.events if e[2] == LOOKUP):
            looked[(index, ip)] = answer
            if answer is None and owner not in replaced and _names_pool(earlier.get(ip)):
                raise _Abort(f"a TLS server, {ip}, is named a pool only by a DNS answer of an earlier file")
        # replays that may fail run on copies, before any merged flow is touched: payloads dropped,
        # or a flow that may yet start TLS (and look a name up) — not yet inspected, or a new SYN
        for number, span, mkey, flow in replay:
            if _risky(span, flow):
                names = _ReplayNames(earlier, looked)
                plan.replays.append(_replay(span, number, mkey, copy.deepcopy(flow), names))
                for ip in names.unknown:
                    if _names_pool(earlier.get(ip)) or _names_pool(result.dns_names.get(ip)):
                        raise _Abort(f"a continued TLS connection to {ip} may be named a pool by a DNS answer")
        plan.replays += [_replay(span, number, mkey, flow, _ReplayNames(earlier, looked))
                         for number, span, mkey, flow in replay if not _risky(span, flow)]
        return plan

    def _commit(self, result: FileResult, plan: _Plan) -> None:
        table = self.table
        assert result.info is not None
        mark = (len(table.downloads), len(table.pool_names_seen))
        if result.min_ts is not None:
            table.sweep(result.min_ts)
        replaced = {r.number for r in plan.replays}
        for r in plan.replays:
            table.detach(r.mkey)
        created = 0
        for number, mkey, flow in plan.prepend:
            table.detach(mkey)
            _prepend(flow, result, number)
            created += 1
        table.sessions.extend(s for owner, s in result.sessions if owner not in replaced)
        table.summaries.extend(f for owner, f in result.summaries if owner not in replaced)
        for key, flow, owner in result.live:
            if owner not in replaced:
                table.install(key, flow)
        events = self._since(mark)  # flows the merged table ended: before the file's own events
        for r in plan.replays:
            table.sessions.extend(r.table.sessions)
            table.summaries.extend(r.table.summaries)
            for key, flow in r.table.live():
                table.install(key, flow)
            created += result.continuations[r.number].created - r.table.flows_seen
            self.ips |= r.table.take_new_ips()
            events += r.events
        self.continued += len(plan.replays) + len(plan.prepend)
        table.flows_seen += result.flows_seen - created
        self.ips |= result.ips
        names = table.dns_names
        for ip, name in result.dns_names.items():
            if len(names) < flows.MAX_DNS_NAMES:
                names[ip] = name
        events += [(index, kind, value) for index, owner, kind, value in result.events if owner not in replaced]
        events.sort(key=lambda e: e[0])
        self._apply(events, result.info)
        self._done(result.info, result.packets, result.max_ts)

    def _since(self, mark: tuple[int, int]) -> list[tuple[int, str, Any]]:
        """Take out the warnings, downloads and pool names the merged table noted since ``mark``."""
        table = self.table
        events: list[tuple[int, str, Any]] = [(-1, WARNING, w) for w in table.warnings]
        events += [(-1, DOWNLOAD, d) for d in table.downloads[mark[0]:]]
        events += [(-1, POOL_NAME, n) for n in table.pool_names_seen[mark[1]:]]
        table.warnings.clear()
        del table.downloads[mark[0]:], table.pool_names_seen[mark[1]:]
        return events

    def _apply(self, events: list[tuple[int, str, Any]], info: CaptureInfo) -> None:
        """A file's events in packet order, bounded as one table bounds them during one file."""
        table = self.table
        warnings = [value for _, kind, value in events if kind == WARNING][: flows.MAX_WARNINGS]
        self._attach(warnings, info)
        for _, kind, value in events:
            if kind == DOWNLOAD and len(table.downloads) < flows.MAX_DOWNLOADS:
                table.downloads.append(value)
            elif kind == POOL_NAME and len(table.pool_names_seen) < flows.MAX_DOWNLOADS:
                table.pool_names_seen.append(value)

    def read_serial(self, path: str, index: int = -1) -> None:
        """Read one file here, straight into the merged table (what ``scan`` does with it)."""
        table = self.table
        try:
            with open_capture(path) as capture:
                size_at_open = capture.info.size
                hi, n = float("-inf"), 0
                add = table.add
                for p in capture:
                    add(p)
                    n += 1
                    if p.ts > hi:
                        hi = p.ts
                info = capture.info
        except InputError as exc:
            self.lost.append(LostFile(index, path, str(exc)))
            return
        self.ips |= table.take_new_ips()
        _note_growth(path, size_at_open, info)
        self._attach(table.warnings, info)
        table.warnings.clear()
        self._done(info, n, hi if n else None)

    def _done(self, info: CaptureInfo, packets: int, max_ts: float | None) -> None:
        self.infos.append(info)
        self.files += 1
        self.packets += packets
        if max_ts is not None and (self.max_ts is None or max_ts > self.max_ts):
            self.max_ts = max_ts

    # -- results ----------------------------------------------------------------------------------
    def findings(self, options: ScanOptions) -> dict[str, Any]:
        """The findings at the end of the input: every live flow is ended (as ``scan`` does)."""
        sessions = self.table.finish()
        if self.infos:
            self._attach(self.table.warnings, self.infos[-1])
        self.table.warnings.clear()
        return build_findings(self.infos, sessions, self.table, len(self.ips), options)

    def snapshot(self, options: ScanOptions) -> dict[str, Any]:
        """The findings as if the input ended now, leaving the merged state untouched (watch mode)."""
        table = self.table
        scratch = _new_table(lookups=False)
        scratch.dns_names = table.dns_names  # read only: nothing ends by a lookup
        view = _new_table(lookups=False)
        view.summaries = list(table.summaries)
        for key, flow in table.live():
            if flow.session is not None or flow.state == "inspect":  # the flows an end may change
                scratch.install(key, copy.deepcopy(flow))
            else:
                view.summaries.append(flows.summarise(flow))
        ended = scratch.finish()
        view.summaries += scratch.summaries
        view.downloads = (table.downloads + scratch.downloads)[: flows.MAX_DOWNLOADS]
        view.pool_names_seen = (table.pool_names_seen + scratch.pool_names_seen)[: flows.MAX_DOWNLOADS]
        view.dns_names, view.flows_seen = table.dns_names, table.flows_seen
        infos = [copy.copy(i) for i in self.infos]
        if infos:
            infos[-1].warnings = list(infos[-1].warnings)
            self._attach(scratch.warnings, infos[-1])
        return build_findings(infos, [*table.sessions, *ended], view, len(self.ips), options)

    @staticmethod
    def _attach(warnings: list[str], info: CaptureInfo) -> None:
        for text in warnings:
            if len(info.warnings) < MAX_INPUT_WARNINGS:
                info.warnings.append(text)


# -- engines: where the per-file workers run -----------------------------------------------------
class Engine(Protocol):
    """Runs ``scan_file_result`` over (index, path) items; yields the results in that order."""

    def results(self, items: Sequence[tuple[int, str]],
                pool_lists: Sequence[str] = ()) -> Iterator[FileResult | LostFile]: ...

    def close(self) -> None: ...


class InlineEngine:
    """Every file in this process, one after the other (no pool; the merge code is the same)."""

    def __init__(self, *, budget: int = DEFAULT_BUDGET) -> None:
        self.budget = budget

    def results(self, items: Sequence[tuple[int, str]],
                pool_lists: Sequence[str] = ()) -> Iterator[FileResult | LostFile]:
        for index, path in items:
            yield scan_file_result(path, index, record=index > 0, budget=self.budget, pool_lists=pool_lists)

    def close(self) -> None:
        pass


def _worker_init() -> None:
    """Pool workers leave SIGINT to the parent, which stops the scan and shuts the pool down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool_context() -> multiprocessing.context.BaseContext:
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["detector.parallel"])
        return ctx
    return multiprocessing.get_context("spawn")


class LocalEngine:
    """A process pool of ``jobs`` workers (forkserver, else spawn).

    At most ``2 × jobs`` files are in flight, so results wait in memory only briefly. When a
    worker process dies (killed, out of memory, a crash in native code) the pool breaks and every
    file in flight fails with it: each is retried ``retries`` times, alone in a fresh one-worker
    pool (so a file that kills its worker again cannot take others with it); a file that still
    fails is reported as a ``LostFile`` and the scan goes on with a new pool.
    """

    def __init__(self, jobs: int, *, budget: int = DEFAULT_BUDGET, retries: int = 1) -> None:
        self.jobs = max(1, jobs)
        self.budget = budget
        self.retries = retries
        self.ctx = _pool_context()
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        self._executor, self._broken = ProcessPoolExecutor, BrokenProcessPool
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lists: tuple[str, ...] = ()

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return self._executor(max_workers=workers, mp_context=self.ctx, initializer=_worker_init)

    def _submit(self, pool: ProcessPoolExecutor, index: int, path: str) -> Future[FileResult]:
        return pool.submit(scan_file_result, path, index, record=index > 0, budget=self.budget,
                           pool_lists=self._pool_lists)

    def results(self, items: Sequence[tuple[int, str]],
                pool_lists: Sequence[str] = ()) -> Iterator[FileResult | LostFile]:
        self._pool_lists = tuple(os.fspath(p) for p in pool_lists)
        todo = deque(items)
        flight: deque[tuple[int, str, Future[FileResult] | None]] = deque()
        try:
            while todo or flight:
                while todo and len(flight) < 2 * self.jobs:
                    index, path = todo.popleft()
                    flight.append((index, path, self._try_submit(index, path)))
                index, path, fut = flight[0]
                try:
                    if fut is None:
                        raise self._broken("the pool was broken when the file was submitted")
                    result = fut.result()
                except self._broken:
                    yield from self._recover(flight)
                    continue
                flight.popleft()
                yield result
        finally:
            for _, _, fut in flight:
                if fut is not None:
                    fut.cancel()

    def _try_submit(self, index: int, path: str) -> Future[FileResult] | None:
        if self._pool is None:
            self._pool = self._new_pool(self.jobs)
        try:
            return self._submit(self._pool, index, path)
        except self._broken:
            return None

    def _recover(self, flight: deque[tuple[int, str, Future[FileResult] | None]]) -> Iterator[FileResult | LostFile]:
        """The pool broke: keep what finished, retry the rest alone, then start a new pool."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        while flight:
            index, path, fut = flight.popleft()
            if fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None:
                yield fut.result()
                continue
            log.warning("%s: the worker process scanning it died; %s", path,
                        "retrying it alone" if self.retries else "its results are missing")
            yield self._alone(index, path, self.retries)

    def _alone(self, index: int, path: str, attempts: int) -> FileResult | LostFile:
        for _ in range(attempts):
            pool = self._new_pool(1)
            try:
                return self._submit(pool, index, path).result()
            except self._broken:
                continue
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        return LostFile(index, path, "the worker process scanning it died (killed, out of memory or crashed)")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# -- whole scans ---------------------------------------------------------------------------------
@dataclass
class ScanOutcome:
    """Findings plus what went wrong on the way."""

    findings: dict[str, Any] | None
    lost: list[LostFile] = field(default_factory=list)
    serial: list[tuple[str, str]] = field(default_factory=list)  #: (path, why) files the parent read itself
    files: int = 0  #: files merged into the findings
    continued: int = 0  #: flows of a file merged into a flow of the earlier files

    @property
    def exit_code(self) -> int:
        """0, or ``EXIT_PARTIAL`` when some files' results are missing."""
        return EXIT_PARTIAL if self.lost else 0


def default_jobs() -> int:
    """Worker processes by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def run_jobs(files: Sequence[str | os.PathLike[str]], options: ScanOptions | None = None, *,
             jobs: int | None = None, engine: Engine | None = None, budget: int = DEFAULT_BUDGET,
             retries: int = 1, on_merged: Callable[[FileResult | LostFile], None] | None = None) -> ScanOutcome:
    """Scan ``files`` in the order given, one worker per file, merged into serial findings.

    ``engine``: where the workers run (default: ``LocalEngine(jobs)`` — ``jobs`` defaults to the
    usable cores — or this process when ``jobs`` is 1 or there is one file). ``retries``: times a
    file is retried after its worker process died. ``on_merged`` is called after each file is
    merged (or found lost).
    """
    options = options or ScanOptions()
    names = [os.fspath(f) for f in files]
    own = engine is None
    if engine is None:
        jobs = min(default_jobs() if jobs is None else jobs, len(names))
        engine = LocalEngine(jobs, budget=budget, retries=retries) if jobs > 1 else InlineEngine(budget=budget)
    merger = Merger()
    lists = [os.fspath(p) for p in options.pool_lists]
    try:
        with poollists.using(poollists.intelligence(lists)):
            for result in engine.results(list(enumerate(names)), lists):
                merger.add(_as_given(result, names))
                if options.progress is not None and not isinstance(result, LostFile):
                    options.progress(names[result.index], result.index, len(names), merger.packets)
                if on_merged is not None:
                    on_merged(result)
            findings = merger.findings(options)
    finally:
        if own:
            engine.close()
    return ScanOutcome(findings, merger.lost, merger.serial, merger.files, merger.continued)


def _as_given(result: FileResult | LostFile, names: Sequence[str]) -> FileResult | LostFile:
    """Keep the path as the user gave it (a cluster may have been sent an absolute one)."""
    if isinstance(result, FileResult) and 0 <= result.index < len(names):
        result.path = names[result.index]
        if result.info is not None:
            result.info.path = names[result.index]
    return result


def scan_parallel(paths: Iterable[str | os.PathLike[str]], options: ScanOptions | None = None, *,
                  jobs: int | None = None, engine: Engine | None = None, budget: int = DEFAULT_BUDGET,
                  retries: int = 1) -> ScanOutcome:
    """``scan`` over many workers: inputs expanded as ``scan`` does, files ordered by first timestamp."""
    files = order_files(expand_inputs(paths))
    return run_jobs(files, options, jobs=jobs, engine=engine, budget=budget, retries=retries)


# -- ring-buffer directories ---------------------------------------------------------------------
@dataclass(slots=True)
class _Seen:
    size: int
    mtime_ns: int
    since: float  #: clock time the size or mtime last changed


StopFn = Callable[[], bool]


def watch(directory: str | os.PathLike[str], on_update: Callable[[dict[str, Any], FileResult | LostFile], None],
          options: ScanOptions | None = None, *, engine: Engine | None = None, settle: float = 30.0,
          poll: float = 1.0, max_files: int | None = None, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep, stop: threading.Event | StopFn | None = None) -> ScanOutcome:
    """Scan the captures a ring-buffer writer (``dumpcap -b``) closes in ``directory``, as they close.

    A file is closed once a newer capture file (later modification time) exists beside it —
    dumpcap writes one file at a time — or once its size and modification time have not changed
    for ``settle`` seconds. Closed files are merged in order of modification time into one
    running scan; after each file ``on_update(findings, result)`` gets the findings as if the
    input ended there (live flows are not ended: the next file continues them). Files deleted
    before they are read (the ring overwrote them) are reported as lost.

    Runs until ``stop`` (an Event or a callable) is set, or ``max_files`` files were taken.
    ``clock``/``sleep`` are injectable for tests. Returns the last findings and what was lost.
    """
    options = options or ScanOptions()
    folder = Path(directory)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a directory")
    should_stop: StopFn = stop.is_set if isinstance(stop, threading.Event) else (stop or (lambda: False))
    state = _Watch(folder, engine or InlineEngine(), options, on_update, should_stop, settle)
    with poollists.using(poollists.intelligence(state.lists)):
        while not should_stop() and (max_files is None or state.taken < max_files):
            if not state.take(clock(), None if max_files is None else max_files - state.taken):
                sleep(poll)
    merger = state.merger
    return ScanOutcome(state.findings, merger.lost, merger.serial, merger.files, merger.continued)


class _Watch:
    """The running state of ``watch``: the merged scan, and which files were seen and taken."""

    def __init__(self, folder: Path, engine: Engine, options: ScanOptions,
                 on_update: Callable[[dict[str, Any], FileResult | LostFile], None], should_stop: StopFn,
                 settle: float) -> None:
        self.folder, self.engine, self.options, self.on_update = folder, engine, options, on_update
        self.should_stop, self.settle = should_stop, settle
        self.lists = [os.fspath(p) for p in options.pool_lists]
        self.merger = Merger()
        self.seen: dict[Path, _Seen] = {}
        self.done: dict[Path, tuple[int, int]] = {}  #: path -> (inode, size) of files taken
        self.findings: dict[str, Any] | None = None
        self.taken = 0

    def take(self, now: float, limit: int | None) -> bool:
        """Merge the files closed by now (at most ``limit``); False when there were none."""
        closed = _closed_files(self.folder, self.seen, self.done, now, self.settle)[:limit]
        if not closed:
            return False
        identities = {str(p): ident for p, ident in closed}
        results = self.engine.results([(self.taken + i, str(p)) for i, (p, _) in enumerate(closed)], self.lists)
        try:
            for result in results:
                self.merger.add(result)
                self.done[Path(result.path)] = identities[result.path]
                self.seen.pop(Path(result.path), None)
                self.taken += 1
                self.findings = self.merger.snapshot(self.options)
                self.on_update(self.findings, result)
                if self.should_stop():
                    break
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
        return True


def _closed_files(folder: Path, seen: dict[Path, _Seen], done: dict[Path, tuple[int, int]], now: float,
                  settle: float) -> list[tuple[Path, tuple[int, int]]]:
    """The captures in ``folder`` a writer has finished, oldest first, with their identity."""
    found: list[tuple[int, str, Path, os.stat_result]] = []
    present: set[Path] = set()
    newest_mtime = -1
    for path in folder.iterdir():
        try:
            st = path.stat()
        except OSError:
            continue
        if not path.is_file():
            continue
        present.add(path)
        if done.get(path, (None,))[0] == st.st_ino:
            newest_mtime = max(newest_mtime, st.st_mtime_ns)
            if st.st_size > done[path][1]:
                log.warning("%s: grew after it was scanned; the new records are not in the findings", path)
                done[path] = (st.st_ino, st.st_size)
            continue
        if not is_capture_file(path):
            continue
        newest_mtime = max(newest_mtime, st.st_mtime_ns)
        found.append((st.st_mtime_ns, path.name, path, st))
    for gone in [p for p in seen if p not in present]:
        del seen[gone]
    for gone in [p for p in done if p not in present]:
        del done[gone]
    found.sort()
    closed = []
    for position, (mtime, _, path, st) in enumerate(found):
        state = seen.get(path)
        if state is None or (state.size, state.mtime_ns) != (st.st_size, st.st_mtime_ns):
            state = seen[path] = _Seen(st.st_size, st.st_mtime_ns, now)
        newer = position < len(found) - 1 or mtime < newest_mtime
        if newer or now - state.since >= settle:
            closed.append((path, (st.st_ino, st.st_size)))
        else:
            break  # a file still being written: later ones (none, or equally new) wait for it
    return closed


def install_stop_handlers(event: threading.Event,
                          signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> Callable[[], None]:
    """Set ``event`` on SIGTERM/SIGINT (a watch then stops after the current file); returns a
    function that restores the previous handlers. Call from the main thread."""
    previous = {sig: signal.signal(sig, lambda signum, frame: event.set()) for sig in signals}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
