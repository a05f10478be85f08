"""PPO math on tiny hand-made tensors: every expected value is worked out by hand or by a plain loop."""

from __future__ import annotations

import math

import pytest
import torch

from hrlaif.ppo import core


def _gae_loop(rewards, values, length, gamma, lam):
    """The textbook recursion, one sequence at a time, in plain Python floats."""
    adv = [0.0] * length
    last = 0.0
    for t in reversed(range(length)):
        v_next = values[t + 1] if t + 1 < length else 0.0
        delta = rewards[t] + gamma * v_next - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv, [a + v for a, v in zip(adv, values)]


def test_gae_matches_plain_loop_on_ragged_batch():
    g = torch.Generator().manual_seed(0)
    B, T = 4, 7
    rewards = torch.randn(B, T, generator=g, dtype=torch.float64)
    values = torch.randn(B, T, generator=g, dtype=torch.float64)
    lengths = [7, 3, 1, 5]
    mask = torch.zeros(B, T, dtype=torch.float64)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    for gamma, lam in [(1.0, 0.95), (0.9, 0.5), (0.99, 1.0), (1.0, 0.0)]:
        adv, ret = core.gae(rewards * mask, values, mask, gamma=gamma, lam=lam)
        for i, n in enumerate(lengths):
            exp_adv, exp_ret = _gae_loop(rewards[i, :n].tolist(), values[i, :n].tolist(), n, gamma, lam)
            assert adv[i, :n].tolist() == pytest.approx(exp_adv, abs=1e-12)
            assert ret[i, :n].tolist() == pytest.approx(exp_ret, abs=1e-12)
            assert adv[i, n:].abs().sum() == 0 and ret[i, n:].abs().sum() == 0


def test_gae_by_hand():
    # two tokens, γ=1, λ=0.5: δ1 = 2 − 1 = 1; δ0 = 0 + 1 − 0.5 = 0.5; Â0 = 0.5 + 0.5·1 = 1.0
    adv, ret = core.gae(torch.tensor([[0.0, 2.0]]), torch.tensor([[0.5, 1.0]]), torch.ones(1, 2), gamma=1.0, lam=0.5)
    assert adv.tolist() == [[1.0, 1.0]]
    assert ret.tolist() == [[1.5, 2.0]]


def test_kl_estimators():
    logp = torch.tensor([math.log(0.5), math.log(0.2)])
    ref = torch.tensor([math.log(0.25), math.log(0.4)])
    assert core.kl_k1(logp, ref).tolist() == pytest.approx([math.log(2), math.log(0.5)])
    # k3 = r − 1 − log r with r = ref/p: r = 0.5 → 0.5 − 1 + log 2; r = 2 → 1 − log 2
    assert core.kl_k3(logp, ref).tolist() == pytest.approx([-0.5 + math.log(2), 1 - math.log(2)])
    assert (core.kl_k3(torch.randn(100), torch.randn(100)) >= 0).all()
    assert core.kl_estimate(logp, logp, "k3").abs().max() == 0
    with pytest.raises(ValueError):
        core.kl_estimate(logp, ref, "k2")  # type: ignore[arg-type]


def test_kl_estimators_are_unbiased_for_categorical():
    p = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    q = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    exact = float((p * (p / q).log()).sum())
    lp, lq = p.log(), q.log()
    # expectation under p, computed exactly by summing over the support
    assert float((p * core.kl_k1(lp, lq)).sum()) == pytest.approx(exact)
    assert float((p * core.kl_k3(lp, lq)).sum()) == pytest.approx(exact)


def test_token_rewards_put_score_on_last_token():
    kl = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    r = core.token_rewards(torch.tensor([2.0, -1.0]), kl, mask, beta=0.5)
    assert r.flatten().tolist() == pytest.approx([-0.05, -0.1, 2.0 - 0.15, -1.0 - 0.2, 0.0, 0.0])


def test_whiten():
    x = torch.tensor([[1.0, 2.0, 3.0, 99.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    w = core.whiten(x, mask)
    assert w.tolist()[0] == pytest.approx([-1.0, 0.0, 1.0, 0.0], abs=1e-6)  # sample std of 1,2,3 is 1
    w2 = core.whiten(x, mask, shift_mean=False)
    assert w2.tolist()[0][:3] == pytest.approx([1.0, 2.0, 3.0], abs=1e-6)


def test_policy_loss_clips_and_counts():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.5, 0.9, 1.0]]))  # ratios 1.5, 0.9, 1.0
    adv = torch.tensor([[1.0, -2.0, 3.0]])
    out = core.policy_loss(logp, old, adv, torch.ones(1, 3), clip=0.2)
    # token 0: max(−1.5, −1.2) = −1.2; token 1: max(1.8, 1.8) = 1.8; token 2: −3
    assert float(out.loss) == pytest.approx((-1.2 + 1.8 - 3.0) / 3)
    assert float(out.clipfrac) == pytest.approx(1 / 3)
    exp_kl = ((0.5 - math.log(1.5)) + (-0.1 - math.log(0.9))) / 3
    assert float(out.approx_kl) == pytest.approx(exp_kl, rel=1e-5)
    # the gradient of a clipped token is zero
    logp.requires_grad_(True)
    core.policy_loss(logp, old, adv, torch.ones(1, 3), clip=0.2).loss.backward()
    assert logp.grad[0, 0] == 0 and logp.grad[0, 2] != 0


def test_value_loss_clipped():
    v, old, ret = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 1.0]])
    loss, frac = core.value_loss(v, old, ret, torch.ones(1, 2), clip=0.5)
    # token 0: max((1−2)², (0.5−2)²) = 2.25; token 1: max(1, 1) = 1 → ½·mean = 0.8125
    assert float(loss) == pytest.approx(0.8125)
    assert float(frac) == pytest.approx(0.5)
    plain, _ = core.value_loss(v, old, ret, torch.ones(1, 2), clip=None)
    assert float(plain) == pytest.approx(0.5)


def test_entropy_and_logprobs():
    z = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]])
    h = core.entropy_from_logits(z)
    assert h.tolist() == pytest.approx([math.log(4), 0.0], abs=1e-6)
    lp = core.logprobs_from_logits(z, torch.tensor([2, 0]))
    assert lp.tolist() == pytest.approx([-math.log(4), 0.0], abs=1e-6)


def test_explained_variance():
    ret = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    m = torch.ones(1, 4)
    assert core.explained_variance(ret, ret, m) == pytest.approx(1.0)
    assert core.explained_variance(torch.full_like(ret, 2.5), ret, m) == pytest.approx(0.0)
    assert core.explained_variance(-ret, ret, m) < 0
    assert math.isnan(core.explained_variance(ret, torch.ones(1, 4), m))


def test_adaptive_kl_controller():
    c = core.AdaptiveKLController(0.1, target=1.0, horizon=100)
    c.update(3.0, n_steps=10)  # error clipped to 0.2 → β·(1 + 0.2·0.1)
    assert c.value == pytest.approx(0.1 * 1.02)
    c.update(0.5, n_steps=10)  # error −0.5 → clipped −0.2
    assert c.value == pytest.approx(0.1 * 1.02 * 0.98)
    f = core.FixedKLController(0.3)
    f.update(100.0, 10)
    assert f.value == 0.3
    c2 = core.AdaptiveKLController(1.0, target=1.0, horizon=100)
    c2.load_state_dict(c.state_dict())
    assert c2.value == c.value
