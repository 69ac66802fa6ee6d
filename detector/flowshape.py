"""Flow shape: does a connection nobody can decode behave like a mining session?

A scikit-learn classifier, trained by ``rules/make_flowshape_model.py`` and stored as JSON in
``rules/flowshape_model.json`` (never pickle), scores finished flows from their
:class:`~detector.behaviour.FlowSummary` alone — counters, sizes and timing, no payload. It is
**supporting evidence only**: a long-lived TCP flow that no dialect decoded and nothing named as a
pool becomes a ``suspected`` session when it scores above the operating point, and a ``strong``
session (pool SNI/DNS, Stratum V2 handshake) can carry one more evidence line when its shape
agrees. docs/flowshape.md gives the features, the training data, the model choice and the
measured error rates; rules/flowshape.toml holds the gates and the threshold.

Features (``FEATURES``, version ``FEATURE_VERSION``; "client" is the side that sent the first
SYN, or the side with the higher port when no handshake was captured; "steady state" leaves out
the first ``FIRST_PAYLOADS`` payload packets of the flow — a TLS handshake or a mining login):

    duration_s              last packet - first packet (s)
    c2s_ppm, s2c_ppm        payload-carrying packets per minute, client→server and server→client
    excess_s2c_ppm          server payload packets per minute beyond the client's (unsolicited
                            pushes: a pool's new jobs)
    c2s_mean_size,          mean payload bytes per payload packet, steady state
      s2c_mean_size
    c2s_size_cv,            coefficient of variation of payload sizes, steady state (a miner's
      s2c_size_cv             submits have near-constant size)
    push_ratio              packets with PSH / payload packets, both directions
    c2s_gap_cv, s2c_gap_cv  CV of the gaps between consecutive payload packets of a direction:
                            ~1 for Poisson-timed shares, ~0 for a timer, >1 for bursts (the
                            server's is the periodicity of its pushes)
    c2s_poisson_dev,        |ln(max(gap CV, 0.05))|: how far the timing is from a Poisson process
      s2c_poisson_dev
    bytes_ratio             client payload bytes / all payload bytes (symmetry)
    packets_ratio           client payload packets / all payload packets (symmetry)
    empty_share             packets without payload (pure ACKs, control) / all packets — the
                            small-packet share a summary can give exactly
    client_speaks_first     1 if the first payload came from the client, 0 if from the server
    first_alternation       direction changes among the first payloads / (their number - 1)

A model names the features it uses (a subset); rates and sizes enter it as log10(1 + value)
(``LOG_FEATURES``). Contributions (:func:`explain`) are the change in the model's log-odds when
one feature alone is set to its training mean — exact for logistic regression, the same
definition for trees.

Scoring is pure Python (a scan never imports numpy for it) and reproduces the numpy arithmetic
the model was validated with, bit for bit: a logistic regression's dot product is accumulated in
input order with one rounding per step (a fused multiply-add, as numpy's OpenBLAS ``ddot`` does
for fewer than 16 inputs; emulated exactly by :func:`_fma`), and a tree compares the input rounded
to float32 (as scikit-learn does) with its float64 threshold. Training (rules/make_flowshape_model.py)
uses numpy and scikit-learn; a model may be built from numpy arrays, stored here as tuples.

Public API:
    features(summary) -> dict[str, float]; model_input(values, names) -> list[float]
    client_side(summary) -> int                      (0: a is the client, 1: b is)
    FlowShapeModel (.predict(summaries), .predict_one(summary), .log_odds(row))
    explain(summary, model=None, top=None) -> list[(feature, contribution)]
    load_flowshape_model(path=None) -> FlowShapeModel; model_from_json(doc, source)
    model_to_json(model) -> dict; dump_model(model) -> str
    load_flowshape_rules(path=None) -> FlowShapeRules; clear_flowshape_cache()
    eligible(summary, rules) -> bool
    suspected_sessions(summaries, known, dns_names, model=None, threshold=None, rules=None)
        -> list[Session]
    supporting_evidence(summary, model=None, threshold=None, rules=None) -> str | None
    summaries_by_tuple(summaries, keys=None) -> dict[(client, cport, server, sport), FlowSummary]
"""

from __future__ import annotations

import functools
import json
import math
from array import array
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.behaviour import FlowSummary
from detector.capture.model import TCP
from detector.errors import RegistryError
from detector.model import _numbers, _short, document_kind, read_json_model
from detector.rules import default_rules_dir, read_toml
from detector.session import Session

