"""Train the flow-shape model of detector/flowshape.py and write rules/flowshape_model.json.

    cd <checkout> && PYTHONPATH=. .venv/bin/python rules/make_flowshape_model.py [--out PATH] [--work DIR]
    cd <checkout> && PYTHONPATH=. .venv/bin/python rules/make_flowshape_model.py --evaluate \
        [--big /tmp/bench/big.pcap] [--work DIR]

Labels are made by the tool itself, from captures whose flows it can decode:

* positive: a flow that the pure engine decoded as a confirmed (plaintext) mining session;
* negative: every other TCP flow;
* left out: flows that are mining by other evidence but were not decoded (``strong`` TLS sessions
  to a pool, Stratum V2 handshakes), which would otherwise be mislabeled negative.

The captures: every bundled sample in pcaps/ except ``encrypted-evasive.pcap`` (held out: it is
the evaluation of what the classifier is for), and a benchmark capture regenerated here with
``benchmarks/gen_capture.py --packets 300000 --seed 2`` (the evaluation uses seed 3 and the
benchmark's seed 1). A flow is a training row when it passes ``TRAIN_GATE`` (the deployment gate
of rules/flowshape.toml asks for 5 minutes; the generated training capture lasts only 5 minutes,
and the model's features are rates, ratios and CVs that do not grow with duration).

Rows are weighted so that each (source, label) group carries the same total weight, the source
being "samples" (seven hand-built scenarios holding every long-lived benign look-alike of the
training data: wallets, pollers, chat) or "generator" (thousands of flows from one script):
otherwise the generator's busy browsing alone would teach that slow and small means mining.

Candidates (logistic regression, a small decision tree, small gradient boosting) are compared
by leaving one scenario out: each sample capture is predicted by a model trained on everything
else (the generated capture included), which is the situation of a new network, and the pooled
probabilities of those held-out rows are scored by class-balanced log-loss (the probability is
shown to people, so calibration counts); a stratified 5-fold CV over all rows is reported beside
it. Logistic regression is kept unless another candidate beats it beyond the noise of that
figure (``choose``): the held-out rows are few, so a bootstrap interval decides. Everything is seeded; the JSON carries no time
stamp, so a rerun with the same library versions writes the same bytes (tests/test_flowshape.py
checks it within a float tolerance).

``--evaluate`` prints the figures of docs/flowshape.md: the held-out seed-3 capture (1M packets),
the encrypted sample, the 1M-packet benchmark capture (seed 1) and the real corpus captures.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from detector.behaviour import FlowSummary  # noqa: E402
from detector.capture import open_capture  # noqa: E402
from detector.capture.model import TCP  # noqa: E402
from detector.encrypted import sv2_session  # noqa: E402
from detector.flows import FlowTable  # noqa: E402
from detector.flowshape import (  # noqa: E402
    FEATURE_VERSION,
    FlowShapeModel,
    TreeModel,
    dump_model,
    eligible,
    features,
    load_flowshape_rules,
    model_input,
)

DEFAULT_OUT = HERE / "flowshape_model.json"
PCAPS = REPO / "pcaps"
CORPUS = REPO.parent / "shared" / "corpus"
HELD_OUT = ("encrypted-evasive.pcap",)
TRAIN_PACKETS, TRAIN_SEED = 300_000, 2
EVAL_PACKETS, EVAL_SEED = 1_000_000, 3
SEED = 0
FOLDS = 5
BOOTSTRAP = 2000  #: resamples for the interval a model must clear to replace logistic regression

#: the model's inputs: rates, sizes, size spread, distance of the timing from Poisson, symmetry.
#: Left out on purpose (docs/flowshape.md): duration (the generator's miners span its capture and
#: its benign flows are short; the deployment gate already asks for 5 minutes), push_ratio and
#: empty_share (the capturing stack's PSH and ACK habits: scapy-built samples push every segment),
#: the first payloads (plaintext logins in training, TLS handshakes in use), raw gap CVs (their
#: Poisson distance carries the same information the right way round for a linear model).
MODEL_FEATURES = (
    "c2s_ppm", "s2c_ppm", "excess_s2c_ppm", "c2s_mean_size", "s2c_mean_size", "c2s_size_cv",
    "s2c_size_cv", "c2s_poisson_dev", "s2c_poisson_dev", "bytes_ratio", "packets_ratio",
)


@dataclass(frozen=True, slots=True)
class TrainGate:
    min_duration_s: float = 60.0
    min_payload_packets: int = 20
    min_payload_packets_each_way: int = 10


TRAIN_GATE = TrainGate()


@dataclass(frozen=True, slots=True)
class Row:
    source: str            #: capture file name
    group: str             #: "samples" or "generator"
    summary: FlowSummary
    label: int | None      #: 1 mining (decoded), 0 not, None left out


# ----------------------------------------------------------------------------------- data


def _gen_module() -> Any:
    spec = importlib.util.spec_from_file_location("gen_capture", REPO / "benchmarks" / "gen_capture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_capture", module)
    spec.loader.exec_module(module)
    return module


def generate_capture(out: Path, packets: int, seed: int) -> dict[str, Any]:
    """Write a benchmark capture (and its truth file) with benchmarks/gen_capture.py."""
    truth: dict[str, Any] = _gen_module().generate(out, packets, seed=seed)
    return truth


def flow_table(path: Path) -> FlowTable:
    """The pure engine over one capture, keeping a summary of every finished flow."""
    table = FlowTable(keep_summaries=True)
    with open_capture(path) as capture:
        for packet in capture:
            table.add(packet)
    table.finish()
    return table


def _key(f: FlowSummary) -> tuple[tuple[str, int, str, int], tuple[str, int, str, int]]:
    return (f.a, f.ap, f.b, f.bp), (f.b, f.bp, f.a, f.ap)


def labelled(path: Path, group: str) -> list[Row]:
    """Every TCP flow of a capture with its label (see the module docstring)."""
    table = flow_table(path)
    confirmed = {(s.client, s.client_port, s.server, s.server_port) for s in table.sessions if s.confirmed}
    other = {(s.client, s.client_port, s.server, s.server_port) for s in table.sessions if not s.confirmed}
    rows = []
    for f in table.summaries:
        if f.proto != TCP:
            continue
        k1, k2 = _key(f)
        if k1 in confirmed or k2 in confirmed:
            label: int | None = 1
        elif k1 in other or k2 in other or sv2_session(f, {}) is not None:
            label = None
        else:
            label = 0
        rows.append(Row(path.name, group, f, label))
    return rows


def training_sources(work: Path) -> list[tuple[Path, str]]:
    samples = sorted(p for p in PCAPS.glob("*.pcap*") if p.name not in HELD_OUT)
    capture = work / f"train-seed{TRAIN_SEED}.pcap"
    generate_capture(capture, TRAIN_PACKETS, TRAIN_SEED)
    return [(p, "samples") for p in samples] + [(capture, "generator")]


def passes(f: FlowSummary, gate: TrainGate = TRAIN_GATE) -> bool:
    each = gate.min_payload_packets_each_way
    return (f.proto == TCP and f.last_ts - f.first_ts >= gate.min_duration_s
            and sum(f.payload_packets) >= gate.min_payload_packets
            and min(f.payload_packets) >= each)


@dataclass(frozen=True, slots=True, eq=False)
class Dataset:
    x: np.ndarray
    y: np.ndarray
    kinds: np.ndarray    #: source group per row: "samples" or "generator"
    groups: np.ndarray   #: capture file name per row
    sources: list[dict[str, Any]]

    @property
    def w(self) -> np.ndarray:
        return balanced_weights(self.kinds, self.y)

    def sha256(self) -> str:
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.x, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.y, dtype="<i8").tobytes())
        return h.hexdigest()


def build_dataset(sources: Sequence[tuple[Path, str]]) -> Dataset:
    rows: list[Row] = []
    described = []
    for path, group in sources:
        found = labelled(path, group)
        kept = [r for r in found if r.label is not None and passes(r.summary)]
        described.append({"file": path.name, "group": group, "sha256": _sha256(path), "tcp_flows": len(found),
                          "rows": len(kept), "positives": sum(r.label == 1 for r in kept),
                          "left_out_undecoded_mining": sum(r.label is None for r in found)})
        rows.extend(kept)
    x = np.array([model_input(features(r.summary), MODEL_FEATURES) for r in rows], dtype=np.float64)
    y = np.array([r.label for r in rows], dtype=np.int64)
    return Dataset(x, y, np.array([r.group for r in rows]), np.array([r.source for r in rows]), described)


def balanced_weights(kinds: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each (source group, label) present gets the same total weight; mean weight 1."""
    counts = Counter(zip(kinds.tolist(), y.tolist()))
    w = np.array([1.0 / counts[(k, label)] for k, label in zip(kinds.tolist(), y.tolist())], dtype=np.float64)
    return np.asarray(w * (len(w) / w.sum()), dtype=np.float64)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ----------------------------------------------------------------------------------- models


