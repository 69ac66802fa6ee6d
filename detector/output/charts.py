"""Inline SVG charts for report.html: no script, no external resource, every label escaped.

Each function takes plain records (built by :mod:`detector.output.html` from findings) and
returns :class:`markupsafe.Markup` holding one ``<svg>`` element. Every piece of text that may
come from a capture (host addresses, unit names, pool names) goes through
:func:`markupsafe.escape`; numbers are written with fixed formats. Charts scale to the width of
their container (``viewBox`` + ``width="100%"``) and print as vectors.

Public functions:

``bars(items, *, axis_fmt, aria_label) -> Markup``
    Horizontal bars with optional interval whiskers (low..high). A :class:`Bar` whose ``value``
    is None but whose ``high`` is set is drawn as a dashed upper-bound whisker from zero.
``grouped_bars(groups, *, aria_label) -> Markup``
    Several such panels, ``[(heading, bars, axis_fmt), …]``, stacked in one chart, each with
    its own scale (hashrates of different algorithms have different units).
``timeline(lanes, *, fmt_time, fmt_gap, aria_label) -> Markup``
    One lane per host, one rectangle per session window. Idle stretches longer than half the
    total busy time are cut out of the axis and marked with a break and the length of the gap,
    so minutes of mining in captures years apart stay visible.
``heatmap(cells, *, aria_label, columns=6) -> Markup``
    A grid of tiles (one per subnet) shaded by value on a five-step sequential scale.
``legend(entries) -> Markup`` / ``heat_legend(low, high) -> Markup``
    Colour swatches with labels, for charts whose colours carry meaning; the heat-map scale.
``palette(keys) -> dict[str, str]``
    A stable colour per key (sorted order), colour-blind-safe (Okabe-Ito) first.
``fit(text, width) -> str``
    ``text`` cut to ``width`` columns (East Asian wide characters count two), with an ellipsis.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Bar", "Cell", "Lane", "Span", "bars", "fit", "grouped_bars", "heat_legend", "heatmap", "legend", "palette", "timeline"]

WIDTH = 760
LABEL_W = 190
VALUE_W = 150
ROW_H = 22
TOP = 26
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F", "#332288",
            "#88CCEE", "#44AA99", "#999933", "#AA4499")
HEAT = ("#fff1dc", "#fdd0a2", "#fd8d3c", "#d94801", "#7f2704")
_HEAT_TEXT = ("#222222", "#222222", "#222222", "#ffffff", "#ffffff")
MAX_CLUSTERS = 12
MIN_CLUSTER_FRACTION = 0.06
BREAK_W = 18.0


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: ``value`` sets its length; ``low``/``high`` draw the interval whisker."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    text: str = ""  #: the figure printed after the bar
    color: str = _PALETTE[0]
    title: str = ""  #: tooltip (the full label and figures)


@dataclass(frozen=True, slots=True)
class Span:
    """One session window on a timeline lane."""

    start: float
    end: float
    color: str = _PALETTE[0]
    title: str = ""


@dataclass(frozen=True, slots=True)
class Lane:
    """One host on the timeline."""

    label: str
    spans: Sequence[Span]


@dataclass(frozen=True, slots=True)
class Cell:
    """One heat-map tile: ``value`` sets the shade, ``text`` the figure inside."""

    label: str
    value: float
    text: str
    title: str = ""


# --------------------------------------------------------------------------- helpers


def fit(text: str, width: int) -> str:
    """``text`` shortened to ``width`` display columns (CJK wide characters count as two)."""
    used, out = 0, []
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used + w > width:
            while out and used + 1 > width:
                used -= 2 if unicodedata.east_asian_width(out.pop()) in ("W", "F") else 1
            return "".join(out) + "…"
        out.append(ch)
        used += w
    return text


def palette(keys: Iterable[str]) -> dict[str, str]:
    """A colour per distinct key, assigned in sorted order and cycling after twelve."""
    return {k: _PALETTE[i % len(_PALETTE)] for i, k in enumerate(sorted(set(keys)))}


def _f(x: float) -> str:
    """A coordinate: one decimal, no exponent."""
    return f"{x:.1f}"


def _color(c: str) -> str:
    """Only our own ``#rrggbb`` colours reach an attribute."""
    if len(c) == 7 and c[0] == "#" and all(ch in "0123456789abcdefABCDEF" for ch in c[1:]):
        return c
    return _PALETTE[0]


