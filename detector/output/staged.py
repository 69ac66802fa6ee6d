"""A report file written before the digests it shows are known, finished in place once they are.

findings.json, report.md and report.html show each input's SHA-256, which may still be being
computed when they are rendered: ``detector.scan.Digests`` gives each pending digest a placeholder
token, 64 random hex digits. ``Staged(path, text, tokens)`` writes the text at once under a
temporary name (``path`` + ".tmp") and notes where each token lies in the encoded bytes;
``finish(digests)`` overwrites each token with its digest — ASCII of the same length, so nothing
moves — and renames the file into place. What is left for after the last digest is then a few
writes of 64 bytes per file, not the encoding and writing of the whole file (~0.01 s of the
benchmark command's end). A text that shows only a digest's first ``shown`` characters (report.md)
is staged with ``shown``. ``discard()`` removes the temporary file (the digest could not be
computed and the file is rendered again, or the command is failing).

Public API: ``Staged(path, text, tokens, shown=None)``, ``.finish(digests) -> Path``,
``.discard()``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path


class Staged:
    """``text`` written as ``path`` + ".tmp", waiting for the digests of ``tokens``."""

    def __init__(self, path: Path | str, text: str, tokens: Iterable[str], shown: int | None = None) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.shown = shown
        data = text.encode("utf-8")
        self.at = {token: _offsets(data, token[:shown].encode("ascii")) for token in tokens}
        try:
            self.tmp.write_bytes(data)
        except BaseException:  # a part written (a full disk): nobody else can remove it
            self.discard()
            raise

    def finish(self, digests: Mapping[str, str]) -> Path:
        """Each token's places overwritten with its digest (``digests``: {token: digest}, as
        ``Digests.settle()`` gives them); the file renamed into place. Returns its path."""
        missing = [token for token, offsets in self.at.items() if offsets and token not in digests]
        if missing:  # the placeholder would pass for a digest
            raise ValueError(f"no digest for the placeholder {missing[0]}")
        fd = os.open(self.tmp, os.O_WRONLY)
        try:
            for token, digest in digests.items():
                piece = digest[: self.shown].encode("ascii")
                if len(piece) != len(token[: self.shown]):
                    raise ValueError("a digest must be as long as its placeholder")
                for offset in self.at.get(token, ()):
                    if os.pwrite(fd, piece, offset) != len(piece):
                        raise OSError(f"{self.tmp}: short write")
        finally:
            os.close(fd)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Remove the temporary file (nothing is written at ``path``)."""
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _offsets(data: bytes, needle: bytes) -> list[int]:
    if not needle:
        return []
    found, at = [], data.find(needle)
    while at >= 0:
        found.append(at)
        at = data.find(needle, at + len(needle))
    return found
