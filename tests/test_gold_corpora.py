"""Verifiers and the verdict reader measured against hand-decided gold (tests/data).

The corpora were written by reading, never by running hrlaif; see hrlaif.verify.gold for the
measures. Thresholds are the issue's: verifier accuracy ≥ 99 % with false-correct ≤ 0.5 %,
verdict accuracy ≥ 98 %.
"""

from __future__ import annotations

import json
from pathlib import Path

from hrlaif.verify.gold import evaluate, load_gold

DATA = Path(__file__).parent / "data"


def test_verifier_corpus_is_realistic_and_large_enough():
    cases = load_gold(DATA / "verify_gold.jsonl")
    assert len(cases) >= 300
    assert {c.gold for c in cases} == {"correct", "incorrect", "hedged", "no_answer"}
    assert sum(c.extra.get("lang") == "zh" for c in cases) >= 30
    assert sum(bool(c.extra.get("hard")) for c in cases) >= len(cases) // 4


def test_verifiers_meet_the_bar_on_gold():
    res = evaluate(load_gold(DATA / "verify_gold.jsonl"))
    allv = res["all"]
    assert allv["accuracy"] >= 0.99, res["errors"]
    assert allv["false_correct"]["rate"] <= 0.005, res["errors"]
    for kind in ("math", "multiple_choice"):
        assert res[kind]["accuracy"] >= 0.98, (kind, res["errors"])


def test_verdict_reader_meets_the_bar_on_gold():
    from hrlaif.judges import parse_verdict

    rows = [json.loads(line) for line in open(DATA / "verdict_gold.jsonl", encoding="utf-8")]
    assert len(rows) >= 150
    wrong = [(r["id"], r["winner"], parse_verdict(r["text"]).winner) for r in rows
             if parse_verdict(r["text"]).winner != r["winner"]]
    assert 1 - len(wrong) / len(rows) >= 0.98, wrong
    # abstaining is allowed; naming the wrong response is the costly error
    flipped = [w for w in wrong if w[2] in ("A", "B") and w[1] in ("A", "B") and w[1] != w[2]]
    assert len(flipped) <= 1, flipped
