"""Pure functions that turn pairwise judge probabilities into a partial order (tiers).

Notation: responses are indices ``0..K-1``. A pairwise judge call shows two responses as A and B
and returns ``P(A ≻ B)``. For the pair ``(i, j)``, ``i < j``:

* the *forward* call shows ``i`` as A:  ``p_fwd = P(i ≻ j)``;
* the *backward* call shows ``j`` as A: ``p_bwd = P(j ≻ i)``.

Both orders are averaged (Lee et al. 2023) to cancel position bias::

    P(i ≻ j) = ( p_fwd + (1 − p_bwd) ) / 2

A pair *flips* when the preferred response changes with the order (the judge followed the
position, not the content). A flipped pair, or one with ``|P − ½| < tie_margin``, is a tie: the
judge could not decide. Strict pairs become edges; cycles among them (i ≻ j ≻ k ≻ i) are
merged into ties (their strongly connected component), and the acyclic rest is layered into
tiers with :func:`hrlaif.data.tiers_from_preferences`. A response with no decided pair (all its
calls failed) is left unranked: a failure never becomes a label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal

from hrlaif.data import tiers_from_preferences

PairStatus = Literal["strict", "tie", "undecided"]


def averaged_preference(p_fwd: float | None, p_bwd: float | None) -> float | None:
    """``P(i ≻ j) = (p_fwd + (1 − p_bwd)) / 2``; with one order missing, that order alone;
    ``None`` when both are missing."""
    if p_fwd is None and p_bwd is None:
        return None
    if p_bwd is None:
        return float(p_fwd)
    if p_fwd is None:
        return 1.0 - float(p_bwd)
    return (float(p_fwd) + 1.0 - float(p_bwd)) / 2.0


def flipped(p_fwd: float | None, p_bwd: float | None) -> bool | None:
    """True when the preferred response changes with the order:
    ``sign(p_fwd − ½) ≠ sign((1 − p_bwd) − ½)``. ``None`` when an order is missing or exactly ½."""
    if p_fwd is None or p_bwd is None or p_fwd == 0.5 or p_bwd == 0.5:
        return None
    return (p_fwd > 0.5) != ((1.0 - p_bwd) > 0.5)


@dataclass
class PairOutcome:
    """The aggregated judgement of one pair ``(i, j)`` (``i < j``)."""

    i: int
    j: int
    status: PairStatus
    p: float | None  # averaged P(i ≻ j)
    flip: bool | None
    reason: str

    @property
    def better_worse(self) -> tuple[int, int] | None:
        if self.status != "strict" or self.p is None:
            return None
        return (self.i, self.j) if self.p > 0.5 else (self.j, self.i)


def decide_pair(i: int, j: int, p_fwd: float | None, p_bwd: float | None, *, both_orders: bool,
                tie_margin: float = 0.05, flip_is_tie: bool = True) -> PairOutcome:
    """Decide one pair from its forward/backward probabilities (``None`` = call failed or
    abstained). With ``both_orders`` a missing order leaves the pair undecided (it is retried on
    the next run) rather than deciding from one position-biased call. With ``flip_is_tie=False``
    a flipped pair is decided by the averaged probability alone (Lee et al. 2023's soft label),
    which is what plain RLAIF does with a strongly position-biased judge."""
    if both_orders and (p_fwd is None or p_bwd is None):
        return PairOutcome(i, j, "undecided", None, None, "a judge call is missing (failed or abstained)")
    p = averaged_preference(p_fwd, p_bwd)
    if p is None:
        return PairOutcome(i, j, "undecided", None, None, "no judge call succeeded")
    flip = flipped(p_fwd, p_bwd)
    if flip and flip_is_tie:
        return PairOutcome(i, j, "tie", p, True, "verdict flips with the order")
    if abs(p - 0.5) < tie_margin:
        return PairOutcome(i, j, "tie", p, flip, f"|P-0.5| < {tie_margin:g}")
    return PairOutcome(i, j, "strict", p, flip, f"P(i>j)={p:.3f}")


def strongly_connected(nodes: Iterable[int], edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Strongly connected components (Tarjan), each sorted; singletons included."""
    nodes = sorted(set(nodes))
    succ: dict[int, list[int]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = [0]

    def visit(v: int) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(sorted(comp))

    for n in nodes:
        if n not in index:
            visit(n)
    return sorted(comps)


@dataclass
class GroupOrder:
    tiers: list[list[int]]
    cycles: list[list[int]]  # strict-preference cycles merged into ties
    unranked: list[int]  # members with no decided pair
    unordered: list[list[int]] = field(default_factory=list)  # in different tiers, no preference


def reachable(edges: Iterable[tuple[int, int]]) -> dict[int, set[int]]:
    """Transitive closure of a DAG's edges: ``out[a]`` = every node a path leads to from ``a``."""
    succ: dict[int, set[int]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)
    out: dict[int, set[int]] = {}

    def visit(n: int) -> set[int]:
        if n not in out:
            out[n] = set()
            for m in succ.get(n, ()):
                out[n] |= {m} | visit(m)
        return out[n]

    for n in list(succ):
        visit(n)
    return out


def order_members(members: list[int], outcomes: Iterable[PairOutcome]) -> GroupOrder:
    """Tiers over ``members`` from their pair outcomes.

    A member is ranked when it is alone or takes part in at least one decided (strict or tie)
    pair. Strict pairs are edges; each strongly connected component (a preference cycle) becomes
    one tie; the condensed acyclic graph is layered by longest path. Two members the layering puts
    on different tiers without a path of strict preferences between them (a judge tie, or no
    decided call) are returned as ``unordered``: layering must never invent a preference.
    No strict, acyclic judge preference is ever reversed.
    """
    members = sorted(members)
    if len(members) <= 1:
        return GroupOrder([members] if members else [], [], [])
    outcomes = [o for o in outcomes if o.i in members and o.j in members]
    decided = {x for o in outcomes if o.status != "undecided" for x in (o.i, o.j)}
    ranked = [m for m in members if m in decided]
    unranked = [m for m in members if m not in decided]
    edges = [bw for o in outcomes if (bw := o.better_worse) is not None and bw[0] in decided]
    comps = strongly_connected(ranked, edges)
    rep = {x: c[0] for c in comps for x in c}
    cond = {(rep[a], rep[b]) for a, b in edges if rep[a] != rep[b]}
    layers = tiers_from_preferences(len(members), cond, ranked=[c[0] for c in comps]) if ranked else []
    by_rep = {c[0]: c for c in comps}
    tiers = [sorted(x for r in layer for x in by_rep[r]) for layer in layers]
    closure = reachable(cond)
    unordered = [[a, b] for t, hi in enumerate(tiers) for lo in tiers[t + 1:] for a in hi for b in lo
                 if rep[b] not in closure.get(rep[a], ())]
    return GroupOrder(tiers, [c for c in comps if len(c) > 1], unranked, unordered)


def flip_rate(pairs: Iterable[tuple[float | None, float | None]]) -> tuple[float | None, int]:
    """Share of pairs judged in both orders whose verdict flips with the order, and that count."""
    flags = [f for f in (flipped(a, b) for a, b in pairs) if f is not None]
    return (sum(flags) / len(flags) if flags else None), len(flags)