CANDIDATES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("logistic_regression C=0.1", "logistic_regression", {"C": 0.1}),
    ("logistic_regression C=1", "logistic_regression", {"C": 1.0}),
    ("decision_tree max_depth=3", "decision_tree", {"max_depth": 3, "min_samples_leaf": 3}),
    ("decision_tree max_depth=4", "decision_tree", {"max_depth": 4, "min_samples_leaf": 3}),
    ("gradient_boosting 50x depth 2", "gradient_boosting", {"n_estimators": 50, "max_depth": 2, "learning_rate": 0.1}),
)


def estimator(kind: str, params: dict[str, Any]) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    if kind == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=10_000, **params))
    if kind == "decision_tree":
        return DecisionTreeClassifier(random_state=SEED, **params)
    return GradientBoostingClassifier(random_state=SEED, **params)


def fit(kind: str, params: dict[str, Any], x: np.ndarray, y: np.ndarray, kinds: np.ndarray) -> Any:
    """Fit one candidate, weighting the rows of this training set by ``balanced_weights``."""
    est = estimator(kind, params)
    w = balanced_weights(kinds, y)
    if kind == "logistic_regression":
        est.fit(x, y, logisticregression__sample_weight=w)
    else:
        est.fit(x, y, sample_weight=w)
    return est


