"""Verdicts: was a mining host used deliberately by its unit, or has it been compromised?

One :class:`HostFeatures` record per mining host (built by the scan from findings, attribution
and host behaviour) goes in; a :class:`Verdict` comes out:

    "compromised"         the compromise signals reach the threshold and beat the deliberate ones
    "institution_misuse"  otherwise, when the owning unit is a public institution
    "private"             otherwise

Signals, weights and thresholds are data (``rules/verdict.toml``); this module holds one small
detector per signal. Each fired signal adds ``weight x value`` to its side's score (``value`` is
1, or a documented partial value for a weaker form of the signal) and leaves a sentence a
person can read in the evidence. Attacker-controlled text (agents, worker names, URLs, domain
names) is made printable and cut short before it enters a sentence. The decision and the
confidence formula are documented in docs/verdicts.md.

Public API:

``judge(h, rules=None, model=None) -> Verdict``
    The verdict for one host. Without ``rules`` the shipped rules are loaded (cached). With a
    ``model`` (detector.model.VerdictModel) the model's opinion and its largest per-feature
    contributions join the evidence, and its prediction replaces the rules' verdict when its
    probability reaches ``decision.model_override_probability``.
``judge_many(hosts, rules=None, model=None) -> list[Verdict]``
``evaluate_signals(h, rules) -> tuple[SignalResult, ...]``
    Every signal in ``SIGNAL_NAMES`` order, fired or not (value 0); the model's features
    start from these values.
``load_verdict_rules(path=None) -> VerdictRules``
    Parse and validate a verdict.toml (default: ``rules/verdict.toml``; cached per path). A
    malformed file raises :class:`~detector.errors.RegistryError` naming the file and the key
    (or the line, for TOML syntax errors).
Records: ``Download``, ``HostFeatures``, ``Evidence``, ``ModelOpinion``, ``Verdict``,
``SignalResult``, ``SignalRule``, ``RigThreshold``, ``Decision``, ``VerdictRules``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from detector.errors import RegistryError
from detector.rules import default_rules_dir, read_toml

if TYPE_CHECKING:
    from detector.model import VerdictModel

__all__ = [
    "COMPROMISE_SIGNALS",
    "DELIBERATE_SIGNALS",
    "DOWNLOAD_KINDS",
    "SIGNAL_NAMES",
    "VERDICTS",
    "Decision",
    "Download",
    "Evidence",
    "HostFeatures",
    "ModelOpinion",
    "RigThreshold",
    "SignalResult",
    "SignalRule",
    "Verdict",
    "VerdictRules",
    "clear_verdict_rules_cache",
    "evaluate_signals",
    "judge",
    "judge_many",
    "load_verdict_rules",
]

VERDICTS = ("compromised", "institution_misuse", "private")
DOWNLOAD_KINDS = frozenset({"script", "elf", "pe", "archive"})
COMPROMISE_SIGNALS = (
    "cpu_algorithm", "xmrig_agent", "shared_wallet_cross_unit", "disguised_port", "outbound_scan",
    "scanned_into", "fetched_script", "fetched_binary", "inbound_server", "pool_dns_from_server",
    "known_bad_domain",
)
DELIBERATE_SIGNALS = (
    "rig_software", "gpu_or_asic_algorithm", "rig_hashrate", "named_workers", "farm_same_account",
)
SIGNAL_NAMES = COMPROMISE_SIGNALS + DELIBERATE_SIGNALS
VERDICT_FILE = "verdict.toml"

_MAX_FILE_BYTES = 1024 * 1024
_MAX_MATCH = 512          # characters of an attacker-controlled string a pattern looks at
_MAX_PATTERN = 500
_DETAIL_LIMIT = 240       # characters of one evidence sentence
_NO_THRESHOLDS: Mapping[str, RigThreshold] = MappingProxyType({})
_KIND_LABELS = MappingProxyType({
    "script": "script", "elf": "ELF executable", "pe": "Windows executable", "archive": "archive",
})


# ----------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Download:
    """An HTTP response the host received, typed by content type and magic bytes."""

    kind: str  #: "script" | "elf" | "pe" | "archive"
    url: str   #: as requested (attacker-controlled)
    ts: float  #: when it arrived (epoch seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFeatures:
    """Everything the verdict looks at for one mining host (built by the scan)."""

    ip: str
    unit: str | None = None                  #: owning unit, from attribution
    category: str = "unknown"                #: attribution category (government, ..., unknown)
    public_institution: bool = False         #: the category counts as a public institution
    attribution_confidence: float = 0.0      #: 0..1, scale in detector.attribution
    algorithms: tuple[str, ...] = ()         #: every algorithm mined (algorithms.toml keys)
    main_algorithm: str = ""                 #: the one the hashrate refers to
    hashrate_hps: float | None = None        #: main algorithm, best estimate
    hashrate_unit: str = "H/s"               #: "H/s" or "Sol/s"
    agents: tuple[str, ...] = ()             #: mining software as it names itself
    workers: tuple[str, ...] = ()
    wallets: tuple[str, ...] = ()
    logins: tuple[str, ...] = ()
    server_ports: tuple[int, ...] = ()       #: pool ports used
    sessions: int = 0
    encrypted_sessions: int = 0              #: TLS / SV2 sessions attributed by SNI / DNS
    inbound_peers: int = 0                   #: distinct clients whose connections it accepted
    inbound_ports: tuple[int, ...] = ()      #: its listening ports that were used
    scanned_by: int = 0                      #: distinct scanners that swept it
    outbound_scan_targets: int = 0           #: distinct destinations of its unanswered SYNs
    outbound_scan_ports: tuple[int, ...] = ()
    downloads: tuple[Download, ...] = ()
    pool_dns_names: tuple[str, ...] = ()     #: pool domains it looked up
    pool_sni: tuple[str, ...] = ()           #: pool names in its TLS ClientHellos
    shared_wallet_units: tuple[str, ...] = ()  #: OTHER units using one of its wallets / logins
    farm_size: int = 1                       #: hosts of its unit on one of its accounts, itself incl.
    first_seen: float | None = None
    last_seen: float | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason behind a verdict."""

    signal: str   #: signal name, "attribution", "model" or "model:<feature>"
    weight: float  #: what it added to its side's score (model lines: probability / contribution)
    detail: str   #: one printable sentence
    side: str     #: "compromise" | "deliberate" | "attribution" | "model"

    def as_dict(self) -> dict[str, Any]:
        return {"signal": self.signal, "weight": self.weight, "detail": self.detail, "side": self.side}


