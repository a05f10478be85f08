"""Multiple choice by log-likelihood: score each option's continuation under the policy.

For a context c and a continuation y = (y_1..y_m) the score is

    log p(y | c) = Σ_t log softmax(f(c, y_<t))[y_t]         (``normalize="sum"``)

or that sum divided by m (``normalize="mean"``, per-token; fairer across options of different
length when scoring option *texts*). The prediction is the argmax over options. Context and
continuation are tokenised separately and concatenated, so the continuation's tokens are the
same whatever the context ends with.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def continuation_logprobs(model: Any, tokenizer: Any, contexts: Sequence[str], continuations: Sequence[str], *,
                          batch_size: int = 8) -> list[tuple[float, int]]:
    """(Σ log p(continuation tokens | context), number of continuation tokens) for each pair.

    Rows are left-padded with explicit position ids, so every continuation ends in the last
    column and only the last ``max |y| + 1`` positions need logits (``logits_to_keep`` where the
    model takes it): memory is O(B·|y|·V), not O(B·T·V). Padding never changes a row's score.
    """
    import inspect

    import torch

    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts for {len(continuations)} continuations")
    pairs = []
    for ctx, cont in zip(contexts, continuations):
        c_ids = tokenizer(ctx, add_special_tokens=False)["input_ids"]
        y_ids = tokenizer(cont, add_special_tokens=False)["input_ids"]
        if not c_ids or not y_ids:
            raise ValueError("context and continuation must each encode to at least one token")
        pairs.append((c_ids, y_ids))
    params = inspect.signature(model.forward).parameters
    takes_pos, takes_keep = "position_ids" in params, "logits_to_keep" in params
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[tuple[float, int]] = []
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            width = max(len(c) + len(y) for c, y in chunk)
            keep = max(len(y) for _, y in chunk) + 1
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, (c, y) in enumerate(chunk):
                seq = c + y
                ids[r, width - len(seq):] = torch.tensor(seq)
                mask[r, width - len(seq):] = 1
            kw: dict[str, Any] = {}
            if takes_pos:
                kw["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0).to(device)
            if takes_keep:
                kw["logits_to_keep"] = keep
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), **kw).logits[:, -keep:, :]
            for r, (_, y) in enumerate(chunk):
                # y_t sits in column width-|y|+t and is predicted by the column before it; in the
                # kept slice (the last `keep` columns) those are keep-|y|-1 .. keep-2
                m = len(y)
                logp = torch.log_softmax(logits[r, keep - m - 1:keep - 1, :].float(), dim=-1)  # (|y|, V)
                tgt = torch.tensor(y, device=logp.device).unsqueeze(1)
                out.append((float(logp.gather(1, tgt).sum()), m))
    return out


def option_continuations(choices: Sequence[str], target: Literal["letter", "text"] = "letter") -> list[str]:
    """What each option is scored as: " A", " B", … (``letter``) or " <option text>" (``text``)."""
    if target == "letter":
        return [f" {LETTERS[i]}" for i in range(len(choices))]
    return [f" {c.strip()}" for c in choices]


def pick(scores: Sequence[tuple[float, int]], normalize: Literal["sum", "mean"] = "sum") -> int:
    """argmax_i of log p(y_i | c) (``sum``) or of log p(y_i | c) / |y_i| (``mean``); first wins ties."""
    vals = [s if normalize == "sum" else s / max(1, n) for s, n in scores]
    return max(range(len(vals)), key=lambda i: (vals[i], -i))


def score_choices(model: Any, tokenizer: Any, contexts: Sequence[str], choices: Sequence[Sequence[str]], *,
                  target: Literal["letter", "text"] = "letter", normalize: Literal["sum", "mean"] = "sum",
                  batch_size: int = 8) -> list[dict]:
    """For each question (its rendered context and its options): the predicted letter and every
    option's log-likelihood. Returns ``[{"pred": "B", "index": 1, "logprobs": [...]}]``."""
    flat_ctx, flat_cont, owner = [], [], []
    for q, (ctx, opts) in enumerate(zip(contexts, choices)):
        if not opts:
            raise ValueError(f"question {q} has no options")
        for cont in option_continuations(opts, target):
            flat_ctx.append(ctx)
            flat_cont.append(cont)
            owner.append(q)
    scores = continuation_logprobs(model, tokenizer, flat_ctx, flat_cont, batch_size=batch_size)
    per_q: list[list[tuple[float, int]]] = [[] for _ in contexts]
    for q, s in zip(owner, scores):
        per_q[q].append(s)
    out = []
    for sc in per_q:
        i = pick(sc, normalize)
        out.append({"pred": LETTERS[i], "index": i, "logprobs": [s for s, _ in sc]})
    return out


def mc_context(tokenizer: Any, messages: Sequence[Any], answer_prefix: str = "Answer:") -> str:
    """The chat prompt (template applied, assistant turn opened) followed by ``answer_prefix``."""
    from hrlaif.models import chat_prompt

    return chat_prompt(tokenizer, list(messages)) + answer_prefix