def _scores(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import log_loss, roc_auc_score

    return (float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), sample_weight=w)),
            float(roc_auc_score(y, p, sample_weight=w)))


def cross_validate(data: Dataset) -> list[dict[str, Any]]:
    """Every candidate's figures: leave-one-scenario-out (each sample capture predicted by a model
    trained on everything else, the generator included; scored on the sample rows) and stratified
    k-fold over all rows."""
    from sklearn.model_selection import StratifiedKFold

    out = []
    scenario = data.kinds == "samples"
    w_scenario = balanced_weights(data.kinds[scenario], data.y[scenario])
    for name, kind, params in CANDIDATES:
        held = np.zeros(len(data.y))
        for capture in sorted(set(data.groups[scenario].tolist())):
            test = data.groups == capture
            est = fit(kind, params, data.x[~test], data.y[~test], data.kinds[~test])
            held[test] = est.predict_proba(data.x[test])[:, 1]
        kfold = np.zeros(len(data.y))
        for train, test in StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(data.x, data.y):
            est = fit(kind, params, data.x[train], data.y[train], data.kinds[train])
            kfold[test] = est.predict_proba(data.x[test])[:, 1]
        held_loss, held_auc = _scores(data.y[scenario], held[scenario], w_scenario)
        kfold_loss, kfold_auc = _scores(data.y, kfold, data.w)
        out.append({"name": name, "kind": kind, "params": params,
                    "scenario_log_loss": round(held_loss, 4), "scenario_auc": round(held_auc, 4),
                    "kfold_log_loss": round(kfold_loss, 4), "kfold_auc": round(kfold_auc, 4),
                    "_held": held[scenario]})
    linear = min((c for c in out if c["kind"] == "logistic_regression"), key=lambda c: c["scenario_log_loss"])
    for c in out:
        low, high = bootstrap_difference(data.y[scenario], w_scenario, c["_held"], linear["_held"])
        c["log_loss_minus_best_linear_90ci"] = [round(low, 4), round(high, 4)]
    for c in out:
        del c["_held"]
    return out