@dataclass(frozen=True, slots=True)
class ModelOpinion:
    """What a trained model said about a host, and whether it decided the verdict."""

    kind: str                 #: "logistic_regression" | "decision_tree"
    prediction: str           #: the model's verdict, public/private split by attribution
    p_compromised: float
    probability: float        #: probability of the side it predicts (compromised or not)
    overrides: bool           #: probability >= decision.model_override_probability
    explained_class: str      #: the model's most probable class, which contributions push toward
    contributions: tuple[tuple[str, float], ...]  #: largest per-feature contributions

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "prediction": self.prediction, "p_compromised": self.p_compromised,
                "probability": self.probability, "overrides": self.overrides,
                "explained_class": self.explained_class,
                "contributions": [[n, c] for n, c in self.contributions]}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verdict on one host, with its scores and evidence."""

    ip: str
    verdict: str              #: one of VERDICTS
    confidence: float         #: 0..1 (docs/verdicts.md "Confidence")
    compromise_score: float   #: C
    deliberate_score: float   #: D
    rules_verdict: str        #: what the rules alone said
    rules_confidence: float
    evidence: tuple[Evidence, ...]
    model: ModelOpinion | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for findings.json."""
        return {
            "verdict": self.verdict, "confidence": self.confidence,
            "compromise_score": self.compromise_score, "deliberate_score": self.deliberate_score,
            "rules_verdict": self.rules_verdict, "rules_confidence": self.rules_confidence,
            "evidence": [e.as_dict() for e in self.evidence],
            "model": self.model.as_dict() if self.model is not None else None,
        }


@dataclass(frozen=True, slots=True)
class SignalResult:
    """One signal evaluated on one host; ``value`` 0 means it did not fire."""

    name: str
    side: str
    weight: float
    value: float
    detail: str

    @property
    def contribution(self) -> float:
        return self.weight * self.value


