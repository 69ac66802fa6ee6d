"""Command-line pieces shared by several subcommands (scan and the sensor sidecar): value types
and the options that shape findings. Kept outside detector/commands so that library modules may
import them without loading every command."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def parse_pue(text: str) -> float:
    """--pue: a power usage effectiveness between 1 and 10."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number") from None
    if not 1.0 <= value <= 10.0:
        raise argparse.ArgumentTypeError("must be between 1 and 10")
    return value


def prefix_length(maximum: int) -> Any:
    """An argparse type: a prefix length from 0 to ``maximum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("must be an integer") from None
        if not 0 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be 0..{maximum}")
        return value
    return parse


def add_findings_options(p: argparse.ArgumentParser) -> None:
    """Options that shape the findings of every source: grouping, energy, attribution, verdicts."""
    p.add_argument("--subnet-v4", type=prefix_length(32), default=24, metavar="N", help="IPv4 subnet prefix (default 24)")
    p.add_argument("--subnet-v6", type=prefix_length(128), default=64, metavar="N", help="IPv6 subnet prefix (default 64)")
    p.add_argument("--pue", type=parse_pue, default=None, help="power usage effectiveness, >= 1 (default: rules/hardware.toml)")
    p.add_argument("--registry", action="append", type=Path, default=[], metavar="CSV",
                   help="who owns which addresses: CSV cidr,unit,category[,extra…] (repeatable; later files win)")
    p.add_argument("--asn-db", action="append", type=Path, default=[], metavar="MMDB",
                   help="MaxMind-format ASN database (GeoLite2-ASN, IPinfo Lite, DB-IP; repeatable)")
    p.add_argument("--public", type=lambda t: [c.strip() for c in t.split(",") if c.strip()], default=None,
                   metavar="CATEGORIES", help="categories that count as public institutions "
                   "(default: government,education,research,soe,healthcare)")
    p.add_argument("--model", type=Path, default=None, metavar="MODEL.json",
                   help="verdict model trained by 'minesweep train' (default: the rules alone)")
