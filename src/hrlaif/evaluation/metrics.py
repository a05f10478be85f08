"""Evaluation metrics as pure functions (no torch): accuracy, confidence intervals, rates, win ratio.

Every function takes plain Python sequences and returns floats or small dicts, so the numbers
in ``eval.json`` can be recomputed by hand from the per-item records written beside it.
"""

from __future__ import annotations

import math
import statistics
from typing import Callable, Hashable, Sequence

# Two-sided standard-normal quantiles for the confidence levels people use; others are computed.
_Z = {0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}


def z_value(confidence: float) -> float:
    """z such that P(|N(0,1)| ≤ z) = confidence."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if confidence in _Z:
        return _Z[confidence]
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2.0)


def accuracy(correct: Sequence[bool | None]) -> float:
    """acc = #{c_i is True} / n.

    An item whose verdict is ``None`` (the verifier could not find or decide an answer) counts as
    *not correct*: an answer nobody can check is not a right answer. Empty input → NaN.
    """
    n = len(correct)
    return sum(1 for c in correct if c is True) / n if n else float("nan")


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion p̂ = k/n:

        centre = (p̂ + z²/2n) / (1 + z²/n)
        half   = z / (1 + z²/n) · sqrt(p̂(1−p̂)/n + z²/4n²)

    Unlike the normal approximation it stays inside [0, 1] and is sensible at k = 0 or k = n.
    n = 0 → (NaN, NaN).
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 ≤ k ≤ n, got k={k}, n={n}")
    if n == 0:
        return float("nan"), float("nan")
    z = z_value(confidence)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_ci(values: Sequence, *, statistic: Callable[[Sequence], float | None] | None = None,
                 n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` (default: the mean of numbers).

    Draw B resamples x*_b of size n with replacement, compute θ*_b = statistic(x*_b), and return
    the (α/2, 1−α/2) empirical quantiles of {θ*_b} (linear interpolation), α = 1 − confidence.
    ``values`` may be any items when a ``statistic`` is given (e.g. rater pairs for a kappa);
    resamples on which it is undefined (returns ``None``) are dropped, and when fewer than half
    remain the interval is undefined. Seeded: the same input and seed give the same interval.
    Fewer than 2 values → (NaN, NaN).
    """
    import numpy as np

    n = len(values)
    nan = (float("nan"), float("nan"))
    if n < 2 or n_boot < 1:
        return nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    if statistic is None:
        stats = np.asarray(values, dtype=float)[idx].mean(axis=1)
    else:
        items = list(values)
        got = [statistic([items[i] for i in row]) for row in idx]
        stats = np.array([g for g in got if g is not None], dtype=float)
        if len(stats) < n_boot / 2:
            return nan
    alpha = 1.0 - confidence
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def summarize_binary(flags: Sequence[bool | None], *, n_boot: int = 1000, confidence: float = 0.95,
                     seed: int = 0) -> dict:
    """Proportion of True with both intervals: ``{"value", "k", "n", "ci": [lo, hi] (bootstrap),
    "wilson": [lo, hi], "n_undecided"}``. ``None`` counts as False (see ``accuracy``)."""
    n = len(flags)
    k = sum(1 for f in flags if f is True)
    lo, hi = bootstrap_ci([1.0 if f is True else 0.0 for f in flags], n_boot=n_boot,
                          confidence=confidence, seed=seed)
    wlo, whi = wilson_interval(k, n, confidence)
    return {"value": k / n if n else float("nan"), "k": k, "n": n, "ci": [lo, hi], "wilson": [wlo, whi],
            "n_undecided": sum(1 for f in flags if f is None)}


def paired_difference(a: Sequence[bool | None], b: Sequence[bool | None], *, n_boot: int = 2000,
                      confidence: float = 0.95, seed: int = 0) -> dict:
    """Accuracy difference of two policies on the *same* items, with a paired bootstrap interval.

    With d_i = [a_i] − [b_i] ∈ {−1, 0, 1} (``None`` counts as not correct, as in ``accuracy``),
    δ = mean(d); each resample draws n items with replacement and keeps each item's pair
    together, so the interval reflects the between-item correlation that two separate
    intervals ignore. Also returns the discordant counts (a right, b wrong / a wrong, b right).
    """
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    d = [(1.0 if x is True else 0.0) - (1.0 if y is True else 0.0) for x, y in zip(a, b)]
    n = len(d)
    lo, hi = bootstrap_ci(d, n_boot=n_boot, confidence=confidence, seed=seed)
    return {"n": n, "delta": sum(d) / n if n else float("nan"), "ci": [lo, hi],
            "a_only": sum(1 for x in d if x > 0), "b_only": sum(1 for x in d if x < 0)}


def per_mille(k: int, n: int) -> float:
    """rate‰ = 1000 · k / n (the seed reports toxicity per mille). n = 0 → NaN."""
    return 1000.0 * k / n if n else float("nan")


