"""The one error hierarchy of minesweep.

    MinesweepError                 base of every error the tool raises on purpose
    ├── InputError                 an input cannot be used at all (exit code 2)
    │   ├── CaptureFormatError     not a pcap / pcapng capture (or gzip of one)
    │   ├── UnreadableInputError   missing, a directory with nothing usable, permission denied
    │   └── RegistryError          a registry / rules file is malformed (message names file:line)
    └── NeedMoreData               internal: a parser needs more bytes (never escapes a stage)

Only ``detector.cli`` turns these into messages and exit codes. Recoverable damage inside an
otherwise usable input (a truncated record, a corrupt block) is not an exception: it becomes a
warning string in ``CaptureInfo.warnings`` and processing goes on.
"""


class MinesweepError(Exception):
    """Base of every error minesweep raises on purpose."""


class InputError(MinesweepError):
    """An input cannot be used at all; the message is one line naming the input."""


class CaptureFormatError(InputError):
    """The file is not a pcap or pcapng capture (plain or gzip-compressed)."""


class UnreadableInputError(InputError):
    """The input does not exist or cannot be read."""


class RegistryError(InputError):
    """A registry or rules file is malformed; the message names the file and line."""


class NeedMoreData(MinesweepError):
    """A parser needs more bytes than it has been given (internal, never escapes a stage)."""
