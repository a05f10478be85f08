"""Rollouts: sample responses with the KV cache and keep what generation already computed.

``generate_rollout`` asks ``transformers``' ``generate`` for the raw logits of every step (and,
for a shared critic, the last hidden states), so the *old* log-probs — and the old values —
come out of the sampling forward itself instead of a second full forward. Sampling is plain
softmax(z/T) (no top-k/top-p), so those log-probs are exactly the sampling distribution's.

Rewards are pluggable: a ``RewardFn`` maps (prompt messages, response texts) to scores. Two
ship here: ``ContainsReward`` (a known toy reward for tests) and ``RMReward`` (an hrlaif reward
model, scored straight from the policy's token ids when both share a tokenizer). Each has a
``scale`` (the largest |score|), which ``ppo/reward.py`` uses to combine it with a verifier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import torch
from torch import Tensor

from hrlaif.ppo.core import logprobs_from_logits

log = logging.getLogger(__name__)


@dataclass
class Rollout:
    """One batch of sampled responses. ``input_ids`` is ``[B, P + R]``: left-padded queries
    followed by right-padded responses; the response occupies the last ``n_resp`` columns."""

    input_ids: Tensor
    attention_mask: Tensor
    query_mask: Tensor  # [B, P]
    response_mask: Tensor  # [B, R] float: 1 up to and including the first EOS
    logprobs: Tensor | None  # [B, R] old log-probs from the sampling forward (None: not kept)
    values: Tensor | None  # [B, R] old values from the sampling forward (shared critic only)
    has_eos: Tensor  # [B] bool
    texts: list[str]

    @property
    def n_resp(self) -> int:
        return self.response_mask.shape[1]

    @property
    def response_ids(self) -> Tensor:
        return self.input_ids[:, -self.n_resp:]

    @property
    def lengths(self) -> Tensor:
        return self.response_mask.sum(1)


def response_mask_from_ids(resp: Tensor, eos_id: int) -> tuple[Tensor, Tensor]:
    """Mask of the response tokens up to and including the first EOS; and whether one was emitted.

    m_t = 1 iff no EOS occurs strictly before t."""
    is_eos = resp == eos_id
    before = torch.cumsum(is_eos.long(), dim=1) - is_eos.long()  # EOS count strictly before t
    return (before == 0).float(), is_eos.any(dim=1)


@torch.no_grad()
def generate_rollout(lm: Any, tokenizer: Any, queries: list[str], *, max_new_tokens: int, temperature: float,
                     keep_logprobs: bool = True, value_fn: Any = None) -> Rollout:
    """Sample one response per query. ``value_fn(hidden[B, R, H]) -> [B, R]`` turns the
    generation's last hidden states into old values (shared critic); ``None`` skips them."""
    from transformers import GenerationConfig

    enc = tokenizer(queries, return_tensors="pt", padding=True, add_special_tokens=False)
    device = next(lm.parameters()).device
    q_ids, q_mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
    gc = GenerationConfig(do_sample=True, temperature=temperature, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                          return_dict_in_generate=True, output_logits=keep_logprobs,
                          output_hidden_states=value_fn is not None, use_cache=True)
    was_training = lm.training
    lm.eval()
    try:
        out = lm.generate(input_ids=q_ids, attention_mask=q_mask, generation_config=gc)
    finally:
        lm.train(was_training)
    P = q_ids.shape[1]
    resp = out.sequences[:, P:]
    rmask, has_eos = response_mask_from_ids(resp, tokenizer.eos_token_id)
    resp = torch.where(rmask.bool(), resp, torch.full_like(resp, tokenizer.pad_token_id))
    logprobs = values = None
    if keep_logprobs:
        logits = torch.stack(out.logits, dim=1).float() / temperature  # [B, R, V]
        logprobs = logprobs_from_logits(logits, resp) * rmask
    if value_fn is not None:
        hidden = torch.stack([h[-1][:, -1] for h in out.hidden_states], dim=1)  # [B, R, H]
        values = value_fn(hidden) * rmask
    body = [r[m.bool()].tolist() for r, m in zip(resp, rmask)]
    texts = tokenizer.batch_decode(body, skip_special_tokens=True)
    return Rollout(input_ids=torch.cat([q_ids, resp], 1), attention_mask=torch.cat([q_mask, rmask.long()], 1),
                   query_mask=q_mask, response_mask=rmask, logprobs=logprobs, values=values, has_eos=has_eos,
                   texts=texts)