def rate_per_mille(flags: Sequence[bool | None], confidence: float = 0.95) -> dict:
    """Per-mille rate of True among the *decided* items, with a Wilson interval in ‰.

    Undecided items (``None``: a scorer that abstained) are left out of n and counted apart,
    so an abstaining scorer can neither raise nor lower the rate: ``{"per_mille", "k", "n",
    "ci": [lo‰, hi‰], "n_undecided"}``.
    """
    decided = [f for f in flags if f is not None]
    k, n = sum(1 for f in decided if f), len(decided)
    lo, hi = wilson_interval(k, n, confidence)
    return {"per_mille": per_mille(k, n), "k": k, "n": n, "ci": [1000.0 * lo, 1000.0 * hi],
            "n_undecided": len(flags) - n}


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c pass (Chen et al. 2021, eq. 1):

        pass@k = 1 − C(n−c, k) / C(n, k)

    With n = k = 1 this is simply whether the one sample passed.
    """
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"need 0 ≤ c ≤ n and 1 ≤ k ≤ n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pair_outcome(pref_forward: float | None, pref_swapped: float | None) -> float | None:
    """Outcome of one policy-vs-baseline comparison judged in both orders.

    ``pref_forward`` = P(policy ≻ baseline) with the policy shown first; ``pref_swapped`` =
    P(baseline ≻ policy) with the baseline shown first. Each order casts a vote for the policy
    v = 1 if it prefers the policy, 0 if it prefers the baseline, ½ at exactly 0.5; the outcome is

        1    both votes for the policy (win)
        0    both votes for the baseline (loss)
        ½    the orders disagree or either is exactly 0.5 (tie: a position-biased judge
             that always picks "A" yields ties, never wins)
        None either order missing (abstained or failed): undecided, left out of the ratio.
             One order alone never decides, since a judge biased towards position A would
             then win every pair whose other order abstained (labeling's ``decide_pair``
             leaves such a pair undecided too).
    """
    if pref_forward is None or pref_swapped is None:
        return None
    votes = (_vote(pref_forward), _vote(1.0 - pref_swapped))
    if votes == (1.0, 1.0):
        return 1.0
    if votes == (0.0, 0.0):
        return 0.0
    return 0.5


def _vote(p: float) -> float:
    return 1.0 if p > 0.5 else 0.0 if p < 0.5 else 0.5


def win_ratio(outcomes: Sequence[float | None]) -> dict:
    """Win ratio with ties as half:  WR = (W + ½·T) / (W + T + L).

    ``outcomes`` hold 1 (win), ½ (tie), 0 (loss) or None (no verdict; left out of the ratio and
    counted as ``n_undecided``). WR = 0.5 means the judge cannot tell the policy from the
    baseline. Returns ``{"win_ratio", "wins", "ties", "losses", "n", "n_undecided"}``.
    """
    decided = [o for o in outcomes if o is not None]
    wins = sum(1 for o in decided if o == 1.0)
    losses = sum(1 for o in decided if o == 0.0)
    ties = len(decided) - wins - losses
    n = len(decided)
    wr = (wins + 0.5 * ties) / n if n else float("nan")
    return {"win_ratio": wr, "wins": wins, "ties": ties, "losses": losses, "n": n,
            "n_undecided": len(outcomes) - n}


def group_by(keys: Sequence[Hashable], values: Sequence) -> dict:
    """{key: [values with that key]} keeping first-seen key order."""
    if len(keys) != len(values):
        raise ValueError(f"{len(keys)} keys for {len(values)} values")
    out: dict = {}
    for k, v in zip(keys, values):
        out.setdefault(k, []).append(v)
    return out


def binary_report(y_true: Sequence[bool], y_pred: Sequence[bool], confidence: float = 0.95) -> dict:
    """Held-out quality of a binary classifier (positive = toxic):

        accuracy = (TP + TN) / n,  precision = TP / (TP + FP),  recall = TP / (TP + FN),
        F1 = 2PR / (P + R);  ``accuracy_ci`` is the Wilson interval of the accuracy.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels for {len(y_pred)} predictions")
    tp = sum(1 for t, p in zip(y_true, y_pred) if t and p)
    tn = sum(1 for t, p in zip(y_true, y_pred) if not t and not p)
    fp = sum(1 for t, p in zip(y_true, y_pred) if not t and p)
    fn = sum(1 for t, p in zip(y_true, y_pred) if t and not p)
    n = len(y_true)
    prec = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * prec * rec / (prec + rec) if tp else 0.0
    lo, hi = wilson_interval(tp + tn, n, confidence)
    return {"accuracy": (tp + tn) / n if n else float("nan"), "accuracy_ci": [lo, hi], "precision": prec,
            "recall": rec, "f1": f1, "n": n, "tp": tp, "tn": tn, "fp": fp, "fn": fn}
