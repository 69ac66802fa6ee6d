"""Method vocabularies of the dialects, read once from ``rules/dialects.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache

from detector.errors import RegistryError
from detector.resources import rules_dir


@dataclass(frozen=True, slots=True)
class Vocabulary:
    client: frozenset[str]  #: methods a miner sends
    server: frozenset[str]  #: methods a pool sends
    confirming: frozenset[str]  #: methods that prove mining (with the dialect's parameter shape)


@cache
def vocabulary(dialect: str) -> Vocabulary:
    path = rules_dir() / "dialects.toml"
    try:
        section = tomllib.loads(path.read_text("utf-8"))[dialect]
        return Vocabulary(*(frozenset(map(str, section[k])) for k in ("client", "server", "confirming")))
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise RegistryError(f"{path}: bad or missing [{dialect}] section ({exc})") from None
