"""The flow-shape classifier (detector.flowshape), its rules, its JSON model and its training script."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import pickle
import random
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from detector.behaviour import FlowSummary
from detector.capture.model import ACK, PSH, SYN, TCP, UDP
from detector.encrypted import sv2_session
from detector.errors import RegistryError, UnreadableInputError
from detector.flows import FlowTable
from detector.flowshape import (
    FEATURES,
    MODEL_FORMAT,
    FlowShapeModel,
    FlowShapeRules,
    _dot,
    _fma,
    _weights,
    clear_flowshape_cache,
    client_side,
    dump_model,
    eligible,
    explain,
    features,
    load_flowshape_model,
    load_flowshape_rules,
    model_from_json,
    model_input,
    model_to_json,
    summaries_by_tuple,
    supporting_evidence,
    suspected_sessions,
)

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
PCAPS = REPO / "pcaps"
MODEL = REPO / "rules" / "flowshape_model.json"

# A crafted 10-minute flow: the client sends 20 payloads of 100 bytes, the server 30 (its first
# four 200 bytes, then 13 of 100 and 13 of 300); client gaps have mean 30 s and CV 1, server
# gaps mean 20 s and CV 0.5; the first eight payloads alternate client 100 / server 200.
FLOW = FlowSummary(
    a="10.0.0.1", ap=50000, b="192.0.2.1", bp=3333, proto=TCP, first_ts=1000.0, last_ts=1600.0,
    packets=(30, 40), bytes=(3600, 8400), payload_packets=(20, 30), payload_bytes=(2000, 6000),
    payload_sumsq=(200_000, 1_460_000), pushes=(10, 30), flags=(SYN | ACK | PSH, SYN | ACK | PSH),
    gap_n=(19, 29), gap_sum=(570.0, 580.0), gap_sumsq=(34_200.0, 14_500.0),
    first_payloads=((0, 100), (1, 200)) * 4, client_is_a=True,
)
EXPECTED = {
    "duration_s": 600.0, "c2s_ppm": 2.0, "s2c_ppm": 3.0, "excess_s2c_ppm": 1.0,
    "c2s_mean_size": 100.0, "s2c_mean_size": 200.0, "c2s_size_cv": 0.0, "s2c_size_cv": 0.5,
    "push_ratio": 0.8, "c2s_gap_cv": 1.0, "s2c_gap_cv": 0.5, "c2s_poisson_dev": 0.0,
    "s2c_poisson_dev": math.log(2.0), "bytes_ratio": 0.25, "packets_ratio": 0.4,
    "empty_share": 1.0 - 50 / 70, "client_speaks_first": 1.0, "first_alternation": 1.0,
}


def mirrored(f: FlowSummary) -> FlowSummary:
    """The same flow with sides a and b swapped (as if the server's packet had been seen first)."""
    def sw(t: tuple[Any, Any]) -> tuple[Any, Any]:
        return (t[1], t[0])
    return replace(f, a=f.b, ap=f.bp, b=f.a, bp=f.ap, packets=sw(f.packets), bytes=sw(f.bytes),
                   payload_packets=sw(f.payload_packets), payload_bytes=sw(f.payload_bytes),
                   payload_sumsq=sw(f.payload_sumsq), pushes=sw(f.pushes), flags=sw(f.flags), gap_n=sw(f.gap_n),
                   gap_sum=sw(f.gap_sum), gap_sumsq=sw(f.gap_sumsq),
                   first_payloads=tuple((1 - d, n) for d, n in f.first_payloads),
                   client_is_a=None if f.client_is_a is None else not f.client_is_a)


def known_sessions(table: FlowTable) -> set[tuple[str, int, str, int]]:
    """Every session the rest of the pipeline makes: decoded, strong TLS, Stratum V2."""
    known = {(s.client, s.client_port, s.server, s.server_port) for s in table.sessions}
    for f in table.summaries:
        s = sv2_session(f, {})
        if s is not None:
            known.add((s.client, s.client_port, s.server, s.server_port))
    return known


@pytest.fixture(scope="module")
def model() -> FlowShapeModel:
    return load_flowshape_model()


@pytest.fixture(scope="module")
def rules() -> FlowShapeRules:
    return load_flowshape_rules()


@pytest.fixture(scope="module")
def encrypted(script: ModuleType) -> FlowTable:
    table: FlowTable = script.flow_table(PCAPS / "encrypted-evasive.pcap")
    return table


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_flowshape_model", REPO / "rules" / "make_flowshape_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_flowshape_model"] = module
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------- features


def test_features_exact() -> None:
    assert features(FLOW) == EXPECTED
    assert tuple(features(FLOW)) == FEATURES


def test_features_same_when_sides_swapped() -> None:
    assert client_side(mirrored(FLOW)) == 1
    assert features(mirrored(FLOW)) == EXPECTED


def test_without_handshake_the_higher_port_is_the_client() -> None:
    assert client_side(replace(FLOW, client_is_a=None)) == 0
    assert features(replace(mirrored(FLOW), client_is_a=None)) == EXPECTED
    assert client_side(replace(FLOW, client_is_a=None, ap=3333, bp=3333)) == 0


def test_steady_state_leaves_out_the_first_payloads() -> None:
    # a 517-byte ClientHello and a 1460-byte server flight do not count in the steady-state sizes
    f = replace(FLOW, payload_bytes=(2417, 7260), payload_sumsq=(200_000 - 10_000 + 517 ** 2, 1_460_000 - 40_000 + 1460 ** 2),
                first_payloads=((0, 517), (1, 1460), (1, 200), (1, 200), (0, 100), (0, 100), (0, 100), (1, 200)))
    values = features(f)
    assert values["c2s_mean_size"] == 100.0 and values["c2s_size_cv"] == 0.0
    assert values["s2c_mean_size"] == 200.0 and values["s2c_size_cv"] == 0.5
    assert values["client_speaks_first"] == 1.0 and values["first_alternation"] == 3 / 7


@pytest.mark.parametrize("change", [
    {"first_ts": 5.0, "last_ts": 5.0, "packets": (1, 0), "bytes": (60, 0), "payload_packets": (0, 0),
     "payload_bytes": (0, 0), "payload_sumsq": (0, 0), "pushes": (0, 0), "gap_n": (0, 0), "gap_sum": (0.0, 0.0),
     "gap_sumsq": (0.0, 0.0), "first_payloads": ()},
    {"first_ts": 2000.0, "last_ts": 1000.0},  # capture time running backwards
    {"gap_sum": (float("inf"), -5.0), "gap_sumsq": (float("nan"), 1e300)},
    {"packets": (0, 0)},
])
def test_degenerate_summaries_give_finite_bounded_features(change: dict[str, Any], model: FlowShapeModel) -> None:
    values = features(replace(FLOW, **change))
    assert all(math.isfinite(v) for v in values.values())
    assert values["duration_s"] >= 0.0
    assert 0.0 <= values["bytes_ratio"] <= 1.0 and 0.0 <= values["empty_share"] <= 1.0
    assert all(values[k] <= 10.0 for k in ("c2s_size_cv", "s2c_size_cv", "c2s_gap_cv", "s2c_gap_cv"))
    assert 0.0 <= model.predict_one(replace(FLOW, **change)) <= 1.0


def test_empty_flow_defaults() -> None:
    f = replace(FLOW, payload_packets=(0, 0), payload_bytes=(0, 0), payload_sumsq=(0, 0), pushes=(0, 0),
                gap_n=(0, 0), gap_sum=(0.0, 0.0), gap_sumsq=(0.0, 0.0), first_payloads=())
    values = features(f)
    assert (values["bytes_ratio"], values["packets_ratio"], values["client_speaks_first"]) == (0.5, 0.5, 0.5)
    assert values["c2s_poisson_dev"] == abs(math.log(0.05)) and values["empty_share"] == 1.0


# ----------------------------------------------------------------------------------- model


def test_shipped_model_is_logistic_regression_over_documented_features(model: FlowShapeModel) -> None:
    assert model.kind == "logistic_regression"
    assert set(model.feature_names) <= set(FEATURES)
    assert "duration_s" not in model.feature_names and "push_ratio" not in model.feature_names
    assert model.training["selection"]["chosen"].startswith("logistic_regression")
    assert model.training["held_out"] == ["encrypted-evasive.pcap"]


def test_explain_sums_to_log_odds_difference_for_logistic_regression(model: FlowShapeModel) -> None:
    row = model.row(FLOW)
    parts = explain(FLOW, model)
    total = model.log_odds(row) - model.log_odds(model.reference)
    assert sum(c for _, c in parts) == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert [abs(c) for _, c in parts] == sorted((abs(c) for _, c in parts), reverse=True)
    assert explain(FLOW, model, top=2) == parts[:2]


def test_predict_matches_predict_one(model: FlowShapeModel) -> None:
    flows = [FLOW, mirrored(FLOW), replace(FLOW, pushes=(0, 0))]
    assert model.predict(flows) == [model.predict_one(f) for f in flows]


# ----------------------------------------------------------------------------------- arithmetic
# Scoring is pure Python and must reproduce the numpy arithmetic bit for bit (module docstring).


def _exact_fma(a: float, b: float, c: float) -> float:
    return float(Fraction(a) * Fraction(b) + Fraction(c))


@pytest.mark.parametrize("a,b,c,want", [
    (1.0 + 2.0 ** -30, 1.0 - 2.0 ** -30, -1.0, -(2.0 ** -60)),  # a*b rounds to 1.0: unfused gives 0.0
    (0.1, 10.0, -1.0, 2.0 ** -54),                                # 0.1 is 0.1000000000000000055511...
    (1.0 / 3.0, 3.0, -1.0, -(2.0 ** -54)),
    (2.0 ** 950, 2.0 ** 60, -1.0, 2.0 ** 1010),                   # beyond the split's range: exact route
    (1e308, 2.0, -1e308, 1e308),                                  # the product alone overflows
    (1e308, 10.0, -1e308, math.inf),                              # the result overflows
    (2.0 ** -1000 * (1 + 2.0 ** -52), 2.0 ** -60, 2.0 ** -1070, 2.0 ** -1060 + 2.0 ** -1070),  # subnormal
    (math.inf, 2.0, 1.0, math.inf),
])
def test_fma_rounds_once(a: float, b: float, c: float, want: float) -> None:
    assert _fma(a, b, c) == want
    assert _fma(b, a, c) == want


@pytest.mark.parametrize("a,b,c,want", [(-0.0, 5.0, 0.0, 0.0), (0.0, -5.0, -0.0, -0.0), (0.0, 5.0, -0.0, 0.0),
                                        (3.0, -0.0, -0.0, -0.0)])
def test_fma_signed_zeros_as_ieee(a: float, b: float, c: float, want: float) -> None:
    got = _fma(a, b, c)
    assert got == 0.0 and math.copysign(1.0, got) == math.copysign(1.0, want)


def test_fma_equals_exact_rounding_on_random_triples() -> None:
    rng = random.Random(11)
    for i in range(20_000):
        if i % 3 == 0:  # cancellation: c close to -a*b, where the product's rounding error is all that is left
            a, b = rng.uniform(-10, 10), rng.uniform(-5, 5)
            c = -(a * b) * (1 + rng.choice([0.0, 2.0 ** -52, -(2.0 ** -53)]))
        elif i % 3 == 1:  # short mantissas: exact ties between two doubles
            a = float(rng.getrandbits(27) | 1) * 2.0 ** rng.randint(-40, 0)
            b = float(rng.getrandbits(27) | 1) * 2.0 ** rng.randint(-40, 0)
            c = float(rng.getrandbits(53)) * 2.0 ** rng.randint(-60, 10)
        else:  # any magnitude
            a = rng.uniform(-1, 1) * 2.0 ** rng.randint(-1070, 500)
            b = rng.uniform(-1, 1) * 2.0 ** rng.randint(-500, 500)
            c = rng.uniform(-1, 1) * 2.0 ** rng.randint(-1074, 1000)
        assert _fma(a, b, c) == _exact_fma(a, b, c), (a, b, c)


@pytest.mark.parametrize("n", [1, 2, 11, 18])
def test_dot_accumulates_in_order_rounding_once_per_step(n: int) -> None:
    rng = random.Random(n)
    for _ in range(500):
        coef = [rng.uniform(-8, 8) for _ in range(n)]
        row = [rng.choice([0.0, 0.5, 1.0, rng.uniform(0, 1), rng.uniform(0, 5)]) for _ in range(n)]
        want = 0.0
        for w, x in zip(coef, row):
            want = _exact_fma(w, x, want)
        assert _dot(_weights(coef), row) == want
    with pytest.raises(ValueError):
        _dot(_weights([1.0, 2.0]), [1.0])


def _numpy_ddot_is_fused() -> bool:
    """numpy's float64 dot below 16 inputs is OpenBLAS's sequential loop, which compilers fuse
    into multiply-adds on FMA hardware; a reference made elsewhere may not be."""
    return float(np.array([1.0, 1.0 + 2.0 ** -30]) @ np.array([-1.0, 1.0 - 2.0 ** -30])) == -(2.0 ** -60)


def _varied_flows(n: int) -> list[FlowSummary]:
    rng = random.Random(5)
    out = []
    for _ in range(n):
        pp = (rng.randint(1, 5000), rng.randint(1, 5000))
        sizes = (rng.uniform(20, 1400), rng.uniform(20, 1400))
        gaps = (rng.uniform(0.01, 60), rng.uniform(0.01, 60))
        out.append(replace(
            FLOW, last_ts=FLOW.first_ts + rng.uniform(1, 86400), packets=(pp[0] * 2, pp[1] * 2),
            payload_packets=pp, payload_bytes=tuple(int(n * s) for n, s in zip(pp, sizes)),
            payload_sumsq=tuple(int(n * s * s * rng.uniform(1, 1.5)) for n, s in zip(pp, sizes)),
            pushes=pp, gap_n=(pp[0] - 1, pp[1] - 1), gap_sum=tuple(g * (n - 1) for g, n in zip(gaps, pp)),
            gap_sumsq=tuple(g * g * (n - 1) * rng.uniform(0.5, 3) for g, n in zip(gaps, pp)),
            first_payloads=tuple((rng.randint(0, 1), rng.randint(1, 1500)) for _ in range(8))))
    return out


def test_shipped_model_log_odds_equal_numpy(model: FlowShapeModel, encrypted: FlowTable) -> None:
    if not _numpy_ddot_is_fused():
        pytest.skip("numpy's dot product is not fused on this machine: the reference figures came from one that is")
    coef = np.array(model.coef)
    flows = [*encrypted.summaries, *_varied_flows(3000)]
    differ_unfused = 0
    for f in flows:
        row = model.row(f)
        assert row == model_input(features(f), model.feature_names)
        assert model.log_odds(row) == float(coef @ np.array(row) + model.intercept)
        differ_unfused += sum((w * x for w, x in zip(model.coef, row)), 0.0) + model.intercept != model.log_odds(row)
    assert differ_unfused > 100  # so a plain Python sum would not pass this test


def test_tree_compares_the_input_rounded_to_float32() -> None:
    tree = {"children_left": [1, -1, -1], "children_right": [2, -1, -1], "feature": [0, -1, -1],
            "threshold": [0.1, 0.0, 0.0], "value": [0.5, 0.1, 0.9]}
    m = model_from_json({"format": MODEL_FORMAT, "format_version": 1, "feature_version": 1, "kind": "decision_tree",
                         "feature_names": ["bytes_ratio"], "reference": [0.0], "training": {}, "decision_tree": tree})
    right, left = math.log(0.9 / 0.1), math.log(0.1 / 0.9)
    assert m.log_odds([0.1]) == right  # float32(0.1) = 0.10000000149... > 0.1
    assert m.log_odds([float(np.float32(0.1))]) == right
    assert m.log_odds([float(np.nextafter(np.float32(0.1), np.float32(0.0)))]) == left
    assert m.log_odds([0.0999999999]) == right  # rounds up to float32(0.1) as well
    assert m.log_odds([0.099999]) == left
    assert m.log_odds(np.array([0.1])) == right  # a numpy row gives the same answer


def test_model_from_numpy_arrays_is_stored_as_tuples(model: FlowShapeModel) -> None:
    assert model.coef is not None
    again = FlowShapeModel(model.kind, model.feature_names, np.array(model.reference), np.array(model.coef),
                           model.intercept, 1.0, (), model.training)
    assert isinstance(again.coef, tuple) and isinstance(again.reference, tuple)
    assert all(type(v) is float for v in (*again.coef, *again.reference))
    assert dump_model(again) == dump_model(model) == MODEL.read_text()
    assert again.predict_one(FLOW) == model.predict_one(FLOW)


@pytest.mark.parametrize("kind", ["logistic_regression", "decision_tree", "gradient_boosting"])
def test_json_round_trip_predicts_like_sklearn(kind: str, script: ModuleType) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, len(script.MODEL_FEATURES)))
    y = (x[:, 0] + 0.5 * x[:, 5] - x[:, 8] + rng.normal(scale=0.5, size=300) > 0).astype(np.int64)
    kinds = np.array(["samples"] * 60 + ["generator"] * 240)
    params = next(p for _, k, p in script.CANDIDATES if k == kind)
    est = script.fit(kind, params, x, y, kinds)
    data = script.Dataset(x, y, kinds, np.array(["toy"] * 300), [])
    built = script.to_model(est, kind, data, {"selection": {"chosen": kind}})
    loaded = model_from_json(json.loads(dump_model(built)), source="toy")
    want = est.predict_proba(x)[:, 1]
    got = np.array([1.0 / (1.0 + math.exp(-loaded.log_odds(r))) for r in x])
    if kind == "decision_tree":  # leaf probabilities are clipped away from 0 and 1 for log-odds
        want = np.clip(want, 1e-6, 1 - 1e-6)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12)
    assert model_to_json(loaded) == model_to_json(built)


