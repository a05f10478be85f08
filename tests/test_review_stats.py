"""Review statistics on hand-made inputs whose values were worked out by hand."""

from __future__ import annotations

import math

import pytest

from hrlaif.review import stats


def test_cohen_kappa_hand_example():
    # p_o = 7/10; rater a: 6 Y / 4 N, rater b: 5 Y / 5 N → p_e = .6·.5 + .4·.5 = .5 → κ = (.7 − .5)/.5 = .4
    a = list("YYYYYYNNNN")
    b = list("YYYYNNYNNN")
    assert stats.agreement_rate(a, b) == pytest.approx(0.7)
    assert stats.cohen_kappa(a, b) == pytest.approx(0.4)
    assert stats.cohen_kappa(b, a) == pytest.approx(0.4)  # symmetric


def test_cohen_kappa_edges():
    assert stats.cohen_kappa(["x", "y", "tie"], ["x", "y", "tie"]) == pytest.approx(1.0)
    assert stats.cohen_kappa(["Y", "N"], ["N", "Y"]) == pytest.approx(-1.0)  # p_o 0, p_e .5
    assert stats.cohen_kappa(["Y", "Y"], ["Y", "Y"]) is None  # p_e = 1: undefined, not NaN
    assert stats.cohen_kappa([], []) is None
    assert stats.agreement_rate([], []) is None
    with pytest.raises(ValueError, match="length"):
        stats.cohen_kappa(["Y"], ["Y", "N"])


def test_cohen_kappa_label_only_one_rater_uses():
    # a uses {first, tie}, b uses {first, second}: p_o = 2/4; p_e = (3/4)(2/4) = 3/8 → κ = (1/2 − 3/8)/(5/8) = 0.2
    a = ["first", "first", "first", "tie"]
    b = ["first", "first", "second", "second"]
    assert stats.cohen_kappa(a, b) == pytest.approx(0.2)


def test_fleiss_kappa_hand_example():
    # P_i = 1, 1/3, 1 → P̄ = 7/9; p_x = 5/9, p_y = 4/9 → P̄_e = 41/81; κ = (63 − 41)/(81 − 41) = 22/40
    ratings = [["x", "x", "x"], ["x", "x", "y"], ["y", "y", "y"], ["x"]]  # the single rating is dropped
    assert stats.fleiss_kappa(ratings) == pytest.approx(0.55)
    assert stats.fleiss_kappa([["x"], ["y"]]) is None
    assert stats.fleiss_kappa([["x", "x"], ["x", "x"]]) is None  # everyone said x: P̄_e = 1


def test_fleiss_equals_scott_pi_for_two_raters():
    # agree, agree, disagree, disagree → P̄ = 1/2; p_Y = p_N = 1/2 → P̄_e = 1/2 → κ = 0
    # 6 of 8 items agree → P̄ = 3/4; 8 Y of 16 ratings → P̄_e = 1/2 → κ = 1/2
    assert stats.fleiss_kappa([["Y", "Y"], ["N", "N"], ["Y", "N"], ["Y", "N"][::-1]]) == pytest.approx(0.0)
    assert stats.fleiss_kappa([["Y", "Y"], ["N", "N"], ["Y", "N"], ["N", "N"], ["Y", "Y"], ["Y", "Y"],
                               ["N", "N"], ["N", "Y"]]) == pytest.approx(0.5)


def test_pairwise_kappas_use_shared_items_only():
    by = {"ann": {1: "Y", 2: "Y", 3: "N", 4: "N"}, "bob": {1: "Y", 2: "N", 3: "N"}, "cy": {9: "Y"}}
    pairs = {(p["a"], p["b"]): p for p in stats.pairwise_kappas(by)}
    ab = pairs[("ann", "bob")]
    # shared 1..3: ann Y Y N, bob Y N N → p_o 2/3, p_e = (2/3)(1/3) + (1/3)(2/3) = 4/9 → κ = (2/9)/(5/9) = 0.4
    assert ab["n"] == 3 and ab["agreement"] == pytest.approx(2 / 3) and ab["kappa"] == pytest.approx(0.4)
    assert pairs[("ann", "cy")]["n"] == 0 and pairs[("ann", "cy")]["kappa"] is None
    assert stats.mean_pairwise_kappa(list(pairs.values())) == pytest.approx(0.4)  # undefined pairs skipped


def test_majority():
    assert stats.majority(["a", "b", "a"]) == "a"
    assert stats.majority(["a", "b"]) is None
    assert stats.majority([]) is None


def test_wilson_interval_known_values():
    lo, hi = stats.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(1.959964 ** 2 / (10 + 1.959964 ** 2))  # 0.2775
    lo, hi = stats.wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert stats.wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert stats.wilson_interval(0, 0) is None
    assert stats.wilson_interval(2.5, 10) == pytest.approx(stats.wilson_interval(1, 4), abs=0.2)  # fractional k
    assert stats.wilson_interval(2.5, 10)[0] < 0.25 < stats.wilson_interval(2.5, 10)[1]
    with pytest.raises(ValueError):
        stats.wilson_interval(11, 10)
    # narrower with more data at the same rate
    assert (lambda c: c[1] - c[0])(stats.wilson_interval(50, 100)) < hi - lo


def test_bootstrap_ci_is_seeded_and_sane():
    data = [0, 1] * 20
    mean = lambda s: sum(s) / len(s)  # noqa: E731
    ci1 = stats.bootstrap_ci(data, mean, n_boot=300, seed=3)
    ci2 = stats.bootstrap_ci(data, mean, n_boot=300, seed=3)
    assert ci1 == ci2
    assert ci1[0] < 0.5 < ci1[1] and 0.2 < ci1[0] and ci1[1] < 0.8
    assert stats.bootstrap_ci([1, 1, 1], mean, n_boot=50) == (1.0, 1.0)
    assert stats.bootstrap_ci([], mean) is None
    assert stats.bootstrap_ci([1, 2], lambda s: None, n_boot=20) is None


def test_no_nan_anywhere():
    for v in (stats.cohen_kappa(["a"], ["a"]), stats.fleiss_kappa([["a", "a"]])):
        assert v is None or not math.isnan(v)
