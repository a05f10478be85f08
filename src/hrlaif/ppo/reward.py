"""The scalar reward PPO optimises: the RM, the verifier, or both (``--reward rm|verifier|hybrid``).

A response to a *verifiable* prompt (its category names a verifier in ``hrlaif.data.CATEGORIES``
and it has a reference) gets a verifier outcome o ∈ {correct, incorrect, hedged, undecided}
from ``hrlaif.verify.verify_many`` — the same verifiers as labeling, code in the same sandbox.
With the outcome value and the normalised RM score

    v(o) = +1 (correct), −1 (incorrect), −1 (hedged; 0 with ``hedged="unverifiable"``), 0 (undecided)
    ŝ    = clamp(s / c, −1, 1)          (s: RM score, c: ``rm_scale``, default the RM's clip r)

the reward of one response is

    rm:        R = s                                   (every prompt; the pre-existing behaviour)
    verifier:  R = v(o)                                (unverifiable prompts: R = 0)
    hybrid:    R = v(o) + w·ŝ   for a verifiable prompt, with 0 ≤ w < 1/2
               R = ŝ            for any other prompt (the RM alone, on the verifier's scale)

Because |w·ŝ| ≤ w < 1/2, the hybrid levels never overlap: R(correct) ≥ 1 − w > w ≥ R(undecided)
≥ −w > −1 + w ≥ R(incorrect or hedged). Any correct response outranks any incorrect one whatever
the RM says, and the RM orders responses only *inside* an outcome — the seed's "verify what can
be verified, let the judge order the rest", applied to the reward instead of the labels.
The missing-EOS penalty is applied afterwards by the trainer, to every mode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, Sequence

import torch
from torch import Tensor

if TYPE_CHECKING:
    from hrlaif.data import Prompt
    from hrlaif.ppo.rollout import RewardFn, Rollout

log = logging.getLogger(__name__)

RewardMode = Literal["rm", "verifier", "hybrid"]
Hedged = Literal["incorrect", "unverifiable"]
OUTCOMES = ("correct", "incorrect", "hedged", "undecided")


class RewardTerms(NamedTuple):
    """The two additive parts of one response's reward: ``total = verifier + rm``."""

    verifier: float
    rm: float

    @property
    def total(self) -> float:
        return self.verifier + self.rm


def outcome_value(outcome: str, *, hedged: Hedged = "incorrect") -> float:
    """v(o): +1 correct, −1 incorrect, 0 undecided; hedged is −1 (ranks with incorrect) or 0
    (``hedged="unverifiable"``: treated like undecided)."""
    if outcome == "hedged":
        return -1.0 if hedged == "incorrect" else 0.0
    return {"correct": 1.0, "incorrect": -1.0, "undecided": 0.0}[outcome]


def normalise_rm(score: float, scale: float) -> float:
    """ŝ = clamp(s / c, −1, 1): an RM score on the verifier's [−1, 1] scale."""
    return max(-1.0, min(1.0, score / scale))


def verifier_reward(outcome: str | None, *, hedged: Hedged = "incorrect") -> RewardTerms:
    """``reward=verifier``: R = v(o); a response without an outcome (unverifiable prompt) gets 0."""
    return RewardTerms(0.0 if outcome is None else outcome_value(outcome, hedged=hedged), 0.0)


def hybrid_reward(outcome: str | None, rm_score: float, *, rm_scale: float, rm_weight: float = 0.4,
                  hedged: Hedged = "incorrect") -> RewardTerms:
    """``reward=hybrid``: R = v(o) + w·ŝ when the prompt was verified (``outcome`` not None),
    else R = ŝ, with ŝ = clamp(s / rm_scale, −1, 1) and 0 ≤ w = ``rm_weight`` < 1/2 (see the
    module docstring for why the outcome levels then never overlap)."""
    if not 0 <= rm_weight < 0.5:
        raise ValueError(f"rm_weight must be in [0, 0.5), got {rm_weight}")
    s = normalise_rm(rm_score, rm_scale)
    if outcome is None:
        return RewardTerms(0.0, s)
    return RewardTerms(outcome_value(outcome, hedged=hedged), rm_weight * s)


