"""The fast path of ``minesweep scan``: a compiled kernel reads the capture, Python sees only the
packets it would inspect.

The pure path reads every packet into a ``Packet`` and gives it to ``FlowTable.add``. Most of
them only move counters of flows whose payload nobody looks at. The kernel
(``detector._fastpath``, source ``detector/_fastpath.c``) walks the pcap / pcapng records itself,
decodes link, IP and TCP/UDP headers exactly as ``detector.capture`` does, and keeps those
counters for flows in the table's states "new" and "ignored". It hands Python:

* a ``Prelude`` (the flow's state so far) and then every packet of a TCP flow, from its first
  segment that ``could_be_mining`` until ``FlowTable`` ignores it (``on_ignore`` -> kernel) —
  except where the kernel is certain that the table would ignore the flow at once, recording
  nothing: a ClientHello naming an ordinary server (``FastCounts.tls_settled``), or a plain GET
  whose response head is an ordinary one, no JSON and no download (``http_settled``), or JSON-RPC
  whose first messages are other protocols' methods (``rpc_settled``). Such a flow's packets are
  held back from its first hinted segment until they tell, and handed over with the flow as soon
  as anything else comes (see "Holding flows" in ``_fastpath.c``);
* the DNS responses (UDP, port 53: DNS answers name pools) for ``FlowTable.dns_answer`` — the
  usual one already read, for ``FlowTable.dns_answered``, where the table reads answers as
  ``FlowTable`` does — and every packet of a flow that replaces one Python holds (so that Python
  ends the old one at the same packet as the pure path);
* IPv4 / IPv6 fragments: reassembled here with ``detector.capture.ip.IPDecoder`` and fed back
  through the kernel's per-packet logic (``Kernel.observe``), in capture order;
* the idle sweep, at the same packet and capture time as ``FlowTable.add`` would run it;
* capture warnings, with the wording and offsets of the Python reader;
* the counts of pure ACKs of the flows it hands over (no payload, no SYN/FIN/RST: ``add`` would
  only count them), held back and given to ``FlowTable.credit`` where the table reads them —
  before a packet the table would otherwise find idle, before the flow ends, before each sweep
  and at the end of the file (only when the table has ``credit``);
* a ``FlowSummary`` (detector.behaviour) of EVERY flow when it ends — replaced, idle, swept, or
  at the end of the scan (``finish_scan``) — appended to ``table.summaries``: the kernel keeps the
  flow-shape counters over every packet, equal to what ``FlowTable.add`` keeps when it sees them
  all, so the table itself must not summarise (``keep_summaries`` is set False). A store that
  keeps and reads TCP summaries only (``SummaryStore.tcp_only``) is given no other; one that takes
  a flow as its behaviour alone (``SummaryStore.behaviour_only``) is given, at the end of the scan,
  each live TCP flow whose summary the scan does not read (``summary_gate``; the table's sessions
  and live flows are told to ``Kernel.finish``) as the few fields ``Behaviour.tcp`` reads.

Before each sweep and at the end of each file the table's flows are put back in creation order
(``FlowTable.live`` / ``detach`` / ``install``): the pure table holds them in that order, and
flows that end together (sweep, ``finish``) end, and warn, in it.

The findings are the same as the pure path's: same sessions, DNS names, warnings, flow summaries
(in the same order), and the table's ``flows_seen`` (the kernel's count is added to it). The
"IPs screened" count is in ``FastCounts`` (the kernel counts distinct addresses instead of
keeping their text).

Public API:

``fast_scan_file(path, table, progress=None, threads=None, *, settle=True) -> (CaptureInfo, FastCounts)``
    Read one capture through ``table``. Several files of one scan share one kernel (kept with the
    table), so a connection spanning two files of a rotated capture stays one flow. Raises what
    ``open_capture`` raises for files that cannot be read or are not captures. ``settle=False``
    returns before the file's SHA-256 is known; ``info.settle()`` waits for it.
``finish_scan(table) -> None``
    The end of a fast scan, before ``table.finish()``: the kernel ends the flows still live (they
    stay live from file to file), their summaries join ``table.summaries``, and the table lets go
    of the kernel.
``FastScanner(table, threads=None)``
    The same as an object: ``scan_file(path, progress=None, *, settle=True) -> CaptureInfo``, ``finish()`` and
    ``counts``.
``available() -> bool``
    True when the compiled kernel is importable.
``threads_default() -> bool``
    Whether the walker thread is used (``MINESWEEP_FAST_THREADS``, on unless "0").

Pipelining. The kernel's walk (records, headers, flow table, selection) runs without the GIL and
records its events as C structs; Python objects are made only when a batch is iterated here. For
a plain file (memory-mapped) the walk runs in the kernel's own walker thread, up to a few batches
ahead: while this thread gives batch N to the table, the walker walks batch N+1, N+2... The
table's ignores therefore reach the kernel late (they are applied when the next walk starts);
meanwhile the kernel drops the events of those flows from the batches already walked, by the flow's serial number, so a newer flow on the same addresses and
ports is never affected. A batch that ends at an IP fragment is a barrier: the walker waits until
the reassembled packet has been observed. gzip files are inflated by
``detector.capture.pcap.Stream`` in bounded blocks and walked serially, block by block, a record
cut by a block boundary carried over to the next walk; so is every file when
``MINESWEEP_FAST_THREADS=0`` (or ``FastScanner(table, threads=False)``), for debugging.

Hashing. A plain file's SHA-256 is computed by ``detector.prehash`` (begun at the
command's start, or when the file is opened) through a file descriptor of its own, in the
kernel's ``Hasher`` thread: the walker closes its gate while it walks with little lead over
Python, so the hash fills the time the walker leaves and takes its core only when it can spare it.
The scan need not wait for the digest either: ``scan`` settles it when it writes the inputs of
the findings, so the hash also runs beside the summaries and the findings.
"""

