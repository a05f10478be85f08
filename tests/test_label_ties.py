"""Ties stay ties, the verifier's order stands, hedges rank with wrong answers (issue 11 defects)."""

from __future__ import annotations

from hrlaif.data import Message, Prompt, Ranking, strict_pairs
from hrlaif.labeling.order import PairOutcome, order_members
from hrlaif.labeling.quality import pair_agreement
from hrlaif.labeling.routing import assemble, verifier_groups
from hrlaif.rm.data import RMExample, collate
from hrlaif.rm.loss import pairwise_accuracy
from hrlaif.verify.base import Verdict


def _strict(i, j, p):
    return PairOutcome(i, j, "strict", p, False, "")


def _tie(i, j):
    return PairOutcome(i, j, "tie", 0.5, None, "")


def test_layering_does_not_invent_a_preference():
    # 0 ≻ 1, and the judge tied 2 with both: the only preference is 0 ≻ 1.
    go = order_members([0, 1, 2], [_strict(0, 1, 0.9), _tie(0, 2), _tie(1, 2)])
    r = Ranking("p", "open_ended", Prompt("p", "open_ended", [Message("user", "q")]), ["a", "b", "c"], go.tiers,
                unordered=go.unordered)
    assert r.pairs() == [(0, 1)]
    # Table 1 counts a truth pair the judge declined to order as a tie, not an agreement
    assert pair_agreement(r.tiers, [(0, 2)], r.unordered) == {"agree": 0, "disagree": 0, "tie": 1, "unranked": 0}


def test_a_chain_keeps_its_transitive_pairs():
    go = order_members([0, 1, 2], [_strict(0, 1, 0.9), _strict(1, 2, 0.8), _tie(0, 2)])
    assert go.tiers == [[0], [1], [2]]
    assert go.unordered == []  # 0 ≻ 2 follows from 0 ≻ 1 ≻ 2


def test_reward_model_pairs_skip_unordered():
    ex = RMExample("p", "open_ended", [[1, 2], [3, 4], [5, 6]], [[0], [1, 2]], 0, [[0, 2]])
    assert ex.n_pairs == 1
    b = collate([ex], pad_id=0)
    assert b["unordered"] == [[[0, 2]]]
    assert pairwise_accuracy([0.0, 1.0, -5.0], ex.tiers, ex.unordered) == (0.0, 1)  # only 0 ≻ 1 counts
    assert strict_pairs([[0], [1, 2]], [[2, 0]]) == [(0, 1)]


def test_failed_judge_call_inside_a_group_keeps_the_verifier_order():
    # responses 0 and 1 verified correct, 2 incorrect; the one call between 0 and 1 failed for good
    g = verifier_groups([Verdict(True, "8", "", "math"), Verdict(True, "8", "", "math"),
                         Verdict(False, "9", "", "math")])
    assert g.groups == [[0, 1], [2]]
    undecided = PairOutcome(0, 1, "undecided", None, None, "a judge call is missing")
    asm = assemble(g.groups, [undecided])
    r = Ranking("p", "math", Prompt("p", "math", [Message("user", "q")], reference="8"), ["a", "b", "c"], asm.tiers,
                unordered=asm.unordered)
    assert sorted(r.pairs()) == [(0, 2), (1, 2)]  # correct ≻ incorrect stands, 0 vs 1 is not invented
    assert asm.unranked == []


def test_basic_mode_failed_calls_stay_unranked():
    asm = assemble([[0, 1, 2]], [_strict(0, 1, 0.9), PairOutcome(0, 2, "undecided", None, None, ""),
                                 PairOutcome(1, 2, "undecided", None, None, "")])
    assert asm.unranked == [2] and asm.tiers == [[0], [1]]


def test_hedged_ranks_with_incorrect_by_default():
    hedge = Verdict(None, "12 or 13", "hedged", "math", hedged=True)
    unknown = Verdict(None, None, "no final answer", "math")
    wrong = Verdict(False, "9", "", "math")
    right = Verdict(True, "8", "", "math")
    g = verifier_groups([right, hedge, wrong, unknown])
    assert g.groups == [[0], [3], [1, 2]]  # correct ≻ unverifiable ≻ incorrect ∪ hedged
    g_old = verifier_groups([right, hedge, wrong, unknown], hedged="unverifiable")
    assert g_old.groups == [[0], [1, 3], [2]]
    assert [d.outcome for d in g.decisions] == ["correct", "hedged", "incorrect", "unverifiable"]