# ----------------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class RigThreshold:
    """Hashrate at which one algorithm needs a GPU rig or an ASIC."""

    algorithm: str
    value: float
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class SignalRule:
    """One signal's weight and parameters (fields unused by a signal keep their defaults)."""

    name: str
    side: str                                   #: "compromise" | "deliberate"
    weight: float
    why: str
    sources: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()  #: searched; full-match patterns are anchored
    names: frozenset[str] = frozenset()         #: default worker names (lower case)
    ports: frozenset[int] = frozenset()
    kinds: frozenset[str] = frozenset()
    min_count: int = 1
    partial_value: float = 1.0  #: TOML secondary_value / encrypted_value / outside_value
    window: tuple[float, float] = (0.0, 0.0)    #: seconds before / after mining began
    thresholds: Mapping[str, RigThreshold] = field(default_factory=lambda: _NO_THRESHOLDS)

    def first_match(self, values: Iterable[object]) -> tuple[str, re.Pattern[str]] | None:
        """The first value (as given) that a pattern finds, with that pattern."""
        for value in values:
            text = _norm(value)
            for pattern in self.patterns:
                if pattern.search(text):
                    return str(value), pattern
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    """The [decision] table: threshold, confidence formula and model override."""

    compromise_threshold: float
    confidence_scale: float
    confidence_floor: float
    attribution_weight: float
    model_override_probability: float
    model_top_contributions: int


@dataclass(frozen=True, slots=True, eq=False)
class VerdictRules:
    """A validated verdict.toml. Build with :func:`load_verdict_rules`."""

    path: Path
    decision: Decision
    signals: Mapping[str, SignalRule]  #: in SIGNAL_NAMES order


# ----------------------------------------------------------------------------------- judging


def judge(h: HostFeatures, rules: VerdictRules | None = None,
          model: VerdictModel | None = None) -> Verdict:
    """The verdict on one host (see the module docstring)."""
    rules = rules if rules is not None else load_verdict_rules()
    results = evaluate_signals(h, rules)
    c = sum(r.contribution for r in results if r.side == "compromise")
    d = sum(r.contribution for r in results if r.side == "deliberate")
    rules_verdict, rules_conf = _decide(c, d, h, rules.decision)
    evidence = [Evidence(r.name, round(r.contribution, 3), r.detail, r.side)
                for r in sorted(results, key=lambda r: -r.contribution) if r.value > 0]
    evidence.append(_attribution_evidence(h))
    verdict, confidence, opinion = rules_verdict, rules_conf, None
    if model is not None:
        opinion = _model_opinion(h, results, rules, model)
        evidence.extend(_model_evidence(opinion, rules_verdict, model, rules.decision))
        if opinion.overrides:
            verdict = opinion.prediction
            factor = 1.0 if verdict == "compromised" else _attribution_factor(h, rules.decision)
            confidence = round(_clamp01(opinion.probability * factor), 3)
    return Verdict(h.ip, verdict, confidence, round(c, 3), round(d, 3), rules_verdict, rules_conf,
                   tuple(evidence), opinion)


def judge_many(hosts: Iterable[HostFeatures], rules: VerdictRules | None = None,
               model: VerdictModel | None = None) -> list[Verdict]:
    """Verdicts for many hosts, in order."""
    rules = rules if rules is not None else load_verdict_rules()
    return [judge(h, rules, model) for h in hosts]


def evaluate_signals(h: HostFeatures, rules: VerdictRules) -> tuple[SignalResult, ...]:
    """Every signal, in SIGNAL_NAMES order; value 0 and an empty detail when it did not fire."""
    out = []
    for name in SIGNAL_NAMES:
        rule = rules.signals[name]
        hit = _DETECTORS[name](h, rule) if rule.weight > 0 else None
        value, detail = hit if hit is not None else (0.0, "")
        out.append(SignalResult(name, rule.side, rule.weight, value, _cap(detail)))
    return tuple(out)


def _decide(c: float, d: float, h: HostFeatures, dec: Decision) -> tuple[str, float]:
    """Rules verdict and confidence from the two scores (formula in docs/verdicts.md)."""
    boundary = max(dec.compromise_threshold, d)
    compromised = c >= dec.compromise_threshold and c > d
    s = 1.0 - math.exp(-abs(c - boundary) / dec.confidence_scale)
    base = dec.confidence_floor + (1.0 - dec.confidence_floor) * s
    if compromised:
        return "compromised", round(_clamp01(base), 3)
    return _split(h), round(_clamp01(base * _attribution_factor(h, dec)), 3)


def _split(h: HostFeatures) -> str:
    return "institution_misuse" if bool(h.public_institution) else "private"


