"""Agreement and rate statistics for human review (pure functions, standard library only).

Notation: ``n`` items; for two raters *a*, *b* with labels over categories *k*,
``p_o`` is the observed agreement and ``p_e`` the agreement expected by chance.
Every function here is deterministic (bootstrap takes a seed) and returns ``None``
where a statistic is undefined (no items, or a chance agreement of 1), never NaN,
so results stay valid JSON.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations
from typing import Callable, Hashable, Mapping, Sequence, TypeVar

T = TypeVar("T")


def agreement_rate(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Observed agreement  p_o = (1/n) · Σ_i [a_i = b_i].  ``None`` when n = 0."""
    _same_length(a, b)
    if not a:
        return None
    return sum(x == y for x, y in zip(a, b)) / len(a)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters over the same n items.

        κ = (p_o − p_e) / (1 − p_e),   p_e = Σ_k  (n_a(k)/n) · (n_b(k)/n)

    where n_a(k) counts items rater *a* put in category k. κ = 1 is perfect agreement,
    0 chance level, < 0 worse than chance. ``None`` when n = 0 or p_e = 1 (both raters
    used one and the same category for every item: agreement is then uninformative).
    """
    _same_length(a, b)
    n = len(a)
    if n == 0:
        return None
    p_o = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1.0 - p_e)


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa for several raters; ``ratings[i]`` holds the labels item i received.

    With n_ij raters putting item i in category j and n_i = Σ_j n_ij raters on item i
    (items with n_i < 2 are dropped; n_i may vary between items):

        P_i = (Σ_j n_ij² − n_i) / (n_i (n_i − 1))        agreement on item i
        P̄   = mean_i P_i
        p_j = Σ_i n_ij / Σ_i n_i                          share of category j
        P̄_e = Σ_j p_j²
        κ   = (P̄ − P̄_e) / (1 − P̄_e)

    With a constant n_i this is Fleiss (1971). ``None`` when no item has two ratings or
    P̄_e = 1.
    """
    rows = [Counter(r) for r in ratings if len(r) >= 2]
    if not rows:
        return None
    p_items = []
    totals: Counter = Counter()
    n_total = 0
    for c in rows:
        n_i = sum(c.values())
        p_items.append((sum(v * v for v in c.values()) - n_i) / (n_i * (n_i - 1)))
        totals.update(c)
        n_total += n_i
    p_bar = sum(p_items) / len(p_items)
    p_e = sum((v / n_total) ** 2 for v in totals.values())
    if math.isclose(p_e, 1.0):
        return None
    return (p_bar - p_e) / (1.0 - p_e)


def pairwise_kappas(by_rater: Mapping[str, Mapping[Hashable, Hashable]]) -> list[dict]:
    """Cohen's kappa for every pair of raters over the items both rated.

    ``by_rater[r][item] = label``. Returns one dict per pair (sorted by name):
    ``{"a", "b", "n", "agreement", "kappa"}``; pairs with no shared item have n = 0.
    """
    out = []
    for ra, rb in combinations(sorted(by_rater), 2):
        shared = sorted(set(by_rater[ra]) & set(by_rater[rb]), key=repr)
        la = [by_rater[ra][i] for i in shared]
        lb = [by_rater[rb][i] for i in shared]
        out.append({"a": ra, "b": rb, "n": len(shared), "agreement": agreement_rate(la, lb),
                    "kappa": cohen_kappa(la, lb)})
    return out


def mean_pairwise_kappa(pairs: Sequence[Mapping]) -> float | None:
    """Light's kappa: the mean of the defined pairwise Cohen kappas, weighted equally."""
    ks = [p["kappa"] for p in pairs if p.get("kappa") is not None]
    return sum(ks) / len(ks) if ks else None


def majority(labels: Sequence[T]) -> T | None:
    """The label most raters gave; ``None`` on an empty list or a tie for first place."""
    if not labels:
        return None
    top = Counter(labels).most_common()
    if len(top) > 1 and top[0][1] == top[1][1]:
        return None
    return top[0][0]


def wilson_interval(k: float, n: int, *, z: float = 1.959964) -> tuple[float, float] | None:
    """Wilson score interval for p̂ = k/n at the normal quantile ``z`` (95 % by default); the
    formula lives once, in ``hrlaif.evaluation.metrics.wilson_interval``. ``k`` may be
    fractional (a sum of per-item scores in [0, 1]). ``None`` when n = 0."""
    from hrlaif.evaluation.metrics import wilson_interval as _wilson

    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"k={k} must lie in [0, n={n}]")
    return _wilson(k, n, confidence=math.erf(z / math.sqrt(2.0)))


def bootstrap_ci(items: Sequence[T], statistic: Callable[[Sequence[T]], float | None], *,
                 n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic`` over the items at ``level``; the method
    lives once, in ``hrlaif.evaluation.metrics.bootstrap_ci``. ``None`` where it is undefined
    (fewer than 2 items, or the statistic undefined on most resamples)."""
    from hrlaif.evaluation.metrics import bootstrap_ci as _bootstrap

    lo, hi = _bootstrap(items, statistic=statistic, n_boot=n_boot, confidence=level, seed=seed)
    return None if math.isnan(lo) else (lo, hi)


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"rater sequences differ in length: {len(a)} vs {len(b)}")