def _tampered(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


TAMPERED = [
    ("format", ("format",), "minesweep/verdict-model", "not a minesweep/flowshape-model version 1"),
    ("kind", ("kind",), "svm", "'kind' must be one of"),
    ("extra key", ("weights",), [1], "unexpected key 'weights'"),
    ("feature version", ("feature_version",), 2, "feature_version must be 1"),
    ("unknown feature", ("feature_names", 0), "payload_entropy", "'feature_names' must list distinct names"),
    ("duplicate feature", ("feature_names", 1), "c2s_ppm", "'feature_names' must list distinct names"),
    ("short coef", ("logistic_regression", "coef"), [1.0, 2.0], "'logistic_regression.coef' must have shape [11]"),
    ("string coef", ("logistic_regression", "coef", 3), "1.0", "must contain only numbers"),
    ("huge coef", ("logistic_regression", "coef", 0), 1e300, "outside +-1e+06"),
    ("huge integer coef", ("logistic_regression", "coef", 0), 10 ** 400, "outside +-1e+06"),
    ("huge integer reference", ("reference", 0), -(10 ** 400), "'reference' holds a value outside"),
    ("huge integer intercept", ("logistic_regression", "intercept"), 10 ** 400,
     "'logistic_regression.intercept' must be a finite number"),
    ("bool intercept", ("logistic_regression", "intercept"), True, "'logistic_regression.intercept' must be a finite number"),
    ("missing intercept", ("logistic_regression", "intercept"), KeyError, "must have exactly the keys coef, intercept"),
    ("reference", ("reference",), [0.0], "'reference' must have shape [11]"),
    ("training", ("training",), "yes", "'training' must be an object"),
]


@pytest.mark.parametrize("name,path,value,message", TAMPERED, ids=[t[0] for t in TAMPERED])
def test_tampered_model_fails_with_one_line(name: str, path: tuple[Any, ...], value: Any, message: str,
                                            tmp_path: Path) -> None:
    doc = _tampered(json.loads(MODEL.read_text()), path, value)
    p = tmp_path / "model.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(RegistryError) as err:
        load_flowshape_model(p)
    assert message in str(err.value) and str(p) in str(err.value) and "\n" not in str(err.value)


TREE = {"children_left": [1, -1, -1], "children_right": [2, -1, -1], "feature": [0, -1, -1],
        "threshold": [0.4, 0.0, 0.0], "value": [0.5, 0.1, 0.9]}
BAD_TREES = [
    ("cycle", {"children_left": [1, 0, -1], "children_right": [2, 2, -1]}, "children must be later nodes"),
    ("one child", {"children_right": [-1, -1, -1]}, "one child missing"),
    ("feature range", {"feature": [5, -1, -1]}, "feature index out of range"),
    ("probability", {"value": [0.5, 1.5, 0.9]}, "must hold probabilities 0..1"),
    ("unreachable", {"children_left": [-1, -1, -1], "children_right": [-1, -1, -1]}, "unreachable nodes"),
    ("lengths", {"feature": [0, -1]}, "must be 3 integers"),
    ("too many nodes", {"children_left": [-1] * 9000}, "must list 1..8191 nodes"),
    ("huge integer threshold", {"threshold": [10 ** 400, 0.0, 0.0]}, "holds a value outside"),
]


@pytest.mark.parametrize("name,change,message", BAD_TREES, ids=[b[0] for b in BAD_TREES])
def test_tampered_tree_fails(name: str, change: dict[str, Any], message: str) -> None:
    base = {"format": "minesweep/flowshape-model", "format_version": 1, "feature_version": 1,
            "kind": "decision_tree", "feature_names": ["c2s_ppm"], "reference": [0.0], "training": {}}
    good = model_from_json({**base, "decision_tree": TREE}, source="t.json")
    assert good.predict_one(FLOW) == pytest.approx(0.9)  # log10(1 + 2 ppm) = 0.48 > 0.4: right leaf
    with pytest.raises(RegistryError, match=message):
        model_from_json({**base, "decision_tree": {**TREE, **change}}, source="t.json")
    boosted = {**base, "kind": "gradient_boosting",
               "gradient_boosting": {"init": 0.0, "learning_rate": 0.1, "trees": [{**TREE, **change}]}}
    if name != "probability":  # boosting stages hold raw scores, not probabilities
        with pytest.raises(RegistryError, match=message):
            model_from_json(boosted, source="t.json")


@pytest.mark.parametrize("name,data,message", [
    ("not json", b"{not json", "not a JSON model"),
    ("pickle", pickle.dumps({"kind": "logistic_regression"}), "pickle/joblib file"),
    ("zlib", b"x\x9c" + b"\x00" * 10, "pickle/joblib file"),
    ("nan", b'{"format": NaN}', "NaN is not allowed"),
    ("duplicate key", b'{"kind": 1, "kind": 2}', "duplicate key 'kind'"),
    ("not utf-8", b'{"format": "\xff"}', "not UTF-8"),
    ("array", b"[1, 2]", "expected a JSON object"),
    ("deep", b"[" * 100_000 + b"]" * 100_000, "not a JSON model"),
    ("huge", b" " * (4 * 1024 * 1024 + 1), "larger than"),
])
def test_hostile_model_files(name: str, data: bytes, message: str, tmp_path: Path) -> None:
    p = tmp_path / "model.json"
    p.write_bytes(data)
    with pytest.raises(RegistryError) as err:
        load_flowshape_model(p)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_model_and_directory(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError, match="cannot read flow-shape model"):
        load_flowshape_model(tmp_path / "nope.json")
    with pytest.raises(UnreadableInputError, match="is a directory"):
        load_flowshape_model(tmp_path)


# ----------------------------------------------------------------------------------- rules


def test_shipped_rules(rules: FlowShapeRules) -> None:
    assert (rules.min_duration_s, rules.min_payload_packets, rules.min_payload_packets_each_way) == (300.0, 20, 10)
    assert rules.suspect_threshold == 0.8 and rules.support_threshold == 0.8 and rules.top_features == 3


GOOD_RULES = """schema_version = 1
[gate]
min_duration_s = 300
min_payload_packets = 20
min_payload_packets_each_way = 10
[score]
suspect_threshold = 0.8
support_threshold = 0.8
[evidence]
top_features = 3
"""


@pytest.mark.parametrize("old,new,message", [
    ("suspect_threshold = 0.8", "suspect_threshold = 1.5", "suspect_threshold must be a number from 0 to 1"),
    ("min_payload_packets = 20", "min_payload_packets = 20.5", "min_payload_packets must be an integer"),
    ("top_features = 3", "top_features = true", "top_features must be an integer"),
    ("[evidence]", "[evidence]\ncolour = 1", "[evidence] unknown key 'colour'"),
    ("schema_version = 1", "schema_version = 2", "schema_version must be 1"),
    ("[gate]", "[gate", "invalid TOML"),
    ("[score]\n", "[extra]\n[score]\n", "unknown table [extra]"),
])
def test_hostile_rules(old: str, new: str, message: str, tmp_path: Path) -> None:
    p = tmp_path / "flowshape.toml"
    p.write_text(GOOD_RULES)
    assert load_flowshape_rules(p).suspect_threshold == 0.8
    p2 = tmp_path / "bad.toml"
    p2.write_text(GOOD_RULES.replace(old, new, 1))
    with pytest.raises(RegistryError) as err:
        load_flowshape_rules(p2)
    assert message in str(err.value) and "\n" not in str(err.value)
    clear_flowshape_cache()


@pytest.mark.parametrize("change,ok", [
    ({}, True),
    ({"last_ts": 1000.0 + 299.9}, False),
    ({"payload_packets": (9, 30)}, False),
    ({"payload_packets": (10, 10)}, True),
    ({"proto": UDP}, False),
])
def test_gate(change: dict[str, Any], ok: bool, rules: FlowShapeRules) -> None:
    assert eligible(replace(FLOW, **change), rules) is ok


# ----------------------------------------------------------------------------------- sessions


def test_suspected_session_record(model: FlowShapeModel, rules: FlowShapeRules) -> None:
    server_first = mirrored(FLOW)
    got = suspected_sessions([server_first], set(), {"192.0.2.1": "pool.supportxmr.com"}, model, threshold=0.0)
    assert len(got) == 1
    s = got[0]
    assert (s.client, s.client_port, s.server, s.server_port) == ("10.0.0.1", 50000, "192.0.2.1", 3333)
    assert (s.dialect, s.confidence, s.confirmed, s.transport) == ("unknown", "suspected", False, "tcp")
    assert (s.first_seen, s.last_seen) == (1000.0, 1600.0)
    assert (s.bytes_c2s, s.bytes_s2c, s.packets_c2s, s.packets_s2c) == (3600, 8400, 30, 40)
    p = model.predict_one(FLOW)
    assert s.evidence[0].startswith(f"1000.000000 flow shape: mining-like with probability {p:.2f} (threshold 0.00)")
    named = [n for n, c in explain(FLOW, model) if c > 0][:rules.top_features]
    assert all(n in s.evidence[0] for n in named)
    assert (s.pool, s.pool_source) == ("pool.supportxmr.com", "dns")
    assert any("flow shape alone" in n for n in s.notes)
    # a name that is not a pool is a note, not the pool; known flows and thresholds are honoured
    other = suspected_sessions([FLOW], set(), {"192.0.2.1": "chat.example.org"}, model, threshold=0.0)[0]
    assert other.pool is None and any("chat.example.org" in n for n in other.notes)
    assert suspected_sessions([FLOW], {("10.0.0.1", 50000, "192.0.2.1", 3333)}, {}, model, threshold=0.0) == []
    assert suspected_sessions([FLOW], {("192.0.2.1", 3333, "10.0.0.1", 50000)}, {}, model, threshold=0.0) == []
    assert suspected_sessions([FLOW], set(), {}, model, threshold=min(p + 1e-9, 1.0)) == []
    assert suspected_sessions([replace(FLOW, last_ts=1200.0)], set(), {}, model, threshold=0.0) == []


MINING = {"xmrig-tls-pool-sni", "ethproxy-tls-nonstandard-port", "xmrig-tls-ip-literal-dns-mapped", "stratum-v2"}
BENIGN = {"https-www.wikipedia.org", "https-github.com", "https-docs.python.org", "https-www.example.com-tls12",
          "chat-websocket-tls", "exchange-api-binance"}


def _truth_flows() -> dict[tuple[str, int, str, int], tuple[str, bool]]:
    truth = json.loads((PCAPS / "truth.json").read_text())
    return {(f["client"], f["client_port"], f["server"], f["server_port"]): (f["name"], bool(f["mining"]))
            for f in truth["encrypted_evasive"]["flows"] if f["proto"] == "tcp"}


def test_encrypted_sample_mining_is_suspected_or_better(encrypted: FlowTable) -> None:
    flows = _truth_flows()
    assert {name for name, mining in flows.values() if mining} == MINING
    assert {name for name, mining in flows.values() if not mining} == BENIGN
    names = {ip: d.name for ip, d in encrypted.dns_names.items()}
    known = known_sessions(encrypted)
    suspected = {(s.client, s.client_port, s.server, s.server_port) for s in suspected_sessions(encrypted.summaries, known, names)}
    for key, (name, mining) in flows.items():
        if mining:
            assert key in known or key in suspected, name
        else:
            assert key not in known and key not in suspected, name
    # on flow shape alone (nothing else known), the TLS miners and Stratum V2 are suspected and no
    # look-alike is; eth-proxy's getWork polling (every 4-6 s) looks like a poller (docs/flowshape.md)
    alone = {flows[(s.client, s.client_port, s.server, s.server_port)][0]
             for s in suspected_sessions(encrypted.summaries, set(), names)}
    assert alone == MINING - {"ethproxy-tls-nonstandard-port"}


def test_encrypted_sample_benign_flows_score_low(encrypted: FlowTable, model: FlowShapeModel,
                                                 rules: FlowShapeRules) -> None:
    flows = _truth_flows()
    seen = set()
    for f in encrypted.summaries:
        entry = flows.get((f.a, f.ap, f.b, f.bp))
        if entry is not None and not entry[1]:
            seen.add(entry[0])
            assert model.predict_one(f) < rules.suspect_threshold, entry[0]
            assert supporting_evidence(f, model) is None
    assert seen == BENIGN


def test_supporting_evidence_on_strong_sessions(encrypted: FlowTable, model: FlowShapeModel) -> None:
    by_tuple = summaries_by_tuple(encrypted.summaries)
    lines = {s.server_port: supporting_evidence(by_tuple[(s.client, s.client_port, s.server, s.server_port)], model)
             for s in encrypted.sessions}
    assert set(lines) == {443, 12020, 14433}
    for port in (443, 14433):
        line = lines[port]
        assert line is not None and line.startswith("flow shape agrees: mining-like with probability 0.9")
        assert "c2s_size_cv 0.00" in line
    assert lines[12020] is None
    assert supporting_evidence(replace(FLOW, proto=UDP), model) is None


def test_summaries_by_tuple_prefers_the_larger_flow() -> None:
    small = replace(FLOW, packets=(1, 1))
    index = summaries_by_tuple([small, FLOW])
    assert index[("10.0.0.1", 50000, "192.0.2.1", 3333)] is FLOW
    assert index[("192.0.2.1", 3333, "10.0.0.1", 50000)] is FLOW


def test_summaries_by_tuple_of_some_keys_is_that_part_of_the_whole() -> None:
    rng = random.Random(7)
    flows = [replace(FLOW, a=f"10.0.0.{rng.randrange(4)}", ap=rng.choice((50000, 50001)), b="192.0.2.1",
                     bp=rng.choice((3333, 4444)), packets=(rng.randrange(1, 50), rng.randrange(1, 50)))
             for _ in range(200)]
    whole = summaries_by_tuple(flows)
    keys = set(rng.sample(sorted(whole), 9)) | {("10.9.9.9", 1, "192.0.2.1", 3333)}
    part = summaries_by_tuple(flows, keys)
    assert part == {k: f for k, f in whole.items() if k in keys}
    assert len(part) == 9 and all(part[k] is whole[k] for k in part)


CORPUS_CAPTURES = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".pcap", ".pcapng")) if CORPUS.is_dir() else []


