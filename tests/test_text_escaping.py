"""The quick paths of ``fmt.md`` and ``html.text`` against their straightforward definitions, on
random hostile text (controls, bidi and invisible characters, surrogates, Markdown specials)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from detector.output import fmt, html

ALPHABET = "ab \\`*_{}[]<>()#+!|\t\n\r\x00\x1b\x7f\x85\x9f\u00ad\u061c\u200b\u202e\u2066\ufeff\ud800\udfff\ufdd0\ufffe é中…"


def md_reference(text: Any, limit: int = 80) -> str:
    s = "" if text is None else str(text)
    s = "".join(ch if ch.isprintable() else "?" for ch in s)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    for ch in "\\`*_{}[]<>()#+!|":
        s = s.replace(ch, "\\" + ch)
    return s


def text_reference(value: Any, limit: int = html.TEXT_LIMIT) -> str:
    if value is None:
        return ""
    s = value if isinstance(value, str) else str(value)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = html._SPACE.sub(" ", s)
    s = html._UNSAFE.sub("\ufffd", s)
    return html._INVISIBLE.sub(lambda m: f"[U+{ord(m.group()):04X}]", s)


@pytest.mark.parametrize("seed", range(4))
def test_same_as_the_definitions(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(5000):
        s = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 120)))
        plain = "".join(rnd.choice("abc-.:/ 0123") for _ in range(rnd.randint(0, 200)))
        for value in (s, plain, None, rnd.random(), rnd.randint(-10**20, 10**20)):
            for limit in (5, 80, 160):
                assert fmt.md(value, limit) == md_reference(value, limit)
                assert html.text(value, limit) == text_reference(value, limit)


def test_examples() -> None:
    assert fmt.md("a|b\\c\n") == "a\\|b\\\\c?"
    assert html.text("x\ty\u202ez\x00") == "x y[U+202E]z\ufffd"
    assert html.text("plain text") == "plain text"
