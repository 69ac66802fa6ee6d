"""``minesweep train LABELED.csv --out model.json``: train the verdict model and report its CV figures.

Reads a labeled set (header: every detector.model.FEATURE_NAMES column and ``verdict``; see
docs/verdicts.md), compares logistic regression and decision trees by stratified k-fold
macro-F1, fits the chosen one on all rows and writes it as JSON. Prints the candidates, the
chosen model's cross-validated classification report, and the rules' own report on the same
rows for comparison.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from detector.model import read_labeled_csv, save_model, train
from detector.verdict import load_verdict_rules


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", help="train the verdict model from a labeled set",
                       description="Train the compromised / institution_misuse / private verdict model "
                                   "from a labeled CSV and write it as JSON (loaded by scan --model).")
    p.add_argument("labeled", type=Path, metavar="LABELED.csv", help="labeled hosts (e.g. rules/labeled_hosts.csv)")
    p.add_argument("--out", required=True, type=Path, metavar="MODEL.json", help="where to write the model")
    p.add_argument("--folds", type=_folds, default=5, metavar="K", help="stratified CV folds, 2-20 (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed for the CV split and the trees (default 0)")
    p.add_argument("--model", choices=("auto", "logistic", "tree"), default="auto",
                   help="model family: auto picks by CV (default), or force one")
    p.add_argument("--rules", type=Path, default=None, metavar="VERDICT.toml",
                   help="verdict rules for the rules-only comparison (default rules/verdict.toml)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(run=run)


def _folds(text: str) -> int:
    value = int(text)
    if not 2 <= value <= 20:
        raise argparse.ArgumentTypeError("must be 2..20")
    return value


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    rules = load_verdict_rules(args.rules)
    data = read_labeled_csv(args.labeled)
    result = train(data, folds=args.folds, seed=args.seed, kind=args.model, rules=rules)
    save_model(result.model, args.out)
    if args.quiet:
        return 0
    counts = result.model.training["class_counts"]
    print(f"{len(data.y)} labeled hosts from {args.labeled} "
          f"({', '.join(f'{c} {n}' for c, n in counts.items())}); {args.folds}-fold stratified CV, seed {args.seed}",
          file=stdout)
    print("candidates (macro-F1, mean ± sd over folds):", file=stdout)
    for c in result.candidates:
        mark = "  <- chosen" if c is result.chosen else ""
        print(f"  {c.name:<34} {c.f1_mean:.3f} ± {c.f1_std:.3f}{mark}", file=stdout)
    print(f"\ncross-validated report of {result.chosen.name}:", file=stdout)
    print(result.report_text, file=stdout)
    print("rules alone on the same rows (fixed weights from the rules file, nothing fitted):", file=stdout)
    print(result.rules_report_text, file=stdout)
    print(f"wrote {args.out}", file=stdout)
    return 0
