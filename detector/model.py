"""The verdict model: a small scikit-learn classifier over a fixed host feature vector.

The rules (detector.verdict) decide on their own; a model trained with ``minesweep train`` on a
labeled set can add an opinion and, when it is sure enough, decide instead
(``decision.model_override_probability`` in rules/verdict.toml). docs/verdicts.md explains the
features, the model choice and the cross-validation figures.

Features (``FEATURE_NAMES``, version ``FEATURE_VERSION``), all bounded:

    sig_<signal>               the value (0..1) of each verdict signal, in SIGNAL_NAMES order
    public_institution         1 if the owning unit is a public institution, else 0
    log_inbound_peers          log10(1 + n), capped at 12; likewise for
    log_outbound_scan_targets    outbound_scan_targets, scanned_by, the number of other units
    log_scanned_by               sharing a wallet, downloads and sessions
    log_shared_units
    log_farm_size              log10(farm_size), 0 for a lone host
    log_downloads
    log_sessions
    encrypted_fraction         encrypted_sessions / sessions, 0..1

Saved models are JSON (never pickle): coefficients or tree arrays, feature names, classes and
training metadata with the cross-validation figures. :func:`load_model` validates everything
(types, shapes, finite numbers, sizes, feature names of this version) and raises a one-line
:class:`~detector.errors.RegistryError` otherwise. Prediction uses numpy only, imported when a
model is loaded or trained (not with this module: a scan without ``--model`` never loads numpy).

Public API:
    host_vector(h, signals) -> tuple[float, ...]; feature_vector(h, rules=None) -> tuple[float, ...]
    VerdictModel (.predict_proba(x), .predict(x), .predict_proba_many(X), .cv_macro_f1)
    explain(model, features) -> list[(feature, contribution)], largest |contribution| first
    read_labeled_csv(path) -> LabeledSet
    train(data, *, folds=5, seed=0, kind="auto", rules=None, now=None) -> TrainResult
    rules_predictions(X, rules) -> list[str]   (what the rules alone say about feature rows)
    model_to_json(model) -> dict; model_from_json(doc, source="model") -> VerdictModel
    save_model(model, path); load_model(path) -> VerdictModel
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from detector.errors import InputError, RegistryError, UnreadableInputError
from detector.verdict import (
    COMPROMISE_SIGNALS,
    DELIBERATE_SIGNALS,
    SIGNAL_NAMES,
    VERDICTS,
    HostFeatures,
    SignalResult,
    VerdictRules,
    evaluate_signals,
    load_verdict_rules,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CLASSES",
    "FEATURE_NAMES",
    "FEATURE_VERSION",
    "MODEL_FORMAT",
    "Candidate",
    "LabeledSet",
    "TrainResult",
    "VerdictModel",
    "explain",
    "feature_vector",
    "host_vector",
    "load_model",
    "model_from_json",
    "model_to_json",
    "read_labeled_csv",
    "rules_predictions",
    "save_model",
    "train",
]

FEATURE_VERSION = 1
MODEL_FORMAT = "minesweep/verdict-model"
MODEL_FORMAT_VERSION = 1
CLASSES = tuple(sorted(VERDICTS))  # scikit-learn orders classes this way
KINDS = ("logistic_regression", "decision_tree")
_LOG_FEATURES = (
    "log_inbound_peers", "log_outbound_scan_targets", "log_scanned_by", "log_shared_units",
    "log_farm_size", "log_downloads", "log_sessions",
)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"sig_{n}" for n in SIGNAL_NAMES), "public_institution", *_LOG_FEATURES, "encrypted_fraction",
)
_LOG_CAP = 12.0
_FEATURE_MAX = {name: (_LOG_CAP if name in _LOG_FEATURES else 1.0) for name in FEATURE_NAMES}

#: One feature vector: a sequence of floats or a 1-D numpy array (FEATURE_NAMES order).
Vector: TypeAlias = "Sequence[float] | np.ndarray"

MAX_MODEL_BYTES = 2 * 1024 * 1024
MAX_TREE_NODES = 8191
MAX_COEFFICIENT = 1e6
MAX_CSV_BYTES = 16 * 1024 * 1024
MAX_CSV_ROWS = 100_000
LABEL_COLUMN = "verdict"


# ----------------------------------------------------------------------------------- features


def host_vector(h: HostFeatures, signals: Sequence[SignalResult]) -> tuple[float, ...]:
    """The feature vector of one host, from its evaluated signals (FEATURE_NAMES order)."""
    values = {s.name: float(s.value) for s in signals}
    sessions, encrypted = _count(h.sessions), _count(h.encrypted_sessions)
    return (
        *(min(max(values.get(n, 0.0), 0.0), 1.0) for n in SIGNAL_NAMES),
        1.0 if bool(h.public_institution) else 0.0,
        _log(h.inbound_peers),
        _log(h.outbound_scan_targets),
        _log(h.scanned_by),
        _log(len(set(h.shared_wallet_units))),
        min(math.log10(max(_count(h.farm_size), 1)), _LOG_CAP),
        _log(len(h.downloads)),
        _log(sessions),
        min(encrypted / max(sessions, encrypted, 1), 1.0),
    )


def feature_vector(h: HostFeatures, rules: VerdictRules | None = None) -> tuple[float, ...]:
    """Evaluate the verdict signals on ``h`` and return its feature vector."""
    rules = rules if rules is not None else load_verdict_rules()
    return host_vector(h, evaluate_signals(h, rules))


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(value, 0)


def _log(value: object) -> float:
    return min(math.log10(1 + _count(value)), _LOG_CAP)


# ----------------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class TreeArrays:
    """A fitted decision tree as plain arrays (scikit-learn's ``tree_`` layout)."""

    children_left: np.ndarray   #: int, -1 at leaves
    children_right: np.ndarray  #: int, -1 at leaves
    feature: np.ndarray         #: int, -1 at leaves
    threshold: np.ndarray       #: float64; go left when float32(x) <= threshold
    value: np.ndarray           #: float64 (n_nodes, n_classes), non-negative, rows sum > 0

    def proba(self, node: int) -> np.ndarray:
        """Class probabilities at one node (its value row normalised)."""
        import numpy as np

        row = self.value[node]
        return np.asarray(row / row.sum(), dtype=np.float64)


@dataclass(frozen=True, slots=True, eq=False)
class VerdictModel:
    """A trained verdict model that predicts with numpy only."""

    kind: str                       #: "logistic_regression" | "decision_tree"
    feature_names: tuple[str, ...]
    classes: tuple[str, ...]
    coef: np.ndarray | None         #: (n_classes, n_features) for logistic regression
    intercept: np.ndarray | None    #: (n_classes,)
    tree: TreeArrays | None
    training: Mapping[str, Any]     #: metadata: data set, selection, CV figures

    def predict_proba(self, x: Vector) -> tuple[float, ...]:
        """Class probabilities (``classes`` order) for one feature vector."""
        row = self._row(x)
        if self.kind == "logistic_regression":
            assert self.coef is not None and self.intercept is not None
            return tuple(float(p) for p in _softmax(self.coef @ row + self.intercept))
        assert self.tree is not None
        return tuple(float(p) for p in self.tree.proba(self._leaf(row)))

    def predict_proba_many(self, rows: np.ndarray) -> np.ndarray:
        """Probabilities for each row of a 2-D array."""
        import numpy as np

        return np.array([self.predict_proba(r) for r in np.asarray(rows, dtype=np.float64)])

    def predict(self, x: Vector) -> str:
        probs = self.predict_proba(x)
        import numpy as np

        return self.classes[int(np.argmax(probs))]

    @property
    def cv_macro_f1(self) -> float | None:
        cv = self.training.get("cv")
        value = cv.get("macro_f1") if isinstance(cv, Mapping) else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def _row(self, x: Vector) -> np.ndarray:
        import numpy as np

        row = np.asarray(x, dtype=np.float64)
        if row.shape != (len(self.feature_names),) or not np.all(np.isfinite(row)):
            raise InputError(f"feature vector must hold {len(self.feature_names)} finite numbers")
        return row

    def _path(self, row: np.ndarray) -> list[int]:
        assert self.tree is not None
        import numpy as np

        t, node, path = self.tree, 0, [0]
        x32 = row.astype(np.float32)
        while t.children_left[node] != -1:
            go_left = float(x32[t.feature[node]]) <= t.threshold[node]
            node = int(t.children_left[node] if go_left else t.children_right[node])
            path.append(node)
        return path

    def _leaf(self, row: np.ndarray) -> int:
        return self._path(row)[-1]


def _softmax(z: np.ndarray) -> np.ndarray:
    import numpy as np

    e = np.exp(z - np.max(z))
    return np.asarray(e / e.sum(), dtype=np.float64)


def explain(model: VerdictModel, features: Vector | HostFeatures,
            rules: VerdictRules | None = None) -> list[tuple[str, float]]:
    """Per-feature contributions toward the model's most probable class, largest first.

    Logistic regression: coefficient x value for that class. Decision tree: along the path to
    the leaf, each split adds the change in that class's probability to its feature (Saabas).
    Features that contribute nothing are left out.
    """
    import numpy as np

    x = feature_vector(features, rules) if isinstance(features, HostFeatures) else features
    row = model._row(x)
    probs = model.predict_proba(row)
    k = int(np.argmax(probs))
    contrib = np.zeros(len(model.feature_names))
    if model.kind == "logistic_regression":
        assert model.coef is not None
        contrib = model.coef[k] * row
    else:
        assert model.tree is not None
        path = model._path(row)
        for parent, child in zip(path, path[1:], strict=False):
            f = int(model.tree.feature[parent])
            contrib[f] += model.tree.proba(child)[k] - model.tree.proba(parent)[k]
    pairs = [(n, float(c)) for n, c in zip(model.feature_names, contrib, strict=True) if c != 0.0]
    return sorted(pairs, key=lambda p: (-abs(p[1]), p[0]))


# ----------------------------------------------------------------------------------- labeled data


@dataclass(frozen=True, slots=True, eq=False)
class LabeledSet:
    """Rows of features with a verdict label, read from a CSV."""

    path: str
    sha256: str
    x: np.ndarray                  #: (rows, len(FEATURE_NAMES)) float64
    y: tuple[str, ...]
    ids: tuple[str, ...]           #: the `id` column, or row numbers
    ignored_columns: tuple[str, ...]


def read_labeled_csv(path: Path | str) -> LabeledSet:
    """Read a labeled set: a header with every FEATURE_NAMES column and ``verdict``.

    Other columns (``id``, ``archetype``, notes) are ignored and listed. Errors name file:line.
    """
    import numpy as np

    p = Path(path)
    data = _read_bytes(p, MAX_CSV_BYTES, "labeled set")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(f"{p}: empty file (expected a header with the feature columns and 'verdict')")
        columns = _columns(p, header)
        xs: list[list[float]] = []
        ys: list[str] = []
        ids: list[str] = []
        for row in reader:
            if not row or row == [""]:
                continue
            if len(xs) >= MAX_CSV_ROWS:
                raise InputError(f"{p}: more than {MAX_CSV_ROWS:,} rows")
            x, y, ident = _parse_row(p, reader.line_num, row, header, columns)
            xs.append(x)
            ys.append(y)
            ids.append(ident or str(reader.line_num))
    except csv.Error as exc:
        raise InputError(f"{p}:{reader.line_num}: malformed CSV ({exc})") from None
    if not xs:
        raise InputError(f"{p}: no data rows")
    ignored = tuple(c for c in header if c not in columns)
    return LabeledSet(str(p), hashlib.sha256(data).hexdigest(), np.array(xs, dtype=np.float64),
                      tuple(ys), tuple(ids), ignored)


def _columns(p: Path, header: list[str]) -> dict[str, int]:
    if len(header) != len(set(header)):
        dup = next(c for c in header if header.count(c) > 1)
        raise InputError(f"{p}:1: duplicate column '{_short(dup)}'")
    missing = [c for c in (*FEATURE_NAMES, LABEL_COLUMN) if c not in header]
    if missing:
        raise InputError(f"{p}:1: missing column(s) {', '.join(missing[:5])}"
                         f"{' …' if len(missing) > 5 else ''} (see docs/verdicts.md for the header)")
    wanted = (*FEATURE_NAMES, LABEL_COLUMN, "id")
    return {c: header.index(c) for c in wanted if c in header}


def _parse_row(p: Path, line: int, row: list[str], header: list[str],
               columns: Mapping[str, int]) -> tuple[list[float], str, str]:
    if len(row) != len(header):
        raise InputError(f"{p}:{line}: {len(row)} fields, the header has {len(header)}")
    label = row[columns[LABEL_COLUMN]].strip()
    if label not in CLASSES:
        raise InputError(f"{p}:{line}: verdict '{_short(label)}' is not one of {', '.join(CLASSES)}")
    x = []
    for name in FEATURE_NAMES:
        text = row[columns[name]].strip()
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"{p}:{line}: {name} '{_short(text)}' is not a number") from None
        if not math.isfinite(value) or not 0.0 <= value <= _FEATURE_MAX[name]:
            raise InputError(f"{p}:{line}: {name} {_short(text)} is outside 0..{_FEATURE_MAX[name]:g}")
        x.append(value)
    ident = row[columns["id"]][:64] if "id" in columns else ""
    return x, label, ident


