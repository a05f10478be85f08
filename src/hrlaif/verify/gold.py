"""Verifiers measured against independent gold: responses whose outcome a person decided by reading.

A gold file is JSONL, one response per line::

    {"id": "m001", "verifier": "math" | "multiple_choice", "question": "...",
     "choices": null | ["...", ...], "reference": "12" | "C", "response": "...",
     "gold": "correct" | "incorrect" | "hedged" | "no_answer", ...}

(extra fields such as ``style``, ``lang``, ``hard`` and ``why`` are kept for breakdowns).
The repository's corpus is ``tests/data/verify_gold.jsonl``.

What is measured, for any method that maps a case to an outcome
(``correct | incorrect | hedged | undecided``):

* ``accuracy`` — the method says "correct" exactly when the gold says so:
  ``#{(V = correct) = (G = correct)} / n``, with a Wilson interval;
* ``false_correct`` — ``#{V = correct, G ≠ correct} / #{G ≠ correct}``: the costly error in
  hybrid labeling, where nothing overrules a verifier;
* ``false_incorrect`` — ``#{V = incorrect, G = correct} / #{G = correct}``;
* ``outcome_accuracy`` — the full outcome agrees: correct ↔ correct, incorrect ↔ incorrect,
  hedged ↔ hedged, no_answer ↔ undecided.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from hrlaif.errors import InputError

Gold = Literal["correct", "incorrect", "hedged", "no_answer"]
_GOLDS = ("correct", "incorrect", "hedged", "no_answer")
_MATCH = {"correct": "correct", "incorrect": "incorrect", "hedged": "hedged", "no_answer": "undecided"}


@dataclass
class GoldCase:
    id: str
    verifier: Literal["math", "multiple_choice"]
    question: str
    reference: str
    response: str
    gold: Gold
    choices: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_gold(path: str | Path) -> list[GoldCase]:
    """Read and validate a gold file (errors name file, line and field)."""
    from hrlaif.data import iter_jsonl

    out, seen = [], set()
    for ln, obj in iter_jsonl(path):
        def need(name: str, kind: type = str) -> Any:
            v = obj.get(name)
            if not isinstance(v, kind) or (kind is str and not v):
                raise InputError(f"expected a non-empty {kind.__name__}", path=str(path), line=ln, field=name)
            return v
        cid = need("id")
        if cid in seen:
            raise InputError(f"duplicate id {cid!r}", path=str(path), line=ln, field="id")
        seen.add(cid)
        verifier = need("verifier")
        if verifier not in ("math", "multiple_choice"):
            raise InputError("expected 'math' or 'multiple_choice'", path=str(path), line=ln, field="verifier")
        gold = need("gold")
        if gold not in _GOLDS:
            raise InputError(f"expected one of {', '.join(_GOLDS)}", path=str(path), line=ln, field="gold")
        choices = obj.get("choices")
        if choices is not None and not (isinstance(choices, list) and all(isinstance(c, str) for c in choices)):
            raise InputError("expected null or a list of strings", path=str(path), line=ln, field="choices")
        known = {"id", "verifier", "question", "reference", "response", "gold", "choices"}
        out.append(GoldCase(cid, verifier, str(obj.get("question") or ""), need("reference"), need("response"),
                            gold, choices, {k: v for k, v in obj.items() if k not in known}))
    return out


def hrlaif_outcome(case: GoldCase) -> str:
    """hrlaif's verifier outcome for one gold case."""
    from hrlaif.verify.choice import verify_choice
    from hrlaif.verify.math import verify_math

    if case.verifier == "math":
        return verify_math(case.response, case.reference, question=case.question or None).outcome
    return verify_choice(case.response, case.reference, case.choices).outcome


