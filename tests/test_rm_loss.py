"""The K-wise loss equals the pairwise-expanded computation (value and gradients)."""

from __future__ import annotations

import math

import pytest
import torch

from hrlaif.rm.loss import expanded_pair_index, kwise_loss, pair_index, pairwise_accuracy, strict_pairs

# Two prompts: K=4 with a tie in the middle tier, K=3 total order; indices into one flat vector.
BATCH = [[[0], [1, 2], [3]], [[5], [4], [6]]]


def _reference(r: list[torch.Tensor], batch, margin=0.0, center=0.0) -> torch.Tensor:
    """Plain loops: per prompt, mean of −log σ(r_i − r_j − m) over its strict pairs (+ centering)."""
    total = torch.zeros((), dtype=torch.float64)
    for tiers in batch:
        terms = []
        for a in range(len(tiers)):
            for b in range(a + 1, len(tiers)):
                for i in tiers[a]:
                    for j in tiers[b]:
                        terms.append(-torch.log(torch.sigmoid(r[i] - r[j] - margin)))
        if terms:
            total = total + sum(terms) / len(terms)
        members = [i for t in tiers for i in t]
        total = total + center * (sum(r[i] for i in members) / len(members)) ** 2
    return total / len(batch)


@pytest.mark.parametrize("margin,center", [(0.0, 0.0), (0.5, 0.0), (0.3, 0.1)])
def test_kwise_loss_and_grads_equal_pairwise_loops(margin, center):
    g = torch.Generator().manual_seed(1)
    base = torch.randn(7, generator=g, dtype=torch.float64) * 2
    r1 = base.clone().requires_grad_(True)
    loss = kwise_loss(r1, BATCH, margin=margin, center_coef=center)
    loss.backward()
    r2 = base.clone().requires_grad_(True)
    ref = _reference([r2[i] for i in range(7)], BATCH, margin, center)
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12, abs=1e-12)
    assert torch.allclose(r1.grad, r2.grad, atol=1e-12)
    assert r1.grad.abs().sum() > 0


def test_hand_computed_value_and_tie_adds_nothing():
    # prompt A: tiers [[0],[1]] r=(1, 0) → −log σ(1); prompt B: all tied → no pair term
    r = torch.tensor([1.0, 0.0, 5.0, -5.0], dtype=torch.float64)
    loss = kwise_loss(r, [[[0], [1]], [[2, 3]]])
    assert loss.item() == pytest.approx(math.log1p(math.exp(-1.0)) / 2)
    # making the tied responses differ does not change the loss
    r2 = r.clone()
    r2[2], r2[3] = -7.0, 9.0
    assert kwise_loss(r2, [[[0], [1]], [[2, 3]]]).item() == pytest.approx(loss.item())


def test_per_prompt_normalisation():
    """A prompt with many pairs weighs as much as a prompt with one pair."""
    r = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    # prompt 0: one wrong-way pair (0 ≻ 1); prompt 1: 4 responses in 4 tiers (6 pairs), all zero
    loss = kwise_loss(r, [[[0], [1]], [[2], [3], [4], [5]]])
    expected = (math.log1p(math.exp(1.0)) + math.log(2.0)) / 2
    assert loss.item() == pytest.approx(expected)


def test_expanded_layout_gives_the_same_loss_and_grads():
    g = torch.Generator().manual_seed(2)
    base = torch.randn(7, generator=g, dtype=torch.float64)
    r = base.clone().requires_grad_(True)
    kwise_loss(r, BATCH, margin=0.2).backward()
    sources, idx = expanded_pair_index(BATCH)
    # 5 + 3 strict pairs → 16 encodings instead of 7
    assert len(sources) == 2 * (len(strict_pairs(BATCH[0])) + len(strict_pairs(BATCH[1]))) == 16
    r2 = base.clone().requires_grad_(True)
    expanded = r2[torch.tensor(sources)]
    loss2 = kwise_loss(expanded, idx, margin=0.2)
    loss2.backward()
    assert loss2.item() == pytest.approx(kwise_loss(base, BATCH, margin=0.2).item(), rel=1e-12)
    assert torch.allclose(r.grad, r2.grad, atol=1e-12)


def test_normalizer_splits_a_batch_exactly():
    """Two halves with normalizer = P/2 each, averaged (as DDP does), equal the whole batch."""
    base = torch.randn(7, dtype=torch.float64)
    whole = kwise_loss(base, BATCH)
    half0 = kwise_loss(base, BATCH[:1], normalizer=1.0)
    half1 = kwise_loss(base, BATCH[1:], normalizer=1.0)
    assert ((half0 + half1) / 2).item() == pytest.approx(whole.item(), rel=1e-12)


def test_large_reward_gaps_stay_finite():
    r = torch.tensor([-1e4, 1e4], requires_grad=True)
    loss = kwise_loss(r, [[[0], [1]]])
    loss.backward()
    assert torch.isfinite(loss) and loss.item() == pytest.approx(2e4)
    assert torch.isfinite(r.grad).all()


def test_pair_index_and_accuracy():
    idx = pair_index(BATCH)
    assert idx.better.tolist() == [0, 0, 0, 1, 2, 5, 5, 4]
    assert idx.worse.tolist() == [1, 2, 3, 3, 3, 4, 6, 6]
    assert idx.weight.tolist() == pytest.approx([0.2] * 5 + [1 / 3] * 3)
    hit, n = pairwise_accuracy([3.0, 1.0, 1.0, 2.0], [[0], [1, 2], [3]])
    assert (hit, n) == (3.0, 5)  # 0≻1, 0≻2, 0≻3 right; 1≻3, 2≻3 wrong
    assert pairwise_accuracy([1.0, 1.0], [[0], [1]]) == (0.5, 1)