def _nice_ticks(top: float, count: int = 4) -> list[float]:
    if not math.isfinite(top) or top <= 0:
        return [0.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = int(math.ceil(top / step - 1e-9))
    return [i * step for i in range(n + 1)]


def _svg(height: float, aria_label: str, body: list[str], width: float = WIDTH) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_f(width)} {_f(height)}"'
            f' width="100%" role="img" aria-label="{escape(aria_label)}">'
            f"<title>{escape(aria_label)}</title>")
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{c}>{escape(text)}</text>'


# --------------------------------------------------------------------------- bars


def _bar_rows(items: Sequence[Bar], axis_fmt: Callable[[float], str], y0: float) -> tuple[list[str], float]:
    """SVG elements of one bar panel starting at ``y0``, and the panel's height."""
    plot_w = WIDTH - LABEL_W - VALUE_W
    top = max([v for b in items for v in (b.value, b.high) if v is not None and math.isfinite(v)] or [0.0])
    ticks = _nice_ticks(top)
    scale_max = ticks[-1] if ticks[-1] > 0 else 1.0

    def x(v: float) -> float:
        return LABEL_W + max(0.0, min(v, scale_max)) / scale_max * plot_w

    height = TOP + ROW_H * max(len(items), 1) + 8
    body: list[str] = []
    for t in ticks:
        body.append(f'<line x1="{_f(x(t))}" y1="{_f(y0 + TOP - 4)}" x2="{_f(x(t))}" y2="{_f(y0 + height - 8)}" class="grid"/>')
        body.append(_text(x(t), y0 + TOP - 8, axis_fmt(t), "tick", "middle"))
    for i, b in enumerate(items):
        y = y0 + TOP + i * ROW_H
        mid = y + ROW_H / 2
        g = [f"<g><title>{escape(b.title or b.label)}</title>", _text(LABEL_W - 6, mid + 4, fit(b.label, 28), "lbl", "end")]
        color = _color(b.color)
        if b.value is not None and math.isfinite(b.value):
            w = max(x(b.value) - LABEL_W, 1.0 if b.value > 0 else 0.0)
            g.append(f'<rect x="{LABEL_W}" y="{_f(y + 4)}" width="{_f(w)}" height="{ROW_H - 8}" fill="{color}" class="bar"/>')
        if b.high is not None and math.isfinite(b.high):
            lo = b.low if b.low is not None and math.isfinite(b.low) else 0.0
            dashed = ' stroke-dasharray="3 2"' if b.value is None else ""
            g.append(f'<line x1="{_f(x(lo))}" y1="{_f(mid)}" x2="{_f(x(b.high))}" y2="{_f(mid)}" class="whisker"{dashed}/>')
            for end in ((lo,) if b.value is not None else ()) + (b.high,):
                g.append(f'<line x1="{_f(x(end))}" y1="{_f(mid - 5)}" x2="{_f(x(end))}" y2="{_f(mid + 5)}" class="whisker"/>')
        end_x = max([x(v) for v in (b.value, b.high) if v is not None and math.isfinite(v)] or [LABEL_W])
        g.append(_text(end_x + 6, mid + 4, b.text, "val"))
        g.append("</g>")
        body.append("".join(g))
    return body, height


def bars(items: Sequence[Bar], *, axis_fmt: Callable[[float], str], aria_label: str) -> Markup:
    """Horizontal bars with interval whiskers; one row per item, in the order given."""
    body, height = _bar_rows(items, axis_fmt, 0.0)
    return _svg(height, aria_label, body)