def _attribution_factor(h: HostFeatures, dec: Decision) -> float:
    a = _clamp01(_finite(h.attribution_confidence) or 0.0)
    return dec.attribution_weight + (1.0 - dec.attribution_weight) * a


def _attribution_evidence(h: HostFeatures) -> Evidence:
    conf = _clamp01(_finite(h.attribution_confidence) or 0.0)
    who = _clean(h.unit, 60) if h.unit else "owner unknown"
    kind = "a public institution" if bool(h.public_institution) else "not a public institution"
    detail = f"{who} ({_clean(h.category, 24)}, {kind}; attribution confidence {conf:.2f})"
    return Evidence("attribution", round(conf, 3), _cap(detail), "attribution")


def _model_opinion(h: HostFeatures, results: Sequence[SignalResult], rules: VerdictRules,
                   model: VerdictModel) -> ModelOpinion:
    from detector import model as model_mod  # the model module imports this one

    vector = model_mod.host_vector(h, results)
    probs = model.predict_proba(vector)
    p_c = probs[model.classes.index("compromised")]
    says_compromised = p_c >= 0.5
    probability = p_c if says_compromised else 1.0 - p_c
    prediction = "compromised" if says_compromised else _split(h)
    top = model_mod.explain(model, vector)[: rules.decision.model_top_contributions]
    best = model.classes[max(range(len(probs)), key=probs.__getitem__)]
    return ModelOpinion(model.kind, prediction, round(p_c, 4), round(probability, 4),
                        probability >= rules.decision.model_override_probability, best,
                        tuple((n, round(v, 4)) for n, v in top))


def _model_evidence(op: ModelOpinion, rules_verdict: str, model: VerdictModel,
                    dec: Decision) -> list[Evidence]:
    label = model.kind.replace("_", " ")
    f1 = model.cv_macro_f1
    if f1 is not None:
        label += f", CV macro-F1 {f1:.2f} on its labeled set"
    head = f"model ({label}) gives P(compromised) = {op.p_compromised:.2f}: {op.prediction} with p = {op.probability:.2f}"
    if not op.overrides:
        tail = f"below {dec.model_override_probability:.2f}, so the rules' verdict stands"
    elif op.prediction == rules_verdict:
        tail = f">= {dec.model_override_probability:.2f}, agreeing with the rules"
    else:
        tail = f">= {dec.model_override_probability:.2f}, so it overrides the rules, which said {rules_verdict}"
    out = [Evidence("model", op.probability, _cap(f"{head}, {tail}"), "model")]
    toward = op.explained_class
    for name, contribution in op.contributions:
        sign = "+" if contribution >= 0 else "-"
        detail = f"model: feature {name} moves the score for {toward} by {sign}{abs(contribution):.2f}"
        out.append(Evidence(f"model:{name}", contribution, _cap(detail), "model"))
    return out


# ----------------------------------------------------------------------------------- detectors

Hit = tuple[float, str]


def _cpu_algorithm(h: HostFeatures, r: SignalRule) -> Hit | None:
    main = _norm(h.main_algorithm)
    if main and r.first_match([main]):
        return 1.0, f"mines {_clean(main, 24)}, an algorithm built for CPUs - what a hijacked server can mine"
    other = r.first_match(a for a in h.algorithms if _norm(a) != main)
    if other is None:
        return None
    also = f" besides {_clean(main, 24)}" if main else ""
    return r.partial_value, f"also mines {_clean(other[0], 24)} (a CPU algorithm){also}"


def _xmrig_agent(h: HostFeatures, r: SignalRule) -> Hit | None:
    found = r.first_match(h.agents)
    if found is None:
        return None
    return 1.0, f"runs {_quote(found[0])}, XMRig-family software, the usual payload of cryptojacking"


def _shared_wallet(h: HostFeatures, r: SignalRule) -> Hit | None:
    units = list(dict.fromkeys(str(u) for u in h.shared_wallet_units))
    if len(units) < r.min_count:
        return None
    ids = list(dict.fromkeys([*map(str, h.wallets), *map(str, h.logins)]))
    plural = "unit" if len(units) == 1 else "units"
    whose = f"hosts of {len(units):,} other {plural}: {_listing(units)}"
    if len(ids) == 1:
        what = "wallet" if h.wallets else "login"
        return 1.0, f"the same {what} {_short_id(ids[0])} is used by {whose}"
    if ids:
        return 1.0, f"its wallets/logins ({_short_id(ids[0])} and {len(ids) - 1:,} more) are also used by {whose}"
    return 1.0, f"its account is also used by {whose}"


