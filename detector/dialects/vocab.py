"""rules/dialects.toml, read once: method vocabularies of the dialects, the algorithm names
protocols use, and each dialect's default algorithm."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from detector.errors import RegistryError
from detector.rules import default_rules_dir, read_toml

DIALECTS_FILE = "dialects.toml"


@dataclass(frozen=True, slots=True)
class Vocabulary:
    client: frozenset[str]  #: methods a miner sends
    server: frozenset[str]  #: methods a pool sends
    confirming: frozenset[str]  #: methods that prove mining (with the dialect's parameter shape)


@cache
def dialects_document() -> dict[str, Any]:
    """The parsed rules/dialects.toml (cached; shared by the dialects and detector.finalize)."""
    return read_toml(default_rules_dir() / DIALECTS_FILE)


@cache
def vocabulary(dialect: str) -> Vocabulary:
    try:
        section = dialects_document()[dialect]
        return Vocabulary(*(frozenset(map(str, section[k])) for k in ("client", "server", "confirming")))
    except (KeyError, TypeError) as exc:
        raise RegistryError(f"{default_rules_dir() / DIALECTS_FILE}: bad or missing [{dialect}] section ({exc})") from None