def _short(text: str, limit: int = 40) -> str:
    s = "".join(ch if ch.isprintable() else "?" for ch in str(text)[: limit * 2])
    return s if len(s) <= limit else s[: limit - 1] + "…"


def rules_predictions(x: np.ndarray, rules: VerdictRules) -> list[str]:
    """What the rules alone say for each feature row (scores from the sig_* values)."""
    import numpy as np

    comp = np.array([rules.signals[n].weight for n in COMPROMISE_SIGNALS])
    deli = np.array([rules.signals[n].weight for n in DELIBERATE_SIGNALS])
    i0 = FEATURE_NAMES.index(f"sig_{COMPROMISE_SIGNALS[0]}")
    j0 = FEATURE_NAMES.index(f"sig_{DELIBERATE_SIGNALS[0]}")
    pub = FEATURE_NAMES.index("public_institution")
    threshold = rules.decision.compromise_threshold
    out = []
    for row in np.asarray(x, dtype=np.float64):
        c = float(row[i0:i0 + len(comp)] @ comp)
        d = float(row[j0:j0 + len(deli)] @ deli)
        if c >= threshold and c > d:
            out.append("compromised")
        else:
            out.append("institution_misuse" if row[pub] >= 0.5 else "private")
    return out


# ----------------------------------------------------------------------------------- training


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model configuration and its cross-validated macro-F1."""

    name: str
    kind: str
    params: Mapping[str, Any]
    f1_mean: float
    f1_std: float


@dataclass(frozen=True, slots=True, eq=False)
class TrainResult:
    """A trained model and the figures that justify it."""

    model: VerdictModel
    candidates: tuple[Candidate, ...]
    chosen: Candidate
    report_text: str        #: classification_report of the chosen model's CV predictions
    rules_report_text: str  #: the same for the rules alone on the same rows


#: Preference margin: logistic regression is kept unless a tree beats it by more than this.
PREFER_LINEAR_MARGIN = 0.01


def _candidates(kind: str, seed: int) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    if kind in ("auto", "logistic"):
        out += [(f"logistic_regression C={c:g}", "logistic_regression", {"C": c}) for c in (0.1, 1.0, 10.0)]
    if kind in ("auto", "tree"):
        out += [(f"decision_tree max_depth={d}", "decision_tree",
                 {"max_depth": d, "min_samples_leaf": 3, "random_state": seed}) for d in (3, 4, 6)]
    return out


def _estimator(kind: str, params: Mapping[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    if kind == "logistic_regression":
        return LogisticRegression(class_weight="balanced", max_iter=5000, **params)
    return DecisionTreeClassifier(class_weight="balanced", **params)


def train(data: LabeledSet, *, folds: int = 5, seed: int = 0, kind: str = "auto",
          rules: VerdictRules | None = None, now: float | None = None) -> TrainResult:
    """Choose a model by stratified k-fold CV (macro-F1), fit it on all rows, report.

    ``kind``: "auto" (logistic regression and decision trees compete), "logistic" or "tree".
    Raises InputError when the data cannot support ``folds``-fold CV.
    """
    import numpy as np
    import sklearn
    from sklearn.metrics import classification_report
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score

    if kind not in ("auto", "logistic", "tree"):
        raise InputError(f"unknown model kind '{_short(kind)}' (auto, logistic, tree)")
    counts = Counter(data.y)
    _check_trainable(data, counts, folds)
    rules = rules if rules is not None else load_verdict_rules()
    y = np.array(data.y)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scored = []
    for name, k, params in _candidates(kind, seed):
        scores = cross_val_score(_estimator(k, params), data.x, y, cv=splitter, scoring="f1_macro")
        scored.append(Candidate(name, k, dict(params), float(scores.mean()), float(scores.std())))
    chosen = _choose(scored)
    estimator = _estimator(chosen.kind, chosen.params)
    predicted = cross_val_predict(estimator, data.x, y, cv=splitter)
    report = classification_report(y, predicted, labels=list(CLASSES), output_dict=True, zero_division=0)
    text = classification_report(y, predicted, labels=list(CLASSES), digits=3, zero_division=0)
    baseline = rules_predictions(data.x, rules)
    rules_report = classification_report(y, baseline, labels=list(CLASSES), output_dict=True, zero_division=0)
    rules_text = classification_report(y, baseline, labels=list(CLASSES), digits=3, zero_division=0)
    estimator.fit(data.x, y)
    training = {
        "source": os.path.basename(data.path), "sha256": data.sha256, "rows": len(data.y),
        "class_counts": {c: counts.get(c, 0) for c in CLASSES},
        "ignored_columns": list(data.ignored_columns),
        "trained_at": _iso(now), "sklearn_version": sklearn.__version__, "feature_version": FEATURE_VERSION,
        "folds": folds, "seed": seed, "selection_metric": "f1_macro (stratified k-fold mean)",
        "candidates": [{"name": c.name, "f1_macro_mean": round(c.f1_mean, 4),
                        "f1_macro_std": round(c.f1_std, 4)} for c in scored],
        "chosen": chosen.name, "params": dict(chosen.params),
        "cv": _summary(report, text), "rules_baseline": _summary(rules_report, rules_text),
        "rules_file": str(rules.path.name),
    }
    model = _from_estimator(estimator, chosen.kind, training)
    return TrainResult(model, tuple(scored), chosen, text, rules_text)


def _check_trainable(data: LabeledSet, counts: Counter[str], folds: int) -> None:
    if not 2 <= folds <= 20:
        raise InputError(f"--folds must be 2..20, not {folds}")
    missing = [c for c in CLASSES if counts.get(c, 0) == 0]
    if missing:
        raise InputError(f"{data.path}: no rows labeled {', '.join(missing)}; every verdict needs examples")
    thin = [c for c in CLASSES if counts[c] < folds]
    if thin:
        raise InputError(f"{data.path}: {folds}-fold CV needs at least {folds} rows of each verdict "
                         f"({', '.join(f'{c}: {counts[c]}' for c in thin)})")


def _choose(scored: Sequence[Candidate]) -> Candidate:
    best = max(scored, key=lambda c: c.f1_mean)
    linear = [c for c in scored if c.kind == "logistic_regression"]
    if linear:
        best_linear = max(linear, key=lambda c: c.f1_mean)
        if best.f1_mean - best_linear.f1_mean <= PREFER_LINEAR_MARGIN:
            return best_linear
    return best


def _summary(report: Mapping[str, Any], text: str) -> dict[str, Any]:
    per_class = {c: {"precision": round(float(report[c]["precision"]), 4),
                     "recall": round(float(report[c]["recall"]), 4),
                     "f1": round(float(report[c]["f1-score"]), 4),
                     "support": int(report[c]["support"])} for c in CLASSES}
    accuracy = report.get("accuracy", report.get("micro avg", {}).get("f1-score", 0.0))
    return {"per_class": per_class, "accuracy": round(float(accuracy), 4),
            "macro_f1": round(float(report["macro avg"]["f1-score"]), 4), "text": text}


def _iso(now: float | None) -> str:
    t = _dt.datetime.now(_dt.UTC) if now is None else _dt.datetime.fromtimestamp(now, _dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _from_estimator(est: Any, kind: str, training: dict[str, Any]) -> VerdictModel:
    import numpy as np

    classes = tuple(str(c) for c in est.classes_)
    if classes != CLASSES:
        raise InputError(f"model classes {classes} differ from {CLASSES}")
    if kind == "logistic_regression":
        return VerdictModel(kind, FEATURE_NAMES, CLASSES, np.ascontiguousarray(est.coef_, dtype=np.float64),
                            np.ascontiguousarray(est.intercept_, dtype=np.float64), None, training)
    t = est.tree_
    leaf = t.children_left == -1
    value = np.array(t.value[:, 0, :], dtype=np.float64)
    value = value / value.sum(axis=1, keepdims=True)
    tree = TreeArrays(np.array(t.children_left, dtype=np.int64), np.array(t.children_right, dtype=np.int64),
                      np.where(leaf, -1, t.feature).astype(np.int64),
                      np.where(leaf, 0.0, t.threshold).astype(np.float64), value)
    return VerdictModel(kind, FEATURE_NAMES, CLASSES, None, None, tree, training)


# ----------------------------------------------------------------------------------- JSON


def model_to_json(model: VerdictModel) -> dict[str, Any]:
    """The model as a JSON-ready document."""
    doc: dict[str, Any] = {
        "format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
        "feature_version": FEATURE_VERSION, "kind": model.kind,
        "feature_names": list(model.feature_names), "classes": list(model.classes),
    }
    if model.kind == "logistic_regression":
        assert model.coef is not None and model.intercept is not None
        doc["logistic_regression"] = {"coef": model.coef.tolist(), "intercept": model.intercept.tolist()}
    else:
        assert model.tree is not None
        t = model.tree
        doc["decision_tree"] = {
            "children_left": t.children_left.tolist(), "children_right": t.children_right.tolist(),
            "feature": t.feature.tolist(), "threshold": t.threshold.tolist(), "value": t.value.tolist(),
        }
    doc["training"] = dict(model.training)
    return doc


def save_model(model: VerdictModel, path: Path | str) -> None:
    """Write the model as JSON (atomically: a temporary file renamed into place)."""
    p = Path(path)
    text = json.dumps(model_to_json(model), indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    tmp = p.with_name(p.name + ".tmp")
    try:
        tmp.write_text(text, "utf-8")
        os.replace(tmp, p)
    except OSError as exc:
        raise UnreadableInputError(f"{p}: cannot write model ({exc.strerror or exc})") from None


def read_json_model(path: Path | str, what: str = "model", max_bytes: int = MAX_MODEL_BYTES) -> Any:
    """The JSON document of a model file, read defensively: bounded size, never a pickle, strict
    JSON (no NaN, no duplicate keys); RegistryError (one line) otherwise. Shared by every model
    minesweep loads (verdicts, flow shape)."""
    p = Path(path)
    data = _read_bytes(p, max_bytes, what, RegistryError)
    if data[:1] == b"\x80" or data[:2] in (b"x\x9c", b"x\xda"):
        raise RegistryError(f"{p}: a pickle/joblib file, not a JSON model (pickles can run code and are never loaded)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{p}: not a JSON model (not UTF-8 text at byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise RegistryError(f"{p}: not a JSON model ({_short(' '.join(str(exc).split()), 120)})") from None


def load_model(path: Path | str) -> VerdictModel:
    """Read and validate a model JSON file; RegistryError (one line) if it is not a valid model."""
    return model_from_json(read_json_model(path), source=str(Path(path)))


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _read_bytes(p: Path, limit: int, what: str, too_big: type[InputError] = InputError) -> bytes:
    try:
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except IsADirectoryError:
        raise UnreadableInputError(f"{p}: is a directory, not a {what} file") from None
    except OSError as exc:
        raise UnreadableInputError(f"{p}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise too_big(f"{p}: {what} file larger than {limit:,} bytes")
    return data


def document_kind(doc: object, fail: Callable[[str], RegistryError], what: str, version: tuple[str, int],
                  kinds: Sequence[str], keys: set[str]) -> str:
    """The checks every model document starts with: a JSON object of the format and version, a
    known ``kind``, no keys but ``keys`` and the kind's own; its kind (``fail`` builds the errors)."""
    if not isinstance(doc, dict):
        raise fail(f"not a {what} (expected a JSON object)")
    if doc.get("format") != version[0] or doc.get("format_version") != version[1]:
        raise fail(f"not a {version[0]} version {version[1]} document")
    kind = doc.get("kind")
    if kind not in kinds:
        raise fail(f"'kind' must be one of {', '.join(kinds)}")
    extra = sorted(set(doc) - keys - {kind})
    if extra:
        raise fail(f"unexpected key '{_short(extra[0])}'")
    return kind