def _disguised_port(h: HostFeatures, r: SignalRule) -> Hit | None:
    ports = sorted({p for p in h.server_ports if isinstance(p, int) and p in r.ports})
    enc = _count(h.encrypted_sessions)
    tls = f"{enc:,} of {max(_count(h.sessions), enc):,} pool sessions encrypted (TLS / Stratum V2), recognised only by SNI or DNS"
    if ports:
        extra = f"; {tls}" if enc else ""
        return 1.0, f"reached the pool on port {_ports(ports, colon=False)} - a common service port that hides mining{extra}"
    if enc:
        return r.partial_value, tls
    return None


def _outbound_scan(h: HostFeatures, r: SignalRule) -> Hit | None:
    n = _count(h.outbound_scan_targets)
    if n < r.min_count:
        return None
    ports = f" (ports {_ports(h.outbound_scan_ports, colon=False)})" if h.outbound_scan_ports else ""
    return 1.0, f"sent SYNs to {n:,} hosts that never answered{ports} - scanning, as mining worms do"


def _scanned_into(h: HostFeatures, r: SignalRule) -> Hit | None:
    n = _count(h.scanned_by)
    if n < r.min_count:
        return None
    who = "1 scanner" if n == 1 else f"{n:,} scanners"
    return 1.0, f"was swept by {who} during the capture - exposed to the mass exploitation that plants miners"


def _fetched(h: HostFeatures, r: SignalRule) -> Hit | None:
    found = [d for d in h.downloads if d.kind in r.kinds]
    if not found:
        return None
    start = _finite(h.first_seen)
    before, after = r.window

    def in_window(d: Download) -> bool:
        ts = _finite(d.ts)
        return start is not None and ts is not None and -after <= start - ts <= before

    def distance(d: Download) -> float:
        ts = _finite(d.ts)
        return abs(start - ts) if start is not None and ts is not None else math.inf

    best = min(found, key=lambda d: (not in_window(d), distance(d)))
    value = 1.0 if in_window(best) else r.partial_value
    when = _when(best.ts, start)
    more = f" (and {len(found) - 1:,} more)" if len(found) > 1 else ""
    label = _KIND_LABELS.get(best.kind, best.kind)
    return value, f"fetched {_clean(best.url, 72)} ({label}){when}{more}"


def _inbound_server(h: HostFeatures, r: SignalRule) -> Hit | None:
    n = _count(h.inbound_peers)
    if n < r.min_count:
        return None
    on = f" on {_ports(h.inbound_ports)}" if h.inbound_ports else ""
    return 1.0, f"accepted inbound connections from {n:,} clients{on} - a server"


def _pool_dns_from_server(h: HostFeatures, r: SignalRule) -> Hit | None:
    n = _count(h.inbound_peers)
    names = list(dict.fromkeys(str(x) for x in (*h.pool_dns_names, *h.pool_sni)))
    if n < r.min_count or not names:
        return None
    return 1.0, f"a server ({n:,} inbound clients) looked up pool domains: {_listing(names)}"


def _known_bad_domain(h: HostFeatures, r: SignalRule) -> Hit | None:
    found = r.first_match((*h.pool_dns_names, *h.pool_sni))
    if found is None:
        return None
    return 1.0, f"looked up {_quote(found[0])}, matching known-bad pattern {_quote(found[1].pattern)}"


def _rig_software(h: HostFeatures, r: SignalRule) -> Hit | None:
    found = r.first_match(h.agents)
    if found is None:
        return None
    return 1.0, f"runs {_quote(found[0])}, GPU/ASIC rig software"


def _gpu_or_asic_algorithm(h: HostFeatures, r: SignalRule) -> Hit | None:
    main = _norm(h.main_algorithm)
    if main and r.first_match([main]):
        return 1.0, f"mines {_clean(main, 24)}, an algorithm mined on GPUs or ASICs - hardware installed on purpose"
    other = r.first_match(a for a in h.algorithms if _norm(a) != main)
    if other is None:
        return None
    return r.partial_value, f"also mines {_clean(other[0], 24)} (a GPU/ASIC algorithm)"


def _rig_hashrate(h: HostFeatures, r: SignalRule) -> Hit | None:
    main = _norm(h.main_algorithm)
    t = r.thresholds.get(main)
    rate = _finite(h.hashrate_hps)
    if t is None or rate is None or rate < t.value or h.hashrate_unit != t.unit:
        return None
    return 1.0, f"hashes at {_si(rate, t.unit)} of {main}, at or above the {_si(t.value, t.unit)} only a rig reaches"


