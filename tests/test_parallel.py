"""Parallel scans (detector.parallel): per-file workers merged in file order give the findings of
one serial scan — on the bundled samples, the corpus, and captures split at arbitrary packet
boundaries (mid-message, between a submit and its reply, inside a retransmitted SYN) — plus
the ring-buffer watch, worker death, deleted and growing files.

Captures are split with the helpers below (classic pcap and pcapng, gzip undone): every part
repeats the file header (pcapng: the section header and interface blocks), records are copied
byte for byte.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import random
import signal
import struct
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, PCAPS

from detector import parallel
from detector.capture import open_capture
from detector.capture.model import ACK, FIN, SYN, TCP, Packet
from detector.errors import InputError, UnreadableInputError
from detector.flows import FlowTable
from detector.parallel import (
    EXIT_PARTIAL,
    FileResult,
    LocalEngine,
    LostFile,
    Merger,
    install_stop_handlers,
    order_files,
    run_jobs,
    scan_file_result,
    scan_parallel,
    watch,
)
from detector.scan import ScanOptions, expand_inputs
from detector.scan import scan as _scan

ZCASH = PCAPS / "zcash-equihash-sll-be.pcap"
GBT = PCAPS / "bitcoin-gbt-getwork-null-ns.pcap"
ETH_P2P = CORPUS / "ndpi" / "ethereum.pcap"  # SYNs retransmitted 1.1 s apart
_PCAP = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}


# -- helpers -------------------------------------------------------------------------------------
def records(path: Path) -> tuple[bytes, list[bytes]]:
    """(header, records) of a pcap or pcapng capture, gzip undone."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[:4] in _PCAP:
        order, pos, out = _PCAP[data[:4]], 24, []
        while pos + 16 <= len(data):
            caplen = struct.unpack_from(order + "I", data, pos + 8)[0]
            out.append(data[pos:pos + 16 + caplen])
            pos += 16 + caplen
        return data[:24], out
    assert data[:4] == b"\x0a\x0d\x0d\x0a", path
    order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    pos, head, out = 0, [], []
    while pos + 12 <= len(data):
        btype, blen = struct.unpack_from(order + "II", data, pos)
        (head if btype in (0x0A0D0D0A, 1) else out).append(data[pos:pos + blen])
        pos += blen
    return b"".join(head), out


def split(path: Path, cuts: list[int], out_dir: Path, stem: str = "part") -> list[Path]:
    """Write the records of ``path`` as len(cuts)+1 captures, cut before each record index."""
    out_dir.mkdir(parents=True, exist_ok=True)
    head, recs = records(path)
    ext = ".pcapng" if head[:4] == b"\x0a\x0d\x0d\x0a" else ".pcap"
    bounds = [0, *cuts, len(recs)]
    files = []
    for n, (a, b) in enumerate(zip(bounds, bounds[1:])):
        f = out_dir / f"{stem}_{n:03d}{ext}"
        f.write_bytes(head + b"".join(recs[a:b]))
        files.append(f)
    return files


def scan(files: list[Path]) -> dict[str, Any]:
    """The reference: one serial scan through one flow table, every packet through Python."""
    return _scan(files, ScanOptions(engine="pure"))


def masked(findings: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(findings))
    doc["generated_at"] = doc["command"] = "<masked>"
    for item in doc["inputs"]:
        item["path"] = "<masked>"
    return doc


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    got, want = masked(got), masked(want)
    assert got.keys() == want.keys()
    for section in want:
        assert got[section] == want[section], f"{section} differs from the serial scan"


def merged(files: list[Path], budget: int = parallel.DEFAULT_BUDGET) -> tuple[dict[str, Any], Merger]:
    """Workers run here one after the other, merged as a pool's results would be."""
    merger = Merger()
    for i, f in enumerate(files):
        merger.add(scan_file_result(f, i, record=i > 0, budget=budget))
    return merger.findings(ScanOptions()), merger


