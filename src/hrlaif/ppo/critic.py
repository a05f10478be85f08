"""Policy + critic as one module (so one optimizer and one ``accelerator.prepare`` cover both).

The critic is a linear value head on a transformer's last hidden state. Two layouts:

* ``shared``   — the head sits on the policy's own backbone: one forward gives log-probs *and*
  values, and the rollout gets the old values for free from the generation's hidden states.
  Half the parameters of ``separate``; the value loss also shapes the policy's features.
* ``separate`` — the head sits on its own copy of the backbone (the classic RLHF layout).

Only the response positions go through the LM head (``[B, T_resp, V]`` instead of
``[B, T, V]``): on SmolLM2 (49k vocab) this is most of the logits memory.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import torch
from torch import Tensor, nn

from hrlaif.ppo.core import entropy_from_logits, logprobs_from_logits

CriticLayout = Literal["shared", "separate"]


def base_lm(model: Any) -> Any:
    """The underlying ``*ForCausalLM`` of a (possibly peft-wrapped) model."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def backbone_of(model: Any) -> nn.Module:
    """The transformer without its LM head (``model.model`` for Llama, ``.transformer`` for GPT-2)."""
    lm = base_lm(model)
    return getattr(lm, lm.base_model_prefix)


def position_ids_for(attention_mask: Tensor) -> Tensor:
    """Positions that skip left padding (what ``generate`` uses): cumsum(mask) − 1, clamped at 0."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def response_hidden(backbone: nn.Module, input_ids: Tensor, attention_mask: Tensor, n_resp: int) -> Tensor:
    """Last hidden states at the positions that *predict* the response tokens: ``[B, n_resp, H]``
    (position t−1 predicts token t)."""
    out = backbone(input_ids=input_ids, attention_mask=attention_mask,
                   position_ids=position_ids_for(attention_mask), use_cache=False)
    return out.last_hidden_state[:, -n_resp - 1:-1]


def token_stats(lm: Any, hidden: Tensor, tokens: Tensor, temperature: float, *, with_entropy: bool
                ) -> tuple[Tensor, Tensor | None]:
    """Log-probs of ``tokens`` (and the entropy) under softmax(lm_head(h)/T)."""
    logits = base_lm(lm).get_output_embeddings()(hidden).float() / temperature
    logp = logprobs_from_logits(logits, tokens)
    return logp, (entropy_from_logits(logits) if with_entropy else None)


@torch.no_grad()
def reference_logprobs(ref: Any, input_ids: Tensor, attention_mask: Tensor, n_resp: int, temperature: float
                       ) -> Tensor:
    """log π_ref of the response tokens (no grad; ``ref`` is a frozen copy or the LoRA base)."""
    h = response_hidden(backbone_of(ref), input_ids, attention_mask, n_resp)
    return token_stats(ref, h, input_ids[:, -n_resp:], temperature, with_entropy=False)[0]


class ActorCritic(nn.Module):
    """``forward(input_ids, attention_mask, n_resp)`` → log-probs, entropy, values of the last
    ``n_resp`` tokens (each ``[B, n_resp]``)."""

    def __init__(self, policy: Any, *, layout: CriticLayout = "shared", critic_backbone: nn.Module | None = None):
        super().__init__()
        self.policy = policy
        self.layout = layout
        hidden = base_lm(policy).config.get_text_config().hidden_size
        if layout == "separate":
            if critic_backbone is None:
                critic_backbone = copy.deepcopy(backbone_of(policy))
            for p in critic_backbone.parameters():
                p.requires_grad_(True)
            self.critic_backbone = critic_backbone
        elif layout != "shared":
            raise ValueError(f"unknown critic layout {layout!r} (shared or separate)")
        self.value_head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.value_head.weight)  # start at V ≡ 0: no noisy targets in the first update
        nn.init.zeros_(self.value_head.bias)
        self.temperature = 1.0

    def values_from_hidden(self, hidden: Tensor) -> Tensor:
        return self.value_head(hidden.float()).squeeze(-1)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, n_resp: int, with_entropy: bool = True
                ) -> tuple[Tensor, Tensor | None, Tensor]:
        h = response_hidden(backbone_of(self.policy), input_ids, attention_mask, n_resp)
        logp, ent = token_stats(self.policy, h, input_ids[:, -n_resp:], self.temperature, with_entropy=with_entropy)
        if self.layout == "shared":
            values = self.values_from_hidden(h)
        else:
            values = self.values_from_hidden(response_hidden(self.critic_backbone, input_ids, attention_mask, n_resp))
        return logp, ent, values

    @torch.no_grad()
    def critic_values(self, input_ids: Tensor, attention_mask: Tensor, n_resp: int) -> Tensor:
        """Values only (the separate critic's forward, without touching the policy)."""
        bb = self.critic_backbone if self.layout == "separate" else backbone_of(self.policy)
        return self.values_from_hidden(response_hidden(bb, input_ids, attention_mask, n_resp))

    def trainable_state(self) -> dict[str, Tensor]:
        """Only what training changes (LoRA adapters or full weights, plus the value head)."""
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {k: v.detach().clone() for k, v in self.state_dict().items() if k in names}
