"""argparse value types shared by several subcommands."""

from __future__ import annotations

import argparse


def parse_pue(text: str) -> float:
    """--pue: a power usage effectiveness between 1 and 10."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number") from None
    if not 1.0 <= value <= 10.0:
        raise argparse.ArgumentTypeError("must be between 1 and 10")
    return value