from __future__ import annotations

import ipaddress
import mmap
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from detector import dialects, flows, poollists, prehash
from detector.behaviour import DOWNLOAD_MAGIC, FIRST_PAYLOADS, SCRIPT_TYPES, FlowSummary
from detector.capture import ip as ip_layer
from detector.capture import link, open_capture, pcapng
from detector.capture.model import CaptureInfo, Packet
from detector.capture.pcap import MAX_CAPLEN, Stream, Warnings
from detector.errors import UnreadableInputError
from detector.reassembly import PEEK_BYTES

try:
    from detector import _fastpath
except ImportError:  # not built: the scan falls back to the pure path
    _fastpath = None  # type: ignore[assignment]

__all__ = ["FastCounts", "FastScanner", "available", "fast_scan_file", "finish_scan", "threads_default"]

BUDGET = 4 << 20  #: stored bytes the kernel reads per call (bounds the events held at once)
#: mapped bytes walked before their pages are dropped from the mapping (``Kernel.release``: by
#: the walker; without it a scan's resident memory would grow with the size of the capture, as
#: mapped file pages count as resident; each drop interrupts the other core to flush its TLB:
#: once per 32 MiB, not per batch)
RELEASE_EVERY = 32 << 20

ProgressFn = Callable[[int], None]  #: called with the TCP/UDP packets decoded so far in the file
THREADS_ENV = "MINESWEEP_FAST_THREADS"  #: "0": walk in the scanning thread (no walker thread)


@dataclass(frozen=True, slots=True)
class FastCounts:
    """What the kernel counted over the whole scan so far."""

    flows_seen: int  #: flows created (as ``FlowTable.flows_seen`` counts them)
    ips_screened: int  #: distinct addresses of those flows (the pure path's "IPs screened")
    selected: int  #: packets handed to Python (inspected flows, DNS answers, replacements), held ACKs included
    held: int = 0  #: of those, pure ACKs handed over as counts only (``FlowTable.credit``)
    tls_settled: int = 0  #: TLS flows the kernel settled as an ordinary server's without handing them over
    http_settled: int = 0  #: HTTP flows the kernel settled at an ordinary response head without handing them over
    rpc_settled: int = 0  #: JSON-RPC flows without a mining method the kernel settled without handing them over


def available() -> bool:
    """True when the compiled kernel ``detector._fastpath`` is importable."""
    return _fastpath is not None


def summary_gate() -> tuple[float, int, int, int, tuple[int, ...]]:
    """The kernel's ``summary_gate``: which summaries a scan reads beyond their hosts' behaviour
    (detector.scan.build_findings). ``flowshape.suspected_sessions`` reads the flows
    ``flowshape.eligible`` passes (its rules' minimum duration and payload packets),
    ``encrypted.sv2_session`` the flows whose first payloads may open a Stratum V2 handshake;
    ``FastScanner.finish`` adds the 4-tuples of the table's sessions and live flows, and the kernel
    keeps whole every summary of a 4-tuple of either (sessions are matched to their flows'
    summaries by 4-tuple)."""
    from detector import encrypted, flowshape

    rules = flowshape.load_flowshape_rules()
    return (rules.min_duration_s, rules.min_payload_packets, rules.min_payload_packets_each_way,
            encrypted.SV2_MIN_FIRST, tuple(sorted(encrypted.SV2_FIRST_SIZES)))