def model_from_json(doc: object, source: str = "model") -> VerdictModel:
    """Validate a parsed model document strictly and build the model."""
    def fail(msg: str) -> RegistryError:
        return RegistryError(f"{source}: {msg}")

    kind = document_kind(doc, fail, "model document", (MODEL_FORMAT, MODEL_FORMAT_VERSION), KINDS,
                         {"format", "format_version", "feature_version", "kind", "feature_names", "classes", "training"})
    if doc.get("feature_version") != FEATURE_VERSION or doc.get("feature_names") != list(FEATURE_NAMES):
        raise fail(f"features do not match this version of minesweep (feature_version {FEATURE_VERSION}, "
                   f"{len(FEATURE_NAMES)} named features); retrain with 'minesweep train'")
    if doc.get("classes") != list(CLASSES):
        raise fail(f"'classes' must be {list(CLASSES)}")
    training = doc.get("training")
    if not isinstance(training, dict):
        raise fail("'training' must be an object")
    cv = training.get("cv")
    if cv is not None:
        f1 = cv.get("macro_f1") if isinstance(cv, dict) else None
        if not (isinstance(f1, (int, float)) and not isinstance(f1, bool) and 0.0 <= f1 <= 1.0):
            raise fail("'training.cv.macro_f1' must be a number 0..1")
    params = doc.get(kind)
    if not isinstance(params, dict):
        raise fail(f"'{kind}' must be an object")
    n_f, n_c = len(FEATURE_NAMES), len(CLASSES)
    if kind == "logistic_regression":
        _only(params, {"coef", "intercept"}, kind, fail)
        coef = _matrix(params.get("coef"), (n_c, n_f), f"{kind}.coef", fail, MAX_COEFFICIENT)
        intercept = _matrix(params.get("intercept"), (n_c,), f"{kind}.intercept", fail, MAX_COEFFICIENT)
        return VerdictModel(kind, FEATURE_NAMES, CLASSES, coef, intercept, None, training)
    return VerdictModel(kind, FEATURE_NAMES, CLASSES, None, None, _tree(params, n_f, n_c, fail), training)


