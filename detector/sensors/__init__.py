"""Readers for network-sensor output: the sidecar's input stage.

    zeek.py       Zeek logs (TSV with headers, JSON, gzip, ZeekControl directories) -> ZeekRecord
    suricata.py   Suricata eve.json (plain or gzip) -> EveEvent
    follow.py     Follower: tail growing logs across rotation, resumable from an atomic checkpoint

This module holds what those readers share:

``ReadStats``
    Per-file counts (records, malformed lines, skipped lines by reason, bounded warnings).
    Damage inside a usable file is counted here and reading goes on; only a file that cannot be
    used at all raises an ``InputError``.
``open_input(path) -> (binary file, is_gzip)``
    Opens a plain or gzip file (gzip recognised by its magic bytes, not its name).
``iter_lines(fh, stats, max_line) -> Iterator[(line_no, bytes)]``
    Bounded line reading: a line longer than ``max_line`` is read through to its newline without
    being buffered and counted as ``too_long``; a truncated or corrupt gzip stream ends the file
    with a warning.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from detector.errors import UnreadableInputError

__all__ = ["MAX_LINE", "MAX_WARNINGS", "ReadStats", "iter_lines", "open_input"]

MAX_LINE = 1 << 20  #: longest line kept (bytes, without the newline); longer lines are skipped
MAX_WARNINGS = 20  #: warnings kept per file; later ones are only counted
GZIP_MAGIC = b"\x1f\x8b"
_DRAIN_CHUNK = 64 << 10


@dataclass(slots=True)
class ReadStats:
    """What was read from one sensor file (or one followed stream)."""

    path: str
    format: str = "unknown"  #: "zeek-tsv", "zeek-json", "eve-json", each "+gzip" when compressed
    records: int = 0  #: records produced
    malformed: int = 0  #: lines that should have been records but could not be used
    skipped: dict[str, int] = field(default_factory=dict)  #: every skipped line, by reason
    masked: int = 0  #: values masked by a test canonifier (``XXXXXXXXXX.XXXXXX``), read as None
    warnings: list[str] = field(default_factory=list)  #: "line N: what happened", bounded
    warnings_dropped: int = 0  #: warnings counted but not kept

    def skip(self, reason: str, line: int, detail: str = "", *, malformed: bool = True) -> None:
        """Count one skipped line; ``malformed`` lines also count in ``malformed``."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if malformed:
            self.malformed += 1
            self.warn(f"line {line}: {reason}" + (f": {detail}" if detail else ""))

    def warn(self, message: str) -> None:
        """Record a warning, keeping at most ``MAX_WARNINGS`` of them."""
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)
        else:
            self.warnings_dropped += 1


def open_input(path: str | os.PathLike[str]) -> tuple[BinaryIO, bool]:
    """Open ``path`` for binary reading, transparently decompressing gzip.

    Raises ``UnreadableInputError`` (one line naming the file) when it cannot be opened.
    """
    p = Path(path)
    try:
        raw = open(p, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except IsADirectoryError:
        raise UnreadableInputError(f"{p}: is a directory, expected a file") from None
    except OSError as e:
        raise UnreadableInputError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        magic = raw.read(2)
        raw.seek(0)
    except OSError as e:
        raw.close()
        raise UnreadableInputError(f"{p}: cannot read: {e.strerror or e}") from None
    if magic == GZIP_MAGIC:
        raw.close()
        try:  # GzipFile opened by name closes its file; given a fileobj it would not
            return gzip.GzipFile(p, "rb"), True  # type: ignore[return-value]
        except OSError as e:
            raise UnreadableInputError(f"{p}: cannot read: {e.strerror or e}") from None
    return raw, False


def iter_lines(
    fh: BinaryIO, stats: ReadStats, max_line: int = MAX_LINE
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_no, line)`` without the line ending; memory is bounded by ``max_line``.

    Line numbers count every physical line (from 1), including skipped ones. A final line without
    a newline is yielded as it is (a file is read once it is complete; ``Follower`` is the tool for
    files still being written).
    """
    line_no = 0
    try:
        while True:
            line = fh.readline(max_line + 1)
            if not line:
                return
            line_no += 1
            if line.endswith(b"\n"):
                yield line_no, line[:-2] if line.endswith(b"\r\n") else line[:-1]
            elif len(line) <= max_line:
                yield line_no, line
            else:
                while True:  # read through to the newline, keeping nothing
                    chunk = fh.readline(_DRAIN_CHUNK)
                    if not chunk or chunk.endswith(b"\n"):
                        break
                stats.skip("too_long", line_no, f"longer than {max_line} bytes")
    except EOFError:
        stats.warn(f"line {line_no + 1}: gzip stream truncated; rest of file not read")
    except (gzip.BadGzipFile, zlib.error) as e:
        stats.warn(f"line {line_no + 1}: corrupt gzip data ({e}); rest of file not read")
    except OSError as e:
        stats.warn(f"line {line_no + 1}: read error ({e.strerror or e}); rest of file not read")