def _named_workers(h: HostFeatures, r: SignalRule) -> Hit | None:
    named = [w for w in dict.fromkeys(map(str, h.workers))
             if _norm(w) not in r.names and not any(p.search(_norm(w)) for p in r.patterns)]
    if not named:
        return None
    return 1.0, f"named workers: {_listing(named)}"


def _farm(h: HostFeatures, r: SignalRule) -> Hit | None:
    n = _count(h.farm_size)
    if n < r.min_count:
        return None
    unit = _clean(h.unit, 48) if h.unit else "this unit"
    return 1.0, f"{n:,} hosts of {unit} mine into one account - a farm"


_DETECTORS: Mapping[str, Callable[[HostFeatures, SignalRule], Hit | None]] = MappingProxyType({
    "cpu_algorithm": _cpu_algorithm,
    "xmrig_agent": _xmrig_agent,
    "shared_wallet_cross_unit": _shared_wallet,
    "disguised_port": _disguised_port,
    "outbound_scan": _outbound_scan,
    "scanned_into": _scanned_into,
    "fetched_script": _fetched,
    "fetched_binary": _fetched,
    "inbound_server": _inbound_server,
    "pool_dns_from_server": _pool_dns_from_server,
    "known_bad_domain": _known_bad_domain,
    "rig_software": _rig_software,
    "gpu_or_asic_algorithm": _gpu_or_asic_algorithm,
    "rig_hashrate": _rig_hashrate,
    "named_workers": _named_workers,
    "farm_same_account": _farm,
})


# ----------------------------------------------------------------------------------- text


def _norm(value: object) -> str:
    """Lower-case, stripped, bounded text for pattern matching."""
    return str(value)[:_MAX_MATCH].strip().lower()


