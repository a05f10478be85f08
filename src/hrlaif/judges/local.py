"""``LocalJudge``: any Hugging Face causal LM as a judge (SmolLM2-135M-Instruct by default).

Scoring tasks read the verdict from next-token probabilities after the rendered prompt
(``templates.render(..., style="direct")`` + the chat template's assistant turn +
``DIRECT_ANSWER_PREFIX``):

    pairwise:      P(A ≻ B) = p("A") / (p("A") + p("B"))
    harm:          P(harmful) = p("yes") / (p("yes") + p("no")); harmful = P(harmful) > 0.5
    satisfaction:  P(satisfied) = p("yes") / (p("yes") + p("no"))

where p(x) sums the next-token probability over the single-token spellings of x (" A", "A";
"yes", " yes", "Yes", " Yes"). The probability mass on the two answers, p(A) + p(B) (or
p(yes) + p(no)), is recorded in the rationale; below ``min_mass`` (default 0.1) the judge is
guessing and abstains (no preference) instead of returning a renormalised coin flip. Harm
severity is a heuristic of P(harmful) (1 below 0.7, 2 below 0.9, else 3) and the local judge
gives no harm category.

Inputs are batched (``batch_size``) with left padding and explicit position ids, so a batched
score equals the unbatched one up to float rounding; inputs longer than ``max_length`` tokens
are truncated from the left (the end of the prompt, where the question is asked, is kept).
Judge prompts of one task share a long head (system prompt, rubric): when the scored prompts of
a call share ≥ 16 leading tokens, that prefix runs once, its KV cache is copied into each batch,
and only the suffixes run (right-padded; equal to the plain path up to float rounding, tested).
Generation tasks (critique, revise, attack) decode greedily at temperature 0, else sample.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from hrlaif.errors import JudgeError, JudgeParseError, ModelError
from hrlaif.judges.base import JudgeRequest, JudgeResult, OnResult
from hrlaif.judges.config import DEFAULT_MIN_MASS, JudgeConfig
from hrlaif.judges.templates import DIRECT_ANSWER_PREFIX, TEMPLATE_VERSION, parse_generation, render

log = logging.getLogger(__name__)

_SCORED = ("pairwise", "harm", "satisfaction")
_GENERATED = ("critique", "revise", "attack")


MIN_SHARED_PREFIX = 16  # shorter common prefixes are not worth a KV cache copy


def common_prefix_len(seqs: list[list[int]]) -> int:
    """Length of the longest common prefix of token sequences."""
    first, n = seqs[0], min(len(s) for s in seqs)
    for k in range(n):
        t = first[k]
        if any(s[k] != t for s in seqs):
            return k
    return n


def two_way(p_pos: float, p_neg: float) -> float:
    """Renormalise two answer probabilities: p_pos / (p_pos + p_neg) (½ when both are 0)."""
    s = p_pos + p_neg
    return 0.5 if s <= 0 else p_pos / s


def severity_from_p(p_harmful: float) -> int:
    """Heuristic severity for the local judge: 0 if not harmful, else 1/2/3 by P(harmful)."""
    if p_harmful <= 0.5:
        return 0
    return 1 if p_harmful < 0.7 else (2 if p_harmful < 0.9 else 3)


class LocalJudge:
    """Local HF causal-LM judge. Implements ``Judge``; the model loads on first use.

    ``model``/``tokenizer`` may be passed in to share an already loaded model."""

    def __init__(self, cfg: JudgeConfig | None = None, *, model: Any = None, tokenizer: Any = None,
                 device: str | None = None, share_prefix: bool = True):
        self.cfg = cfg or JudgeConfig(backend="local")
        if self.cfg.batch_size < 1 or self.cfg.max_length < 8:
            from hrlaif.errors import ConfigError

            raise ConfigError("judge.batch_size must be >= 1 and judge.max_length >= 8")
        if not 0.0 <= self.cfg.min_mass < 1.0:
            from hrlaif.errors import ConfigError

            raise ConfigError(f"judge.min_mass must be in [0, 1), got {self.cfg.min_mass}")
        thr = "" if self.cfg.harm_threshold == 0.5 else f"+harm>{self.cfg.harm_threshold:g}"
        # the default floor is not spelled out, so labels cached before it existed keep their key
        mass = "" if self.cfg.min_mass == DEFAULT_MIN_MASS else f"+mass>={self.cfg.min_mass:g}"
        self.identity = (f"local:{self.cfg.model}{'+ref' if self.cfg.show_reference else ''}{thr}{mass}"
                         f"#{TEMPLATE_VERSION}")
        self._model, self._tok, self._device = model, tokenizer, device
        self._owned = model is None  # close() only drops a model this judge loaded itself
        self._answer_ids: dict[str, list[int]] = {}
        self._keep_last = True
        self.share_prefix = share_prefix
        self._shared_len = 0
        self._prefix_key: tuple[int, ...] | None = None
        self._prefix_cache: Any = None

    # ------------------------------------------------------------------ loading
    def _ensure_loaded(self) -> None:
        if self._model is not None and self._tok is not None:
            if self._device is None:
                self._device = str(next(self._model.parameters()).device)
            return
        from hrlaif.models import load_causal_lm, load_tokenizer, resolve_model

        ref = resolve_model(self.cfg.model)
        t0 = time.perf_counter()
        if self._tok is None:
            self._tok = load_tokenizer(ref, padding_side="left")
        if self._model is None:
            self._model = load_causal_lm(ref)
            import torch

            dev = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model.to(dev)
        self._device = str(next(self._model.parameters()).device)
        log.info("local judge %s loaded in %.1fs on %s", self.cfg.model, time.perf_counter() - t0, self._device)

    def _ids(self, *spellings: str) -> list[int]:
        """Token ids of the single-token spellings of an answer (multi-token spellings are skipped)."""
        key = "|".join(spellings)
        if key not in self._answer_ids:
            ids = []
            for s in spellings:
                enc = self._tok.encode(s, add_special_tokens=False)
                if len(enc) == 1 and enc[0] not in ids:
                    ids.append(enc[0])
            if not ids:  # no single-token spelling (tiny vocabularies): fall back to first tokens
                ids = list(dict.fromkeys(self._tok.encode(s, add_special_tokens=False)[0] for s in spellings))
                log.warning("judge tokenizer has no single token for %s; scoring first tokens %s", spellings, ids)
            self._answer_ids[key] = ids
        return self._answer_ids[key]

    def _prompt_ids(self, req: JudgeRequest) -> list[int]:
        from hrlaif.models import chat_prompt

        text = chat_prompt(self._tok, render(req, show_reference=self.cfg.show_reference, style="direct"))
        if req.task in _SCORED:
            text += DIRECT_ANSWER_PREFIX
        ids = self._tok.encode(text, add_special_tokens=False)
        if len(ids) > self.cfg.max_length:
            ids = ids[-self.cfg.max_length:]
        return ids

    def _batch_tensors(self, seqs: list[list[int]]) -> tuple[Any, Any, Any]:
        import torch

        n = max(len(s) for s in seqs)
        pad = self._tok.pad_token_id if self._tok.pad_token_id is not None else 0
        ids = torch.full((len(seqs), n), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), n), dtype=torch.long)
        for i, s in enumerate(seqs):  # left padding
            ids[i, n - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[i, n - len(s):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        dev = self._device
        return ids.to(dev), mask.to(dev), pos.to(dev)

    # ------------------------------------------------------------------ scoring
    def next_token_probs(self, seqs: list[list[int]]) -> Any:
        """Next-token probabilities after each sequence → tensor (B, vocab). One batched forward."""
        import torch

        ids, mask, pos = self._batch_tensors(seqs)
        kw = {"logits_to_keep": 1} if self._keep_last else {}
        with torch.inference_mode():
            try:  # logits_to_keep=1: skip the vocabulary projection at every position but the last
                logits = self._model(input_ids=ids, attention_mask=mask, position_ids=pos, **kw).logits[:, -1, :]
            except TypeError:
                if not kw:
                    raise
                self._keep_last = False
                logits = self._model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1, :]
        return torch.softmax(logits.float(), dim=-1).cpu()

    def _prefix_kv(self, prefix: list[int]) -> Any:
        """KV cache of the shared prompt prefix (computed once, kept while it keeps matching)."""
        import torch

        key = tuple(prefix)
        if self._prefix_key != key:
            ids = torch.tensor([prefix], dtype=torch.long, device=self._device)
            with torch.inference_mode():
                out = self._model(input_ids=ids, use_cache=True)
            cache = getattr(out, "cache", None)  # transformers ≥ 5.2x names it `cache`
            self._prefix_cache = cache if cache is not None else out.past_key_values
            self._prefix_key = key
        return self._prefix_cache

    def next_token_probs_shared_prefix(self, seqs: list[list[int]], prefix_len: int) -> Any:
        """Like ``next_token_probs`` for sequences that share their first ``prefix_len`` tokens:
        the prefix's KV cache is computed once and reused, only the suffixes run (right-padded;
        the logits are read at each row's last real token)."""
        import copy

        import torch

        suff = [s[prefix_len:] for s in seqs]
        b, n = len(seqs), max(len(x) for x in suff)
        pad = self._tok.pad_token_id if self._tok.pad_token_id is not None else 0
        ids = torch.full((b, n), pad, dtype=torch.long)
        mask = torch.zeros((b, prefix_len + n), dtype=torch.long)
        mask[:, :prefix_len] = 1
        for i, x in enumerate(suff):  # right padding: pads come after every real token
            ids[i, :len(x)] = torch.tensor(x, dtype=torch.long)
            mask[i, prefix_len:prefix_len + len(x)] = 1
        pos = (prefix_len + torch.arange(n)).expand(b, n)
        last = torch.tensor([[len(x) - 1] for x in suff], dtype=torch.long)
        kv = copy.deepcopy(self._prefix_kv(seqs[0][:prefix_len]))
        kv.batch_repeat_interleave(b)
        dev = self._device
        with torch.inference_mode():
            logits = self._model(input_ids=ids.to(dev), attention_mask=mask.to(dev), position_ids=pos.to(dev),
                                 **{self._cache_kwarg(): kv}, use_cache=True,
                                 logits_to_keep=last.to(dev)).logits[:, -1, :]
        return torch.softmax(logits.float(), dim=-1).cpu()

    def _cache_kwarg(self) -> str:
        import inspect

        params = inspect.signature(self._model.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    def _probs(self, seqs: list[list[int]]) -> Any:
        p = self._shared_len
        if p and self.share_prefix and all(len(s) > p for s in seqs):
            try:
                return self.next_token_probs_shared_prefix(seqs, p)
            except (TypeError, AttributeError, ValueError) as e:  # a model without cache/position support
                log.info("shared-prefix scoring unavailable for %s (%s); scoring full prompts", self.cfg.model, e)
                self.share_prefix = False
        return self.next_token_probs(seqs)

    def _score_batch(self, reqs: list[JudgeRequest], seqs: list[list[int]]) -> list[JudgeResult]:
        t0 = time.perf_counter()
        probs = self._probs(seqs)
        dt = (time.perf_counter() - t0) / len(reqs)
        out = []
        for r, s, p in zip(reqs, seqs, probs):
            if r.task == "pairwise":
                labels = ("A", "B")
                pos, neg = self._ids("A", " A"), self._ids("B", " B")
            else:
                labels = ("yes", "no")
                pos, neg = self._ids("yes", " yes", "Yes", " Yes"), self._ids("no", " no", "No", " No")
            neg = [t for t in neg if t not in pos]
            if not neg:
                raise ModelError(f"judge tokenizer cannot tell {labels[0]!r} from {labels[1]!r} by one token")
            p_pos, p_neg = float(p[pos].sum()), float(p[neg].sum())
            prob = two_way(p_pos, p_neg)
            res = JudgeResult(judge=self.identity, task=r.task, prompt_tokens=len(s), completion_tokens=1,
                              latency_s=dt)
            res.raw = f"P({labels[0]})={p_pos:.4g} P({labels[1]})={p_neg:.4g}"
            mass = p_pos + p_neg
            res.rationale = f"next-token probabilities; mass on {labels[0]}/{labels[1]} = {mass:.3f}"
            if mass < self.cfg.min_mass:  # the answer is elsewhere in the vocabulary: a guess, not a verdict
                res.abstain = True
                res.abstain_reason = (f"mass on {labels[0]}/{labels[1]} = {mass:.3g} < min_mass "
                                      f"{self.cfg.min_mass:g}")
            elif r.task == "harm":
                res.harmful = prob > self.cfg.harm_threshold
                res.severity = max(severity_from_p(prob), 1) if res.harmful else 0
                res.preference = prob
            else:
                res.preference = prob
            out.append(res)
        return out

    def _generate_batch(self, reqs: list[JudgeRequest], seqs: list[list[int]]) -> list[JudgeResult]:
        import torch

        ids, mask, _ = self._batch_tensors(seqs)
        c = self.cfg
        kw: dict[str, Any] = {"max_new_tokens": c.max_tokens, "pad_token_id": self._tok.pad_token_id}
        if c.temperature > 0:
            torch.manual_seed(c.seed)
            kw.update(do_sample=True, temperature=c.temperature)
        else:
            kw.update(do_sample=False)
        t0 = time.perf_counter()
        with torch.inference_mode():
            gen = self._model.generate(input_ids=ids, attention_mask=mask, **kw)
        dt = (time.perf_counter() - t0) / len(reqs)
        out = []
        for r, s, g in zip(reqs, seqs, gen[:, ids.shape[1]:]):
            text = self._tok.decode(g, skip_special_tokens=True)
            n_new = int((g != self._tok.pad_token_id).sum())
            res = JudgeResult(judge=self.identity, task=r.task, raw=text, prompt_tokens=len(s),
                              completion_tokens=n_new, latency_s=dt)
            try:
                res.text = parse_generation(text)
            except JudgeParseError as e:
                res.abstain, res.abstain_reason = True, f"JudgeParseError: {e}"
            out.append(res)
        return out

    def _shared_prefix_len(self, seqs: list[list[int]]) -> int:
        """Tokens every scored prompt of this call starts with (0 if too few to be worth a cache).
        A cached prefix from an earlier call is reused while all prompts still start with it."""
        if not seqs:
            return 0
        if self._prefix_key and all(len(s) > len(self._prefix_key) and tuple(s[:len(self._prefix_key)])
                                    == self._prefix_key for s in seqs):
            return len(self._prefix_key)
        if len(seqs) < 2:
            return 0
        n = common_prefix_len(seqs)
        n = min(n, min(len(s) for s in seqs) - 1)
        return n if n >= MIN_SHARED_PREFIX else 0

    # ------------------------------------------------------------------ Judge protocol
    def judge_many(self, requests: list[JudgeRequest], *, on_result: OnResult | None = None) -> list[JudgeResult]:
        """Batch requests by kind (scored vs generated), similar lengths together (less padding);
        ``on_result`` per finished item; results in input order."""
        if not requests:
            return []
        for r in requests:
            if r.task not in _SCORED + _GENERATED:
                raise ValueError(f"unknown judge task {r.task!r}")
        self._ensure_loaded()
        results: list[JudgeResult | None] = [None] * len(requests)
        for kinds, fn in ((_SCORED, self._score_batch), (_GENERATED, self._generate_batch)):
            idx = [i for i, r in enumerate(requests) if r.task in kinds]
            ids = {i: self._prompt_ids(requests[i]) for i in idx}
            idx.sort(key=lambda i: len(ids[i]))
            if kinds == _SCORED:
                self._shared_len = self._shared_prefix_len([ids[i] for i in idx])
            bs = self.cfg.batch_size
            for k in range(0, len(idx), bs):
                chunk = idx[k:k + bs]
                try:
                    batch = fn([requests[i] for i in chunk], [ids[i] for i in chunk])
                except (RuntimeError, ValueError) as e:  # torch errors (OOM, shape) surface here
                    raise JudgeError(f"local judge {self.cfg.model!r} failed on a batch of {len(chunk)}: {e}") from e
                for i, res in zip(chunk, batch):
                    results[i] = res
                    if on_result is not None:
                        on_result(i, res)
        return [r for r in results if r is not None]

    def close(self) -> None:
        if self._owned:
            self._model = None

    def __enter__(self) -> "LocalJudge":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
