"""Evaluation metrics on hand-made inputs (values worked out by hand in the comments)."""

from __future__ import annotations

import math

import pytest

from hrlaif.evaluation import metrics as M


def test_accuracy_counts_undecided_as_wrong():
    assert M.accuracy([True, False, None, True]) == 0.5
    assert math.isnan(M.accuracy([]))


def test_wilson_interval_known_values():
    # k=8, n=10, z=1.96: centre = (0.8 + 0.19208)/1.38416 = 0.71674; half = 1.96/1.38416 *
    # sqrt(0.016 + 0.0096040) = 0.22663 → [0.4902, 0.9433]
    lo, hi = M.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    lo0, hi0 = M.wilson_interval(0, 20)
    assert lo0 == 0.0 and 0.15 < hi0 < 0.17  # 3.84/(20+3.84) = 0.1611
    assert M.wilson_interval(20, 20)[1] == 1.0
    with pytest.raises(ValueError):
        M.wilson_interval(3, 2)


def test_bootstrap_ci_brackets_the_mean_and_is_seeded():
    vals = [1.0] * 30 + [0.0] * 70
    lo, hi = M.bootstrap_ci(vals, n_boot=2000, seed=1)
    assert lo < 0.3 < hi and 0.18 < lo and hi < 0.42
    assert M.bootstrap_ci(vals, n_boot=2000, seed=1) == (lo, hi)
    # constant data: no spread at all
    assert M.bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0)
    # custom statistic: the median of {0, 10} resamples is 0, 5 or 10
    lo, hi = M.bootstrap_ci([0.0, 10.0], statistic=lambda xs: sorted(xs)[len(xs) // 2], n_boot=500)
    assert lo in (0.0, 5.0, 10.0) and hi in (0.0, 5.0, 10.0)


def test_per_mille_rate_ignores_undecided():
    r = M.rate_per_mille([True, False, False, None, False])  # 1 of 4 decided
    assert r["per_mille"] == 250.0 and r["n"] == 4 and r["n_undecided"] == 1
    assert r["ci"][0] < 250.0 < r["ci"][1]
    assert M.per_mille(3, 1000) == 3.0


def test_pass_at_k():
    assert M.pass_at_k(1, 1, 1) == 1.0 and M.pass_at_k(1, 0, 1) == 0.0
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert M.pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert M.pass_at_k(5, 4, 2) == 1.0


def test_pair_outcome_both_orders():
    assert M.pair_outcome(0.9, 0.2) == 1.0      # forward: policy; swapped: baseline loses → win
    assert M.pair_outcome(0.1, 0.8) == 0.0      # both orders prefer the baseline → loss
    assert M.pair_outcome(0.9, 0.9) == 0.5      # judge always picks position A → tie
    assert M.pair_outcome(0.5, 0.5) == 0.5
    # one order abstained or failed: undecided, never the other order alone (issue 14 #5)
    assert M.pair_outcome(None, 0.3) is None
    assert M.pair_outcome(0.9, None) is None
    assert M.pair_outcome(None, None) is None


def test_win_ratio_ties_as_half():
    r = M.win_ratio([1.0, 1.0, 0.5, 0.0, None])
    # (2 + 0.5) / 4
    assert r["win_ratio"] == pytest.approx(0.625)
    assert (r["wins"], r["ties"], r["losses"], r["n"], r["n_undecided"]) == (2, 1, 1, 4, 1)
    assert M.win_ratio([0.5, 0.5])["win_ratio"] == 0.5


def test_binary_report():
    rep = M.binary_report([True, True, False, False], [True, False, True, False])
    assert rep["accuracy"] == 0.5 and rep["precision"] == 0.5 and rep["recall"] == 0.5 and rep["f1"] == 0.5
    rep = M.binary_report([True, False], [False, False])
    assert rep["f1"] == 0.0 and math.isnan(rep["precision"])


def test_summarize_binary_and_group_by():
    s = M.summarize_binary([True, None, False, True])
    assert s["value"] == 0.5 and s["k"] == 2 and s["n"] == 4 and s["n_undecided"] == 1
    assert s["wilson"][0] < 0.5 < s["wilson"][1]
    assert M.group_by(["a", "b", "a"], [1, 2, 3]) == {"a": [1, 3], "b": [2]}


def test_paired_difference_by_hand():
    from hrlaif.evaluation.metrics import paired_difference

    a = [True, True, False, True, None]
    b = [True, False, False, False, True]
    r = paired_difference(a, b, n_boot=500, seed=1)
    # d = [0, 1, 0, 1, -1] → δ = 1/5; a right only on items 2 and 4, b only on item 5
    assert r["n"] == 5 and abs(r["delta"] - 0.2) < 1e-12 and (r["a_only"], r["b_only"]) == (2, 1)
    assert -1.0 <= r["ci"][0] <= 0.2 <= r["ci"][1] <= 1.0
    same = paired_difference([True, False] * 50, [True, False] * 50)
    assert same["delta"] == 0 and same["ci"] == [0.0, 0.0]  # identical policies: no uncertainty at all
    import pytest

    with pytest.raises(ValueError):
        paired_difference([True], [True, False])