def _only(params: Mapping[str, Any], keys: set[str], where: str, fail: Any) -> None:
    if set(params) != keys:
        raise fail(f"'{where}' must have exactly the keys {', '.join(sorted(keys))}")


def _matrix(value: object, shape: tuple[int, ...], where: str, fail: Any, bound: float) -> np.ndarray:
    """A nested list of numbers of exactly ``shape``, finite and within +-bound, as a float64 array."""
    import numpy as np

    return np.array(_numbers(value, shape, where, fail, bound), dtype=np.float64).reshape(shape)


def _numbers(value: object, shape: tuple[int, ...], where: str, fail: Any, bound: float) -> Any:
    """A nested list of numbers of exactly ``shape``, finite and within +-bound, as nested lists
    of floats (without numpy; shared with detector.flowshape); ``fail(message)`` makes the error."""
    def check(v: object, dims: tuple[int, ...]) -> None:
        if not dims:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise fail(f"'{where}' must contain only numbers")
            if abs(v) > bound or not math.isfinite(v):  # bound first: a huge JSON integer is no float
                raise fail(f"'{where}' holds a value outside +-{bound:g}")
            return
        if not isinstance(v, list) or len(v) != dims[0]:
            raise fail(f"'{where}' must have shape {list(shape)}")
        for item in v:
            check(item, dims[1:])

    check(value, shape)
    return _floats(value)