def threads_default() -> bool:
    """Whether plain files are walked by the kernel's walker thread (``MINESWEEP_FAST_THREADS``)."""
    return os.environ.get(THREADS_ENV, "1").strip() not in ("0", "no", "false", "off")


def _name6(raw: bytes) -> str:
    """IPv6 text for the kernel's IPv4-mapped addresses (their form depends on the Python version)."""
    return ipaddress.IPv6Address(raw).compressed


class FastScanner:
    """The kernel of one scan, bound to its ``FlowTable`` (it sets ``table.on_ignore``).

    ``threads``: walk plain files in the kernel's walker thread, beside the table (default:
    ``MINESWEEP_FAST_THREADS``, on unless "0"); False walks in this thread, batch after batch.
    """

    def __init__(self, table: flows.FlowTable, threads: bool | None = None) -> None:
        if _fastpath is None:
            raise RuntimeError("detector._fastpath is not built (pip install -e . or "
                               "python setup.py build_ext --inplace)")
        self.table = table
        self.threads = threads_default() if threads is None else threads
        #: the store takes flows as their behaviour alone: the kernel gives them so at the end
        self._gated = bool(getattr(table.summaries, "behaviour_only", False))
        credit = getattr(table, "credit", None)
        dns_answer = getattr(table, "dns_answer", None)
        dns_answered = getattr(table, "dns_answered", None)
        # the kernel reads the usual DNS responses itself (EV_ANSWERS) for a table that reads them
        # as FlowTable does; a table with a dns_answer of its own is given every message
        read_answers = callable(dns_answered) and getattr(type(table), "dns_answer", None) is flows.FlowTable.dns_answer
        self.kernel = _fastpath.Kernel(
            hints=tuple(flows.HINTS),
            unhinted_limit=flows.UNHINTED_LIMIT,
            idle_timeout=flows.IDLE_TIMEOUT,
            sweep_every=flows.SWEEP_EVERY,
            max_caplen=MAX_CAPLEN,
            max_block=pcapng.MAX_BLOCK,
            max_tags=link.MAX_TAGS,
            max_ext_headers=ip_layer.MAX_EXT_HEADERS,
            addr_cache_size=ip_layer.ADDR_CACHE_SIZE,
            packet_cls=Packet,
            prelude_cls=flows.Prelude,
            name6=_name6,
            seed=int.from_bytes(os.urandom(8), "little"),
            hold_acks=callable(credit),  # a table without the hook is given every packet
            summary_cls=FlowSummary,
            # a store that keeps and reads TCP summaries only (SummaryStore) is not given the others
            tcp_summaries_only=bool(getattr(table.summaries, "tcp_only", False)),
            # ... and given the flows live at the end whose summaries nobody reads as their behaviour
            summary_gate=summary_gate() if self._gated else None,
            first_payloads=FIRST_PAYLOADS,
            dns_events=callable(dns_answer),  # a table without the hook holds its DNS flows
            dns_answers=read_answers,
            # TlsWatch's quick settle, in the kernel: every name the scan's pool intelligence holds
            pool_domains=tuple(poollists.active().index),
            # FlowTable._http_head's quick settle of a GET's ordinary response, in the kernel
            download_magic=tuple(magic for magic, _ in DOWNLOAD_MAGIC),
            script_types=SCRIPT_TYPES,
            peek_bytes=PEEK_BYTES,
            # FlowTable._message's limits for JSON-RPC that shows no mining method, in the kernel
            methods=tuple(dialects.METHODS),
            message_limit=flows.UNCONFIRMED_MESSAGE_LIMIT,
            foreign_limit=flows.FOREIGN_METHOD_LIMIT,
        )
        # FlowTable's idle sweep, run when the kernel's packet count says (see _dispatch);
        # FlowTable.sweep(now), or the private _sweep of a flows.py that predates it
        public = getattr(table, "sweep", None)
        self._sweep: Callable[[float], None] = public if callable(public) else table._sweep
        self._credit: Callable[..., None] | None = credit if callable(credit) else None
        self._dns_answer: Callable[[float, str, bytes], None] | None = dns_answer if callable(dns_answer) else None
        self._dns_answered: Callable[..., None] | None = dns_answered if read_answers else None
        self._current: tuple[Any, ...] | None = None  # the packet event being added
        #: serial number (= creation order) of each flow handed to the table, by its key
        self._fids: dict[tuple[str, int, str, int, int], int] = {}
        self._can_reorder = all(callable(getattr(table, name, None)) for name in ("live", "detach", "install"))
        self._warn: Warnings | None = None
        self._ipdec: ip_layer.IPDecoder | None = None
        table.on_ignore = self._on_ignore
        # the kernel summarises every flow, the ones Python holds included: the table must not too
        table.keep_summaries = False

    @property
    def counts(self) -> FastCounts:
        return FastCounts(*self.kernel.counts())

    # -- one file -------------------------------------------------------------------------------
    def scan_file(self, path: str | os.PathLike[str], progress: ProgressFn | None = None, *,
                  settle: bool = True) -> CaptureInfo:
        """Read one capture; return its ``CaptureInfo`` (as ``open_capture`` would fill it).
        ``settle=False``: return once the file is walked, its SHA-256 maybe still being computed
        (``info.settle()`` waits for it)."""
        name = os.fspath(path)
        with open_capture(name) as probe:  # same sniffing, same errors as the pure path
            fmt = probe.info.format
        info = CaptureInfo(path=name, format=fmt)
        warn = Warnings(info.warnings)
        ipdec = ip_layer.IPDecoder()
        self._warn, self._ipdec = warn, ipdec
        flows_before = self.kernel.counts()[0]
        self.kernel.begin(_fastpath.KIND_PCAPNG if fmt.startswith("pcapng") else _fastpath.KIND_PCAP)
        try:
            if fmt.endswith("+gzip"):
                self._read_gzip(name, info, warn, progress)
            else:
                self._read_mapped(name, info, progress, settle)
        finally:
            self._warn = self._ipdec = None
            self._current = None
        self._creation_order()  # the table may end its flows now (finish)
        self.table.flows_seen += self.kernel.counts()[0] - flows_before
        return info

    def finish(self) -> None:
        """The end of the scan, before ``FlowTable.finish``: the kernel ends every flow still live
        (flows stay live from one file to the next) and their summaries join ``table.summaries`` —
        as their behaviour alone where the store takes that (``summary_gate``)."""
        table = self.table
        store = table.summaries
        summary_event, keep = _fastpath.EV_SUMMARY, store.append
        behaviour_event = _fastpath.EV_BEHAVIOUR
        tcp = store.behaviour.tcp if self._gated else None
        # the flows whose summaries are read (by 4-tuple) besides those the kernel's gate lets by:
        # every session so far, and every live flow (one may become a session as the table ends it)
        read = ([(s.client, s.client_port, s.server, s.server_port) for s in table.sessions]
                + [key[:4] for key, _ in table.live()]) if self._gated else None
        for event in self.kernel.finish(read):  # nearly all summaries: the others in order, as _dispatch does
            kind = event[0]
            if kind == behaviour_event:
                assert tcp is not None
                tcp(*event[1:])
            elif kind == summary_event:
                keep(event[2])
            else:
                self._dispatch((event,))

    def _read_mapped(self, name: str, info: CaptureInfo, progress: ProgressFn | None, settle: bool) -> None:
        try:
            with open(name, "rb") as fileobj:
                size = os.fstat(fileobj.fileno()).st_size
                # SHA-256 in a thread of its own, through its own descriptor, while the kernel walks the
                # mapping: begun at the command's start if the file is unchanged since
                # (detector.prehash), or now
                hashing = prehash.take(fileobj.fileno()) or prehash.begin(fileobj.fileno())
                try:
                    data = mmap.mmap(fileobj.fileno(), 0, access=mmap.ACCESS_READ)
                except BaseException:
                    hashing.cancel()
                    raise
        except (OSError, ValueError) as exc:
            raise UnreadableInputError(f"{name}: cannot map the file ({exc})") from None
        try:
            if hasattr(data, "madvise"):
                data.madvise(mmap.MADV_SEQUENTIAL)
            if self.threads:
                self._drive_walker(data, progress, hashing.native)
            else:
                self._drive(data, 0, 0, True, progress)
            self._summaries(info)
        except BaseException:
            hashing.cancel()
            raise
        finally:
            data.close()
        info.size, info.sha256_later = size, hashing
        if settle:
            info.settle()
        assert self._warn is not None
        self._warn.close()

    def _read_gzip(self, name: str, info: CaptureInfo, warn: Warnings, progress: ProgressFn | None) -> None:
        try:
            fileobj = open(name, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UnreadableInputError(f"{name}: cannot open ({exc.strerror or exc})") from None
        try:
            stream = Stream(fileobj, warn)
            final = False
            while True:
                pos, status, need = self._drive(stream.buf, stream.pos, stream.base, final, progress)
                stream.pos = pos
                if status == _fastpath.ST_DONE:
                    break
                final = not stream.more(need)  # the record at pos needs `need` bytes
            self._summaries(info)
            stream.finish()
            info.sha256, info.size = stream.sha256, stream.stored
            warn.close()
        finally:
            fileobj.close()

    def _drive(self, buf: Any, pos: int, base: int, final: bool,
               progress: ProgressFn | None) -> tuple[int, int, int]:
        """Walk ``buf[pos:]`` in this thread until the kernel needs more bytes or the file ends."""
        walk = self.kernel.walk
        more = _fastpath.ST_MORE
        while True:
            batch = walk(buf, pos, base, final, BUDGET)
            try:
                self._dispatch(batch)
            finally:
                batch.close()  # the buffer may be replaced (gzip) or unmapped next
            pos, status, need = batch.pos, batch.status, batch.need
            if progress is not None:
                progress(batch.decoded)
            if status != more:
                return pos, status, need

    def _drive_walker(self, data: mmap.mmap, progress: ProgressFn | None, hasher: Any = None) -> None:
        """Walk the whole mapped file in the kernel's walker thread, dispatching batch after batch
        (holding ``hasher``, the file's ``_fastpath.Hasher``, back while the walker walks)."""
        kernel = self.kernel
        kernel.start(data, 0, 0, BUDGET, hasher)
        released = 0
        try:
            while True:
                batch = kernel.next()
                if batch is None:
                    return
                try:
                    self._dispatch(batch)
                finally:
                    batch.close()
                if batch.pos - released >= RELEASE_EVERY:  # the walker reads ahead of batch.pos only
                    kernel.release(batch.pos)  # its pages dropped from the mapping, by the walker
                    released = batch.pos
                if progress is not None:
                    progress(batch.decoded)
                if batch.status != _fastpath.ST_MORE:
                    return
        finally:
            kernel.stop()  # joins the walker and lets go of the mapping (also on errors)

    def _summaries(self, info: CaptureInfo) -> None:
        """Counters and end-of-file warnings, in the order ``Capture`` writes them."""
        (info.packets, info.bytes, info.first_ts, info.last_ts, linktypes, unsupported,
         malformed, truncated, _decoded) = self.kernel.file_stats()
        info.linktypes = list(linktypes)
        warn, ipdec = self._warn, self._ipdec
        assert warn is not None and ipdec is not None
        for linktype, offset, count in unsupported:  # the wording of LinkTable.summary
            warn.add(offset, f"link type {linktype} not supported: {count} packets counted, not decoded")
        ipdec.malformed += malformed
        ipdec.truncated += truncated
        for message in ipdec.summary():
            warn.add(None, message)

    # -- events -----------------------------------------------------------------------------------
    def _dispatch(self, events: Iterable[tuple[Any, ...]]) -> None:
        """Give one batch to the table. The batch drops, as it is read, the events of flows the
        table has ignored since the kernel walked them (``_on_ignore``)."""
        add, adopt = self.table.add, self.table.adopt
        packet_event, prelude_event = _fastpath.EV_PACKET, _fastpath.EV_PRELUDE
        sweep_event, warn_event, acks_event = _fastpath.EV_SWEEP, _fastpath.EV_WARN, _fastpath.EV_ACKS
        summary_event, summaries = _fastpath.EV_SUMMARY, self.table.summaries
        dns_event, dns_answer = _fastpath.EV_DNS, self._dns_answer
        answers_event, dns_answered = _fastpath.EV_ANSWERS, self._dns_answered
        try:
            for event in events:
                kind = event[0]
                if kind == packet_event:
                    self._current = event
                    add(event[2])
                elif kind == answers_event:
                    assert dns_answered is not None
                    self._current = None
                    dns_answered(*event[1:])
                elif kind == dns_event:
                    assert dns_answer is not None
                    self._current = None
                    dns_answer(event[1], event[2], event[3])
                elif kind == acks_event:
                    assert self._credit is not None
                    self._current = None
                    self._credit(*event[2:])
                elif kind == summary_event:
                    summaries.append(event[2])
                elif kind == prelude_event:
                    self._current = None
                    pre = event[2]
                    self._fids[(pre.a, pre.ap, pre.b, pre.bp, pre.proto)] = event[1]
                    adopt(pre)
                elif kind == sweep_event:
                    self._current = None
                    self._creation_order()
                    self._sweep(event[1])
                elif kind == warn_event:
                    assert self._warn is not None
                    self._warn.add(event[1], event[2])
                else:
                    self._current = None
                    self._fragment(event[1], event[2], event[3])
        finally:
            self._current = None

    def _creation_order(self) -> None:
        """Put the table's flows in the order the pure path holds them: the order they were
        created in (the kernel's serial numbers), not the order they were handed over in. The
        sweep and ``finish`` end flows in that order, and the warnings of flows ending together
        come out in it. Only the flows after the longest prefix already in order move; serial
        numbers of flows no longer live are forgotten."""
        if not self._can_reorder:
            return
        table, fids = self.table, self._fids
        live = table.live()
        serials = [fids.get(key, -1) for key, _ in live]
        self._fids = {key: serial for (key, _), serial in zip(live, serials)}
        target = sorted(serials)
        if serials == target:
            return
        keep = 0
        while serials[keep] == target[keep]:
            keep += 1
        for key, flow in sorted(live[keep:], key=lambda item: fids.get(item[0], -1)):
            table.detach(key)
            table.install(key, flow)

    def _fragment(self, version: int, data: bytes, ts: float) -> None:
        """An IP fragment: reassemble as the pure path does, then through the kernel's flow logic."""
        ipdec = self._ipdec
        assert ipdec is not None
        decode = ipdec.v4 if version == 4 else ipdec.v6
        packet = decode(data, 0, len(data), ts)
        if packet is not None:  # the walker waits at this fragment's batch meanwhile
            self._dispatch(self.kernel.observe(packet))

    def _on_ignore(self, a: str, ap: int, b: str, bp: int, proto: int) -> None:
        """FlowTable stopped inspecting a flow: the kernel stops selecting its packets.

        Only the flow of the packet being added can be ignored while the kernel still holds it
        (flows ended by a sweep or a replacement are gone from the kernel already). The kernel
        applies the ignore when its next walk starts, to that flow instance only (its serial
        number guards a newer flow on the same addresses and ports), and drops the flow's events
        from the batches walked before — the rest of this one included.
        """
        event = self._current
        if event is None:
            return
        p: Packet = event[2]
        if proto == p.proto and ((a, ap, b, bp) == (p.src, p.sport, p.dst, p.dport)
                                 or (b, bp, a, ap) == (p.src, p.sport, p.dst, p.dport)):
            self.kernel.ignore(a, ap, b, bp, proto, event[1])


def fast_scan_file(path: str | os.PathLike[str], table: flows.FlowTable, progress: ProgressFn | None = None,
                   threads: bool | None = None, *, settle: bool = True) -> tuple[CaptureInfo, FastCounts]:
    """Read one capture through ``table`` with the compiled kernel; see the module docstring.

    The kernel is kept with the table (it is the table's ``on_ignore`` hook), so calling this for
    each file of a scan with the same table continues the same flows. ``threads``: see
    ``FastScanner`` (a kernel already kept with the table keeps its mode unless given).
    ``settle``: see ``FastScanner.scan_file``.
    """
    hook = table.on_ignore
    scanner = getattr(hook, "__self__", None)
    if not isinstance(scanner, FastScanner) or scanner.table is not table:
        scanner = FastScanner(table, threads)
    elif threads is not None:
        scanner.threads = threads
    info = scanner.scan_file(path, progress, settle=settle)
    return info, scanner.counts


def finish_scan(table: flows.FlowTable) -> None:
    """End the fast scan of ``table`` before ``table.finish()``: the summaries of the flows still
    live in its kernel go to ``table.summaries`` (nothing to do when no file was read fast), and
    the table lets go of the kernel. Its hook is the kernel's bound method, which holds the
    table: kept, the table and its summaries (tens of thousands of objects) would wait for a GC
    pass to be freed. What ``table.finish()`` then ignores concerns no kernel any more."""
    scanner = getattr(table.on_ignore, "__self__", None)
    if isinstance(scanner, FastScanner) and scanner.table is table:
        scanner.finish()
        table.on_ignore = None