def _clean(value: object, limit: int = 40) -> str:
    """Attacker-controlled text made printable and at most ``limit`` characters."""
    text = str(value)[: limit * 4]
    text = " ".join("".join(ch if ch.isprintable() else "?" for ch in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(value: object, limit: int = 48) -> str:
    return "'" + _clean(value, limit) + "'"


def _short_id(value: str) -> str:
    text = _clean(value, 200)
    return text if len(text) <= 12 else f"{text[:4]}…{text[-2:]}"


def _listing(items: Sequence[object], shown: int = 3, limit: int = 32) -> str:
    head = ", ".join(_clean(i, limit) for i in items[:shown])
    return head + (f" and {len(items) - shown:,} more" if len(items) > shown else "")


def _ports(ports: Iterable[object], shown: int = 5, colon: bool = True) -> str:
    unique = list(dict.fromkeys(p for p in ports if isinstance(p, int)))
    mark = ":" if colon else ""
    text = ", ".join(f"{mark}{p}" for p in unique[:shown])
    return text + (f" and {len(unique) - shown:,} more" if len(unique) > shown else "")


def _when(ts: object, start: float | None) -> str:
    t = _finite(ts)
    if t is None or start is None:
        return ""
    delta = start - t
    return f" {_duration(delta)} {'before' if delta >= 0 else 'after'} mining began"


def _duration(seconds: float) -> str:
    s = abs(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"


_SI = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _si(value: float, unit: str) -> str:
    for scale, prefix in _SI:
        if value >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _cap(detail: str) -> str:
    return detail if len(detail) <= _DETAIL_LIMIT else detail[: _DETAIL_LIMIT - 1] + "…"


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(value, 0)


def _clamp01(x: float) -> float:
    return min(max(x, 0.0), 1.0)


# ----------------------------------------------------------------------------------- loading


def load_verdict_rules(path: Path | str | None = None) -> VerdictRules:
    """Load and validate a verdict.toml (default ``rules/verdict.toml``); cached per path."""
    if path is None:
        path = _default_path()
    return _load_cached(str(Path(path).resolve()))


def clear_verdict_rules_cache() -> None:
    """Forget cached rules (tests, or after editing the file)."""
    _load_cached.cache_clear()


def _default_path() -> Path:
    return default_rules_dir() / VERDICT_FILE


@functools.lru_cache(maxsize=8)
def _load_cached(path_text: str) -> VerdictRules:
    path = Path(path_text)
    doc = read_toml(path, _MAX_FILE_BYTES)
    _only(_Ctx(path, "top level"), doc, {"schema_version", "decision", "compromise", "deliberate"})
    if doc.get("schema_version") != 1:
        raise RegistryError(f"{path}: schema_version must be 1")
    decision = _parse_decision(_Ctx(path, "decision"), doc.get("decision"))
    signals: dict[str, SignalRule] = {}
    for side, names in (("compromise", COMPROMISE_SIGNALS), ("deliberate", DELIBERATE_SIGNALS)):
        ctx = _Ctx(path, side)
        table = doc.get(side)
        if not isinstance(table, dict):
            raise ctx.fail("must be a table of signals")
        for name in table:
            if name not in names:
                known = ", ".join(names)
                raise ctx.fail(f"unknown {side} signal '{_clean(name, 40)}' (known: {known})")
        for name in names:
            signals[name] = _parse_signal(_Ctx(path, f"{side}.{name}"), name, side, table.get(name))
    return VerdictRules(path, decision, MappingProxyType(signals))


class _Ctx:
    """Error context: the file and the dotted key being read."""

    __slots__ = ("path", "key")

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key

    def fail(self, msg: str) -> RegistryError:
        return RegistryError(f"{self.path}: [{self.key}] {msg}")

    def number(self, table: Mapping[str, Any], name: str, lo: float, hi: float,
               *, lo_open: bool = False) -> float:
        value = table.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(f"'{name}' must be a finite number")
        if value > hi or value < lo or (lo_open and value == lo):
            raise self.fail(f"'{name}' must be {'>' if lo_open else '>='} {lo:g} and <= {hi:g}, not {value!r}")
        return float(value)

    def integer(self, table: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
        value = table.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(f"'{name}' must be an integer from {lo} to {hi}")
        return value

    def text(self, table: Mapping[str, Any], name: str) -> str:
        value = table.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"'{name}' must be a non-empty string")
        return value

    def strings(self, table: Mapping[str, Any], name: str, *, allow_blank: bool = False) -> tuple[str, ...]:
        value = table.get(name)
        if not isinstance(value, list) or not value:
            raise self.fail(f"'{name}' must be a non-empty list of strings")
        if not all(isinstance(v, str) and (allow_blank or v.strip()) for v in value):
            raise self.fail(f"'{name}' must contain only {'' if allow_blank else 'non-empty '}strings")
        return tuple(value)

    def patterns(self, table: Mapping[str, Any], name: str, *, full: bool) -> tuple[re.Pattern[str], ...]:
        out = []
        for text in self.strings(table, name):
            if len(text) > _MAX_PATTERN:
                raise self.fail(f"'{name}': pattern longer than {_MAX_PATTERN} characters")
            try:
                out.append(re.compile(rf"\A(?:{text})\Z" if full else text, re.IGNORECASE))
            except re.error as exc:
                raise self.fail(f"'{name}': bad regular expression {text!r}: {exc}") from None
        return tuple(out)


def _only(ctx: _Ctx, table: Mapping[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ctx.fail(f"unknown key '{_clean(key, 40)}' (allowed: {', '.join(sorted(allowed))})")


def _parse_decision(ctx: _Ctx, table: object) -> Decision:
    if not isinstance(table, dict):
        raise ctx.fail("must be a table")
    _only(ctx, table, {f for f in Decision.__dataclass_fields__})
    return Decision(
        compromise_threshold=ctx.number(table, "compromise_threshold", 0.0, 100.0, lo_open=True),
        confidence_scale=ctx.number(table, "confidence_scale", 0.0, 100.0, lo_open=True),
        confidence_floor=ctx.number(table, "confidence_floor", 0.0, 0.99),
        attribution_weight=ctx.number(table, "attribution_weight", 0.0, 1.0),
        model_override_probability=ctx.number(table, "model_override_probability", 0.5, 1.0),
        model_top_contributions=ctx.integer(table, "model_top_contributions", 0, 20),
    )


# Each signal's parameters: TOML key -> how it is read. Every key is required.
_PARAMS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "cpu_algorithm": {"algorithms": "full_patterns", "secondary_value": "partial"},
    "xmrig_agent": {"patterns": "patterns"},
    "shared_wallet_cross_unit": {"min_units": "min_count"},
    "disguised_port": {"ports": "ports", "encrypted_value": "partial"},
    "outbound_scan": {"min_count": "min_count"},
    "scanned_into": {"min_count": "min_count"},
    "fetched_script": {"kinds": "kinds", "window_before_s": "before", "window_after_s": "after",
                       "outside_value": "partial"},
    "fetched_binary": {"kinds": "kinds", "window_before_s": "before", "window_after_s": "after",
                       "outside_value": "partial"},
    "inbound_server": {"min_count": "min_count"},
    "pool_dns_from_server": {"min_count": "min_count"},
    "known_bad_domain": {"patterns": "patterns"},
    "rig_software": {"patterns": "patterns"},
    "gpu_or_asic_algorithm": {"algorithms": "full_patterns", "secondary_value": "partial"},
    "rig_hashrate": {"thresholds": "thresholds"},
    "named_workers": {"default_names": "names", "generated_patterns": "full_patterns"},
    "farm_same_account": {"min_count": "min_count"},
})


def _parse_signal(ctx: _Ctx, name: str, side: str, table: object) -> SignalRule:
    if not isinstance(table, dict):
        raise ctx.fail("missing: every signal needs a table (set weight = 0 to disable it)")
    params = _PARAMS[name]
    _only(ctx, table, {"weight", "why", "sources", *params})
    sources: tuple[str, ...] = ()
    if "sources" in table:
        sources = ctx.strings(table, "sources")
    fields: dict[str, Any] = {}
    before = after = 0.0
    for key, how in params.items():
        if key not in table:
            raise ctx.fail(f"'{key}' is required")
        if how == "patterns":
            fields["patterns"] = ctx.patterns(table, key, full=False)
        elif how == "full_patterns":
            fields["patterns"] = ctx.patterns(table, key, full=True)
        elif how == "partial":
            fields["partial_value"] = ctx.number(table, key, 0.0, 1.0)
        elif how == "min_count":
            fields["min_count"] = ctx.integer(table, key, 1, 10**9)
        elif how == "ports":
            fields["ports"] = frozenset(_ports_list(ctx, table, key))
        elif how == "kinds":
            fields["kinds"] = _kinds(ctx, table, key)
        elif how == "before":
            before = ctx.number(table, key, 0.0, 365 * 86400.0)
        elif how == "after":
            after = ctx.number(table, key, 0.0, 365 * 86400.0)
        elif how == "names":
            fields["names"] = frozenset(s.strip().lower() for s in ctx.strings(table, key, allow_blank=True))
        elif how == "thresholds":
            fields["thresholds"] = _thresholds(ctx, table.get(key))
    return SignalRule(name, side, ctx.number(table, "weight", 0.0, 10.0), ctx.text(table, "why"),
                      sources, window=(before, after), **fields)


def _ports_list(ctx: _Ctx, table: Mapping[str, Any], key: str) -> list[int]:
    value = table.get(key)
    if not isinstance(value, list) or not value or not all(
            isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535 for p in value):
        raise ctx.fail(f"'{key}' must be a non-empty list of port numbers 1-65535")
    return value


def _kinds(ctx: _Ctx, table: Mapping[str, Any], key: str) -> frozenset[str]:
    kinds = ctx.strings(table, key)
    bad = [k for k in kinds if k not in DOWNLOAD_KINDS]
    if bad:
        raise ctx.fail(f"'{key}': unknown download kind '{_clean(bad[0], 24)}' (known: {', '.join(sorted(DOWNLOAD_KINDS))})")
    return frozenset(kinds)


def _thresholds(ctx: _Ctx, table: object) -> Mapping[str, RigThreshold]:
    if not isinstance(table, dict) or not table:
        raise ctx.fail("'thresholds' must be a table of [thresholds.<algorithm>] tables")
    out = {}
    for algo, entry in table.items():
        sub = _Ctx(ctx.path, f"{ctx.key}.thresholds.{_clean(algo, 40)}")
        if not isinstance(entry, dict):
            raise sub.fail("must be a table with value, unit and source")
        _only(sub, entry, {"value", "unit", "source"})
        unit = sub.text(entry, "unit")
        if unit not in ("H/s", "Sol/s"):
            raise sub.fail(f"'unit' must be \"H/s\" or \"Sol/s\", not {_clean(unit, 16)!r}")
        out[algo.lower()] = RigThreshold(algo.lower(), sub.number(entry, "value", 0.0, 1e24, lo_open=True),
                                         unit, sub.text(entry, "source"))
    return MappingProxyType(out)
