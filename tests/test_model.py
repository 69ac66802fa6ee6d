"""The verdict model (detector.model), `minesweep train`, and the shipped labeled set."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import io
import json
import math
import pickle
import random
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detector.commands import train as train_command
from detector.errors import InputError, RegistryError, UnreadableInputError
from detector.model import (
    CLASSES,
    FEATURE_NAMES,
    TrainResult,
    VerdictModel,
    explain,
    feature_vector,
    host_vector,
    load_model,
    model_to_json,
    read_labeled_csv,
    rules_predictions,
    save_model,
    train,
)
from detector.verdict import (
    SIGNAL_NAMES,
    Download,
    HostFeatures,
    VerdictRules,
    evaluate_signals,
    judge,
    load_verdict_rules,
)

REPO = Path(__file__).resolve().parents[1]
LABELED = REPO / "rules" / "labeled_hosts.csv"
QUIET = HostFeatures(ip="192.0.2.10", unit="Unit Q", category="government", public_institution=True,
                     attribution_confidence=0.95, first_seen=1180.0)
BOTNET = replace(QUIET, main_algorithm="randomx", algorithms=("randomx",), agents=("XMRig/6.21.0",),
                 wallets=("48edfHu7V9Z84Yzz",), server_ports=(443,), sessions=2, inbound_peers=212,
                 inbound_ports=(443,), shared_wallet_units=("Unit A", "Unit B"))


@pytest.fixture(scope="module")
def rules() -> VerdictRules:
    return load_verdict_rules()


@pytest.fixture(scope="module")
def trained() -> TrainResult:
    return train(read_labeled_csv(LABELED), now=0.0)


@pytest.fixture(scope="module")
def tree() -> TrainResult:
    return train(read_labeled_csv(LABELED), kind="tree", now=0.0)


# ------------------------------------------------------------------------------- features


def test_feature_names() -> None:
    assert FEATURE_NAMES[: len(SIGNAL_NAMES)] == tuple(f"sig_{n}" for n in SIGNAL_NAMES)
    assert FEATURE_NAMES[len(SIGNAL_NAMES):] == (
        "public_institution", "log_inbound_peers", "log_outbound_scan_targets", "log_scanned_by",
        "log_shared_units", "log_farm_size", "log_downloads", "log_sessions", "encrypted_fraction")
    assert CLASSES == ("compromised", "institution_misuse", "private")


def test_host_vector_exact(rules: VerdictRules) -> None:
    h = replace(QUIET, inbound_peers=999, outbound_scan_targets=9, shared_wallet_units=("A", "B", "A"),
                farm_size=100, downloads=(Download("elf", "http://a/b", 1100.0),), sessions=4,
                encrypted_sessions=1, main_algorithm="ethash", hashrate_hps=1e9)
    v = dict(zip(FEATURE_NAMES, feature_vector(h, rules), strict=True))
    assert v["log_inbound_peers"] == 3.0
    assert v["log_outbound_scan_targets"] == 1.0
    assert v["log_scanned_by"] == 0.0
    assert v["log_shared_units"] == math.log10(3)
    assert v["log_farm_size"] == 2.0
    assert v["log_downloads"] == math.log10(2)
    assert v["log_sessions"] == math.log10(5)
    assert v["encrypted_fraction"] == 0.25
    assert v["public_institution"] == 1.0
    fired = {k for k, x in v.items() if k.startswith("sig_") and x}
    assert fired == {"sig_shared_wallet_cross_unit", "sig_disguised_port", "sig_fetched_binary",
                     "sig_inbound_server", "sig_gpu_or_asic_algorithm", "sig_rig_hashrate", "sig_farm_same_account"}
    assert v["sig_disguised_port"] == 0.5
    assert host_vector(h, evaluate_signals(h, rules)) == feature_vector(h, rules)


def test_host_vector_caps_hostile_counts(rules: VerdictRules) -> None:
    h = replace(QUIET, inbound_peers=10**40, sessions=-5, encrypted_sessions=7, farm_size=-1)
    v = dict(zip(FEATURE_NAMES, feature_vector(h, rules), strict=True))
    assert v["log_inbound_peers"] == 12.0
    assert (v["log_sessions"], v["encrypted_fraction"], v["log_farm_size"]) == (0.0, 1.0, 0.0)


# ------------------------------------------------------------------------------- the labeled set


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("make_labeled_hosts", REPO / "rules" / "make_labeled_hosts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_labeled_set() -> None:
    data = read_labeled_csv(LABELED)
    assert data.x.shape == (265, len(FEATURE_NAMES))
    assert {c: data.y.count(c) for c in CLASSES} == {"compromised": 90, "institution_misuse": 94, "private": 81}
    assert data.ignored_columns == ("archetype", "label_noise")
    assert data.ids[:2] == ("h001", "h002")


def test_labeled_set_is_reproducible() -> None:
    gen = _generator()
    assert gen.render(gen.build_rows()) == LABELED.read_text("utf-8")
    assert gen.render(gen.build_rows(seed=7)) != LABELED.read_text("utf-8")


def test_rules_predictions_match_judge(rules: VerdictRules) -> None:
    gen = _generator()
    rng = random.Random(1)
    hosts = [make(rng, 0)[0] for make, _ in gen.ARCHETYPES for _ in range(4)]
    x = np.array([feature_vector(h, rules) for h in hosts])
    verdicts = [judge(h, rules).rules_verdict for h in hosts]
    assert rules_predictions(x, rules) == verdicts
    assert set(verdicts) == set(CLASSES)


def test_rules_alone_on_the_labeled_set(rules: VerdictRules) -> None:
    data = read_labeled_csv(LABELED)
    predicted = rules_predictions(data.x, rules)
    agree = sum(p == y for p, y in zip(predicted, data.y, strict=True)) / len(data.y)
    assert agree == pytest.approx(0.925, abs=0.005)


# ------------------------------------------------------------------------------- training


def test_training_chooses_logistic_regression_and_reports(trained: TrainResult) -> None:
    assert [c.name for c in trained.candidates] == [
        "logistic_regression C=0.1", "logistic_regression C=1", "logistic_regression C=10",
        "decision_tree max_depth=3", "decision_tree max_depth=4", "decision_tree max_depth=6"]
    assert trained.chosen.name == "logistic_regression C=0.1"
    t = trained.model.training
    assert t["rows"] == 265 and t["folds"] == 5 and t["seed"] == 0
    assert t["trained_at"] == "1970-01-01T00:00:00Z"
    assert set(t["cv"]["per_class"]) == set(CLASSES)
    assert trained.model.cv_macro_f1 == t["cv"]["macro_f1"] == pytest.approx(0.917, abs=0.02)
    assert "compromised" in trained.report_text and "macro avg" in trained.report_text
    assert t["rules_baseline"]["macro_f1"] == pytest.approx(0.925, abs=0.005)


def _sklearn_fit(result: TrainResult) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    data = read_labeled_csv(LABELED)
    if result.chosen.kind == "logistic_regression":
        est = LogisticRegression(class_weight="balanced", max_iter=5000, **result.chosen.params)
    else:
        est = DecisionTreeClassifier(class_weight="balanced", **result.chosen.params)
    return est.fit(data.x, np.array(data.y)), data


@pytest.mark.parametrize("which", ["trained", "tree"])
def test_numpy_prediction_equals_sklearn(which: str, request: pytest.FixtureRequest) -> None:
    result: TrainResult = request.getfixturevalue(which)
    est, data = _sklearn_fit(result)
    np.testing.assert_allclose(result.model.predict_proba_many(data.x), est.predict_proba(data.x), atol=1e-9)
    assert [result.model.predict(r) for r in data.x] == list(est.predict(data.x))


@pytest.mark.parametrize("which", ["trained", "tree"])
def test_save_load_same_predictions(which: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    result: TrainResult = request.getfixturevalue(which)
    path = tmp_path / "model.json"
    save_model(result.model, path)
    loaded = load_model(path)
    data = read_labeled_csv(LABELED)
    assert loaded.kind == result.model.kind
    assert np.array_equal(loaded.predict_proba_many(data.x), result.model.predict_proba_many(data.x))
    assert loaded.training == json.loads(json.dumps(result.model.training))
    assert "pickle" not in path.read_text("utf-8")


def test_explain_logistic_regression(trained: TrainResult, rules: VerdictRules) -> None:
    model = trained.model
    x = feature_vector(BOTNET, rules)
    k = int(np.argmax(model.predict_proba(x)))
    assert model.classes[k] == "compromised"
    contributions = explain(model, x)
    assert contributions == explain(model, BOTNET, rules)
    expected = {n: float(c * v) for n, c, v in zip(FEATURE_NAMES, model.coef[k], x, strict=True) if c * v != 0}  # type: ignore[index]
    assert dict(contributions) == pytest.approx(expected)
    magnitudes = [abs(c) for _, c in contributions]
    assert magnitudes == sorted(magnitudes, reverse=True)


def test_explain_tree_sums_to_leaf_minus_root(tree: TrainResult, rules: VerdictRules) -> None:
    model = tree.model
    assert model.tree is not None
    for h in (BOTNET, QUIET):
        x = feature_vector(h, rules)
        probs = model.predict_proba(x)
        k = int(np.argmax(probs))
        total = sum(c for _, c in explain(model, x))
        assert total == pytest.approx(probs[k] - model.tree.proba(0)[k])


def test_explain_rejects_wrong_vectors(trained: TrainResult) -> None:
    with pytest.raises(InputError, match="25 finite numbers"):
        explain(trained.model, [0.0] * 3)
    with pytest.raises(InputError, match="finite"):
        trained.model.predict_proba([math.nan] * len(FEATURE_NAMES))


# ------------------------------------------------------------------------------- judge + model


def _fixed_model(intercept: list[float], coef: dict[str, list[float]] | None = None) -> VerdictModel:
    c = np.zeros((3, len(FEATURE_NAMES)))
    for name, column in (coef or {}).items():
        c[:, FEATURE_NAMES.index(name)] = column
    return VerdictModel("logistic_regression", FEATURE_NAMES, CLASSES, c, np.array(intercept), None,
                        {"cv": {"macro_f1": 0.9}})


def test_model_overrides_when_sure(rules: VerdictRules) -> None:
    v = judge(QUIET, rules, model=_fixed_model([5.0, 0.0, 0.0]))
    assert (v.rules_verdict, v.verdict) == ("institution_misuse", "compromised")
    assert v.model is not None and v.model.overrides
    p = math.exp(5) / (math.exp(5) + 2)
    assert v.confidence == round(p, 3)
    line = next(e for e in v.evidence if e.signal == "model")
    assert line.detail == ("model (logistic regression, CV macro-F1 0.90 on its labeled set) gives "
                           f"P(compromised) = {p:.2f}: compromised with p = {p:.2f}, >= 0.80, so it "
                           "overrides the rules, which said institution_misuse")


def test_model_below_threshold_leaves_rules(rules: VerdictRules) -> None:
    v = judge(BOTNET, rules, model=_fixed_model([0.0, 0.0, 0.0]))
    assert (v.rules_verdict, v.verdict) == ("compromised", "compromised")
    assert v.confidence == v.rules_confidence
    assert v.model is not None and not v.model.overrides
    assert v.model.prediction == "institution_misuse" and v.model.probability == pytest.approx(0.6667, abs=1e-4)
    assert "below 0.80, so the rules' verdict stands" in next(e.detail for e in v.evidence if e.signal == "model")


def test_model_agreeing_splits_public_private(rules: VerdictRules) -> None:
    model = _fixed_model([-5.0, 0.0, 3.0])  # sure it is not compromised, and thinks "private"
    v = judge(QUIET, rules, model=model)
    assert v.verdict == "institution_misuse"  # the split follows attribution, not the model
    assert v.model is not None and v.model.explained_class == "private"
    p = 1 - math.exp(-5) / (math.exp(-5) + 1 + math.exp(3))
    assert v.confidence == round(p * 0.975, 3)
    assert "agreeing with the rules" in next(e.detail for e in v.evidence if e.signal == "model")
    private = judge(replace(QUIET, public_institution=False), rules, model=model)
    assert private.verdict == "private"


def test_model_contributions_in_evidence(rules: VerdictRules, trained: TrainResult) -> None:
    model = _fixed_model([0.0, 0.0, 0.0], {"sig_inbound_server": [4.0, 0.0, 0.0], "log_inbound_peers": [1.0, 0.0, 0.0]})
    v = judge(BOTNET, rules, model=model)
    lines = [e for e in v.evidence if e.signal.startswith("model:")]
    assert [(e.signal, e.weight) for e in lines] == [
        ("model:sig_inbound_server", 4.0), ("model:log_inbound_peers", round(math.log10(213), 4))]
    assert lines[0].detail == "model: feature sig_inbound_server moves the score for compromised by +4.00"
    real = judge(BOTNET, rules, model=trained.model)
    assert real.verdict == "compromised"
    assert 1 <= sum(e.signal.startswith("model:") for e in real.evidence) <= 3


# ------------------------------------------------------------------------------- hostile model files


def _doc(result: TrainResult) -> dict[str, Any]:
    return json.loads(json.dumps(model_to_json(result.model)))


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _coef_row0(mutate: Callable[[list[Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: mutate(doc["logistic_regression"]["coef"][0])


LR_EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("coef-rows", lambda d: d["logistic_regression"]["coef"].pop(), r"must have shape \[3, 25\]"),
    ("coef-ragged", _coef_row0(lambda r: r.pop()), r"must have shape \[3, 25\]"),
    ("coef-string", _coef_row0(lambda r: r.__setitem__(0, "1.0")), "only numbers"),
    ("coef-bool", _coef_row0(lambda r: r.__setitem__(0, True)), "only numbers"),
    ("coef-huge", _coef_row0(lambda r: r.__setitem__(0, 1e300)), "outside"),
    ("intercept-shape", _set(["logistic_regression", "intercept"], [0.0, 0.0]), r"shape \[3\]"),
    ("intercept-nested", _set(["logistic_regression", "intercept"], [[0.0], [0.0], [0.0]]), "only numbers"),
    ("extra-param", _set(["logistic_regression", "penalty"], "l2"), "exactly the keys"),
    ("feature-renamed", lambda d: d["feature_names"].__setitem__(0, "sig_cpu"), "features do not match"),
    ("feature-missing", lambda d: d["feature_names"].pop(), "features do not match"),
    ("feature-version", _set(["feature_version"], 2), "features do not match"),
    ("classes-order", _set(["classes"], ["private", "compromised", "institution_misuse"]), "'classes' must be"),
    ("unknown-kind", _set(["kind"], "random_forest"), "'kind' must be one of"),
    ("kind-mismatch", _set(["kind"], "decision_tree"), "unexpected key 'logistic_regression'"),
    ("extra-key", _set(["__reduce__"], "os.system"), "unexpected key '__reduce__'"),
    ("format", _set(["format"], "sklearn/pickle"), "not a minesweep/verdict-model"),
    ("training-missing", lambda d: d.pop("training"), "'training' must be an object"),
    ("cv-f1", _set(["training", "cv", "macro_f1"], 5), "macro_f1"),
]


def _write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(doc), "utf-8")
    return path


def _fails(path: Path, message: str, kind: type[Exception] = RegistryError) -> None:
    with pytest.raises(kind, match=message) as info:
        load_model(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("name", "edit", "message"), LR_EDITS, ids=[e[0] for e in LR_EDITS])
def test_tampered_logistic_model_fails(tmp_path: Path, trained: TrainResult, name: str,
                                       edit: Callable[[dict[str, Any]], None], message: str) -> None:
    doc = _doc(trained)
    edit(doc)
    _fails(_write(tmp_path, doc), message)


def _tree_edit(field: str, index: int | str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        t = doc["decision_tree"]
        internal = [i for i, c in enumerate(t["children_left"]) if c != -1]
        i = internal[1] if index == "internal" else int(index)
        t[field][i] = value(t) if callable(value) else value
    return edit


TREE_EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("cycle", _tree_edit("children_left", "internal", 0), "children must be later nodes"),
    ("out-of-range", _tree_edit("children_left", 0, 10**6), "integers from -1"),
    ("one-child", _tree_edit("children_left", 0, -1), "one child missing"),
    ("same-children", _tree_edit("children_right", 0, lambda t: t["children_left"][0]), "children must be later"),
    ("reached-twice", _tree_edit("children_left", "internal", lambda t: t["children_right"][0]),
     "reached twice|unreachable"),
    ("bad-feature", _tree_edit("feature", 0, 99), "feature index out of range"),
    ("float-feature", _tree_edit("feature", 0, 1.5), "integers"),
    ("negative-value", _tree_edit("value", 0, [-1.0, 1.0, 1.0]), "non-negative"),
    ("zero-value", _tree_edit("value", 0, [0.0, 0.0, 0.0]), "positive sum"),
    ("value-shape", _tree_edit("value", 0, [1.0, 1.0]), r"shape"),
    ("string-threshold", _tree_edit("threshold", 0, "NaN"), "only numbers"),
    ("huge-integer-threshold", _tree_edit("threshold", 0, 10 ** 400), "holds a value outside"),
    ("huge-tree", lambda d: d["decision_tree"].update({k: [0] * 9000 for k in d["decision_tree"]}), "1..8191 nodes"),
    ("missing-array", lambda d: d["decision_tree"].pop("feature"), "exactly the keys"),
]


@pytest.mark.parametrize(("name", "edit", "message"), TREE_EDITS, ids=[e[0] for e in TREE_EDITS])
def test_tampered_tree_model_fails(tmp_path: Path, tree: TrainResult, name: str,
                                   edit: Callable[[dict[str, Any]], None], message: str) -> None:
    doc = _doc(tree)
    edit(doc)
    _fails(_write(tmp_path, doc), message)


def _text_edit(trained: TrainResult, old: str, new: str) -> bytes:
    text = json.dumps(_doc(trained))
    assert old in text
    return text.replace(old, new, 1).encode()


def _overflowing_intercept(trained: TrainResult) -> bytes:
    doc = _doc(trained)
    doc["logistic_regression"]["intercept"] = [0.5, 0.5, 0.5]
    return json.dumps(doc).replace("[0.5, 0.5, 0.5]", "[1e999, 0.5, 0.5]").encode()  # parses as inf


RAW_FILES: list[tuple[str, Callable[[TrainResult], bytes], str]] = [
    ("nan-literal", lambda t: _text_edit(t, '"intercept": [', '"intercept": [NaN, '), "NaN is not allowed"),
    ("infinity-literal", lambda t: _text_edit(t, '"intercept": [', '"intercept": [-Infinity, '), "Infinity is not allowed"),
    ("overflow-number", lambda t: _overflowing_intercept(t), "outside"),
    ("huge-integer", lambda t: _overflowing_intercept(t).replace(b"1e999", b"1" + b"0" * 400), "outside"),
    ("duplicate-key", lambda t: _text_edit(t, '{"format"', '{"kind": "decision_tree", "format"'), "duplicate key"),
    ("top-level-list", lambda t: b"[1, 2, 3]", "expected a JSON object"),
    ("deep-nesting", lambda t: b"[" * 200_000 + b"]" * 200_000, "not a JSON model"),
    ("too-big", lambda t: b" " * (3 * 1024 * 1024), "larger than"),
    ("pickle", lambda t: pickle.dumps(_doc(t)), "pickle"),
    ("joblib-zlib", lambda t: zlib.compress(pickle.dumps(_doc(t))), "pickle/joblib"),
    ("binary", lambda t: b"\x00\xff\xfe garbage", "not a JSON model"),
    ("empty", lambda t: b"", "not a JSON model"),
    ("truncated", lambda t: json.dumps(_doc(t)).encode()[:500], "not a JSON model"),
]


@pytest.mark.parametrize(("name", "make", "message"), RAW_FILES, ids=[r[0] for r in RAW_FILES])
def test_hostile_model_files_fail(tmp_path: Path, trained: TrainResult, name: str,
                                  make: Callable[[TrainResult], bytes], message: str) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(make(trained))
    _fails(path, message)


def test_missing_model_or_directory(tmp_path: Path) -> None:
    _fails(tmp_path / "absent.json", "cannot read model", UnreadableInputError)
    _fails(tmp_path, "is a directory", UnreadableInputError)


# ------------------------------------------------------------------------------- hostile labeled CSVs

HEADER = ",".join([*FEATURE_NAMES, "verdict"])
ROW = ",".join(["0"] * len(FEATURE_NAMES) + ["private"])

BAD_CSVS: list[tuple[str, str, str]] = [
    ("empty", "", "empty file"),
    ("header-only", HEADER + "\n", "no data rows"),
    ("missing-column", HEADER.replace("sig_rig_hashrate,", "") + "\n", "missing column.*sig_rig_hashrate"),
    ("duplicate-column", HEADER + ",verdict\n", "duplicate column 'verdict'"),
    ("not-a-number", HEADER + "\n" + ROW.replace("0", "abc", 1) + "\n", ":2: sig_cpu_algorithm 'abc' is not a number"),
    ("nan", HEADER + "\n" + ROW.replace("0", "nan", 1) + "\n", ":2: sig_cpu_algorithm nan is outside 0..1"),
    ("out-of-range", HEADER + "\n" + ROW + "\n" + ROW.replace("0", "2", 1) + "\n", ":3: sig_cpu_algorithm 2 is outside"),
    ("log-too-big", HEADER + "\n" + ",".join(["0"] * 17 + ["13"] + ["0"] * 7 + ["private"]) + "\n",
     "log_inbound_peers 13 is outside 0..12"),
    ("bad-label", HEADER + "\n" + ROW.replace("private", "hacked\x1b") + "\n", "verdict 'hacked\\?' is not one of"),
    ("field-count", HEADER + "\n" + ROW + ",extra\n", ":2: 27 fields, the header has 26"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_CSVS, ids=[b[0] for b in BAD_CSVS])
def test_hostile_labeled_csv_fails(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / "labeled.csv"
    path.write_text(text, "utf-8")
    with pytest.raises(InputError, match=message) as info:
        read_labeled_csv(path)
    assert "\n" not in str(info.value)


def test_labeled_csv_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "labeled.csv"
    path.write_bytes(b"\xff\xfe\x00h")
    with pytest.raises(InputError, match="not UTF-8"):
        read_labeled_csv(path)


@pytest.mark.parametrize(("counts", "message"), [
    ({"compromised": 6, "institution_misuse": 6}, "no rows labeled private"),
    ({"compromised": 6, "institution_misuse": 6, "private": 3}, "5-fold CV needs at least 5 rows of each verdict"),
])
def test_training_needs_enough_rows(tmp_path: Path, counts: dict[str, int], message: str) -> None:
    lines = [HEADER] + [ROW.replace("private", label) for label, n in counts.items() for _ in range(n)]
    path = tmp_path / "labeled.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(InputError, match=message):
        train(read_labeled_csv(path))


# ------------------------------------------------------------------------------- the command


def _args(tmp_path: Path, **over: Any) -> argparse.Namespace:
    base = {"labeled": LABELED, "out": tmp_path / "model.json", "folds": 5, "seed": 0, "model": "auto",
            "rules": None, "quiet": False}
    base.update(over)
    return argparse.Namespace(**base)


def test_train_command(tmp_path: Path) -> None:
    out = io.StringIO()
    assert train_command.run(_args(tmp_path), stdout=out) == 0
    text = out.getvalue()
    assert text.startswith("265 labeled hosts from ")
    assert "logistic_regression C=0.1" in text and "<- chosen" in text
    assert "cross-validated report of logistic_regression C=0.1:" in text
    assert "rules alone on the same rows" in text
    assert text.rstrip().endswith(f"wrote {tmp_path / 'model.json'}")
    assert load_model(tmp_path / "model.json").kind == "logistic_regression"


def test_train_command_tree_quiet_and_errors(tmp_path: Path) -> None:
    out = io.StringIO()
    assert train_command.run(_args(tmp_path, model="tree", quiet=True, folds=3), stdout=out) == 0
    assert out.getvalue() == ""
    assert load_model(tmp_path / "model.json").kind == "decision_tree"
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", "utf-8")
    with pytest.raises(InputError, match="missing column"):
        train_command.run(_args(tmp_path, labeled=bad))
    with pytest.raises(UnreadableInputError):
        train_command.run(_args(tmp_path, labeled=tmp_path / "absent.csv"))


def test_train_command_registers_its_options(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="minesweep")
    train_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", str(LABELED), "--out", str(tmp_path / "m.json"), "--folds", "4"])
    assert (args.folds, args.model, args.run) == (4, "auto", train_command.run)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", str(LABELED), "--out", "m.json", "--folds", "1"])


def test_model_json_copy_is_independent(trained: TrainResult) -> None:
    doc = model_to_json(trained.model)
    clone = copy.deepcopy(doc)
    clone["logistic_regression"]["coef"][0][0] = 99.0
    assert model_to_json(trained.model) == doc