def serial_table(files: list[Path]) -> FlowTable:
    """One serial flow table over ``files``, finished (for what findings show only in part)."""
    table = FlowTable(keep_summaries=True)
    for f in files:
        with open_capture(f) as capture:
            for packet in capture:
                table.add(packet)
    table.finish()
    return table


def assert_same_table(merged: FlowTable, serial: FlowTable) -> None:
    """Every flow's summary, download and pool name of the merged table equals the serial table's."""
    def order(s: Any) -> tuple:
        return (s.a, s.ap, s.b, s.bp, s.proto, s.first_ts)
    assert sorted(merged.summaries, key=order) == sorted(serial.summaries, key=order)
    assert merged.downloads == serial.downloads
    assert merged.pool_names_seen == serial.pool_names_seen
    assert merged.flows_seen == serial.flows_seen


def raw_tcp(ts: float, src: str, dst: str, sport: int, dport: int, flags: int, seq: int, payload: bytes) -> bytes:
    """One pcap record (linktype 228, raw IPv4) of a TCP segment."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, TCP, 0,
                     bytes(int(x) for x in src.split(".")), bytes(int(x) for x in dst.split(".")))
    frame = ip + tcp
    sec = int(ts)
    return struct.pack("<IIII", sec, int(round((ts - sec) * 1e6)), len(frame), len(frame)) + frame


def bulk_capture(path: Path, packets: int, t0: float, port: int) -> Path:
    """A capture of one TCP connection moving ``packets`` small segments of non-mining bytes."""
    client, server = "10.9.0.2", "192.0.2.80"
    recs = [raw_tcp(t0, client, server, port, 443, SYN, 1000, b""),
            raw_tcp(t0 + 0.001, server, client, 443, port, SYN | ACK, 5000, b""),
            raw_tcp(t0 + 0.002, client, server, port, 443, ACK, 1001, b"")]
    # the same record again and again: to an ignored flow, a copy is as good as the next segment
    recs.append(raw_tcp(t0 + 0.003, client, server, port, 443, ACK, 1001, b"\x17\x03\x03\x00\x10" + b"z" * 16) * packets)
    recs.append(raw_tcp(t0 + 0.004, client, server, port, 443, FIN | ACK, 1022, b""))
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 228) + b"".join(recs))
    return path


def zcash_cuts() -> list[int]:
    """Record indexes that cut the zcash sample inside a submit's message and between a later submit
    and its reply."""
    _, recs = records(ZCASH)
    mid = next(i for i, r in enumerate(recs) if b'"method":"mining.submit"' in r and not r.endswith(b"\n"))
    submit = next(i for i in range(mid + 30, len(recs)) if b'"method":"mining.submit"' in recs[i])
    ident = recs[submit].split(b'{"id":', 1)[1].split(b",", 1)[0]
    reply = next(i for i in range(submit + 1, len(recs)) if b'{"id":' + ident + b',"result"' in recs[i])
    assert mid + 1 < submit < reply
    return [mid + 1, reply]


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return split(ZCASH, zcash_cuts(), tmp_path_factory.mktemp("rotated"))


@pytest.fixture(scope="module")
def pool() -> LocalEngine:
    engine = LocalEngine(2)
    yield engine
    engine.close()


def corpus_captures() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name.endswith((".pcap", ".pcapng", ".pcap.gz")))


# -- equality with the serial scan ---------------------------------------------------------------
def test_rotated_mining_session_stays_one_session(rotated: list[Path], pool: LocalEngine) -> None:
    whole = scan([ZCASH])
    outcome = run_jobs(rotated, engine=pool)
    assert outcome.exit_code == 0 and outcome.serial == [] and outcome.lost == []
    assert outcome.continued >= 1
    assert_same(outcome.findings, scan(rotated))
    mining = [s for s in outcome.findings["sessions"] if s["server_port"] == 3333]
    (want,) = [s for s in whole["sessions"] if s["server_port"] == 3333]
    assert len(mining) == 1
    got = mining[0]
    for field in ("submits", "accepted", "rejected", "bytes_c2s", "bytes_s2c", "packets_c2s", "packets_s2c",
                  "first_seen", "last_seen", "stream_gaps"):
        assert got[field] == want[field], field
    assert got == want
    assert outcome.findings["hosts"] == whole["hosts"]


def test_jobs_2_equals_serial_on_bundled_samples(pool: LocalEngine) -> None:
    files = order_files(expand_inputs([PCAPS]))
    outcome = run_jobs(files, engine=pool)
    assert outcome.lost == [] and outcome.files == len(files)
    assert_same(outcome.findings, scan(files))


def test_jobs_2_equals_serial_on_corpus_captures(pool: LocalEngine) -> None:
    files = order_files(corpus_captures())
    assert len(files) >= 10
    outcome = run_jobs(files, engine=pool)
    assert outcome.lost == []
    assert_same(outcome.findings, scan(files))


def _sample_sources() -> list[Path]:
    sources = sorted(p for p in PCAPS.iterdir() if p.name.endswith((".pcap", ".pcapng", ".pcap.gz")))
    return sources + [CORPUS / "ndpi" / "mining.pcapng", CORPUS / "ndpi" / "old" / "ethereum.pcap", ETH_P2P,
                      CORPUS / "zeek-cryptomining" / "Traces" / "bitcoin-mining.pcap",
                      CORPUS / "zeek-cryptomining" / "Traces" / "coinhive-stratum.pcap"]


@pytest.mark.parametrize("source", _sample_sources(), ids=lambda p: p.name)
def test_random_packet_boundaries_give_serial_findings(source: Path, tmp_path: Path) -> None:
    _, recs = records(source)
    rng = random.Random(source.name)
    continued = 0
    for trial in range(4):
        cuts = sorted(rng.sample(range(1, len(recs)), min(rng.randint(1, 12), len(recs) - 1)))
        files = split(source, cuts, tmp_path / str(trial))
        got, merger = merged(files)
        assert_same(got, scan(files))
        assert merger.serial == [], cuts
        assert_same_table(merger.table, serial_table(files))
        continued += merger.continued
    assert continued > 0


def test_user_pool_lists_reach_the_workers(tmp_path: Path, pool: LocalEngine) -> None:
    listed = tmp_path / "pools.txt"
    listed.write_text("# the TLS server of the sample's VLAN updater, as a user's list would name it\nupdates.example.com\n")
    source = PCAPS / "stratum-btc-ltc-vlan.pcap"
    files = split(source, [len(records(source)[1]) // 3, 2 * len(records(source)[1]) // 3], tmp_path / "parts")
    options = ScanOptions(pool_lists=[listed])
    outcome = run_jobs(files, options, engine=pool)
    want = _scan(files, ScanOptions(engine="pure", pool_lists=[listed]))
    assert_same(outcome.findings, want)
    assert len(want["sessions"]) == len(scan(files)["sessions"]) + 1  # the list made a TLS session a pool's


def test_results_survive_pickling(rotated: list[Path]) -> None:
    results = [scan_file_result(f, i, record=i > 0) for i, f in enumerate(rotated)]
    assert any(r.continuations for r in results) and any(r.live for r in results)
    merger = Merger()
    for r in results:
        merger.add(pickle.loads(pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)))
    assert_same(merger.findings(ScanOptions()), scan(rotated))


# -- continuation records: every way a flow crosses a file boundary ------------------------------
def test_retransmitted_syn_across_the_boundary_joins_the_earlier_flow(tmp_path: Path) -> None:
    with open_capture(ETH_P2P) as capture:
        times = [p.ts for p in capture if p.sport == 56625 and p.flags & (SYN | ACK) == SYN]
    assert len(times) == 2  # the same SYN, sent again 1.1 s later
    _, recs = records(ETH_P2P)
    stamps = [struct.unpack_from("<I", r)[0] + struct.unpack_from("<I", r, 4)[0] / 1e6 for r in recs]
    cut = next(i for i, ts in enumerate(stamps) if ts > times[0] + 0.5)
    files = split(ETH_P2P, [cut], tmp_path)
    got, merger = merged(files)
    assert merger.serial == [] and merger.continued > 0
    assert_same(got, scan(files))
    assert got["summary"]["flows"] == scan([ETH_P2P])["summary"]["flows"]


def test_http_mining_session_ignored_by_its_worker_is_replayed(tmp_path: Path) -> None:
    # file 2 begins inside a getblocktemplate request: seen alone, that connection is ignored
    files = split(GBT, [177, 651, 725, 798], tmp_path)
    result = scan_file_result(files[2], 2)
    assert any(isinstance(i, parallel.Headers) for c in result.continuations for i in c.items)
    got, merger = merged(files)
    assert merger.serial == []
    assert_same(got, scan(files))


def test_over_budget_summaries_drop_their_packets_then_read_serially(tmp_path: Path) -> None:
    files = split(GBT, [177, 651, 725, 798], tmp_path)
    full = scan_file_result(files[2], 2)
    kept = sum(len(b) + 40 for c in full.continuations for i in c.items
               if isinstance(i, parallel.Headers) and i.kept for b in i.kept)
    assert kept > 0
    tight = full.recorded_bytes - kept // 2  # room for all but the packets kept in summaries
    result = scan_file_result(files[2], 2, budget=tight)
    headers = [i for c in result.continuations for i in c.items if isinstance(i, parallel.Headers)]
    assert result.needs_serial is None and headers and all(h.kept is None for h in headers)
    got, merger = merged(files, budget=tight)
    assert ("still inspects" in " ".join(r for _, r in merger.serial))
    assert_same(got, scan(files))


def test_tiny_budget_makes_the_parent_read_files_itself(rotated: list[Path]) -> None:
    result = scan_file_result(rotated[1], 1, budget=500)
    assert result.needs_serial and "500-byte budget" in result.needs_serial
    assert result.continuations == [] and result.info is None
    got, merger = merged(rotated, budget=500)
    assert [p for p, _ in merger.serial] == [str(rotated[1]), str(rotated[2])]
    assert_same(got, scan(rotated))


def test_files_that_overlap_in_time_are_read_serially(tmp_path: Path) -> None:
    first = split(ZCASH, [300], tmp_path / "a")
    files = [first[1], first[0]]  # the later half first: the other begins 900 s before it ends
    got, merger = merged(files)
    assert merger.serial and "before the earlier files end" in merger.serial[0][1]
    assert_same(got, scan(files))


def test_first_file_has_no_records_and_an_empty_file_merges(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(records(ZCASH)[0])
    assert scan_file_result(ZCASH, 0, record=False).continuations == []
    files = [ZCASH, empty]
    got, merger = merged(files)
    assert merger.serial == []
    assert_same(got, scan(files))


# -- ordering ------------------------------------------------------------------------------------
def test_files_are_ordered_by_first_timestamp(rotated: list[Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(records(ZCASH)[0])
    assert order_files([empty, rotated[2], rotated[0], rotated[1]]) == [rotated[0], rotated[1], rotated[2], empty]
    assert parallel.first_timestamp(rotated[1]) == scan([rotated[1]])["inputs"][0]["first_ts"]
    assert parallel.first_timestamp(empty) is None


def test_scan_parallel_expands_and_orders_like_scan(rotated: list[Path]) -> None:
    outcome = scan_parallel([rotated[0].parent], jobs=1)
    assert_same(outcome.findings, scan(rotated))
    with pytest.raises(UnreadableInputError, match="no such file"):
        scan_parallel([rotated[0].parent / "missing.pcap"], jobs=1)


# -- bad input: lost, deleted, growing files; dead workers ---------------------------------------
def test_missing_file_is_lost_and_the_rest_kept(rotated: list[Path], tmp_path: Path) -> None:
    files = [rotated[0], tmp_path / "gone.pcap", rotated[2]]
    outcome = run_jobs(files, jobs=1)
    assert outcome.exit_code == EXIT_PARTIAL == 3
    assert outcome.lost == [LostFile(1, str(files[1]), f"{files[1]}: no such file")]
    assert_same(outcome.findings, scan([rotated[0], rotated[2]]))


def test_file_deleted_mid_scan(rotated: list[Path], tmp_path: Path) -> None:
    files = split(ZCASH, [100, 200, 300], tmp_path)

    def delete_later(result: FileResult | LostFile) -> None:
        if result.index == 0:
            files[2].unlink()

    outcome = run_jobs(files, jobs=1, on_merged=delete_later)
    assert outcome.exit_code == EXIT_PARTIAL and [lost.index for lost in outcome.lost] == [2]
    assert_same(outcome.findings, scan([files[0], files[1], files[3]]))


def test_capture_growing_while_read_is_flagged(rotated: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "growing.pcap"
    path.write_bytes(rotated[0].read_bytes())
    extra = records(rotated[0])[1][-1]
    real = parallel.open_capture

    class Growing:
        def __init__(self, name: str) -> None:
            self.capture = real(name)
            self.info = self.capture.info

        def __enter__(self) -> Growing:
            return self

        def __exit__(self, *exc: object) -> None:
            self.capture.close()

        def __iter__(self):  # the writer appends a record once the reader has started
            for n, packet in enumerate(self.capture):
                if n == 0:
                    with open(path, "ab") as out:
                        out.write(extra)
                yield packet

    monkeypatch.setattr(parallel, "open_capture", Growing)
    result = scan_file_result(path, 0)
    size = len(rotated[0].read_bytes())
    assert result.info is not None
    assert result.info.warnings[-1].startswith(f"the file grew from {size:,} to {size + len(extra):,} bytes")


@pytest.fixture(scope="module")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("big")
    return [split(ZCASH, [], base / "small")[0],
            bulk_capture(base / "b1.pcap", 250_000, 1_700_000_000.0, 40001),
            bulk_capture(base / "b2.pcap", 250_000, 1_700_000_100.0, 40002)]


def _kill_after_first(result: FileResult | LostFile) -> None:
    if result.index == 0:
        assert isinstance(result, FileResult) and result.worker_pid != os.getpid()
        os.kill(result.worker_pid, signal.SIGKILL)  # it is scanning b2.pcap by now


def test_killed_worker_loses_files_in_flight_exit_3(big_files: list[Path]) -> None:
    outcome = run_jobs(big_files, jobs=2, retries=0, on_merged=_kill_after_first)
    assert outcome.exit_code == EXIT_PARTIAL
    assert [lost.path for lost in outcome.lost] == [str(big_files[1]), str(big_files[2])]
    assert all("worker process" in lost.reason for lost in outcome.lost)
    assert_same(outcome.findings, scan(big_files[:1]))


def test_killed_worker_files_are_retried_alone(big_files: list[Path]) -> None:
    outcome = run_jobs(big_files, jobs=2, retries=1, on_merged=_kill_after_first)
    assert outcome.exit_code == 0 and outcome.lost == []
    assert_same(outcome.findings, scan(big_files))


# -- watch: a ring-buffer directory --------------------------------------------------------------
class Ring:
    """A fake dumpcap: writes parts into a directory on a schedule driven by the fake sleep."""

    def __init__(self, parts: list[Path], folder: Path, schedule: dict[int, list[tuple[int, float]]]) -> None:
        self.parts, self.folder, self.schedule = parts, folder, schedule
        self.now = 0.0
        folder.mkdir()
        self.step(0)

    def write(self, index: int, fraction: float) -> None:
        data = self.parts[index].read_bytes()
        target = self.folder / self.parts[index].name
        target.write_bytes(data[: max(24, int(len(data) * fraction))] if fraction < 1 else data)
        os.utime(target, ns=(int(self.now * 1e9) + 10**18, int(self.now * 1e9) + 10**18))

    def step(self, t: int) -> None:
        for index, fraction in self.schedule.get(t, []):
            self.write(index, fraction)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert self.now < 200, "watch never finished"
        self.now += seconds
        self.step(int(self.now))


def test_watch_takes_files_as_the_writer_closes_them(tmp_path: Path) -> None:
    parts = split(ZCASH, [*zcash_cuts(), 400], tmp_path / "src")
    ring = Ring(parts, tmp_path / "ring", {0: [(0, 1), (1, 0.5)], 1: [(1, 1)], 3: [(2, 1)], 4: [(3, 0.3)], 6: [(3, 1)]})
    seen: list[tuple[float, str, dict[str, Any]]] = []
    outcome = watch(ring.folder, lambda f, r: seen.append((ring.now, Path(r.path).name, f)), settle=5.0,
                    poll=1.0, max_files=4, clock=ring.clock, sleep=ring.sleep)
    assert [(t, name) for t, name, _ in seen] == [(0, parts[0].name), (3, parts[1].name), (4, parts[2].name),
                                                   (11, parts[3].name)]
    for k, (_, _, findings) in enumerate(seen):  # each update: the serial findings of the files so far
        assert_same(findings, scan(parts[: k + 1]))
    assert outcome.exit_code == 0 and outcome.files == 4
    assert [s["submits"] for s in outcome.findings["sessions"] if s["server_port"] == 3333] == \
        [s["submits"] for s in scan([ZCASH])["sessions"] if s["server_port"] == 3333]


def test_watch_stops_on_request_and_reports_files_the_ring_deleted(tmp_path: Path) -> None:
    parts = split(ZCASH, [100, 200, 300], tmp_path / "src")
    ring = Ring(parts, tmp_path / "ring", {0: [(0, 1), (1, 1), (2, 1), (3, 1)]})
    stop = threading.Event()

    def update(findings: dict[str, Any], result: FileResult | LostFile) -> None:
        if result.index == 0:
            (ring.folder / parts[1].name).unlink()  # the ring buffer overwrote it before it was read
        if result.index == 2:
            stop.set()

    outcome = watch(ring.folder, update, settle=5.0, clock=ring.clock, sleep=ring.sleep, stop=stop)
    assert outcome.exit_code == EXIT_PARTIAL and [Path(lost.path).name for lost in outcome.lost] == [parts[1].name]
    assert outcome.files == 2  # parts 0 and 2; part 3 was closed but the stop came first
    assert_same(outcome.findings, scan([parts[0], parts[2]]))


def test_watch_rejects_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a directory"):
        watch(tmp_path / "nope", lambda f, r: None, max_files=1)


def test_stop_handlers_set_the_event_and_restore() -> None:
    stop = threading.Event()
    before = signal.getsignal(signal.SIGTERM)
    restore = install_stop_handlers(stop)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(2)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) == before


# -- FlowTable hand-over hooks -------------------------------------------------------------------
def _packet(ts: float, src: str, sport: int, dst: str, dport: int, flags: int, payload: bytes = b"") -> Packet:
    return Packet(ts, src, dst, TCP, sport, dport, payload, 40 + len(payload), flags, 1, 0)


def test_flow_table_hooks() -> None:
    table = FlowTable()
    table.add(_packet(1.0, "10.0.0.1", 5000, "10.0.0.2", 3333, SYN))
    key = ("10.0.0.1", 5000, "10.0.0.2", 3333, TCP)
    rkey = ("10.0.0.2", 3333, "10.0.0.1", 5000, TCP)
    assert table.lookup(rkey) == (key, table.live()[0][1])
    flow = table.detach(rkey)
    assert flow is not None and table.live() == [] and table.lookup(key) is None and table.detach(key) is None
    table.install(rkey, flow)
    assert table.lookup(key) == (rkey, flow)
    other = FlowTable()
    other.add(_packet(2.0, "10.0.0.2", 3333, "10.0.0.1", 5000, SYN | ACK))
    table.install(*other.live()[0])  # same 5-tuple: the old flow is ended first
    assert [f for _, f in table.live()] == [other.live()[0][1]]
    table.sweep(2.0 + parallel.IDLE_TIMEOUT + 1)
    assert table.live() == []
