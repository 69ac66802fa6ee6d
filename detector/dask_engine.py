"""Run the per-file scan workers on a Dask cluster (``minesweep scan --engine dask --scheduler ADDR``).

The work is the same as with local processes: ``detector.parallel.scan_file_result`` scans one
file with a fresh flow table and returns a picklable ``FileResult``; the results are gathered in
file order and merged by ``detector.parallel.Merger`` in this process, so the findings equal a
serial scan's. Only the place the workers run changes.

Requirements (see docs/scaling.md): every Dask worker has minesweep installed (the same version)
and reads the capture files at the SAME absolute path as this process (shared storage: NFS,
CephFS, a bind mount...), and so the user's pool lists (``--pool-list``). Paths are sent
absolute; the findings keep them as they were given.
This process also reads a file itself when a result cannot be merged (see ``detector.parallel``).

A worker that dies is handled by Dask: its task is rerun on another worker, up to the
scheduler's ``distributed.scheduler.allowed-failures``; a file whose task still fails
(``KilledWorker``) or is cancelled is reported as lost, and the scan goes on.

Public API
    DaskEngine(scheduler, *, budget=DEFAULT_BUDGET, window=None, timeout=10.0)
        ``scheduler``: an address ("tcp://host:8786") or an existing ``distributed.Client``.
        .results(items, pool_lists=()) -> Iterator[FileResult | LostFile]  (in the order of ``items``)
        .close()
    scan_task(path, index, budget, pool_lists) -> FileResult   the function the workers run
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import CancelledError
from typing import Any

from detector.errors import MinesweepError, UnreadableInputError
from detector.parallel import DEFAULT_BUDGET, FileResult, LostFile, scan_file_result

__all__ = ["DaskEngine", "scan_task"]


def scan_task(path: str, index: int, budget: int = DEFAULT_BUDGET, pool_lists: tuple[str, ...] = ()) -> FileResult:
    """One file on a Dask worker (the first file of a scan needs no continuation records)."""
    return scan_file_result(path, index, record=index > 0, budget=budget, pool_lists=pool_lists)


class DaskEngine:
    """Per-file workers on a Dask cluster; results yielded strictly in file order."""

    def __init__(self, scheduler: str | Any, *, budget: int = DEFAULT_BUDGET, window: int | None = None,
                 timeout: float = 10.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise MinesweepError("--engine dask needs dask.distributed: pip install 'minesweep[dask]'") from None
        self.budget = budget
        if isinstance(scheduler, str):
            try:
                self.client = Client(scheduler, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise UnreadableInputError(f"dask scheduler {scheduler}: cannot connect ({exc})") from None
            self._own = True
        else:
            self.client = scheduler
            self._own = False
        threads = sum(self.client.nthreads().values()) if window is None else 0
        self.window = window or max(2, 2 * threads)  #: files submitted and not yet merged

    def results(self, items: Sequence[tuple[int, str]],
                pool_lists: Sequence[str] = ()) -> Iterator[FileResult | LostFile]:
        from distributed import KilledWorker

        lists = tuple(os.path.abspath(p) for p in pool_lists)  # read by the workers too (shared storage)
        todo = deque(items)
        flight: deque[tuple[int, str, Any]] = deque()
        tag = uuid.uuid4().hex[:12]
        try:
            while todo or flight:
                if todo and len(flight) < self.window:
                    batch = [todo.popleft() for _ in range(min(len(todo), self.window - len(flight)))]
                    futures = self.client.map(scan_task, [os.path.abspath(p) for _, p in batch],
                                              [i for i, _ in batch], budget=self.budget, pool_lists=lists, pure=False,
                                              key=[f"minesweep-scan-{tag}-{i}" for i, _ in batch])
                    flight.extend((i, p, f) for (i, p), f in zip(batch, futures))
                index, path, fut = flight.popleft()
                try:
                    result = fut.result()
                except KilledWorker as exc:
                    yield LostFile(index, path, f"the Dask workers scanning it died ({exc})")
                    continue
                except (CancelledError, OSError) as exc:
                    yield LostFile(index, path, f"its Dask task was lost ({type(exc).__name__}: {exc})")
                    continue
                finally:
                    fut.release()
                result.path = path
                if result.info is not None:
                    result.info.path = path
                yield result
        finally:
            for _, _, fut in flight:
                fut.cancel()

    def close(self) -> None:
        if self._own:
            self.client.close()
