"""Pure label math: pair aggregation, flips, ties, cycles, tiers, hybrid grouping, report metrics."""

from __future__ import annotations

import pytest

from hrlaif.judges.base import JudgeResult
from hrlaif.labeling.order import (averaged_preference, decide_pair, flip_rate, flipped, order_members,
                                   strongly_connected)
from hrlaif.labeling.quality import judge_biases, pair_agreement, read_human_labels, verifier_truth
from hrlaif.labeling.routing import harm_groups, shown_orders, verifier_groups
from hrlaif.verify.base import StepReport, Verdict
from hrlaif.errors import InputError


def test_averaged_preference_and_flip():
    # forward P(i>j)=0.9, backward P(j>i)=0.3 → (0.9 + 0.7)/2 = 0.8
    assert averaged_preference(0.9, 0.3) == pytest.approx(0.8)
    assert averaged_preference(None, 0.3) == pytest.approx(0.7)
    assert averaged_preference(None, None) is None
    assert flipped(0.9, 0.9) is True  # prefers position A both times → the preferred response changes
    assert flipped(0.9, 0.2) is False
    assert flipped(0.5, 0.2) is None
    assert flip_rate([(0.9, 0.9), (0.9, 0.2), (0.1, 0.8), (None, 0.3)]) == (pytest.approx(1 / 3), 3)


def test_decide_pair_ties_and_undecided():
    assert decide_pair(0, 1, 0.9, 0.2, both_orders=True).better_worse == (0, 1)
    assert decide_pair(0, 1, 0.1, 0.8, both_orders=True).better_worse == (1, 0)
    flip = decide_pair(0, 1, 0.9, 0.9, both_orders=True)
    assert flip.status == "tie" and flip.flip
    near = decide_pair(0, 1, 0.52, 0.5, both_orders=True, tie_margin=0.05)
    assert near.status == "tie"
    missing = decide_pair(0, 1, 0.9, None, both_orders=True)
    assert missing.status == "undecided" and missing.better_worse is None
    assert decide_pair(0, 1, None, 0.1, both_orders=False).better_worse == (0, 1)


def test_strongly_connected_finds_cycle():
    comps = strongly_connected([0, 1, 2, 3], [(0, 1), (1, 2), (2, 0), (2, 3)])
    assert [0, 1, 2] in comps and [3] in comps


def _o(i, j, p):
    return decide_pair(i, j, p, 1 - p, both_orders=True)


def test_order_members_total_order_cycle_and_unranked():
    go = order_members([0, 1, 2], [_o(0, 1, 0.9), _o(0, 2, 0.9), _o(1, 2, 0.9)])
    assert go.tiers == [[0], [1], [2]] and not go.cycles
    # cycle 0>1>2>0 becomes one tie; 3 is below all of them
    outs = [_o(0, 1, 0.9), _o(1, 2, 0.9), _o(0, 2, 0.1), _o(0, 3, 0.9), _o(1, 3, 0.9), _o(2, 3, 0.9)]
    go = order_members([0, 1, 2, 3], outs)
    assert go.tiers == [[0, 1, 2], [3]] and go.cycles == [[0, 1, 2]]
    # every call about 2 failed: 2 is unranked, not tied
    outs = [_o(0, 1, 0.1), decide_pair(0, 2, None, None, both_orders=True), decide_pair(1, 2, 0.9, None,
                                                                                          both_orders=True)]
    go = order_members([0, 1, 2], outs)
    assert go.tiers == [[1], [0]] and go.unranked == [2]


def test_shown_orders_single_order_is_seeded_coin():
    assert shown_orders("p", 0, 1, both_orders=True, seed=0) == [(0, 1), (1, 0)]
    firsts = {shown_orders(f"p{n}", 0, 1, both_orders=False, seed=0)[0][0] for n in range(40)}
    assert firsts == {0, 1}  # both positions used
    assert shown_orders("p3", 0, 1, both_orders=False, seed=1) == shown_orders("p3", 0, 1, both_orders=False, seed=1)


def V(c):
    return Verdict(c, None if c is None else "x", "hand-made", verifier="math")


def test_verifier_groups_middle_bottom_and_steps():
    vs = [V(False), V(True), V(None), V(True)]
    assert verifier_groups(vs).groups == [[1, 3], [2], [0]]
    assert verifier_groups(vs, unverifiable="bottom").groups == [[1, 3], [0, 2]]
    steps = [None, StepReport(2, 1, ["2+2=5"]), StepReport(0, 0), StepReport(1, 0)]
    g = verifier_groups(vs, steps)
    assert g.groups == [[3], [1], [2], [0]]  # broken steps below sound; no steps is not penalised
    assert any(d.source == "steps" and d.outcome == "broken steps" and d.items == [1] for d in g.decisions)
    assert verifier_groups([V(None), V(None)]).fallback  # nothing verified → the judge decides


def H(harmful=None, error=None, abstain=False):
    return JudgeResult(judge="j", task="harm", harmful=harmful, error=error, abstain=abstain or error is not None)


def test_harm_unknown_never_safe_and_failed_unranked():
    g = harm_groups([H(True), H(None, abstain=True), H(False), H(error="HTTP 500")], "j")
    assert g.groups == [[2], [1], [0]]
    assert g.unranked == [3]
    assert 1 not in g.groups[0]


def test_report_metrics():
    assert verifier_truth([V(True), V(False), V(None), V(False)]) == [(0, 1), (0, 3)]
    c = pair_agreement([[1], [0, 2]], [(0, 1), (0, 2), (1, 2), (3, 1)])
    assert c == {"agree": 1, "disagree": 1, "tie": 1, "unranked": 1}
    b = judge_biases([(10, 5, 1.0), (5, 10, 1.0), (7, 7, 0.0), (3, 9, 0.5)])
    assert b["p_prefer_first"] == pytest.approx(2 / 3) and b["p_prefer_longer"] == pytest.approx(1 / 2)


def test_read_human_labels(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"prompt_id": "a", "better": 1, "worse": 0}\n{"prompt_id": "b", "tiers": [[2], [0, 1]]}\n')
    assert read_human_labels(p) == {"a": [(1, 0)], "b": [(2, 0), (2, 1)]}
    p.write_text('{"prompt_id": "a", "better": 1, "worse": 1}\n')
    with pytest.raises(InputError, match="line 1|:1:"):
        read_human_labels(p)


def test_flipped_pair_is_tie_unless_soft_labels_requested():
    from hrlaif.labeling.order import decide_pair

    # a position-biased judge: prefers A in both orders, a little more when response 0 is A
    tie = decide_pair(0, 1, 0.9, 0.8, both_orders=True, tie_margin=0.01)
    assert tie.status == "tie" and tie.flip
    soft = decide_pair(0, 1, 0.9, 0.8, both_orders=True, tie_margin=0.01, flip_is_tie=False)
    assert soft.status == "strict" and soft.better_worse == (0, 1)
    assert abs(soft.p - 0.55) < 1e-9  # (0.9 + (1 - 0.8)) / 2