def bootstrap_difference(y: np.ndarray, w: np.ndarray, p: np.ndarray, q: np.ndarray) -> tuple[float, float]:
    """90 % interval of log-loss(p) - log-loss(q) over ``BOOTSTRAP`` resamples of the rows
    (stratified by label, seeded)."""
    rng = np.random.default_rng(SEED)
    pos, neg = np.where(y == 1)[0], np.where(y == 0)[0]
    lp = -(y * np.log(np.clip(p, 1e-6, 1)) + (1 - y) * np.log(np.clip(1 - p, 1e-6, 1)))
    lq = -(y * np.log(np.clip(q, 1e-6, 1)) + (1 - y) * np.log(np.clip(1 - q, 1e-6, 1)))
    diffs = np.empty(BOOTSTRAP)
    for i in range(BOOTSTRAP):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        diffs[i] = (np.sum(w[idx] * lp[idx]) - np.sum(w[idx] * lq[idx])) / np.sum(w[idx])
    low, high = np.percentile(diffs, [5, 95])
    return float(low), float(high)


def choose(scored: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The logistic regression with the lowest held-out-scenario log-loss, unless another candidate
    beats it beyond the noise of that figure: the bootstrap 90 % interval of its log-loss minus the
    logistic regression's lies entirely below zero (then the best such candidate)."""
    linear = min((c for c in scored if c["kind"] == "logistic_regression"), key=lambda c: c["scenario_log_loss"])
    better = [c for c in scored if c["log_loss_minus_best_linear_90ci"][1] < 0.0]
    return min(better, key=lambda c: c["scenario_log_loss"]) if better else linear


def to_model(est: Any, kind: str, data: Dataset, training: dict[str, Any]) -> FlowShapeModel:
    reference = data.x.mean(axis=0)
    if kind == "logistic_regression":
        scaler, lr = est[0], est[-1]
        coef = lr.coef_[0] / scaler.scale_
        intercept = float(lr.intercept_[0] - coef @ scaler.mean_)
        return FlowShapeModel(kind, MODEL_FEATURES, reference, np.asarray(coef, dtype=np.float64), intercept,
                              1.0, (), training)
    if kind == "decision_tree":
        t = est.tree_
        value = t.value[:, 0, :]
        proba = value[:, 1] / value.sum(axis=1)
        return FlowShapeModel(kind, MODEL_FEATURES, reference, None, 0.0, 1.0, (_tree(t, proba),), training)
    prior = est.init_.class_prior_[1]
    init = float(math.log(prior / (1.0 - prior)))
    trees = tuple(_tree(s[0].tree_, s[0].tree_.value[:, 0, 0]) for s in est.estimators_)
    return FlowShapeModel(kind, MODEL_FEATURES, reference, None, init, float(est.learning_rate), trees, training)


def _tree(t: Any, value: np.ndarray) -> TreeModel:
    leaf = t.children_left == -1
    return TreeModel(np.array(t.children_left, dtype=np.int64), np.array(t.children_right, dtype=np.int64),
                     np.where(leaf, -1, t.feature).astype(np.int64),
                     np.where(leaf, 0.0, t.threshold).astype(np.float64), np.asarray(value, dtype=np.float64))


def train(work: Path) -> tuple[FlowShapeModel, Any, Dataset]:
    """Build the data, choose a model by cross-validation, fit it on every row."""
    import sklearn

    data = build_dataset(training_sources(work))
    scored = cross_validate(data)
    chosen = choose(scored)
    est = fit(chosen["kind"], chosen["params"], data.x, data.y, data.kinds)
    training = {
        "script": "rules/make_flowshape_model.py",
        "sklearn_version": sklearn.__version__, "numpy_version": np.__version__,
        "feature_version": FEATURE_VERSION,
        "labels": "1 = a flow the pure engine decoded as a confirmed mining session; 0 = every other TCP flow; "
                  "undecoded mining (strong TLS, Stratum V2) left out",
        "generator": {"script": "benchmarks/gen_capture.py", "packets": TRAIN_PACKETS, "seed": TRAIN_SEED},
        "held_out": list(HELD_OUT),
        "gate": {"min_duration_s": TRAIN_GATE.min_duration_s, "min_payload_packets": TRAIN_GATE.min_payload_packets,
                 "min_payload_packets_each_way": TRAIN_GATE.min_payload_packets_each_way},
        "weights": "each (source group, label) carries equal total weight; groups: samples, generator",
        "sources": data.sources, "rows": int(len(data.y)), "positives": int(data.y.sum()),
        "data_sha256": data.sha256(),
        "selection": {"metric": "class-balanced log-loss of the sample captures' rows, each capture predicted by a "
                                "model trained without it; logistic regression is kept unless the bootstrap 90 % "
                                "interval of another candidate's log-loss minus its own lies below 0",
                      "bootstrap": BOOTSTRAP,
                      "folds": FOLDS, "seed": SEED, "candidates": scored, "chosen": chosen["name"]},
    }
    return to_model(est, chosen["kind"], data, training), est, data


# ----------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Scored:
    kind: str
    mining: bool
    summary: FlowSummary
    p: float


GEN_KINDS = {443: "tls", 80: "http/zabbix", 8545: "web3", 8080: "jsonrpc_echo", 8332: "bitcoind"}


def score_capture(path: Path, model: FlowShapeModel, kind_of: Callable[[FlowSummary], tuple[str, bool]]) -> list[Scored]:
    table = flow_table(path)
    return [Scored(*kind_of(f), f, model.predict_one(f)) for f in table.summaries if f.proto == TCP]


def generator_kinds(truth: dict[str, Any]) -> Callable[[FlowSummary], tuple[str, bool]]:
    miners = {}
    for m in truth["miners"]:
        miners[(m["client"], m["client_port"], m["server"], m["server_port"])] = m["dialect"]
    def kind(f: FlowSummary) -> tuple[str, bool]:
        k1, k2 = _key(f)
        dialect = miners.get(k1) or miners.get(k2)
        if dialect:
            return f"miner {dialect}", True
        return GEN_KINDS.get(f.bp, GEN_KINDS.get(f.ap, "other")), False
    return kind


def sample_kinds(name: str) -> Callable[[FlowSummary], tuple[str, bool]]:
    truth = json.loads((PCAPS / "truth.json").read_text())
    flows = {}
    for fl in truth["encrypted_evasive"]["flows"]:
        flows[(fl["client"], fl["client_port"], fl["server"], fl["server_port"])] = (fl["name"], bool(fl["mining"]))
    for neg in truth["files"][name]["negatives"]:
        if neg.get("proto") == "tcp":
            flows[(neg["client"], neg["client_port"], neg["server"], neg["server_port"])] = (neg["kind"], False)
    def kind(f: FlowSummary) -> tuple[str, bool]:
        k1, k2 = _key(f)
        return flows.get(k1) or flows.get(k2) or ("other", False)
    return kind


def decoded_kinds(path: Path) -> Callable[[FlowSummary], tuple[str, bool]]:
    table = flow_table(path)
    mining = {(s.client, s.client_port, s.server, s.server_port): (s.dialect or "?") for s in table.sessions}
    def kind(f: FlowSummary) -> tuple[str, bool]:
        k1, k2 = _key(f)
        d = mining.get(k1) or mining.get(k2)
        if d is None and sv2_session(f, {}) is not None:
            d = "sv2"
        return (f"mining ({d})", True) if d else ("benign", False)
    return kind


def report(title: str, scored: Sequence[Scored], threshold: float, rules: Any) -> list[str]:
    """Markdown rows: per kind, at the deployment gate and threshold, and the model alone."""
    lines = [f"#### {title}", "",
             "| flow kind | TCP flows | pass the gate | at or above the threshold | recall / FPR at the gate | "
             "model alone (≥ 20 payload packets): flagged / scored |", "|---|---|---|---|---|---|"]
    kinds = sorted({s.kind for s in scored}, key=lambda k: (not any(s.mining for s in scored if s.kind == k), k))
    for k in kinds:
        group = [s for s in scored if s.kind == k]
        gated = [s for s in group if eligible(s.summary, rules)]
        hit = [s for s in gated if s.p >= threshold]
        lone = [s for s in group if sum(s.summary.payload_packets) >= 20]
        lone_hit = [s for s in lone if s.p >= threshold]
        mining = group[0].mining
        rate = (f"recall {len(hit)}/{len(gated)}" if mining else f"FPR {len(hit)}/{len(gated)}") if gated else "—"
        lines.append(f"| {k}{' (mining)' if mining else ''} | {len(group)} | {len(gated)} | "
                     f"{len(hit)} | {rate} | {len(lone_hit)}/{len(lone)} |")
    gated = [s for s in scored if eligible(s.summary, rules)]
    tp = sum(s.mining and s.p >= threshold for s in gated)
    fp = sum((not s.mining) and s.p >= threshold for s in gated)
    pos = sum(s.mining for s in gated)
    neg = len(gated) - pos
    precision = f"{tp / (tp + fp):.3f}" if tp + fp else "—"
    recall = f"{tp / pos:.3f}" if pos else "—"
    fpr = f"{fp / neg:.4f} ({fp}/{neg})" if neg else "— (no benign flow passes the gate)"
    lines += ["", f"At the gate: precision {precision}, recall {recall}, false-positive rate on benign flows {fpr}.", ""]
    return lines


def threshold_table(scored: Sequence[Scored]) -> list[str]:
    """Recall and FPR of the model alone at several thresholds (flows passing the training gate)."""
    pool = [s for s in scored if passes(s.summary)]
    pos = [s.p for s in pool if s.mining]
    neg = [s.p for s in pool if not s.mining]
    lines = ["| threshold | recall (miners) | FPR (benign) |", "|---|---|---|"]
    for t in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99):
        r = sum(p >= t for p in pos)
        f = sum(p >= t for p in neg)
        lines.append(f"| {t:.2f} | {r}/{len(pos)} = {r / max(len(pos), 1):.3f} | {f}/{len(neg)} = {f / max(len(neg), 1):.4f} |")
    return lines