__all__ = [
    "FEATURES",
    "FEATURE_DOCS",
    "FEATURE_VERSION",
    "KINDS",
    "LOG_FEATURES",
    "MODEL_FORMAT",
    "FlowShapeModel",
    "FlowShapeRules",
    "TreeModel",
    "clear_flowshape_cache",
    "client_side",
    "dump_model",
    "eligible",
    "explain",
    "features",
    "load_flowshape_model",
    "load_flowshape_rules",
    "model_from_json",
    "model_input",
    "model_to_json",
    "summaries_by_tuple",
    "supporting_evidence",
    "suspected_sessions",
]

FEATURE_VERSION = 1
FEATURES: tuple[str, ...] = (
    "duration_s", "c2s_ppm", "s2c_ppm", "excess_s2c_ppm", "c2s_mean_size", "s2c_mean_size",
    "c2s_size_cv", "s2c_size_cv", "push_ratio", "c2s_gap_cv", "s2c_gap_cv", "c2s_poisson_dev",
    "s2c_poisson_dev", "bytes_ratio", "packets_ratio", "empty_share", "client_speaks_first",
    "first_alternation",
)
#: what each feature means, for evidence lines and docs
FEATURE_DOCS: Mapping[str, str] = {
    "duration_s": "flow duration, s",
    "c2s_ppm": "client payload packets per minute",
    "s2c_ppm": "server payload packets per minute",
    "excess_s2c_ppm": "unsolicited server pushes per minute",
    "c2s_mean_size": "mean client payload size, bytes",
    "s2c_mean_size": "mean server payload size, bytes",
    "c2s_size_cv": "spread of client payload sizes, CV",
    "s2c_size_cv": "spread of server payload sizes, CV",
    "push_ratio": "PSH-flagged share of payload packets",
    "c2s_gap_cv": "client timing CV, 1 for Poisson",
    "s2c_gap_cv": "server push timing CV, 1 for Poisson",
    "c2s_poisson_dev": "client timing's distance from Poisson",
    "s2c_poisson_dev": "server timing's distance from Poisson",
    "bytes_ratio": "client share of payload bytes",
    "packets_ratio": "client share of payload packets",
    "empty_share": "share of packets without payload",
    "client_speaks_first": "client sent the first payload",
    "first_alternation": "turn-taking in the first payloads",
}
#: features a model sees as log10(1 + value) (heavy-tailed rates and sizes)
LOG_FEATURES = frozenset({"duration_s", "c2s_ppm", "s2c_ppm", "excess_s2c_ppm", "c2s_mean_size",
                          "s2c_mean_size"})
CV_CAP = 10.0  #: coefficients of variation are capped here (a CV of n values is at most sqrt(n-1))
POISSON_CV_FLOOR = 0.05  #: gap CVs below this count as this (a perfect timer) in poisson_dev

MODEL_FORMAT = "minesweep/flowshape-model"
MODEL_FORMAT_VERSION = 1
MODEL_FILE = "flowshape_model.json"
RULES_FILE = "flowshape.toml"
KINDS = ("logistic_regression", "decision_tree", "gradient_boosting")
MAX_MODEL_BYTES = 4 * 1024 * 1024
MAX_TREE_NODES = 8191
MAX_TREES = 1000
MAX_COEFFICIENT = 1e6
MAX_TREE_VALUE = 1e6
LOGIT_CLIP = 1e-6  #: tree probabilities are clipped to [clip, 1 - clip] before taking log-odds


# ----------------------------------------------------------------------------------- features


def client_side(f: FlowSummary) -> int:
    """0 when side a is the client, 1 when side b is: the first SYN decides; without a handshake
    the side with the higher (ephemeral) port is the client; a tie keeps a."""
    if f.client_is_a is not None:
        return 0 if f.client_is_a else 1
    return 1 if f.bp > f.ap else 0


def _cv(n: int, total: float, sumsq: float) -> float:
    """Coefficient of variation of n values from their sum and sum of squares (0 when n < 2)."""
    if n < 2 or not (math.isfinite(total) and math.isfinite(sumsq)):
        return 0.0
    mean = total / n
    if mean <= 0.0:
        return 0.0
    var = max(sumsq / n - mean * mean, 0.0)
    return min(math.sqrt(var) / mean, CV_CAP)


