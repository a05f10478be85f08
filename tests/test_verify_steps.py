"""Reasoning-step checker: hand-made strings, and the real GSM8K reference solutions."""

from __future__ import annotations

import json

import pytest

from hrlaif.verify import check_steps


@pytest.mark.parametrize("text, n_steps, n_wrong", [
    ("23 + 45 = 68", 1, 0),
    ("23 + 45 = 78", 1, 1),
    ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs", 1, 0),
    ("She makes 9 * 2 = $18 a day.", 1, 0),
    ("2 x 3 = 6 and 4 × 5 = 21", 2, 1),
    ("12 ÷ 4 = 3", 1, 0),
    ("1,234 + 1 = 1,235", 1, 0),
    ("$400 000 - $282 000 = $118 000", 1, 0),
    ("(2 + 3) * 4 = 20 = 5 * 4", 2, 0),
    ("3 + 4 = 7. Then 7 * 2 = 15.", 2, 1),
    ("5 - -3 = 8", 1, 0),
    ("7 = 3 + 4", 1, 0),
    ("1.5 + 2.25 = 3.75", 1, 0),
    ("10 / 3 = 3.33", 1, 0),  # rounded to the decimals shown
    ("10 / 3 = 3.2", 1, 1),
    ("10 / 4 = 2", 1, 1),  # 2.5 is no nearer 2 than 3: not a rounding
    ("20% * 50 = 10", 1, 0),
    ("45 + 21 + 28 = 94%", 1, 0),
    ("he had 3 1/2 - 2 = 1 1/2 hours left", 1, 0),
    ("Harry: 5+2(3)=5+6=11 trees", 2, 0),
    ("2x + 3 = 7, so x = 2", 0, 0),  # algebra with a variable is not recomputed
    ("B - 10 = 45", 0, 0),
    ("No arithmetic here at all.", 0, 0),
])
def test_check_steps(text, n_steps, n_wrong):
    r = check_steps(text)
    assert (r.n_steps, r.n_wrong) == (n_steps, n_wrong), r
    assert len(r.wrong) == n_wrong
    assert r.sound is (None if n_steps == 0 else n_wrong == 0)


def test_sound_reasoning_separates_from_broken_reasoning_with_the_same_answer():
    good = "Each box holds 12 eggs, so 3 boxes hold 3 * 12 = 36 eggs. The answer is 36."
    bad = "Each box holds 12 eggs, so 3 boxes hold 3 * 12 = 38 eggs. The answer is 36."
    assert check_steps(good).sound is True
    assert check_steps(bad).sound is False and "3 * 12 = 38" in check_steps(bad).wrong[0]


def test_gsm8k_reference_solutions_are_nearly_all_sound(data_dir):
    """GSM8K's own solutions: thousands of steps; only a handful are really wrong in the data."""
    n_steps = n_unsound = 0
    for line in open(data_dir / "gsm8k" / "test.jsonl", encoding="utf-8"):
        r = check_steps(json.loads(line)["answer"])
        n_steps += r.n_steps
        n_unsound += r.n_wrong > 0
    assert n_steps > 4000
    assert n_unsound <= 5  # measured: 3 (e.g. "$32 - $20 = $300", a typo in the data)