@pytest.mark.parametrize("path", CORPUS_CAPTURES, ids=[str(p.relative_to(CORPUS)) for p in CORPUS_CAPTURES])
def test_no_suspected_session_on_corpus(path: Path, corpus: Path, script: ModuleType) -> None:
    table = script.flow_table(path)
    names = {ip: d.name for ip, d in table.dns_names.items()}
    assert suspected_sessions(table.summaries, known_sessions(table), names) == []


def test_corpus_has_captures(corpus: Path) -> None:
    assert len(CORPUS_CAPTURES) >= 14


# ----------------------------------------------------------------------------------- training


def _close(a: Any, b: Any, where: str = "") -> None:
    """Equal documents, floats within a relative 1e-9 (BLAS and libm may round differently)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), where
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_training_script_reproduces_the_shipped_model(script: ModuleType, tmp_path: Path) -> None:
    model, _, data = script.train(tmp_path)
    shipped = json.loads(MODEL.read_text())
    rebuilt = json.loads(dump_model(model))
    for key in ("sklearn_version", "numpy_version"):  # other library versions may round differently
        rebuilt["training"][key] = shipped["training"][key]
    _close(rebuilt, shipped)
    assert rebuilt["training"]["data_sha256"] == shipped["training"]["data_sha256"]
    assert data.sha256() == shipped["training"]["data_sha256"]
