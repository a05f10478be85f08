"""Batched sampling of K responses per prompt from a causal LM: the sampler every stage reuses.

``Sampler`` renders chat messages with the tokenizer's chat template, left-pads a batch, runs
one prefill per *distinct* prompt (the K copies share it: the KV cache is gathered K times
instead of recomputing the prompt), then decodes token by token with the KV cache, dropping
finished rows from the batch as they stop.

Reproducibility: every response row ``(prompt key, j)`` draws its randomness from its own
``torch.Generator`` seeded by ``hash(seed, key, j)``. The text of response ``j`` therefore does
not depend on the batch size, on which other prompts share its batch, or on whether a run was
resumed (up to float rounding from different padding, which can flip a near-tie).

    sampler = Sampler.from_spec("smollm2-135m")
    out = sampler.sample([[Message("user", "What is 2+3?")]], k=4, temperature=0.7, top_p=0.9,
                         max_new_tokens=64, seed=0, batch_size=8)
    out[0][0].text, out[0][0].n_tokens, out[0][0].finish_reason   # "stop" or "length"
    sampler.stats.tokens_per_s

No torch import at module level (stages import this lazily anyway).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from hrlaif.data import Message, Response
from hrlaif.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

NUCLEUS_TOPK = 256  # candidates examined before falling back to a full sort (see sample_next)

PromptInput = Sequence[Message] | Sequence[dict] | str
"""A chat (list of ``Message`` or ``{"role", "content"}`` dicts; the chat template is applied) or
a raw string (used verbatim: for base models and continuation prompts such as ToxiGen's)."""


# --------------------------------------------------------------------------- pure sampling math


def row_seed(seed: int, key: str, j: int) -> int:
    """Seed of response ``j`` of the prompt with key ``key``: the first 8 bytes of
    ``sha256(f"{seed}:{key}:{j}")`` as an unsigned integer, reduced to 63 bits."""
    h = hashlib.sha256(f"{seed}:{key}:{j}".encode()).digest()
    return int.from_bytes(h[:8], "big") & ((1 << 63) - 1)


def top_p_filter(logits: Any, top_p: float) -> Any:
    """Nucleus filter (Holtzman et al. 2020): keep the smallest set of tokens, in order of
    decreasing probability, whose mass reaches ``top_p``; set the rest to ``-inf``.

    With p sorted descending and c_i = sum_{l<i} p_l (mass *before* token i), token i is kept
    iff c_i < top_p, so the most likely token is always kept. ``logits``: (B, V).
    """
    import torch

    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    drop_sorted = mass_before >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_next(logits: Any, *, temperature: float, top_p: float, generators: Sequence[Any] | None) -> Any:
    """Next token per row. ``temperature == 0``: greedy, ``argmax_v logits``. Otherwise an
    inverse-CDF draw from the nucleus distribution ``q = softmax(top_p_filter(logits / T))``:
    with one ``u ~ U(0,1)`` per row (from row ``b``'s own generator) and ``F`` the cumulative sum
    of ``q`` (tokens sorted by probability when ``top_p < 1``), the token is the first ``v`` with
    ``F_v > u * F_V``, which is an exact categorical draw. ``logits``: (B, V) → (B,)."""
    import torch

    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    z = logits.float() / temperature
    b = z.shape[0]
    if generators is None:
        u = torch.rand((b, 1), device=z.device)
    else:
        u = torch.cat([torch.rand(1, generator=g, device=z.device) for g in generators]).unsqueeze(1)
    probs = torch.softmax(z, dim=-1)
    order = None
    if top_p < 1.0:  # nucleus in sorted order: keep token i iff the mass before it is < top_p
        # the nucleus usually lies in the top few hundred tokens: a partial top-k is much cheaper
        # than a full sort, and exact whenever the top-k mass reaches top_p in every row
        probs_s, order = torch.topk(probs, min(NUCLEUS_TOPK, probs.shape[1]), dim=-1)
        if bool((probs_s.sum(-1) < top_p).any()):
            probs_s, order = torch.sort(probs, dim=-1, descending=True)
        probs = probs_s.masked_fill(torch.cumsum(probs_s, dim=-1) - probs_s >= top_p, 0.0)
    cdf = torch.cumsum(probs, dim=-1)
    pick = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp(max=probs.shape[1] - 1)
    return (pick if order is None else order.gather(1, pick)).squeeze(1)


# --------------------------------------------------------------------------- the sampler


@dataclass
class SampleStats:
    """Counters for tokens/s reports. ``new_tokens`` counts generated tokens including the stop
    token; ``seconds`` is wall time spent inside ``sample``/``iter_sample`` (tokenisation included)."""

    prompts: int = 0
    sequences: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


class Sampler:
    """Sample K responses per prompt from a causal LM (see the module docstring).

    Build it from a spec (``Sampler.from_spec("smollm2-135m")``, a local folder, a GGUF file, a
    hub id) or wrap an already loaded ``model`` and ``tokenizer`` (e.g. a PPO policy: ``sample``
    puts the model in eval mode and restores training mode afterwards).
    """

    def __init__(self, model: Any, tokenizer: Any, *, name: str | None = None, device: Any = None):
        import torch

        self.model, self.tokenizer = model, tokenizer
        self.name = name or getattr(getattr(model, "config", None), "_name_or_path", None) or "model"
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        if device is not None:
            self.model.to(self.device)
        self.stop_ids = self._stop_ids()
        self.max_positions = _max_positions(model)
        self.stats = SampleStats()
        self._kw: tuple[str, bool] | None = None

    @classmethod
    def from_spec(cls, spec: str, *, device: Any = None, dtype: Any = None) -> "Sampler":
        from hrlaif.models import load_causal_lm, load_tokenizer, resolve_model

        ref = resolve_model(spec)
        tok = load_tokenizer(ref, padding_side="left")
        model = load_causal_lm(ref, dtype=dtype)
        return cls(model, tok, name=spec, device=device)

    def _stop_ids(self) -> set[int]:
        ids: set[int] = set()
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for v in ([gen_eos] if isinstance(gen_eos, int) else list(gen_eos or [])) + [self.tokenizer.eos_token_id]:
            if v is not None:
                ids.add(int(v))
        if not ids:
            raise ModelError(f"{self.name}: the tokenizer and the generation config name no EOS token")
        return ids

    def render(self, prompt: PromptInput) -> str:
        """The exact text fed to the model for one prompt (chat template, or the raw string)."""
        if isinstance(prompt, str):
            return prompt
        from hrlaif.models import chat_prompt

        return chat_prompt(self.tokenizer, list(prompt))

    # ---------------------------------------------------------------- public API

    def sample(self, messages_list: Sequence[PromptInput], k: int = 1, *, temperature: float = 1.0,
               top_p: float = 1.0, max_new_tokens: int = 128, seed: int = 0, batch_size: int = 8,
               keys: Sequence[str] | None = None, progress: bool = False) -> list[list[Response]]:
        """``k`` responses for each prompt, in input order: ``out[i][j]`` is response ``j`` of
        prompt ``i``. See ``iter_sample`` for the arguments."""
        out: list[list[Response] | None] = [None] * len(messages_list)
        for i, responses in self.iter_sample(messages_list, k, temperature=temperature, top_p=top_p,
                                             max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size,
                                             keys=keys, progress=progress):
            out[i] = responses
        return out  # type: ignore[return-value]

    def iter_sample(self, messages_list: Sequence[PromptInput], k: int = 1, *, temperature: float = 1.0,
                    top_p: float = 1.0, max_new_tokens: int = 128, seed: int = 0, batch_size: int = 8,
                    keys: Sequence[str] | None = None, progress: bool = False
                    ) -> Iterator[tuple[int, list[Response]]]:
        """Yield ``(prompt index, its k responses)`` as soon as a prompt's k rows have finished
        (order: shortest prompts first), so a caller can write results as it goes.

        ``temperature`` 0 → greedy (then the k responses are identical; use k=1). ``top_p`` ∈ (0, 1].
        ``batch_size`` counts response rows decoded together (a prompt's k rows are split over
        batches when k > batch_size). ``keys`` name the prompts for per-row seeding (default: the
        index); pass stable ids so resumed runs reproduce the same samples. ``progress`` shows a bar
        over response rows.
        """
        import torch

        from hrlaif.ui import progress as progress_bar

        if k < 1 or batch_size < 1 or max_new_tokens < 1:
            raise ConfigError(f"k, batch_size and max_new_tokens must be >= 1 "
                              f"(got {k}, {batch_size}, {max_new_tokens})")
        if temperature < 0 or not 0 < top_p <= 1:
            raise ConfigError(f"need temperature >= 0 and 0 < top_p <= 1 (got {temperature}, {top_p})")
        keys = [str(i) for i in range(len(messages_list))] if keys is None else [str(x) for x in keys]
        if len(keys) != len(messages_list):
            raise ConfigError(f"keys must have one entry per prompt ({len(keys)} keys, {len(messages_list)} prompts)")
        t0 = time.perf_counter()
        encoded = [self._encode(self.render(m), max_new_tokens) for m in messages_list]
        order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
        rows = [(i, j) for i in order for j in range(k)]  # a prompt's rows are adjacent
        pending: dict[int, list[Response | None]] = {}
        was_training = self.model.training
        self.model.eval()
        try:
            with progress_bar(len(rows), "sample", enabled=progress, unit="rows") as bar, torch.inference_mode():
                for start in range(0, len(rows), batch_size):
                    batch = rows[start:start + batch_size]
                    gens = None if temperature == 0 else [
                        torch.Generator(device=self.device).manual_seed(row_seed(seed, keys[i], j)) for i, j in batch]
                    results = self._decode_batch([encoded[i] for i, _ in batch], [i for i, _ in batch],
                                                 temperature=temperature, top_p=top_p,
                                                 max_new_tokens=max_new_tokens, generators=gens)
                    for (i, j), resp in zip(batch, results):
                        pending.setdefault(i, [None] * k)[j] = resp
                    bar.advance(len(batch))
                    self.stats.seconds += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    for i in [i for i, r in pending.items() if all(x is not None for x in r)]:
                        self.stats.prompts += 1
                        self.stats.prompt_tokens += len(encoded[i])
                        yield i, pending.pop(i)  # type: ignore[misc]
                        t0 = time.perf_counter()  # do not count the caller's time
        finally:
            if was_training:
                self.model.train()

    # ---------------------------------------------------------------- internals

    def _encode(self, text: str, max_new_tokens: int) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ModelError("a prompt rendered to zero tokens")
        room = (self.max_positions or 10**9) - max_new_tokens
        if room < 1:
            raise ModelError(f"max_new_tokens={max_new_tokens} leaves no room for a prompt "
                             f"(model context {self.max_positions})")
        if len(ids) > room:
            log.warning("prompt of %d tokens truncated to its last %d to fit the context", len(ids), room)
            ids = ids[-room:]
        return ids

    def _forward(self, ids: Any, mask: Any, pos: Any, cache: Any) -> tuple[Any, Any]:
        """One forward pass; returns the last position's logits (B, V) and the KV cache.
        (transformers 5 renamed ``past_key_values`` to ``cache``; both spellings are handled.)"""
        if self._kw is None:
            import inspect

            params = inspect.signature(self.model.forward).parameters
            self._kw = ("cache" if "cache" in params else "past_key_values", "logits_to_keep" in params)
        cache_kw, keep_kw = self._kw
        kw = {cache_kw: cache} if cache is not None else {}
        if keep_kw:
            kw["logits_to_keep"] = 1  # the prefill needs no logits but the last
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **kw)
        new_cache = getattr(out, "cache", None)
        if new_cache is None:
            new_cache = getattr(out, "past_key_values", None)
        return out.logits[:, -1, :], new_cache

    def _decode_batch(self, prompts: list[list[int]], prompt_idx: list[int], *, temperature: float,
                      top_p: float, max_new_tokens: int, generators: list[Any] | None) -> list[Response]:
        """Prefill each distinct prompt once, gather its KV cache for each of its rows, then decode
        with the cache until every row has stopped or hit ``max_new_tokens``."""
        import torch

        uniq = list(dict.fromkeys(prompt_idx))
        first = {p: prompts[prompt_idx.index(p)] for p in uniq}
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.stop_ids)
        width = max(len(first[p]) for p in uniq)
        ids = torch.full((len(uniq), width), pad, dtype=torch.long)
        mask = torch.zeros((len(uniq), width), dtype=torch.long)
        for r, p in enumerate(uniq):  # left padding: the last prompt token sits at column width-1
            ids[r, width - len(first[p]):] = torch.tensor(first[p])
            mask[r, width - len(first[p]):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        gather = torch.tensor([uniq.index(p) for p in prompt_idx], device=self.device)
        logits, cache = self._forward(ids, mask, pos, None)
        ids, mask, pos = ids.index_select(0, gather), mask.index_select(0, gather), pos.index_select(0, gather)
        if _select_rows(cache, gather):  # K rows share one prefill
            logits = logits.index_select(0, gather)
        else:  # a cache without row selection: prefill every row
            logits, cache = self._forward(ids, mask, pos, None)
        last_pos = pos[:, -1]

        n = len(prompt_idx)
        tokens: list[list[int]] = [[] for _ in range(n)]
        finish: list[str | None] = [None] * n
        alive = list(range(n))  # batch row b of the live tensors ↔ response alive[b]
        gens = generators
        for step in range(max_new_tokens):
            nxt = sample_next(logits, temperature=temperature, top_p=top_p, generators=gens).tolist()
            keep = []
            for b, tok in enumerate(nxt):
                r = alive[b]
                if finish[r] is not None:  # only when the cache cannot drop finished rows
                    continue
                tokens[r].append(tok)
                if tok in self.stop_ids:
                    finish[r] = "stop"
                elif step == max_new_tokens - 1:
                    finish[r] = "length"
                else:
                    keep.append(b)
            if not keep or all(finish[r] is not None for r in alive):
                break
            if len(keep) < len(alive):  # drop finished rows from the batch and the cache
                sel = torch.tensor(keep, device=self.device)
                if _select_rows(cache, sel):
                    mask, last_pos = mask.index_select(0, sel), last_pos.index_select(0, sel)
                    alive = [alive[b] for b in keep]
                    gens = None if gens is None else [gens[b] for b in keep]
                    nxt = [nxt[b] for b in keep]
                else:  # a cache type without row selection: keep feeding finished rows
                    nxt = [t if finish[alive[b]] is None else pad for b, t in enumerate(nxt)]
            last_pos = last_pos + 1
            mask = torch.cat([mask, torch.ones((mask.shape[0], 1), dtype=mask.dtype, device=self.device)], dim=1)
            step_ids = torch.tensor(nxt, device=self.device).unsqueeze(1)
            logits, cache = self._forward(step_ids, mask, last_pos.unsqueeze(1), cache)
        responses = []
        for r in range(n):
            toks = tokens[r]
            body = toks[:-1] if finish[r] == "stop" else toks
            text = self.tokenizer.decode(body, skip_special_tokens=True)
            responses.append(Response(text=text, n_tokens=len(toks), finish_reason=finish[r] or "length"))
        self.stats.sequences += n
        self.stats.new_tokens += sum(len(t) for t in tokens)
        return responses


def _has_select(cache: Any) -> bool:
    return hasattr(cache, "batch_select_indices")


def _select_rows(cache: Any, index: Any) -> bool:
    """Keep (or repeat) batch rows ``index`` of a KV cache in place; False if unsupported."""
    if not _has_select(cache):
        return False
    cache.batch_select_indices(index)
    return True


def _max_positions(model: Any) -> int | None:
    cfg = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        v = getattr(cfg, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    return None
