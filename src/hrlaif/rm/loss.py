"""The K-wise reward-model loss over partial orders, and pairwise accuracy.

Pure functions over a flat reward vector ``r`` (one entry per encoded response of a batch)
and, per prompt, its ``tiers`` given as indices into ``r`` (best tier first; a tier holds ties).
Nothing here touches a model: the tests check them on hand-made tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from hrlaif.data import strict_pairs

Tiers = Sequence[Sequence[int]]


@dataclass
class PairIndex:
    """Every strictly ordered pair of a batch, flattened: ``better[n] ≻ worse[n]`` belongs to
    prompt ``prompt[n]``; ``weight[n] = 1 / |S_p|`` (the prompt's number of strict pairs)."""

    better: Any  # LongTensor[M]
    worse: Any  # LongTensor[M]
    prompt: Any  # LongTensor[M]
    weight: Any  # FloatTensor[M]
    n_prompts: int


Unordered = Sequence[Sequence[int]]


def pair_index(batch_tiers: Sequence[Tiers], *, device: Any = None,
               batch_unordered: Sequence[Unordered] | None = None) -> PairIndex:
    """Flatten the strict pairs of every prompt of a batch into index tensors (see ``PairIndex``).
    ``batch_unordered`` (per prompt, pairs in different tiers that carry no preference) are left
    out. A prompt with no strict pair (all tied) gets no entry; it still counts in ``n_prompts``."""
    import torch

    better, worse, prompt, weight = [], [], [], []
    for p, tiers in enumerate(batch_tiers):
        pairs = strict_pairs(tiers, batch_unordered[p] if batch_unordered else ())
        for i, j in pairs:
            better.append(i)
            worse.append(j)
            prompt.append(p)
            weight.append(1.0 / len(pairs))
    return PairIndex(torch.tensor(better, dtype=torch.long, device=device),
                     torch.tensor(worse, dtype=torch.long, device=device),
                     torch.tensor(prompt, dtype=torch.long, device=device),
                     torch.tensor(weight, dtype=torch.float64, device=device), len(batch_tiers))


def kwise_loss(rewards: Any, batch_tiers: Sequence[Tiers] | PairIndex, *, margin: float = 0.0,
               center_coef: float = 0.0, normalizer: float | None = None,
               batch_unordered: Sequence[Unordered] | None = None) -> Any:
    r"""K-wise Bradley-Terry loss on partial orders, one reward per response.

    For prompts p = 1..P, each with strict pairs S_p = {(i, j) : i ≻ j} (ties add none) and
    ranked responses R_p:

        L = 1/N · Σ_p [ 1/|S_p| · Σ_{(i,j)∈S_p} −log σ(r_i − r_j − m)  +  λ · (1/|R_p| Σ_{k∈R_p} r_k)² ]

    with margin m (``margin``), centering weight λ (``center_coef``) and N = P unless
    ``normalizer`` says otherwise. A data-parallel rank, or one micro-batch of an accumulated
    step, holds only part of the optimizer step's P_step prompts; it passes
    N = P_step / world_size, so that summing over micro-batches and averaging over ranks gives
    exactly the gradient of the whole step's batch.
    A prompt with |S_p| = 0 contributes only its centering term. −log σ(x) is computed as
    softplus(−x), which is finite for any finite x.

    ``batch_tiers`` holds, per prompt, its tiers as indices into ``rewards``; or a ready
    ``PairIndex``. ``batch_unordered`` (per prompt) removes pairs that carry no preference from S_p. The centering term needs the tiers (it is skipped for a bare ``PairIndex``).
    Returns a 0-dim tensor.
    """
    import torch
    import torch.nn.functional as F

    idx = batch_tiers if isinstance(batch_tiers, PairIndex) else pair_index(
        batch_tiers, device=rewards.device, batch_unordered=batch_unordered)
    n = float(normalizer if normalizer is not None else max(idx.n_prompts, 1))
    total = rewards.new_zeros(())
    if idx.better.numel():
        diff = rewards[idx.better] - rewards[idx.worse] - margin
        total = total + (idx.weight.to(rewards.dtype) * F.softplus(-diff)).sum()
    if center_coef and not isinstance(batch_tiers, PairIndex):
        for tiers in batch_tiers:
            members = [i for t in tiers for i in t]
            if members:
                total = total + center_coef * rewards[torch.tensor(members, device=rewards.device)].mean() ** 2
    return total / n


def pairwise_accuracy(rewards: Sequence[float], tiers: Tiers, unordered: Unordered = ()) -> tuple[float, int]:
    """Agreement of rewards with a partial order: Σ_{(i,j)∈S} [r_i > r_j] + ½[r_i = r_j].
    Returns (agreeing pairs, |S|); accuracy = first / second."""
    hit, n = 0.0, 0
    for i, j in strict_pairs(tiers, unordered):
        n += 1
        if rewards[i] > rewards[j]:
            hit += 1.0
        elif rewards[i] == rewards[j]:
            hit += 0.5
    return hit, n


def expanded_pair_index(batch_tiers: Sequence[Tiers], *, device: Any = None,
                        batch_unordered: Sequence[Unordered] | None = None) -> tuple[list[int], PairIndex]:
    """The pairwise expansion every pairwise RM trainer uses: each strict pair is encoded on its
    own, so a prompt with |S_p| pairs costs 2·|S_p| sequence forwards instead of |R_p|.

    Returns ``sources`` (expanded position → original index into the rewards of the K-wise
    layout; position 2n is the better and 2n+1 the worse response of pair n) and the
    ``PairIndex`` over the expanded layout, with the same per-prompt weights 1/|S_p|, so that
    ``kwise_loss`` gives the same value as on the K-wise layout (without centering)."""
    import torch

    idx = pair_index(batch_tiers, batch_unordered=batch_unordered)
    sources: list[int] = []
    for i, j in zip(idx.better.tolist(), idx.worse.tolist()):
        sources += [i, j]
    m = len(sources) // 2
    pos = torch.arange(m, dtype=torch.long, device=device)
    return sources, PairIndex(2 * pos, 2 * pos + 1, idx.prompt.to(device), idx.weight.to(device), idx.n_prompts)