def _steady(f: FlowSummary, i: int) -> tuple[int, int, int]:
    """(payload packets, bytes, Σ size²) of direction i without its first payloads (the handshake
    or login), or the whole direction when nothing would be left."""
    head = [n for d, n in f.first_payloads if d == i]
    n = f.payload_packets[i] - len(head)
    if n <= 0:
        return f.payload_packets[i], f.payload_bytes[i], f.payload_sumsq[i]
    return n, f.payload_bytes[i] - sum(head), f.payload_sumsq[i] - sum(x * x for x in head)


def features(f: FlowSummary) -> dict[str, float]:
    """Every feature of ``FEATURES`` for one finished flow, from its summary alone (finite floats)."""
    c = client_side(f)
    s = 1 - c
    span = f.last_ts - f.first_ts
    duration = span if math.isfinite(span) and span > 0 else 0.0
    minutes = max(duration, 1.0) / 60.0
    pp, pb = f.payload_packets, f.payload_bytes
    out: dict[str, float] = {"duration_s": duration}
    for name, i in (("c2s", c), ("s2c", s)):
        out[f"{name}_ppm"] = pp[i] / minutes
    out["excess_s2c_ppm"] = max(pp[s] - pp[c], 0) / minutes
    for name, i in (("c2s", c), ("s2c", s)):
        n, total, sumsq = _steady(f, i)
        out[f"{name}_mean_size"] = total / n if n else 0.0
        out[f"{name}_size_cv"] = _cv(n, float(total), float(sumsq))
    payload_packets = pp[0] + pp[1]
    out["push_ratio"] = min((f.pushes[0] + f.pushes[1]) / payload_packets, 2.0) if payload_packets else 0.0
    for name, i in (("c2s", c), ("s2c", s)):
        out[f"{name}_gap_cv"] = _cv(f.gap_n[i], f.gap_sum[i], f.gap_sumsq[i])
    for name in ("c2s", "s2c"):
        out[f"{name}_poisson_dev"] = abs(math.log(max(out[f"{name}_gap_cv"], POISSON_CV_FLOOR)))
    payload_bytes = pb[0] + pb[1]
    out["bytes_ratio"] = pb[c] / payload_bytes if payload_bytes else 0.5
    out["packets_ratio"] = pp[c] / payload_packets if payload_packets else 0.5
    packets = f.packets[0] + f.packets[1]
    out["empty_share"] = min(max(1.0 - payload_packets / packets, 0.0), 1.0) if packets else 0.0
    first = f.first_payloads
    out["client_speaks_first"] = (1.0 if first[0][0] == c else 0.0) if first else 0.5
    turns = sum(1 for x, y in zip(first, first[1:]) if x[0] != y[0])
    out["first_alternation"] = turns / (len(first) - 1) if len(first) > 1 else 0.0
    return {k: out[k] if math.isfinite(out[k]) else 0.0 for k in FEATURES}


def model_input(values: Mapping[str, float], names: Sequence[str]) -> list[float]:
    """The model's input row: the named features in order, rates and sizes as log10(1 + x)."""
    return [math.log10(1.0 + max(float(values[n]), 0.0)) if n in LOG_FEATURES else float(values[n])
            for n in names]


# ----------------------------------------------------------------------------------- arithmetic

_SPLIT = 134217729.0  #: 2**27 + 1: Veltkamp's constant, splits a double into two 26-bit halves
_SAFE = 2.0 ** 900    #: magnitudes in (1/_SAFE, _SAFE) split and multiply without over/underflow


def _fma(a: float, b: float, c: float) -> float:
    """a * b + c rounded once (IEEE fused multiply-add; math.fma arrives only in Python 3.13).

    The product is split exactly into p + e (Dekker's two-product) and ``math.fsum``, which rounds
    correctly, adds c, p and e. Magnitudes where the split could over- or underflow take an exact
    rational route instead."""
    p = a * b
    if 1.0 / _SAFE < abs(p) < _SAFE and abs(a) < _SAFE and abs(b) < _SAFE and abs(c) < _SAFE:
        t = _SPLIT * a
        ah = t - (t - a)
        al = a - ah
        t = _SPLIT * b
        bh = t - (t - b)
        bl = b - bh
        return math.fsum((c, p, ((ah * bh - p) + ah * bl + al * bh) + al * bl))
    if p == 0.0 or not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return c + p  # an exact zero product (the sign of a zero sum as IEEE), or inf/nan
    from fractions import Fraction  # rare: only here, not at import (it loads decimal)

    try:
        return float(Fraction(a) * Fraction(b) + Fraction(c))
    except OverflowError:
        return c + p


