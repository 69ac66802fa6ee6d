"""Subcommands, one module each (with ``register(subparsers)``). ``COMMANDS`` names them, in the
order ``--help`` shows them, with the module that registers each: a command line naming one of
them imports that module only (the others' imports would cost a scan ~25 ms), and anything else
(``--help``, a mistyped name) imports them all, for argparse's complete help and messages."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

COMMANDS = (("scan", "scan"), ("report", "report"), ("zeek", "zeek"), ("suricata", "suricata"),
            ("rules", "rules_export"), ("train", "train"))


def modules_for(argv: Sequence[str]) -> list[ModuleType]:
    """The command modules to register for ``argv``: the one its first word names, else all."""
    first = argv[0] if argv else ""
    wanted = [module for name, module in COMMANDS if name == first] or [module for _, module in COMMANDS]
    return [importlib.import_module(f"detector.commands.{module}") for module in wanted]