def score(cases: list[GoldCase], outcomes: list[str], confidence: float = 0.95) -> dict[str, Any]:
    """The measures of the module docstring for one method's outcomes on ``cases``."""
    from hrlaif.evaluation.metrics import wilson_interval

    n = len(cases)
    agree = sum((o == "correct") == (c.gold == "correct") for c, o in zip(cases, outcomes))
    exact = sum(o == _MATCH[c.gold] for c, o in zip(cases, outcomes))
    pos = [o for c, o in zip(cases, outcomes) if c.gold == "correct"]
    neg = [o for c, o in zip(cases, outcomes) if c.gold != "correct"]
    fc = sum(o == "correct" for o in neg)
    fi = sum(o == "incorrect" for o in pos)

    def rate(k: int, m: int) -> dict[str, Any]:
        return {"rate": k / m if m else None, "k": k, "n": m,
                "ci": list(wilson_interval(k, m, confidence)) if m else None}

    return {"n": n, "accuracy": agree / n if n else None,
            "accuracy_ci": list(wilson_interval(agree, n, confidence)) if n else None,
            "outcome_accuracy": exact / n if n else None,
            "false_correct": rate(fc, len(neg)), "false_incorrect": rate(fi, len(pos)),
            "missed": rate(sum(o != "correct" for o in pos), len(pos))}


def evaluate(cases: list[GoldCase], method: Callable[[GoldCase], str] = hrlaif_outcome) -> dict[str, Any]:
    """Score ``method`` on all cases and per verifier: ``{"all": ..., "math": ..., ...}``;
    ``errors`` lists the cases it got wrong (id, gold, outcome)."""
    outcomes = [method(c) for c in cases]
    out: dict[str, Any] = {"all": score(cases, outcomes)}
    for v in sorted({c.verifier for c in cases}):
        idx = [i for i, c in enumerate(cases) if c.verifier == v]
        out[v] = score([cases[i] for i in idx], [outcomes[i] for i in idx])
    out["errors"] = [{"id": c.id, "gold": c.gold, "outcome": o} for c, o in zip(cases, outcomes)
                     if (o == "correct") != (c.gold == "correct")]
    return out


def default_corpus() -> Path | None:
    """The gold corpus to measure against: ``$HRLAIF_GOLD`` (a file), else the repository's
    ``tests/data/verify_gold.jsonl`` when hrlaif runs from a checkout; None when neither exists."""
    env = os.environ.get("HRLAIF_GOLD")
    if env:
        return Path(env) if Path(env).is_file() else None
    p = Path(__file__).resolve().parents[3] / "tests" / "data" / "verify_gold.jsonl"
    return p if p.is_file() else None


_MEASURED: dict[str, Any] = {}


def measured_error_rates(path: str | Path | None = None) -> dict[str, Any] | None:
    """hrlaif's verifier error rates on the gold corpus (measured once per process), for reports
    that show Table 1 where no gold exists for the labeled responses. None without a corpus."""
    p = Path(path) if path else default_corpus()
    if p is None:
        return None
    key = str(p)
    if key not in _MEASURED:
        cases = load_gold(p)
        res = evaluate(cases)
        _MEASURED[key] = {"corpus": key, "n": len(cases),
                          **{v: {k: res[v][k] for k in ("n", "accuracy", "accuracy_ci", "false_correct",
                                                        "false_incorrect")}
                             for v in res if v not in ("errors",)}}
    return _MEASURED[key]


def per_response_gold(rows: Iterable[tuple[int, dict]], path: str) -> dict[str, list[bool | None]]:
    """A label-gold file: ``{"prompt_id": "p1", "correct": [true, false, null, true]}`` per line
    (one entry per response, null = not known) → prompt id → per-response correctness."""
    out: dict[str, list[bool | None]] = {}
    for ln, obj in rows:
        pid = obj.get("prompt_id")
        if not isinstance(pid, str) or not pid:
            raise InputError("missing or empty", path=path, line=ln, field="prompt_id")
        corr = obj.get("correct")
        if not isinstance(corr, list) or not all(x is None or isinstance(x, bool) for x in corr):
            raise InputError("expected a list of true / false / null, one per response", path=path, line=ln,
                             field="correct")
        if pid in out:
            raise InputError(f"duplicate prompt_id {pid!r}", path=path, line=ln, field="prompt_id")
        out[pid] = list(corr)
    return out
