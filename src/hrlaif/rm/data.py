"""Rankings → reward-model examples: validation, the held-out split, and tokenisation.

The text a reward model scores is the chat template of the prompt messages followed by the
assistant response and the EOS token (``chat_prompt(messages) + response + eos``), tokenised
without extra special tokens. ``encode_response`` is the one place that builds it: training,
evaluation and ``RewardModel.score`` all go through it.

Over-long sequences are truncated, never dropped: the prompt loses tokens from its start
(the latest turns and the assistant header stay), down to half of ``max_length``; then the
response loses tokens from its end, and the EOS token is always kept last so the reward is
read at the same kind of position. Each truncated sequence is counted.

Input validation (``load_rankings``) names file, line and field: fewer than two responses,
an empty response, contradictory pairwise preferences (a cycle). Raw records may give a
``preferences`` list of ``[better, worse]`` index pairs instead of ``tiers``; they are turned
into tiers with ``hrlaif.data.tiers_from_preferences``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from hrlaif.data import Ranking, iter_jsonl, parse_record, read_records, strict_pairs, tiers_from_preferences
from hrlaif.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class RMExample:
    """One prompt ready for the K-wise loss: the token ids of its ranked responses (unranked
    ones are dropped: they add no loss term) and its tiers as indices into ``input_ids``."""

    prompt_id: str
    category: str
    input_ids: list[list[int]]
    tiers: list[list[int]]
    n_truncated: int = 0
    unordered: list[list[int]] = field(default_factory=list)  # pairs with no preference (Ranking.unordered)

    @property
    def n_pairs(self) -> int:
        return len(strict_pairs(self.tiers, self.unordered))


@dataclass
class LoadStats:
    records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count (only with skip_invalid)
    no_pairs: int = 0  # rankings whose responses are all tied or unranked (no loss term)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _check_ranking(r: Ranking, path: str, line: int) -> None:
    if len(r.responses) < 2:
        raise InputError(f"a ranking needs at least 2 responses (K >= 2), got {len(r.responses)}",
                         path=path, line=line, field="responses")
    for i, text in enumerate(r.responses):
        if not text or not text.strip():
            raise InputError("empty response: the reward model cannot score an empty text "
                             "(fix the labeler output or pass --skip-invalid)",
                             path=path, line=line, field=f"responses[{i}]")


def _ranking_from_obj(obj: dict, path: str, line: int) -> Ranking:
    if "tiers" not in obj and "preferences" in obj:
        prefs = obj.get("preferences")
        k = len(obj.get("responses") or [])
        try:
            pairs = [(int(a), int(b)) for a, b in prefs]
            for a, b in pairs:
                if not (0 <= a < k and 0 <= b < k):
                    raise ValueError(f"index out of range in [{a}, {b}] for {k} responses")
            tiers = tiers_from_preferences(k, pairs, ranked={i for p in pairs for i in p})
        except (TypeError, ValueError) as e:
            raise InputError(f"cannot order the responses: {e}", path=path, line=line,
                             field="preferences") from None
        obj = {k2: v for k2, v in obj.items() if k2 != "preferences"}
        obj["tiers"] = tiers
    return parse_record(Ranking, obj, path=path, line=line)


def load_rankings(paths: Sequence[str | Path], *, skip_invalid: bool = False,
                  stats: LoadStats | None = None) -> list[Ranking]:
    """Read and validate Ranking JSONL/Parquet files (see the module docstring)."""
    stats = stats if stats is not None else LoadStats()
    out: list[Ranking] = []
    for p in paths:
        p = str(p)
        if p.endswith(".parquet"):
            items = [(i, r) for i, r in enumerate(read_records(p, Ranking), start=1)]
        else:
            items = []
            for line, obj in iter_jsonl(p):
                try:
                    items.append((line, _ranking_from_obj(obj, p, line)))
                except InputError as e:
                    if not skip_invalid:
                        raise
                    log.warning("skipping %s", e)
                    stats.skip(e.field or "record")
        for line, r in items:
            stats.records += 1
            try:
                _check_ranking(r, p, line)
            except InputError as e:
                if not skip_invalid:
                    raise
                log.warning("skipping %s", e)
                stats.skip((e.field or "record").split("[")[0])
                continue
            if not r.pairs():
                stats.no_pairs += 1
                continue
            out.append(r)
    if not out:
        raise InputError("no usable rankings: every ranking was invalid or had no strictly ordered pair",
                         path=", ".join(map(str, paths)))
    return out


def split_heldout(rankings: list[Ranking], fraction: float, seed: int) -> tuple[list[Ranking], list[Ranking]]:
    """Deterministic held-out split by prompt id (all rankings of one prompt land on one side).
    Each prompt id hashes (with the seed) to u ∈ [0, 1); u < fraction goes to held-out. With at
    least two distinct prompts and 0 < fraction < 1, both sides are made non-empty."""
    if not 0 <= fraction < 1:
        raise ValueError("held-out fraction must be in [0, 1)")
    def u(pid: str) -> float:
        h = hashlib.sha256(f"{seed}:{pid}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2 ** 64
    ids = sorted({r.prompt_id for r in rankings}, key=u)
    n_eval = round(len(ids) * fraction)
    if fraction > 0 and len(ids) >= 2:
        n_eval = min(max(n_eval, 1), len(ids) - 1)
    held = set(ids[:n_eval])
    return [r for r in rankings if r.prompt_id not in held], [r for r in rankings if r.prompt_id in held]


def encode_response(tokenizer: Any, messages: Sequence[Any], response: str, max_length: int,
                    *, _prompt_cache: dict | None = None) -> tuple[list[int], bool]:
    """Token ids of ``chat_prompt(messages) + response + eos`` cut to ``max_length``; returns
    (ids, truncated). See the module docstring for the truncation rule."""
    from hrlaif.models import chat_prompt

    key = id(messages)
    if _prompt_cache is not None and key in _prompt_cache:
        p_ids = _prompt_cache[key]
    else:
        p_ids = tokenizer(chat_prompt(tokenizer, list(messages)), add_special_tokens=False)["input_ids"]
        if _prompt_cache is not None:
            _prompt_cache[key] = p_ids
    r_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    if len(p_ids) + len(r_ids) + 1 <= max_length:
        return list(p_ids) + list(r_ids) + [eos], False
    if max_length < 4:
        raise ValueError("max_length must be at least 4")
    keep_p = min(len(p_ids), max(max_length - len(r_ids) - 1, max_length // 2))
    keep_r = max_length - keep_p - 1
    return list(p_ids[len(p_ids) - keep_p:]) + list(r_ids[:keep_r]) + [eos], True


def encode_rankings(rankings: Sequence[Ranking], tokenizer: Any, max_length: int) -> list[RMExample]:
    """Tokenise each ranking's ranked responses once (one sequence per response)."""
    out = []
    for r in rankings:
        ranked = r.ranked
        remap = {old: new for new, old in enumerate(ranked)}
        cache: dict = {}
        ids, n_trunc = [], 0
        for old in ranked:
            seq, cut = encode_response(tokenizer, r.prompt.messages, r.responses[old], max_length,
                                       _prompt_cache=cache)
            ids.append(seq)
            n_trunc += cut
        out.append(RMExample(r.prompt_id, r.category, ids, [[remap[i] for i in t] for t in r.tiers], n_trunc,
                             [[remap[a], remap[b]] for a, b in r.unordered]))
    return out


def collate(examples: Sequence[RMExample], pad_id: int, *, expand_pairs: bool = False) -> dict:
    """Right-pad the responses of a batch of prompts into one tensor (right padding keeps a
    causal model's reward independent of the batch it is in).

    K-wise layout: every ranked response once, tiers re-indexed into the flat batch.
    ``expand_pairs``: each strict pair encoded separately (the pairwise baseline)."""
    import torch

    from hrlaif.rm.loss import expanded_pair_index

    seqs: list[list[int]] = []
    batch_tiers, batch_unordered = [], []
    for ex in examples:
        off = len(seqs)
        seqs.extend(ex.input_ids)
        batch_tiers.append([[off + i for i in t] for t in ex.tiers])
        batch_unordered.append([[off + a, off + b] for a, b in ex.unordered])
    target: Any = batch_tiers
    if expand_pairs:
        sources, target = expanded_pair_index(batch_tiers, batch_unordered=batch_unordered)
        seqs = [seqs[s] for s in sources]
    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for n, s in enumerate(seqs):
        input_ids[n, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[n, :len(s)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "tiers": target, "unordered": batch_unordered}