def _weights(coef: Sequence[float]) -> tuple[tuple[float, float, float], ...]:
    """Each weight with its Veltkamp halves (w, high, low), split once for :func:`_dot`."""
    out = []
    for w in coef:
        t = _SPLIT * w
        high = t - (t - w)
        out.append((w, high, w - high))
    return tuple(out)


def _dot(weights: Sequence[tuple[float, float, float]], row: Sequence[float]) -> float:
    """Σ w[i] * row[i] in input order, one rounding per step: :func:`_fma` inlined, with the
    weights split beforehand (``_weights``); a value out of the safe range takes ``_fma`` itself."""
    total = 0.0
    fsum, split, safe, tiny = math.fsum, _SPLIT, _SAFE, 1.0 / _SAFE
    for (w, wh, wl), x in zip(weights, row, strict=True):
        x = float(x)
        p = w * x
        if tiny < abs(p) < safe and abs(w) < safe and abs(x) < safe and abs(total) < safe:
            t = split * x
            xh = t - (t - x)
            xl = x - xh
            total = fsum((total, p, ((wh * xh - p) + wh * xl + wl * xh) + wl * xl))
        else:
            total = _fma(w, x, total)
    return total


# ----------------------------------------------------------------------------------- the model


def _float_tuple(values: Iterable[Any]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _int_tuple(values: Iterable[Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


@dataclass(frozen=True, slots=True, eq=False)
class TreeModel:
    """One fitted tree as plain arrays (scikit-learn's ``tree_`` layout), stored as tuples (numpy
    arrays or lists are accepted and converted).

    ``value`` is the probability of mining at each node for a decision tree, or the additive
    raw score at each leaf for a gradient-boosting stage.
    """

    children_left: Sequence[int]   #: -1 at leaves
    children_right: Sequence[int]  #: -1 at leaves
    feature: Sequence[int]         #: -1 at leaves
    threshold: Sequence[float]     #: go left when float32(x) <= threshold (a float64)
    value: Sequence[float]         #: one number per node

    def __post_init__(self) -> None:
        for name in ("children_left", "children_right", "feature"):
            object.__setattr__(self, name, _int_tuple(getattr(self, name)))
        for name in ("threshold", "value"):
            object.__setattr__(self, name, _float_tuple(getattr(self, name)))

    def leaf(self, x32: Sequence[float]) -> int:
        """The leaf a row reaches; ``x32`` holds the row's values rounded to float32."""
        node = 0
        left, right, feature, threshold = self.children_left, self.children_right, self.feature, self.threshold
        while left[node] != -1:
            node = left[node] if x32[feature[node]] <= threshold[node] else right[node]
        return node


@dataclass(frozen=True, slots=True, eq=False)
class FlowShapeModel:
    """A trained flow-shape model that predicts in pure Python (no numpy; see the module docstring).

    ``reference`` and ``coef`` may be given as numpy arrays or lists; they are stored as tuples."""

    kind: str                       #: one of KINDS
    feature_names: tuple[str, ...]  #: the features it uses, in input order (a subset of FEATURES)
    reference: Sequence[float]      #: training mean of each input (for explanations)
    coef: Sequence[float] | None    #: logistic regression: one weight per input (input units)
    intercept: float                #: logistic regression intercept, or gradient boosting's start
    learning_rate: float            #: gradient boosting
    trees: tuple[TreeModel, ...]    #: one (decision tree) or the boosting stages
    training: Mapping[str, Any]     #: metadata: data, selection, figures
    _weights: tuple[tuple[float, float, float], ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        object.__setattr__(self, "reference", _float_tuple(self.reference))
        if self.coef is not None:
            object.__setattr__(self, "coef", _float_tuple(self.coef))
            object.__setattr__(self, "_weights", _weights(self.coef))
        object.__setattr__(self, "trees", tuple(self.trees))

    def log_odds(self, row: Sequence[float]) -> float:
        """Log-odds of mining for one model-input row (a sequence of floats, e.g. ``row()``)."""
        if self.kind == "logistic_regression":
            assert self.coef is not None
            return _dot(self._weights, row) + self.intercept
        x32 = array("f", row)  # each value rounded to float32, as numpy's astype(float32) and sklearn
        if self.kind == "decision_tree":
            p = self.trees[0].value[self.trees[0].leaf(x32)]
            p = min(max(p, LOGIT_CLIP), 1.0 - LOGIT_CLIP)
            return math.log(p / (1.0 - p))
        return self.intercept + self.learning_rate * sum(t.value[t.leaf(x32)] for t in self.trees)

    def row(self, summary: FlowSummary) -> list[float]:
        """The model-input row of one flow."""
        return model_input(features(summary), self.feature_names)

    def predict_one(self, summary: FlowSummary) -> float:
        """Probability that the flow is a mining session, from its shape alone."""
        return _sigmoid(self.log_odds(self.row(summary)))

    def predict(self, summaries: Iterable[FlowSummary]) -> list[float]:
        """Probability of mining for each summary, in order."""
        return [self.predict_one(s) for s in summaries]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def explain(summary: FlowSummary, model: FlowShapeModel | None = None,
            top: int | None = None) -> list[tuple[str, float]]:
    """Each model feature's contribution to the flow's log-odds of mining (positive: toward
    mining), largest magnitude first: the change when that feature alone is set to its training
    mean. Features that contribute nothing are left out; ``top`` keeps the first n."""
    model = model if model is not None else load_flowshape_model()
    row = model.row(summary)
    base = model.log_odds(row)
    out = []
    for i, name in enumerate(model.feature_names):
        moved = list(row)
        moved[i] = model.reference[i]
        contribution = base - model.log_odds(moved)
        if contribution != 0.0:
            out.append((name, contribution))
    out.sort(key=lambda p: (-abs(p[1]), p[0]))
    return out if top is None else out[:top]


# ----------------------------------------------------------------------------------- JSON


def model_to_json(model: FlowShapeModel) -> dict[str, Any]:
    """The model as a JSON-ready document."""
    doc: dict[str, Any] = {
        "format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "feature_version": FEATURE_VERSION,
        "kind": model.kind, "feature_names": list(model.feature_names), "reference": list(model.reference),
    }
    if model.kind == "logistic_regression":
        assert model.coef is not None
        doc["logistic_regression"] = {"coef": list(model.coef), "intercept": model.intercept}
    elif model.kind == "decision_tree":
        doc["decision_tree"] = _tree_doc(model.trees[0])
    else:
        doc["gradient_boosting"] = {"init": model.intercept, "learning_rate": model.learning_rate,
                                    "trees": [_tree_doc(t) for t in model.trees]}
    doc["training"] = dict(model.training)
    return doc


def _tree_doc(t: TreeModel) -> dict[str, list[Any]]:
    return {"children_left": list(t.children_left), "children_right": list(t.children_right),
            "feature": list(t.feature), "threshold": list(t.threshold), "value": list(t.value)}


def dump_model(model: FlowShapeModel) -> str:
    """The model's JSON text exactly as shipped (stable key order, one space indent, newline)."""
    return json.dumps(model_to_json(model), indent=1, allow_nan=False, ensure_ascii=False) + "\n"


def load_flowshape_model(path: Path | str | None = None) -> FlowShapeModel:
    """Read and validate a flow-shape model (default: rules/flowshape_model.json; cached per path).

    A file that is not a valid model raises a one-line RegistryError naming it."""
    if path is None:
        path = _rules_path(MODEL_FILE)
    return _load_model_cached(str(Path(path).resolve()))


def clear_flowshape_cache() -> None:
    """Forget cached models and rules (tests, or after retraining)."""
    _load_model_cached.cache_clear()
    _load_rules_cached.cache_clear()


@functools.lru_cache(maxsize=8)
def _load_model_cached(path_text: str) -> FlowShapeModel:
    return model_from_json(read_json_model(path_text, "flow-shape model", MAX_MODEL_BYTES), source=path_text)


def model_from_json(doc: object, source: str = "model") -> FlowShapeModel:
    """Validate a parsed model document strictly and build the model (RegistryError, one line)."""
    def fail(msg: str) -> RegistryError:
        return RegistryError(f"{source}: {msg}")

    kind = document_kind(doc, fail, "flow-shape model", (MODEL_FORMAT, MODEL_FORMAT_VERSION), KINDS,
                         {"format", "format_version", "feature_version", "kind", "feature_names", "reference", "training"})
    if doc.get("feature_version") != FEATURE_VERSION:
        raise fail(f"feature_version must be {FEATURE_VERSION}; retrain with rules/make_flowshape_model.py")
    names = doc.get("feature_names")
    if (not isinstance(names, list) or not 1 <= len(names) <= len(FEATURES)
            or not all(isinstance(n, str) and n in FEATURES for n in names) or len(set(names)) != len(names)):
        raise fail("'feature_names' must list distinct names of detector.flowshape.FEATURES")
    n = len(names)
    reference = _numbers(doc.get("reference"), (n,), "reference", fail, MAX_COEFFICIENT)
    training = doc.get("training")
    if not isinstance(training, dict):
        raise fail("'training' must be an object")
    params = doc.get(kind)
    if not isinstance(params, dict):
        raise fail(f"'{kind}' must be an object")
    coef: list[float] | None = None
    intercept, rate = 0.0, 1.0
    trees: tuple[TreeModel, ...] = ()
    if kind == "logistic_regression":
        _only(params, {"coef", "intercept"}, kind, fail)
        coef = _numbers(params.get("coef"), (n,), f"{kind}.coef", fail, MAX_COEFFICIENT)
        intercept = _number(params.get("intercept"), f"{kind}.intercept", fail, MAX_COEFFICIENT)
    elif kind == "decision_tree":
        trees = (_tree(params, n, kind, fail, probabilities=True),)
    else:
        _only(params, {"init", "learning_rate", "trees"}, kind, fail)
        intercept = _number(params.get("init"), f"{kind}.init", fail, MAX_COEFFICIENT)
        rate = _number(params.get("learning_rate"), f"{kind}.learning_rate", fail, 1.0)
        if rate <= 0.0:
            raise fail(f"'{kind}.learning_rate' must be in (0, 1]")
        stages = params.get("trees")
        if not isinstance(stages, list) or not 1 <= len(stages) <= MAX_TREES:
            raise fail(f"'{kind}.trees' must list 1..{MAX_TREES} trees")
        trees = tuple(_tree(t, n, f"{kind}.trees[{i}]", fail, probabilities=False) for i, t in enumerate(stages))
    return FlowShapeModel(kind, tuple(names), reference, coef, intercept, rate, trees, training)


def _only(params: Mapping[str, Any], keys: set[str], where: str, fail: Any) -> None:
    if set(params) != keys:
        raise fail(f"'{where}' must have exactly the keys {', '.join(sorted(keys))}")


def _number(value: object, where: str, fail: Any, bound: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or abs(value) > bound or not math.isfinite(value):
        raise fail(f"'{where}' must be a finite number within +-{bound:g}")
    return float(value)


def _tree(params: object, n_features: int, where: str, fail: Any, probabilities: bool) -> TreeModel:
    """A tree's arrays, checked: every node reached exactly once from the root, children later in
    the arrays, feature indices in range, values finite (probabilities in 0..1 for a decision tree)."""
    if not isinstance(params, dict):
        raise fail(f"'{where}' must be an object")
    _only(params, {"children_left", "children_right", "feature", "threshold", "value"}, where, fail)
    left_raw = params.get("children_left")
    if not isinstance(left_raw, list) or not 1 <= len(left_raw) <= MAX_TREE_NODES:
        raise fail(f"'{where}.children_left' must list 1..{MAX_TREE_NODES} nodes")
    n = len(left_raw)
    left = _ints(left_raw, n, f"{where}.children_left", fail)
    right = _ints(params.get("children_right"), n, f"{where}.children_right", fail)
    feature = _ints(params.get("feature"), n, f"{where}.feature", fail)
    threshold = _numbers(params.get("threshold"), (n,), f"{where}.threshold", fail, 1e12)
    value = _numbers(params.get("value"), (n,), f"{where}.value", fail, MAX_TREE_VALUE)
    if probabilities and not all(0.0 <= v <= 1.0 for v in value):
        raise fail(f"'{where}.value' must hold probabilities 0..1")
    reached = [False] * n
    reached[0] = True
    for i in range(n):
        is_leaf = left[i] == -1
        if is_leaf != (right[i] == -1):
            raise fail(f"{where} node {i}: one child missing")
        if is_leaf:
            continue
        if not (i < left[i] < n and i < right[i] < n and left[i] != right[i]):
            raise fail(f"{where} node {i}: children must be later nodes of the tree")
        if not 0 <= feature[i] < n_features:
            raise fail(f"{where} node {i}: feature index out of range")
        if reached[i]:
            if reached[left[i]] or reached[right[i]]:
                raise fail(f"{where} node {i}: a node is reached twice")
            reached[left[i]] = reached[right[i]] = True
    if not all(reached):
        raise fail(f"{where} has unreachable nodes")
    return TreeModel(left, right, feature, threshold, value)


def _ints(value: object, n: int, where: str, fail: Any) -> list[int]:
    if not isinstance(value, list) or len(value) != n or not all(
            isinstance(v, int) and not isinstance(v, bool) and -1 <= v <= MAX_TREE_NODES for v in value):
        raise fail(f"'{where}' must be {n} integers from -1 to {MAX_TREE_NODES}")
    return list(value)


# ----------------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class FlowShapeRules:
    """Gates and operating point (rules/flowshape.toml)."""

    min_duration_s: float           #: a suspected flow lasted at least this long
    min_payload_packets: int        #: ... carried at least this many payload packets in all
    min_payload_packets_each_way: int  #: ... and at least this many in each direction
    suspect_threshold: float        #: probability at or above which a flow is suspected
    support_threshold: float        #: probability at or above which a strong session gets a line
    top_features: int               #: features named in an evidence line
    path: str


_RULE_KEYS: dict[str, dict[str, tuple[type, float, float]]] = {
    "gate": {"min_duration_s": (float, 0.0, 86400.0 * 30), "min_payload_packets": (int, 1, 10**9),
             "min_payload_packets_each_way": (int, 0, 10**9)},
    "score": {"suspect_threshold": (float, 0.0, 1.0), "support_threshold": (float, 0.0, 1.0)},
    "evidence": {"top_features": (int, 1, len(FEATURES))},
}


def load_flowshape_rules(path: Path | str | None = None) -> FlowShapeRules:
    """Load and validate rules/flowshape.toml (or ``path``); cached per path; RegistryError
    naming the file and key (or line) when malformed."""
    if path is None:
        path = _rules_path(RULES_FILE)
    return _load_rules_cached(str(Path(path).resolve()))


@functools.lru_cache(maxsize=8)
def _load_rules_cached(path_text: str) -> FlowShapeRules:
    p = Path(path_text)
    doc = read_toml(p, 64 * 1024)
    extra = sorted(set(doc) - set(_RULE_KEYS) - {"schema_version"})
    if doc.get("schema_version") != 1:
        raise RegistryError(f"{p}: schema_version must be 1")
    if extra:
        raise RegistryError(f"{p}: unknown table [{_short(extra[0])}]")
    values: dict[str, Any] = {}
    for table, keys in _RULE_KEYS.items():
        section = doc.get(table)
        if not isinstance(section, dict):
            raise RegistryError(f"{p}: [{table}] must be a table")
        unknown = sorted(set(section) - set(keys))
        if unknown:
            raise RegistryError(f"{p}: [{table}] unknown key '{_short(unknown[0])}'")
        for key, (typ, low, high) in keys.items():
            v = section.get(key)
            ok = (isinstance(v, int) if typ is int else isinstance(v, (int, float))) and not isinstance(v, bool)
            if not ok or not isinstance(v, (int, float)) or not low <= v <= high:
                raise RegistryError(f"{p}: [{table}] {key} must be a{'n integer' if typ is int else ' number'} "
                                    f"from {low:g} to {high:g}")
            values[key] = typ(v)
    return FlowShapeRules(**values, path=str(p))


def _rules_path(name: str) -> Path:
    return default_rules_dir() / name


# ----------------------------------------------------------------------------------- sessions


def eligible(f: FlowSummary, rules: FlowShapeRules) -> bool:
    """Long-lived enough to judge by shape: TCP, the minimum duration and payload packets."""
    each = rules.min_payload_packets_each_way
    return (f.proto == TCP and f.last_ts - f.first_ts >= rules.min_duration_s
            and f.payload_packets[0] + f.payload_packets[1] >= rules.min_payload_packets
            and f.payload_packets[0] >= each and f.payload_packets[1] >= each)


def _oriented(f: FlowSummary) -> tuple[str, int, str, int, int]:
    """(client, client port, server, server port, index of the client side)."""
    c = client_side(f)
    return (f.a, f.ap, f.b, f.bp, 0) if c == 0 else (f.b, f.bp, f.a, f.ap, 1)


def _weighed(summary: FlowSummary, model: FlowShapeModel, top: int) -> str:
    values = features(summary)
    parts = [f"{name} {_fmt(values[name])} ({FEATURE_DOCS[name]}; {c:+.2f} log-odds)"
             for name, c in explain(summary, model) if c > 0][:top]
    return "; ".join(parts) if parts else "no single feature stands out"


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.2f}"


def suspected_sessions(summaries: Iterable[FlowSummary], known: set[tuple[str, int, str, int]],
                       dns_names: Mapping[str, str], model: FlowShapeModel | None = None,
                       threshold: float | None = None, rules: FlowShapeRules | None = None) -> list[Session]:
    """``suspected`` sessions: TCP flows that are not already a session (``known`` holds
    (client, client port, server, server port) in either orientation), pass the gates of
    rules/flowshape.toml and score at or above ``threshold`` (default: the rules' operating point).

    Each session has dialect "unknown", an evidence line with the probability and the features that
    weighed most, and notes saying it rests on flow shape alone. ``dns_names`` (address -> name a
    DNS answer gave it) names the server: as the pool when rules/pools.toml knows the name."""
    from detector.rules import load_rules

    rules = rules if rules is not None else load_flowshape_rules()
    model = model if model is not None else load_flowshape_model()
    cut = rules.suspect_threshold if threshold is None else threshold
    out: list[Session] = []
    for f in summaries:
        if not eligible(f, rules) or (f.a, f.ap, f.b, f.bp) in known or (f.b, f.bp, f.a, f.ap) in known:
            continue
        p = model.predict_one(f)
        if p < cut:
            continue
        client, cport, server, sport, ci = _oriented(f)
        s = Session(client, cport, server, sport, first_seen=min(f.first_ts, f.last_ts),
                    last_seen=max(f.first_ts, f.last_ts), dialect="unknown", transport="tcp",
                    confidence="suspected")
        s.bytes_c2s, s.bytes_s2c = f.bytes[ci], f.bytes[1 - ci]
        s.packets_c2s, s.packets_s2c = f.packets[ci], f.packets[1 - ci]
        s.evidence.append(f"{f.first_ts:.6f} flow shape: mining-like with probability {p:.2f} (threshold {cut:.2f});"
                          f" weighed most: {_weighed(f, model, rules.top_features)}")
        name = dns_names.get(server)
        if name:
            if load_rules().pool_for_host(name) is not None:
                s.set_once("pool", name, "dns")
                s.evidence.append(f"a DNS answer named the server {name}, a pool of rules/pools.toml")
            else:
                s.notes.append(f"a DNS answer named the server {_short(name, 80)} (not a known pool)")
        s.notes.append("suspected on flow shape alone (sizes, rates and timing of an undecoded TCP flow): "
                       "no mining protocol was decoded and no pool name was seen in the connection")
        s.notes.append("the mining protocol, shares and hashrate are not observable")
        out.append(s)
    return out


def supporting_evidence(summary: FlowSummary, model: FlowShapeModel | None = None,
                        threshold: float | None = None, rules: FlowShapeRules | None = None) -> str | None:
    """One evidence line for a ``strong`` session whose flow shape agrees (probability at or
    above the rules' support threshold), else None. No gate on duration: the session is already
    established by other evidence."""
    if summary.proto != TCP:
        return None
    rules = rules if rules is not None else load_flowshape_rules()
    model = model if model is not None else load_flowshape_model()
    cut = rules.support_threshold if threshold is None else threshold
    p = model.predict_one(summary)
    if p < cut:
        return None
    return (f"flow shape agrees: mining-like with probability {p:.2f} (threshold {cut:.2f}); "
            f"weighed most: {_weighed(summary, model, rules.top_features)}")


def summaries_by_tuple(summaries: Iterable[FlowSummary],
                       keys: Collection[tuple[str, int, str, int]] | None = None) -> dict[tuple[str, int, str, int], FlowSummary]:
    """Summaries keyed by (client, client port, server, server port), both orientations, so a
    session's 4-tuple finds its flow; when a 4-tuple was reused, the flow with most packets wins.
    ``keys``: only these 4-tuples are indexed (a scan looks up its ~200 sessions among ~15,000
    flows: the same entries for them, at a fifth of the cost)."""
    out: dict[tuple[str, int, str, int], FlowSummary] = {}
    ports = None if keys is None else {port for key in keys for port in (key[1], key[3])}
    for f in summaries:
        if ports is not None and f.ap not in ports:  # (no key can match: spares making two tuples)
            continue
        weight = f.packets[0] + f.packets[1]
        for key in ((f.a, f.ap, f.b, f.bp), (f.b, f.bp, f.a, f.ap)):
            if keys is not None and key not in keys:
                continue
            old = out.get(key)
            if old is None or old.packets[0] + old.packets[1] < weight:
                out[key] = f
    return out
