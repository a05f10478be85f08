"""The reward model: an HF backbone with a scalar head read at the last non-pad token, the
reward clipped to [−clip, clip] inside ``forward``.

On disk an RM is a standard Hugging Face sequence-classification folder (``num_labels=1``) with
its tokenizer; ``config.hrlaif_reward_clip`` holds the clip value. ``load_reward_model`` applies
it, so every consumer of an hrlaif RM (PPO, evaluation) sees the clipped reward. (This module
imports torch; stage modules import it inside their functions.) A plain
``AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)`` gives the same
unclipped reward: the pad token is made distinct from EOS before training, so HF's
"rightmost non-pad token" pooling reads the same position as hrlaif's attention-mask pooling.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from hrlaif.errors import ModelError

log = logging.getLogger(__name__)

CLIP_KEY = "hrlaif_reward_clip"
MAX_LENGTH_KEY = "hrlaif_max_length"
DEFAULT_CLIP = 10.0


def last_token_index(attention_mask: Any) -> Any:
    """Index of the last attended token per row: argmax_t (t · mask_t). Works for left or right
    padding; a row with no attended token maps to 0."""

    t = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    return (t * attention_mask.to(t.dtype)).argmax(-1)


class RewardModel(nn.Module):
    """``forward(input_ids, attention_mask) -> Tensor[B]``: clamp(score(h_last), −clip, clip)."""

    def __init__(self, backbone: Any, tokenizer: Any, clip: float = DEFAULT_CLIP, max_length: int = 1024):
        super().__init__()
        if not clip > 0:
            raise ModelError(f"reward clip must be > 0, got {clip}")
        self.backbone = backbone  # an AutoModelForSequenceClassification (num_labels=1)
        self.tokenizer = tokenizer
        self.clip = float(clip)
        self.max_length = int(max_length)
        self.peft_model: Any = None  # set by apply_lora

    def _parts(self) -> tuple[Any, Any]:
        bb = self.backbone
        base = getattr(bb, getattr(bb, "base_model_prefix", ""), None)
        head = getattr(bb, "score", None)
        return base, head

    def raw_reward(self, input_ids: Any, attention_mask: Any) -> Any:
        """The unclipped scalar head output at the last attended token, Tensor[B]."""

        base, head = self._parts()
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        if base is None or head is None:  # not a decoder with a `score` head: use HF's own pooling
            if not getattr(self, "_warned_pooling", False):
                log.warning("%s has no `score` head: using its own pooling, not the last attended token",
                            type(self.backbone).__name__)
                self._warned_pooling = True
            out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
            return out.logits.reshape(input_ids.shape[0], -1)[:, 0]
        hidden = base(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        h_last = hidden[rows, last_token_index(attention_mask)]  # (B, H)
        return head(h_last).squeeze(-1).to(torch.float32)  # (B,)

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        return self.raw_reward(input_ids, attention_mask).clamp(-self.clip, self.clip)

    @property
    def device(self) -> Any:
        return next(self.parameters()).device

    def score(self, messages_list: Sequence[Sequence[Any]], responses: Sequence[str], batch_size: int = 8,
              ) -> list[float]:
        """Clipped rewards of ``responses[n]`` answering ``messages_list[n]`` (eval mode, no grad)."""

        from hrlaif.rm.data import encode_response

        if len(messages_list) != len(responses):
            raise ValueError(f"{len(messages_list)} prompts but {len(responses)} responses")
        seqs = [encode_response(self.tokenizer, m, r, self.max_length)[0] for m, r in zip(messages_list, responses)]
        pad = self.tokenizer.pad_token_id
        out: list[float] = []
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                for s in range(0, len(seqs), batch_size):
                    chunk = seqs[s:s + batch_size]
                    ids, mask = pad_right(chunk, pad)
                    out.extend(self(ids.to(self.device), mask.to(self.device)).tolist())
        finally:
            self.train(was_training)
        return out

    def save(self, path: str | Path) -> Path:
        """Save as a standard HF folder (LoRA merged in) + tokenizer; the clip goes in the config."""
        bb = self.peft_model.merge_and_unload() if self.peft_model is not None else self.backbone
        setattr(bb.config, CLIP_KEY, self.clip)
        setattr(bb.config, MAX_LENGTH_KEY, self.max_length)
        bb.config.pad_token_id = self.tokenizer.pad_token_id
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        bb.save_pretrained(p)
        self.tokenizer.save_pretrained(p)
        return p


def pad_right(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for n, s in enumerate(seqs):
        ids[n, :len(s)] = torch.tensor(list(s), dtype=torch.long)
        mask[n, :len(s)] = 1
    return ids, mask


def _distinct_pad(tok: Any) -> None:
    """Make the pad token differ from EOS (the RM reads its reward at the EOS token; HF's pooling
    skips pad tokens, so pad == EOS would move the read position in a plain HF load)."""
    if tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id:
        return
    for cand in (tok.unk_token, tok.bos_token):
        if cand is not None and tok.convert_tokens_to_ids(cand) != tok.eos_token_id:
            tok.pad_token = cand
            return
    tok.add_special_tokens({"pad_token": "<|hrlaif_pad|>"})


def init_reward_model(spec: str, *, clip: float = DEFAULT_CLIP, max_length: int = 1024, dtype: Any = None
                      ) -> RewardModel:
    """A new RM from a causal LM or seq-cls model spec (alias, folder, GGUF): the backbone's
    weights plus a freshly initialised scalar head (seed torch before calling for determinism)."""
    from transformers import AutoModelForSequenceClassification

    from hrlaif.models import _wrap_load, load_causal_lm, load_tokenizer, resolve_model

    ref = resolve_model(spec)
    if ref.gguf_file:  # dequantise once through the causal-LM path (caches a safetensors copy)
        if spec == "smollm2-135m":
            load_causal_lm(spec)
            ref = resolve_model(spec)
    kw = {"gguf_file": ref.gguf_file} if ref.gguf_file else {}
    tok = load_tokenizer(ref, padding_side="right")
    _distinct_pad(tok)
    bb = _wrap_load(ref, "reward backbone", lambda: AutoModelForSequenceClassification.from_pretrained(
        ref.path, num_labels=1, dtype=dtype or torch.float32, **kw))
    if len(tok) > bb.get_input_embeddings().weight.shape[0]:
        bb.resize_token_embeddings(len(tok))
    bb.config.pad_token_id = tok.pad_token_id
    return RewardModel(bb, tok, clip=clip, max_length=max_length)


def load_reward_model(path: str, *, device: Any = None, clip: float | None = None) -> RewardModel:
    """Load an RM folder written by ``RewardModel.save`` (or any HF seq-cls folder, num_labels=1).
    The clip comes from ``config.hrlaif_reward_clip`` (default 10) unless ``clip`` overrides it."""
    from transformers import AutoModelForSequenceClassification

    from hrlaif.models import _wrap_load, load_tokenizer, resolve_model

    p = Path(path)
    if not (p / "config.json").exists():
        raise ModelError(f"{p}: not a reward-model folder (no config.json)")
    ref = resolve_model(str(p))
    bb = _wrap_load(ref, "reward model", lambda: AutoModelForSequenceClassification.from_pretrained(
        str(p), num_labels=1, dtype=torch.float32))
    tok = load_tokenizer(ref, padding_side="right")
    stored = getattr(bb.config, CLIP_KEY, None)
    if stored is None and clip is None:
        log.warning("%s has no %s in its config; clipping rewards to ±%g", p, CLIP_KEY, DEFAULT_CLIP)
    rm = RewardModel(bb, tok, clip=float(clip if clip is not None else (stored or DEFAULT_CLIP)),
                     max_length=int(getattr(bb.config, MAX_LENGTH_KEY, 1024) or 1024))
    rm.eval()
    if device is not None:
        rm.to(device)
    return rm