def evaluate(model: FlowShapeModel, work: Path, big: Path | None) -> list[str]:
    rules = load_flowshape_rules()
    t = rules.suspect_threshold
    out = [f"Model: {model.training['selection']['chosen']}; threshold {t}; gate: ≥ {rules.min_duration_s:g} s, "
           f"≥ {rules.min_payload_packets} payload packets, ≥ {rules.min_payload_packets_each_way} each way.", ""]
    capture = work / f"eval-seed{EVAL_SEED}.pcap"
    truth = generate_capture(capture, EVAL_PACKETS, EVAL_SEED)
    started = time.perf_counter()
    scored = score_capture(capture, model, generator_kinds(truth))
    elapsed = time.perf_counter() - started
    out += report(f"Generator, seed {EVAL_SEED}, {EVAL_PACKETS:,} packets (held out; pure engine and scoring "
                  f"{elapsed:.1f} s)", scored, t, rules)
    out += ["Model alone on the flows that pass the training gate (≥ 60 s, ≥ 20 payload packets, ≥ 10 each way):", ""]
    out += threshold_table(scored) + [""]
    enc = PCAPS / "encrypted-evasive.pcap"
    scored = score_capture(enc, model, sample_kinds(enc.name))
    out += report("encrypted-evasive.pcap (held out)", scored, t, rules)
    out += ["| flow | mining | probability |", "|---|---|---|"]
    out += [f"| {s.kind} :{s.summary.bp} | {'yes' if s.mining else 'no'} | {s.p:.3f} |"
            for s in sorted(scored, key=lambda s: -s.p) if sum(s.summary.payload_packets) >= 20] + [""]
    if big is not None and big.is_file():
        truth = json.loads(Path(str(big) + ".truth.json").read_text())
        started = time.perf_counter()
        scored = score_capture(big, model, generator_kinds(truth))
        elapsed = time.perf_counter() - started
        out += report(f"Benchmark capture {big.name} (seed {truth.get('seed')}, {truth.get('packets'):,} packets; "
                      f"pure engine and scoring {elapsed:.1f} s)", scored, t, rules)
    corpus = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    all_scored: list[Scored] = []
    lines = ["| capture | TCP flows | mining flows (decoded or strong) | pass the gate | at or above the threshold | max p (benign, gated) |",
             "|---|---|---|---|---|---|"]
    for path in corpus:
        s = score_capture(path, model, decoded_kinds(path))
        all_scored += s
        gated = [x for x in s if eligible(x.summary, rules)]
        benign_gated = [x.p for x in gated if not x.mining]
        lines.append(f"| {path.relative_to(CORPUS)} | {len(s)} | {sum(x.mining for x in s)} | {len(gated)} | "
                     f"{sum(x.p >= t for x in gated if not x.mining)} benign, {sum(x.p >= t for x in gated if x.mining)} mining | "
                     f"{max(benign_gated):.3f} |" if benign_gated else
                     f"| {path.relative_to(CORPUS)} | {len(s)} | {sum(x.mining for x in s)} | {len(gated)} | "
                     f"{sum(x.p >= t for x in gated)} | — |")
    out += ["#### Real corpus captures", ""] + lines + [""]
    out += report("Corpus, all captures pooled", all_scored, t, rules)
    return out


# ----------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model JSON to write (default: %(default)s)")
    ap.add_argument("--work", type=Path, default=None, help="directory for the generated captures (default: a temporary one)")
    ap.add_argument("--evaluate", action="store_true", help="evaluate the model at --out instead of training")
    ap.add_argument("--big", type=Path, default=Path("/tmp/bench/big.pcap"), help="1M-packet benchmark capture (with .truth.json)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="flowshape-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.evaluate:
            from detector.flowshape import load_flowshape_model

            print("\n".join(evaluate(load_flowshape_model(args.out), work, args.big)))
            return 0
        model, _, data = train(work)
    args.out.write_text(dump_model(model), "utf-8")
    sel = model.training["selection"]
    for c in sel["candidates"]:
        print(f"{c['name']:32s} held-out scenarios: log-loss {c['scenario_log_loss']:.4f} AUC {c['scenario_auc']:.4f} vs LR {c['log_loss_minus_best_linear_90ci']} | "
              f"{FOLDS}-fold log-loss {c['kfold_log_loss']:.4f} AUC {c['kfold_auc']:.4f}")
    print(f"chosen: {sel['chosen']}; {len(data.y)} rows ({int(data.y.sum())} mining); wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