# --------------------------------------------------------------------------- rewards


class RewardFn(Protocol):
    """Scores for responses: ``fn(messages_list, responses, rollout=None) -> Tensor[B]``.
    ``rollout`` lets a reward read token ids directly (it may ignore it)."""

    def __call__(self, messages_list: Sequence[Sequence[dict]], responses: Sequence[str],
                 rollout: Rollout | None = None) -> Tensor: ...


class ContainsReward:
    """A known reward for sanity checks: ``hit`` if the response contains ``target``, else ``miss``."""

    def __init__(self, target: str, hit: float = 1.0, miss: float = 0.0):
        self.target, self.hit, self.miss = target, hit, miss
        self.scale = max(abs(hit), abs(miss)) or 1.0  # the largest |score|: hybrid rewards divide by it

    def __call__(self, messages_list: Sequence[Sequence[dict]], responses: Sequence[str],
                 rollout: Rollout | None = None) -> Tensor:
        return torch.tensor([self.hit if self.target in r else self.miss for r in responses])


class RMReward:
    """An hrlaif reward model (clipped inside its forward). When the RM and the policy share a
    tokenizer (same ids for the policy's vocabulary, same EOS, same chat template) the RM reads
    ``query ids + response ids + EOS`` straight from the rollout — the exact text ``RewardModel.score``
    would build, without decoding and re-tokenising; otherwise it scores the decoded text."""

    def __init__(self, rm: Any, policy_tokenizer: Any, *, batch_size: int = 8, reuse_tokens: bool = True):
        self.rm, self.batch_size = rm, batch_size
        self.scale = float(rm.clip)  # scores lie in [−clip, clip]: hybrid rewards divide by it
        self.same_tokenizer = reuse_tokens and _same_tokenizer(rm.tokenizer, policy_tokenizer)
        log.info("reward model %s the policy's tokenizer", "shares" if self.same_tokenizer else "does not share")

    def __call__(self, messages_list: Sequence[Sequence[dict]], responses: Sequence[str],
                 rollout: Rollout | None = None) -> Tensor:
        if self.same_tokenizer and rollout is not None:
            seqs = _rm_sequences(rollout, self.rm.tokenizer.eos_token_id)
            if max(len(s) for s in seqs) <= self.rm.max_length:
                from hrlaif.rm.model import pad_right

                ids, mask = pad_right(seqs, self.rm.tokenizer.pad_token_id)
                with torch.no_grad():
                    return self.rm(ids.to(self.rm.device), mask.to(self.rm.device)).float().cpu()
        return torch.tensor(self.rm.score([list(m) for m in messages_list], list(responses),
                                          batch_size=self.batch_size))


def _rm_sequences(rollout: Rollout, eos_id: int) -> list[list[int]]:
    out = []
    for q, qm, r, rm in zip(rollout.input_ids[:, :-rollout.n_resp], rollout.query_mask, rollout.response_ids,
                            rollout.response_mask):
        body = [t for t in r[rm.bool()].tolist() if t != eos_id]
        out.append(q[qm.bool()].tolist() + body + [eos_id])
    return out


def _same_tokenizer(a: Any, b: Any) -> bool:
    if a.eos_token_id != b.eos_token_id:
        return False
    va, vb = a.get_vocab(), b.get_vocab()
    if any(va.get(tok) != i for tok, i in vb.items() if tok != b.pad_token or b.pad_token == b.eos_token):
        return False
    probe = [{"role": "user", "content": "2+2?"}]
    return a.apply_chat_template(probe, tokenize=False, add_generation_prompt=True) == \
        b.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
