"""The Dask engine (detector.dask_engine): the per-file workers on a real ``distributed``
LocalCluster (two worker processes, one thread each) give the findings of the local engine."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from conftest import PCAPS
from test_parallel import ZCASH, assert_same, bulk_capture, scan, split, zcash_cuts

from detector.errors import UnreadableInputError
from detector.parallel import FileResult, LostFile, order_files, run_jobs
from detector.scan import expand_inputs

distributed = pytest.importorskip("distributed")
from detector.dask_engine import DaskEngine  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                                       worker_dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_dask_engine_equals_local_engine(client, tmp_path: Path) -> None:
    rotated = split(ZCASH, zcash_cuts(), tmp_path / "rotated")
    files = order_files([*rotated, *(p for p in expand_inputs([PCAPS]) if p.name != ZCASH.name)])
    engine = DaskEngine(client)
    outcome = run_jobs(files, engine=engine)
    local = run_jobs(files, jobs=1)
    assert outcome.lost == [] and outcome.continued >= 1
    assert_same(outcome.findings, local.findings)
    assert_same(outcome.findings, scan(files))
    assert [i["path"] for i in outcome.findings["inputs"]] == [str(f) for f in files]  # as given, not absolute


def test_dask_reruns_the_file_of_a_killed_worker(client, tmp_path: Path) -> None:
    files = [split(ZCASH, [], tmp_path / "small")[0], bulk_capture(tmp_path / "bulk.pcap", 250_000, 1.7e9, 40003)]

    def kill(result: FileResult | LostFile) -> None:
        if result.index == 0:  # the bulk file is being scanned now: kill every worker process
            assert isinstance(result, FileResult) and result.worker_pid in pids.values()
            for pid in pids.values():
                os.kill(pid, signal.SIGKILL)

    pids = client.run(os.getpid)
    assert len(pids) == 2

    outcome = run_jobs(files, engine=DaskEngine(client, window=2), on_merged=kill)
    assert outcome.lost == [] and outcome.exit_code == 0
    assert set(client.run(os.getpid).values()).isdisjoint(pids.values())  # the nannies restarted them
    assert_same(outcome.findings, scan(files))


def test_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError, match=r"dask scheduler tcp://127\.0\.0\.1:9: cannot connect"):
        DaskEngine("tcp://127.0.0.1:9", timeout=1)