def _floats(value: Any) -> Any:
    """A checked nested list with every number as a float (as numpy's float64 conversion does)."""
    return [_floats(v) for v in value] if isinstance(value, list) else float(value)


def _tree(params: Mapping[str, Any], n_f: int, n_c: int, fail: Any) -> TreeArrays:
    import numpy as np

    keys = {"children_left", "children_right", "feature", "threshold", "value"}
    _only(params, keys, "decision_tree", fail)
    left_raw = params.get("children_left")
    if not isinstance(left_raw, list) or not 1 <= len(left_raw) <= MAX_TREE_NODES:
        raise fail(f"'decision_tree.children_left' must list 1..{MAX_TREE_NODES} nodes")
    n = len(left_raw)
    left = _ints(left_raw, n, "children_left", fail)
    right = _ints(params.get("children_right"), n, "children_right", fail)
    feature = _ints(params.get("feature"), n, "feature", fail)
    threshold = _matrix(params.get("threshold"), (n,), "decision_tree.threshold", fail, 1e12)
    value = _matrix(params.get("value"), (n, n_c), "decision_tree.value", fail, 1e12)
    for i in range(n):
        is_leaf = left[i] == -1
        if is_leaf != (right[i] == -1):
            raise fail(f"decision tree node {i}: one child missing")
        if not is_leaf and not (i < left[i] < n and i < right[i] < n and left[i] != right[i]):
            raise fail(f"decision tree node {i}: children must be later nodes of the tree")
        if not is_leaf and not 0 <= feature[i] < n_f:
            raise fail(f"decision tree node {i}: feature index out of range")
    if np.any(value < 0) or np.any(value.sum(axis=1) <= 0):
        raise fail("'decision_tree.value' rows must be non-negative with a positive sum")
    reached = np.zeros(n, dtype=bool)
    reached[0] = True
    for i in range(n):
        if reached[i] and left[i] != -1:
            if reached[left[i]] or reached[right[i]]:
                raise fail(f"decision tree node {i}: a node is reached twice")
            reached[left[i]] = reached[right[i]] = True
    if not reached.all():
        raise fail("decision tree has unreachable nodes")
    return TreeArrays(left, right, feature, threshold, value)


def _ints(value: object, n: int, where: str, fail: Any) -> np.ndarray:
    import numpy as np

    if not isinstance(value, list) or len(value) != n or not all(
            isinstance(v, int) and not isinstance(v, bool) and -1 <= v <= MAX_TREE_NODES for v in value):
        raise fail(f"'decision_tree.{where}' must be {n} integers from -1 to {MAX_TREE_NODES}")
    return np.array(value, dtype=np.int64)