def is_verifiable(prompt: "Prompt") -> bool:
    """The prompt's category names a verifier and the prompt has a reference to verify against."""
    from hrlaif.data import CATEGORIES

    info = CATEGORIES.get(prompt.category)
    return bool(info is not None and info.verifier and prompt.reference)


@dataclass
class ScoredBatch:
    """One batch's reward, split into what was measured (all ``[B]``, in batch order)."""

    scores: Tensor  # the reward PPO optimises (before the missing-EOS penalty)
    verifier_term: Tensor
    rm_term: Tensor
    rm: Tensor | None  # the raw RM score (None: no RM)
    outcomes: list[str | None]  # verifier outcome, None for an unverifiable prompt

    def fractions(self) -> dict[str, float]:
        """``frac_<outcome>`` over the batch, plus ``frac_unverified``; they sum to 1."""
        n = max(len(self.outcomes), 1)
        out = {f"frac_{o}": sum(x == o for x in self.outcomes) / n for o in OUTCOMES}
        out["frac_unverified"] = sum(x is None for x in self.outcomes) / n
        return out


class BatchReward:
    """Scores a rollout of Prompt records in one of the three modes (module docstring).

    ``rm_fn`` is any ``RewardFn`` (an ``RMReward``, ``ContainsReward`` or a test's function). It is
    required for ``rm`` and ``hybrid``; with ``verifier`` it is optional and only logged. Verifiable
    prompts are verified in every mode, so the fraction of correct training responses is logged
    even when the RM alone is the reward."""

    def __init__(self, mode: RewardMode, rm_fn: "RewardFn | None", *, rm_scale: float | None = None,
                 rm_weight: float = 0.4, hedged: Hedged = "incorrect", verify_opts: dict | None = None):
        if mode in ("rm", "hybrid") and rm_fn is None:
            raise ValueError(f"reward={mode} needs a reward model")
        self.mode, self.rm_fn, self.rm_weight, self.hedged = mode, rm_fn, rm_weight, hedged
        self.rm_scale = float(rm_scale or getattr(rm_fn, "scale", None) or 1.0)
        self.verify_opts = {"steps": False, **(verify_opts or {})}

    def outcomes(self, prompts: Sequence["Prompt"], responses: Sequence[str]) -> list[str | None]:
        from hrlaif.verify import verify_many

        idx = [i for i, p in enumerate(prompts) if is_verifiable(p)]
        out: list[str | None] = [None] * len(prompts)
        if idx:
            verdicts = verify_many([(prompts[i], responses[i]) for i in idx], **self.verify_opts)
            for i, v in zip(idx, verdicts):
                out[i] = v.outcome if v is not None else None
        return out

    def __call__(self, prompts: Sequence["Prompt"], messages: Sequence[Sequence[dict]], rollout: "Rollout"
                 ) -> ScoredBatch:
        texts = rollout.texts
        rm = None
        if self.rm_fn is not None:
            rm = torch.as_tensor(self.rm_fn(messages, texts, rollout), dtype=torch.float32).reshape(-1).cpu()
        outcomes = self.outcomes(prompts, texts)
        if self.mode == "rm":
            assert rm is not None
            return ScoredBatch(rm.clone(), torch.zeros_like(rm), rm.clone(), rm, outcomes)
        if self.mode == "verifier":
            terms = [verifier_reward(o, hedged=self.hedged) for o in outcomes]
        else:
            assert rm is not None
            terms = [hybrid_reward(o, float(s), rm_scale=self.rm_scale, rm_weight=self.rm_weight, hedged=self.hedged)
                     if torch.isfinite(s) else RewardTerms(0.0, float(s)) for o, s in zip(outcomes, rm)]
        v = torch.tensor([t.verifier for t in terms], dtype=torch.float32)
        r = torch.tensor([t.rm for t in terms], dtype=torch.float32)
        return ScoredBatch(v + r, v, r, rm, outcomes)
