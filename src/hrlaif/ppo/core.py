"""PPO math, written once: KL estimators, per-token rewards, GAE, whitening, the clipped losses,
entropy, explained variance and the KL coefficient controllers.

Every function is pure (tensors in, tensors out) and works on right-padded ``[B, T]`` batches
with a 0/1 ``mask`` marking the response tokens that count. Notation follows Schulman et al.
(2017, PPO, arXiv 1707.06347) and Ziegler et al. (2019, arXiv 1909.08593):

* ``logp``      log π_θ(a_t | s_t), the policy's log-probability of the sampled token;
* ``ref_logp``  log π_ref(a_t | s_t) under the frozen SFT policy;
* ``values``    V_φ(s_t), the critic's estimate before token t is emitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

KLEstimator = Literal["k1", "k3"]


# --------------------------------------------------------------------------- masked statistics


def masked_sum(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Σ_t x_t·m_t (over ``dim`` or everything)."""
    return (x * mask).sum() if dim is None else (x * mask).sum(dim)


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Σ x·m / Σ m  (0 when the mask is empty)."""
    if dim is None:
        return masked_sum(x, mask) / mask.sum().clamp(min=1)
    return masked_sum(x, mask, dim) / mask.sum(dim).clamp(min=1)


def masked_var(x: Tensor, mask: Tensor, *, unbiased: bool = True) -> Tensor:
    """Var[x] over the masked entries: Σ m(x − μ)² / (Σm − 1) (Bessel-corrected when ``unbiased``)."""
    mu = masked_mean(x, mask)
    n = mask.sum()
    ss = masked_sum((x - mu) ** 2, mask)
    if unbiased:
        return ss / (n - 1).clamp(min=1)
    return ss / n.clamp(min=1)


def whiten(x: Tensor, mask: Tensor, *, shift_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """Advantage whitening: x̂ = (x − μ)/√(σ² + ε) over masked entries; with ``shift_mean=False``
    the mean is added back (x̂ + μ), so only the scale changes. Masked-out entries become 0."""
    mu, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mu) * torch.rsqrt(var + eps)
    if not shift_mean:
        out = out + mu
    return out * mask


# --------------------------------------------------------------------------- KL estimators


def kl_k1(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k1 = log π(a)/π_ref(a) = logp − ref_logp. Unbiased for KL(π‖π_ref) with a ~ π; can be < 0
    per sample (Schulman 2020, "Approximating KL divergence")."""
    return logp - ref_logp


def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k3 = (r − 1) − log r with r = π_ref(a)/π(a), i.e. exp(ref_logp − logp) − 1 − (ref_logp − logp).
    Unbiased for KL(π‖π_ref) with a ~ π, always ≥ 0, lower variance than k1 when π ≈ π_ref."""
    log_r = ref_logp - logp
    return torch.expm1(log_r) - log_r


def kl_estimate(logp: Tensor, ref_logp: Tensor, estimator: KLEstimator = "k1") -> Tensor:
    """Per-token KL estimate by name (``k1`` or ``k3``)."""
    if estimator == "k1":
        return kl_k1(logp, ref_logp)
    if estimator == "k3":
        return kl_k3(logp, ref_logp)
    raise ValueError(f"unknown KL estimator {estimator!r} (k1 or k3)")


# --------------------------------------------------------------------------- rewards and advantages


def last_token_index(mask: Tensor) -> Tensor:
    """Index of the last 1 in each row of a right-padded mask (0 for an empty row)."""
    T = mask.shape[1]
    idx = torch.arange(T, device=mask.device).expand_as(mask)
    return torch.where(mask.bool(), idx, torch.zeros_like(idx)).max(dim=1).values


def token_rewards(scores: Tensor, kl: Tensor, mask: Tensor, beta: float) -> Tensor:
    """Per-token reward (Ziegler et al. 2019, eq. 2): r_t = −β·KL_t for every response token, plus
    the sequence score R(x, y) on the last response token:  r_T += R.  ``scores`` is ``[B]``."""
    r = -beta * kl * mask
    last = last_token_index(mask)
    bonus = torch.zeros_like(r)
    bonus[torch.arange(r.shape[0], device=r.device), last] = scores.to(r.dtype)
    return r + bonus * (mask.sum(1, keepdim=True) > 0)


def gae(rewards: Tensor, values: Tensor, mask: Tensor, *, gamma: float = 1.0, lam: float = 0.95
        ) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016, arXiv 1506.02438, eq. 16):

        δ_t = r_t + γ·V(s_{t+1})·m_{t+1} − V(s_t)
        Â_t = δ_t + γλ·m_{t+1}·Â_{t+1}          (Â = 0 past the end of the response)
        R̂_t = Â_t + V(s_t)                      (the value target)

    Returns ``(advantages, returns)``, both zero where ``mask`` is 0."""
    B, T = rewards.shape
    adv = torch.zeros_like(rewards)
    last = torch.zeros(B, dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(T)):
        if t + 1 < T:
            m_next, v_next = mask[:, t + 1], values[:, t + 1]
        else:
            m_next = v_next = torch.zeros_like(last)
        delta = rewards[:, t] + gamma * v_next * m_next - values[:, t]
        last = delta + gamma * lam * m_next * last
        adv[:, t] = last * mask[:, t]
    return adv, (adv + values) * mask


