"""Category routing: which judge calls a ResponseSet needs, and how verdicts become tiers.

Basic mode (plain RLAIF): the judge compares every pair of the K responses; the pairs are
aggregated into tiers by :mod:`hrlaif.labeling.order`.

Hybrid mode splits the K responses into ordered *groups* first and lets the judge order
responses only inside a group:

* verifiable categories (math, multiple choice, code) with a reference:
  ``correct ≻ unverifiable ≻ incorrect`` (``--unverifiable middle``, default) or
  ``correct ≻ incorrect ∪ unverifiable`` (``--unverifiable bottom``). A response is
  *unverifiable* when its verifier returns ``correct=None`` (no answer found, ambiguous choice,
  sandbox unavailable): we do not know it is right, and we do not know it is wrong.
  In math, reasoning steps then split each group: a response whose recomputed steps are wrong
  (``a op b = c`` false) goes below the rest of its group; responses without checkable steps
  are not penalised (a terse correct answer is still correct).
  When no response could be verified, the whole set falls back to the judge.
* harmlessness: the judge's harm check on each response gives
  ``harmless ≻ unknown ≻ harmful`` (an abstained check is *unknown*, never safe; a failed
  check leaves the response unranked until a rerun retries it); inside each group the judge
  compares pairs under the harmlessness rubric.
* every other category: the judge alone (as in basic mode).

Every ordering decision keeps its provenance as a :class:`hrlaif.data.Decision`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Literal

from hrlaif.data import CATEGORIES, Decision, ResponseSet
from hrlaif.labeling.order import GroupOrder, PairOutcome, decide_pair, order_members

Unverifiable = Literal["middle", "bottom"]
RAW_LIMIT = 4000  # characters of raw judge output kept in a Decision


def rubric_for(category: str) -> str:
    return "harmlessness" if category == "harmlessness" else "helpfulness"


def verifier_name(rs: ResponseSet) -> str | None:
    """The verifier that can decide this prompt, or None (no verifier or no reference)."""
    info = CATEGORIES.get(rs.prompt.category)
    if info is None or info.verifier is None or rs.prompt.reference in (None, ""):
        return None
    return info.verifier


def shown_orders(prompt_id: str, i: int, j: int, *, both_orders: bool, seed: int) -> list[tuple[int, int]]:
    """The orders in which pair ``(i, j)`` is shown: both, or one chosen by a seeded coin flip
    (so single-order labeling has no systematic position bias)."""
    if both_orders:
        return [(i, j), (j, i)]
    h = hashlib.sha256(f"{prompt_id}\x00{i}\x00{j}\x00{seed}".encode()).digest()[0]
    return [(i, j)] if h % 2 == 0 else [(j, i)]


def group_pairs(groups: list[list[int]]) -> list[tuple[int, int]]:
    """Every pair ``(i, j)``, ``i < j``, that lies inside one group."""
    return [p for g in groups for p in combinations(sorted(g), 2)]


@dataclass
class Grouping:
    """Hybrid groups (best first) with the decisions that made them."""

    groups: list[list[int]]
    decisions: list[Decision] = field(default_factory=list)
    unranked: list[int] = field(default_factory=list)
    fallback: str | None = None  # why the judge alone decides, when it does


Hedged = Literal["incorrect", "unverifiable"]


def _verdict_outcome(v: Any) -> str:
    if v is None or v.correct is None:
        return "hedged" if getattr(v, "hedged", False) else "unverifiable"
    return "correct" if v.correct else "incorrect"


def verifier_groups(verdicts: list[Any], steps: list[Any] | None = None, *,
                    unverifiable: Unverifiable = "middle", hedged: Hedged = "incorrect",
                    verifier: str = "verifier") -> Grouping:
    """Groups from verifier verdicts (``Verdict`` or None per response) and optional math
    ``StepReport`` per response. Falls back to one group when nothing could be verified.

    A hedged response (several answers offered, none committed) ranks with the incorrect ones by
    default (``hedged="incorrect"``): otherwise the reward model learns that hedging beats
    committing to an answer. ``hedged="unverifiable"`` restores the older behaviour."""
    k = len(verdicts)
    outcome = [_verdict_outcome(v) for v in verdicts]
    decision_outcome = list(outcome)
    outcome = [("incorrect" if hedged == "incorrect" else "unverifiable") if o == "hedged" else o
               for o in outcome]
    decisions = [Decision("verifier", getattr(v, "verifier", None) or verifier, [i], decision_outcome[i],
                          {"extracted": getattr(v, "extracted", None),
                           "reason": getattr(v, "reason", "no verdict")})
                 for i, v in enumerate(verdicts)]
    if all(o == "unverifiable" for o in outcome):
        return Grouping([list(range(k))] if k else [], decisions, fallback="no response could be verified")
    correct = [i for i in range(k) if outcome[i] == "correct"]
    unknown = [i for i in range(k) if outcome[i] == "unverifiable"]
    wrong = [i for i in range(k) if outcome[i] == "incorrect"]
    groups = [correct, unknown, wrong] if unverifiable == "middle" else [correct, sorted(wrong + unknown)]
    groups = [g for g in groups if g]
    if steps is not None:
        split: list[list[int]] = []
        for g in groups:
            broken = [i for i in g if steps[i] is not None and steps[i].sound is False]
            rest = [i for i in g if i not in broken]
            for i in g:
                s = steps[i]
                if s is not None and s.n_steps:
                    decisions.append(Decision("verifier", "steps", [i], "broken steps" if s.sound is False
                                              else "sound steps", {"n_steps": s.n_steps, "n_wrong": s.n_wrong,
                                                                   "wrong": list(s.wrong)[:10]}))
            split.extend(x for x in (rest, broken) if x)
        groups = split
    return Grouping(groups, decisions)


def harm_status(result: Any) -> str:
    """'harmless', 'harmful', 'unknown' (abstained / no verdict) or 'failed' (retry next run)."""
    if result is None or result.error is not None:
        return "failed"
    if result.abstain or result.harmful is None:
        return "unknown"
    return "harmful" if result.harmful else "harmless"


def harm_groups(results: list[Any], judge: str) -> Grouping:
    """``harmless ≻ unknown ≻ harmful`` from one harm-check result per response; failed checks
    leave their response unranked (unknown is never ranked with the safe ones)."""
    status = [harm_status(r) for r in results]
    decisions = []
    for i, (r, s) in enumerate(zip(results, status)):
        if r is None:
            continue
        detail = {"harm_category": r.harm_category, "severity": r.severity, "rationale": r.rationale[:RAW_LIMIT],
                  "raw": r.raw[:RAW_LIMIT], "reason": r.error or r.abstain_reason, **_costs(r)}
        decisions.append(Decision("harm_check", r.judge or judge, [i], s, detail))
    groups = [[i for i, s in enumerate(status) if s == want] for want in ("harmless", "unknown", "harmful")]
    return Grouping([g for g in groups if g], decisions, unranked=[i for i, s in enumerate(status) if s == "failed"])


def _costs(r: Any) -> dict:
    return {"prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
            "cost_usd": r.cost_usd, "latency_s": r.latency_s, "attempts": r.attempts}


def _preference(r: Any) -> float | None:
    return None if r is None or not r.ok or r.preference is None else float(r.preference)


def pair_outcomes(pairs: list[tuple[int, int]], results: dict[tuple[int, int], Any], *, judge: str,
                  both_orders: bool, tie_margin: float, flip_is_tie: bool = True
                  ) -> tuple[list[PairOutcome], list[Decision]]:
    """Aggregate the judge results of each pair. ``results[(a, b)]`` is the result of the call
    that showed ``a`` as A and ``b`` as B (missing when not made)."""
    outcomes, decisions = [], []
    for i, j in pairs:
        fwd, bwd = results.get((i, j)), results.get((j, i))
        if not both_orders and fwd is None and bwd is None:
            continue
        o = decide_pair(i, j, _preference(fwd), _preference(bwd), both_orders=both_orders, tie_margin=tie_margin,
                        flip_is_tie=flip_is_tie)
        outcomes.append(o)
        bw = o.better_worse
        label = f"{bw[0]}>{bw[1]}" if bw else o.status
        calls = []
        for (a, b), r in (((i, j), fwd), ((j, i), bwd)):
            if r is not None:
                calls.append({"shown": [a, b], "preference": r.preference, "ok": r.ok,
                              "reason": r.error or r.abstain_reason, "rationale": r.rationale[:RAW_LIMIT],
                              "raw": r.raw[:RAW_LIMIT], **_costs(r)})
        src = next((r.judge for r in (fwd, bwd) if r is not None and r.judge), judge)
        decisions.append(Decision("judge", src, [i, j], label,
                                  {"p": o.p, "flip": o.flip, "reason": o.reason, "calls": calls}))
    return outcomes, decisions


@dataclass
class Assembled:
    tiers: list[list[int]]
    decisions: list[Decision]
    unranked: list[int]
    unordered: list[list[int]]


def assemble(groups: list[list[int]], outcomes: list[PairOutcome]) -> Assembled:
    """Concatenate the judge's order inside each group, best group first.

    The order between groups (the verifier's or the harm check's) stands whatever the judge does
    inside a group: with several groups, a member the judge left undecided (every call about it
    failed) is still placed in its group, unordered with respect to its group mates. Alone in
    one group (basic mode) such a member stays unranked: nothing orders it."""
    tiers: list[list[int]] = []
    decisions: list[Decision] = []
    unranked: list[int] = []
    unordered: list[list[int]] = []
    several = len(groups) > 1
    for g in groups:
        go: GroupOrder = order_members(g, outcomes)
        group_tiers = [list(t) for t in go.tiers]
        unordered.extend(go.unordered)
        if several and go.unranked:
            if group_tiers:
                group_tiers[0] = sorted(group_tiers[0] + go.unranked)
            else:
                group_tiers = [sorted(go.unranked)]
            mates = [x for t in group_tiers for x in t]
            unordered.extend([[u, m] for u in go.unranked for m in mates
                              if m != u and m not in group_tiers[0]])
        else:
            unranked.extend(go.unranked)
        tiers.extend(group_tiers)
        for c in go.cycles:
            decisions.append(Decision("rule", "cycle", c, "tie", {"reason": "judge preferences form a cycle"}))
    return Assembled(tiers, decisions, sorted(unranked), unordered)