def grouped_bars(groups: Sequence[tuple[str, Sequence[Bar], Callable[[float], str]]], *, aria_label: str) -> Markup:
    """Several bar panels in one chart, each with its heading and its own scale
    (hashrates of different algorithms cannot share an axis)."""
    body: list[str] = []
    y = 0.0
    for heading, items, axis_fmt in groups:
        body.append(_text(4, y + 16, heading, "head"))
        rows, height = _bar_rows(items, axis_fmt, y + 14)
        body += rows
        y += height + 14
    return _svg(y, aria_label, body)


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True, slots=True)
class _Segment:
    t0: float
    t1: float
    x0: float
    w: float

    def x(self, t: float) -> float:
        if self.t1 <= self.t0:
            return self.x0 + self.w / 2
        return self.x0 + (min(max(t, self.t0), self.t1) - self.t0) / (self.t1 - self.t0) * self.w


def _clusters(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Busy stretches of the timeline: windows merged, long idle gaps kept apart."""
    merged: list[list[float]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    busy = sum(e - s for s, e in merged)
    tolerance = max(60.0, 0.5 * busy)
    clusters: list[list[float]] = []
    for s, e in merged:
        if clusters and s - clusters[-1][1] <= tolerance:
            clusters[-1][1] = max(clusters[-1][1], e)
        else:
            clusters.append([s, e])
    while len(clusters) > MAX_CLUSTERS:  # join across the smallest gap until few enough remain
        i = min(range(len(clusters) - 1), key=lambda k: clusters[k + 1][0] - clusters[k][1])
        clusters[i][1] = clusters.pop(i + 1)[1]
    return [(s, e) for s, e in clusters]


def _segments(clusters: list[tuple[float, float]], x0: float, width: float) -> list[_Segment]:
    avail = width - BREAK_W * (len(clusters) - 1)
    total = sum(e - s for s, e in clusters)
    shares = [max((e - s) / total if total > 0 else 1.0 / len(clusters), MIN_CLUSTER_FRACTION) for s, e in clusters]
    norm = sum(shares)
    out, x = [], x0
    for (s, e), share in zip(clusters, shares):
        w = avail * share / norm
        out.append(_Segment(s, e, x, w))
        x += w + BREAK_W
    return out


def timeline(lanes: Sequence[Lane], *, fmt_time: Callable[[float], tuple[str, str]],
             fmt_gap: Callable[[float], str], aria_label: str) -> Markup:
    """Session windows per host on a time axis with long idle gaps cut out.

    ``fmt_time(t)`` gives two short lines (date, time) for a tick; ``fmt_gap(seconds)`` the
    label of a cut-out gap.
    """
    windows = [(sp.start, max(sp.end, sp.start)) for lane in lanes for sp in lane.spans
               if math.isfinite(sp.start) and math.isfinite(sp.end)]
    top = 46
    height = top + ROW_H * max(len(lanes), 1) + 24
    body: list[str] = []
    if not windows:
        return _svg(height, aria_label, body)
    plot_x, plot_w = LABEL_W, WIDTH - LABEL_W - 20
    segs = _segments(_clusters(windows), plot_x, plot_w)
    bottom = top + ROW_H * len(lanes)
    for k, seg in enumerate(segs):
        body.append(f'<rect x="{_f(seg.x0)}" y="{top}" width="{_f(seg.w)}" height="{_f(bottom - top)}" class="seg"/>')
        date, clock = fmt_time(seg.t0)
        dy = 0 if k % 2 == 0 else -22  # stagger neighbouring labels
        body.append(_text(seg.x0, top - 16 + dy, date, "tick"))
        body.append(_text(seg.x0, top - 5 + dy, clock, "tick"))
        if k:
            prev = segs[k - 1]
            bx = prev.x0 + prev.w + BREAK_W / 2
            body.append(f'<line x1="{_f(bx - 3)}" y1="{top}" x2="{_f(bx - 3)}" y2="{_f(bottom)}" class="brk"/>')
            body.append(f'<line x1="{_f(bx + 3)}" y1="{top}" x2="{_f(bx + 3)}" y2="{_f(bottom)}" class="brk"/>')
            body.append(_text(bx, bottom + 14 + (10 if k % 2 == 0 else 0), fmt_gap(seg.t0 - prev.t1), "gap", "middle"))
    last = segs[-1]
    _, end_clock = fmt_time(last.t1)
    body.append(_text(last.x0 + last.w, bottom + 14, end_clock, "tick", "end"))

    def where(t: float) -> float:
        for seg in segs:
            if t <= seg.t1:
                return seg.x(t)
        return segs[-1].x(t)

    for i, lane in enumerate(lanes):
        y = top + i * ROW_H
        body.append(f'<line x1="{plot_x}" y1="{_f(y + ROW_H)}" x2="{_f(plot_x + plot_w)}" y2="{_f(y + ROW_H)}" class="grid"/>')
        body.append(_text(LABEL_W - 6, y + ROW_H / 2 + 4, fit(lane.label, 28), "lbl", "end"))
        for sp in lane.spans:
            if not (math.isfinite(sp.start) and math.isfinite(sp.end)):
                continue
            x1, x2 = where(sp.start), where(max(sp.end, sp.start))
            body.append(f'<rect x="{_f(x1)}" y="{_f(y + 5)}" width="{_f(max(x2 - x1, 2.0))}" height="{ROW_H - 10}"'
                        f' fill="{_color(sp.color)}" class="span"><title>{escape(sp.title)}</title></rect>')
    return _svg(height, aria_label, body)


# --------------------------------------------------------------------------- heat map


def heatmap(cells: Sequence[Cell], *, aria_label: str, columns: int = 6) -> Markup:
    """Tiles in rows of ``columns``, shaded by ``value`` relative to the largest."""
    tile_w = (WIDTH - 4) / columns
    tile_h = 46
    rows = max(math.ceil(len(cells) / columns), 1)
    peak = max([c.value for c in cells if math.isfinite(c.value)] or [0.0])
    body: list[str] = []
    for i, c in enumerate(cells):
        x, y = 2 + (i % columns) * tile_w, 2 + (i // columns) * tile_h
        level = 0 if peak <= 0 or not math.isfinite(c.value) else min(int(c.value / peak * (len(HEAT) - 1) + 0.5), len(HEAT) - 1)
        cls = "hl" if level >= 3 else "hd"
        body.append(f"<g><title>{escape(c.title or c.label)}</title>"
                    f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(tile_w - 4)}" height="{tile_h - 4}" rx="3"'
                    f' fill="{HEAT[level]}" class="tile"/>'
                    + _text(x + 6, y + 17, fit(c.label, 22), cls)
                    + _text(x + 6, y + 34, fit(c.text, 22), cls + " big")
                    + "</g>")
    return _svg(rows * tile_h + 4, aria_label, body)


def legend(entries: Sequence[tuple[str, str]]) -> Markup:
    """An HTML legend: ``[(label, colour), …]``."""
    items = "".join(f'<li><svg class="swatch" viewBox="0 0 10 10" width="10" height="10" aria-hidden="true">'
                    f'<rect width="10" height="10" fill="{_color(color)}"/></svg>{escape(label)}</li>'
                    for label, color in entries)
    return Markup(f'<ul class="legend">{items}</ul>')


def heat_legend(low: str, high: str) -> Markup:
    """The heat-map scale: ``low`` ▭▭▭▭▭ ``high``."""
    swatches = "".join(f'<rect x="{i * 14}" width="14" height="10" fill="{c}"/>' for i, c in enumerate(HEAT))
    return Markup(f'<p class="legend">{escape(low)} <svg class="swatch" viewBox="0 0 70 10" width="70" height="10"'
                  f' aria-hidden="true">{swatches}</svg> {escape(high)}</p>')