# --------------------------------------------------------------------------- losses


@dataclass
class PolicyLossOut:
    loss: Tensor
    clipfrac: Tensor
    approx_kl: Tensor
    ratio_mean: Tensor


def policy_loss(logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, *, clip: float = 0.2
                ) -> PolicyLossOut:
    """Clipped surrogate (PPO, eq. 7), as a loss to minimise, averaged over masked tokens:

        ρ_t = exp(logp − old_logp)
        L = E_t[ max(−Â_t·ρ_t, −Â_t·clip(ρ_t, 1−ε, 1+ε)) ]

    Also returns ``clipfrac`` = E[|ρ−1| > ε] and ``approx_kl`` = E[(ρ − 1) − log ρ] (k3 of the old
    policy against the new one; Schulman 2020)."""
    log_ratio = logp - old_logp
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        clipfrac = masked_mean(((ratio - 1.0).abs() > clip).to(logp.dtype), mask)
        approx_kl = masked_mean(torch.expm1(log_ratio) - log_ratio, mask)
        ratio_mean = masked_mean(ratio, mask)
    return PolicyLossOut(loss, clipfrac, approx_kl, ratio_mean)


def value_loss(values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, *, clip: float | None = 0.2
               ) -> tuple[Tensor, Tensor]:
    """Clipped value loss (as in OpenAI baselines' PPO2):

        V_clip = old_V + clip(V − old_V, −ε, ε)
        L_V = ½·E_t[ max((V − R̂)², (V_clip − R̂)²) ]

    With ``clip=None`` it is the plain ½·E[(V − R̂)²]. Returns ``(loss, vf_clipfrac)``."""
    err = (values - returns) ** 2
    if clip is None:
        return 0.5 * masked_mean(err, mask), torch.zeros((), dtype=values.dtype, device=values.device)
    v_clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    err_clipped = (v_clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(err, err_clipped), mask)
    with torch.no_grad():
        frac = masked_mean((err_clipped > err).to(values.dtype), mask)
    return loss, frac


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of softmax(z) over the last axis: H = logsumexp(z) − Σ_i softmax(z)_i·z_i."""
    p = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (p * logits).sum(-1)


def logprobs_from_logits(logits: Tensor, tokens: Tensor) -> Tensor:
    """log softmax(z)[a] for each position: z_a − logsumexp(z)."""
    return torch.gather(logits, -1, tokens.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def explained_variance(values: Tensor, returns: Tensor, mask: Tensor) -> float:
    """EV = 1 − Var[R̂ − V]/Var[R̂] over masked tokens (1: perfect critic, 0: no better than a
    constant, < 0: worse). NaN when the returns have zero variance."""
    var_r = masked_var(returns, mask)
    if float(var_r) == 0.0:
        return float("nan")
    return float(1.0 - masked_var(returns - values, mask) / var_r)


# --------------------------------------------------------------------------- KL coefficient


class FixedKLController:
    """β stays at its initial value."""

    def __init__(self, beta: float):
        self.value = float(beta)

    def update(self, current_kl: float, n_steps: int) -> None:  # noqa: ARG002 - same interface
        return None

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, d: dict) -> None:
        self.value = float(d["value"])


class AdaptiveKLController(FixedKLController):
    """Proportional β controller (Ziegler et al. 2019, §2.2):

        e_t = clip(KL_t / KL_target − 1, −0.2, 0.2)
        β_{t+1} = β_t·(1 + K_β·e_t),   K_β = n_steps / horizon
    """

    def __init__(self, beta: float, target: float, horizon: float):
        super().__init__(beta)
        if target <= 0 or horizon <= 0:
            raise ValueError("adaptive KL needs target > 0 and horizon > 0")
        self.target, self.horizon = float(target), float(horizon)

    def update(self, current_kl: float, n_steps: int) -> None:
        if not math.isfinite(current_kl):
            return
        err = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + err * n_steps / self.horizon
