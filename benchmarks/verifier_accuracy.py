"""Verifier accuracy against independent gold, hrlaif beside the peers, on one corpus in one run.

    .venv/bin/python benchmarks/verifier_accuracy.py [--gold tests/data/verify_gold.jsonl] [--json out.json]

Methods (each reimplemented from its published rule, applied to the whole response):

* ``hrlaif`` — ``hrlaif.verify`` (math and multiple choice);
* ``math-verify`` — ``verify(parse(gold), parse(response))`` with its default extraction (math);
* ``lm-eval flexible-extract`` — GSM8K's last-number rule ``(-?[$0-9.,]{2,})|(-?[0-9]+)``,
  then exact match after removing ``,``, ``$`` and a final ``.`` (math);
* ``lm-eval strict-match`` — ``#### (-?[0-9.,]+)``, same comparison (math);
* ``simple-evals regex`` — ``(?i)Answer\\s*:\\s*\\$?([A-J])\\$?`` (multiple choice).

Per method and verifier: accuracy (says "correct" exactly when the gold does) with a 95 % Wilson
interval, false-correct rate (said correct, gold not correct) and false-incorrect rate (said
incorrect, gold correct). Definitions: ``hrlaif.verify.gold``.
Last line: ``hrlaif_accuracy=X false_correct=Y`` over the whole corpus.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from hrlaif.ui import print_table
from hrlaif.verify.gold import GoldCase, hrlaif_outcome, load_gold, score

_ROOT = Path(__file__).resolve().parents[1]


def _norm_lmeval(s: str) -> str:
    s = s.strip()
    for rx in (",", r"\$", r"(?s).*#### ", r"\.$"):
        s = re.sub(rx, "", s)
    return s.strip().lower()


def lmeval_flexible(c: GoldCase) -> str:
    hits = re.findall(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", c.response)
    if not hits:
        return "incorrect"
    a, b = hits[-1]
    return "correct" if _norm_lmeval(a or b) == _norm_lmeval(c.reference) else "incorrect"


def lmeval_strict(c: GoldCase) -> str:
    m = re.search(r"#### (\-?[0-9\.\,]+)", c.response)
    return "correct" if m and _norm_lmeval(m.group(1)) == _norm_lmeval(c.reference) else "incorrect"


def math_verify_whole(c: GoldCase) -> str:
    from math_verify import parse, verify

    try:
        gold = parse(c.reference if "$" in c.reference else f"${c.reference}$")
        return "correct" if gold and verify(gold, parse(c.response)) else "incorrect"
    except Exception:  # noqa: BLE001 - a peer's crash counts as its "incorrect"
        return "incorrect"


def simple_evals_mc(c: GoldCase) -> str:
    m = re.search(r"(?i)Answer\s*:\s*\$?([A-J])\$?", c.response)
    return "correct" if m and m.group(1).upper() == c.reference.strip().upper() else "incorrect"


METHODS = {
    "hrlaif": (hrlaif_outcome, ("math", "multiple_choice")),
    "math-verify parse/verify": (math_verify_whole, ("math",)),
    "lm-eval flexible-extract": (lmeval_flexible, ("math",)),
    "lm-eval strict-match": (lmeval_strict, ("math",)),
    "simple-evals MC regex": (simple_evals_mc, ("multiple_choice",)),
}


def run(cases: list[GoldCase]) -> dict:
    out: dict = {}
    for name, (fn, kinds) in METHODS.items():
        for kind in kinds:
            sub = [c for c in cases if c.verifier == kind]
            if not sub:
                continue
            t = time.perf_counter()
            outcomes = [fn(c) for c in sub]
            s = score(sub, outcomes)
            s["seconds"] = time.perf_counter() - t
            out.setdefault(name, {})[kind] = s
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gold", default=str(_ROOT / "tests" / "data" / "verify_gold.jsonl"))
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    cases = load_gold(args.gold)
    res = run(cases)

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}"

    rows = []
    for name, kinds in res.items():
        for kind, s in kinds.items():
            lo, hi = s["accuracy_ci"]
            fc, fi = s["false_correct"], s["false_incorrect"]
            rows.append([name, kind, s["n"], f"{pct(s['accuracy'])} [{pct(lo)}, {pct(hi)}]",
                         f"{pct(fc['rate'])} ({fc['k']}/{fc['n']})", f"{pct(fi['rate'])} ({fi['k']}/{fi['n']})"])
    print_table(f"verifier accuracy vs hand-decided gold ({Path(args.gold).name}, n={len(cases)})",
                ["method", "verifier", "n", "accuracy % [95% CI]", "false-correct %", "false-incorrect %"], rows)
    allv = score(cases, [hrlaif_outcome(c) for c in cases])
    if args.json:
        Path(args.json).write_text(json.dumps({"methods": res, "hrlaif_all": allv}, indent=2) + "\n")
    print(f"hrlaif_accuracy={allv['accuracy']:.4f} false_correct={allv['false_correct']['rate']:.4f}")


if __name__ == "__main__":
    main()
