"""Benchmark accuracy: GSM8K, MMLU, C-Eval (generative, scored by the verifier; multiple choice
optionally also by log-likelihood of the options) and HumanEval (pass@1 in the code sandbox).

Every benchmark runs the same way: load a seeded subset of its prompts from the local data
folder (``hrlaif.prompts.load_prompt_set``), generate one response per prompt, write them as
ResponseSet JSONL (``responses_<name>.jsonl``), verify each (``hrlaif.verify.verify_response``)
and write the per-item verdicts (``items_<name>.jsonl``). Accuracy comes with a percentile
bootstrap and a Wilson interval, and a per-subject breakdown where prompts name a subject
(MMLU, C-Eval). With greedy decoding and one sample, pass@1 is the share of problems whose
completion passes the tests.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hrlaif.data import GenerationInfo, Prompt, ResponseSet, read_records, write_jsonl
from hrlaif.errors import ConfigError
from hrlaif.evaluation.metrics import group_by, summarize_binary

log = logging.getLogger(__name__)

BENCHMARKS = {"gsm8k": "accuracy", "mmlu": "accuracy", "ceval": "accuracy", "humaneval": "pass@1"}
TOXICITY_SETS = ("toxigen", "beavertails")


@dataclass
class GenSettings:
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    batch_size: int = 8
    seed: int = 0


def load_prompts(name: str, data_dir: str | None, *, limit: int | None, seed: int) -> list[Prompt]:
    """A named prompt set (``hrlaif.prompts``) or a Prompt JSONL/Parquet file, seeded subset of ``limit``."""
    from hrlaif.prompts import load_prompts as _load

    return _load(name, data_dir, limit=limit or None, seed=seed)


def set_label(name: str) -> str:
    """A file-name-safe label for a set (a path becomes its stem; ``arith:test`` becomes ``arith-test``)."""
    p = Path(name)
    return p.stem if p.suffix else name.replace(":", "-")


def _prompt_input(p: Prompt) -> Any:
    """What the sampler gets: a raw continuation string when the prompt asks for one
    (``metadata["raw_prompt"]``, e.g. ToxiGen's "- sentence\\n- sentence\\n-"), else the chat."""
    raw = p.metadata.get("raw_prompt")
    return raw if isinstance(raw, str) and raw else list(p.messages)


def generate(sampler: Any, prompts: Sequence[Prompt], gen: GenSettings, out_path: Path, *, reuse: bool = True
             ) -> list[ResponseSet]:
    """One response per prompt (greedy by default), written to ``out_path`` as ResponseSet JSONL.

    With ``reuse`` an existing file made by the same model for exactly these prompt ids is read
    back instead of generating again (so a rerun that only changes scoring is cheap).
    """
    info = GenerationInfo(model=getattr(sampler, "name", "model"), temperature=gen.temperature, top_p=gen.top_p,
                          max_new_tokens=gen.max_new_tokens, seed=gen.seed)
    if reuse and out_path.exists():
        old = read_records(out_path, ResponseSet, allow_empty=True)
        if [r.prompt_id for r in old] == [p.id for p in prompts] and old and old[0].generation == info:
            log.info("reusing %d responses from %s", len(old), out_path)
            return old
    t0 = time.perf_counter()
    outs = sampler.sample([_prompt_input(p) for p in prompts], k=1, temperature=gen.temperature, top_p=gen.top_p,
                          max_new_tokens=gen.max_new_tokens, seed=gen.seed, batch_size=gen.batch_size,
                          keys=[p.id for p in prompts], progress=True)
    sets = [ResponseSet(prompt_id=p.id, prompt=p, responses=r, generation=info) for p, r in zip(prompts, outs)]
    write_jsonl(out_path, sets)
    log.info("generated %d responses in %.1f s → %s", len(sets), time.perf_counter() - t0, out_path)
    return sets


def verify_sets(sets: Sequence[ResponseSet]) -> list[dict]:
    """Verify each set's first response (code in parallel sandboxes); one item dict per set:
    prompt id, subject, correct, extracted answer, reason, verifier."""
    from hrlaif.ui import progress
    from hrlaif.verify import verify_many

    with progress(len(sets), "verify") as bar:
        verdicts = verify_many([(rs.prompt, rs.responses[0].text) for rs in sets], on_done=lambda i, v: bar.advance())
    items = []
    for rs, v in zip(sets, verdicts):
        items.append({"prompt_id": rs.prompt_id, "category": rs.prompt.category, "subject": subject_of(rs.prompt),
                      "correct": None if v is None else v.correct,
                      "extracted": None if v is None else v.extracted,
                      "reason": "no verifier for this prompt" if v is None else v.reason,
                      "verifier": None if v is None else v.verifier})
    return items


def subject_of(p: Prompt) -> str | None:
    md = p.metadata or {}
    for key in ("subject", "subset", "group"):
        if isinstance(md.get(key), str):
            return md[key]
    return None


def summarize_items(items: Sequence[dict], key: str, *, n_boot: int, confidence: float, seed: int) -> dict:
    """Accuracy of ``item[key]`` overall and per subject."""
    kw = dict(n_boot=n_boot, confidence=confidence, seed=seed)
    s = summarize_binary([it[key] for it in items], **kw)
    out = {"accuracy": s.pop("value"), **s}
    subjects = [it.get("subject") for it in items]
    if any(subjects):
        per = {}
        for subj, its in sorted(group_by([x or "?" for x in subjects], list(items)).items()):
            ss = summarize_binary([it[key] for it in its], **kw)
            per[subj] = {"accuracy": ss.pop("value"), **ss}
        out["per_subject"] = per
    return out


def loglik_items(sampler: Any, sets: Sequence[ResponseSet], items: list[dict], *, target: str, normalize: str,
                 batch_size: int) -> None:
    """Add ``loglik_pred`` and ``loglik_correct`` to the multiple-choice items (in place)."""
    from hrlaif.evaluation.loglik import LETTERS, mc_context, score_choices

    mc = [(rs, it) for rs, it in zip(sets, items) if rs.prompt.choices]
    if not mc:
        return
    ctxs = [mc_context(sampler.tokenizer, rs.prompt.messages) for rs, _ in mc]
    scored = score_choices(sampler.model, sampler.tokenizer, ctxs, [rs.prompt.choices for rs, _ in mc],
                           target=target, normalize=normalize, batch_size=batch_size)  # type: ignore[arg-type]
    for (rs, it), sc in zip(mc, scored):
        ref = (rs.prompt.reference or "").strip().upper()
        if ref.isdigit() and int(ref) < len(rs.prompt.choices or []):
            ref = LETTERS[int(ref)]
        it["loglik_pred"] = sc["pred"]
        it["loglik_logprobs"] = sc["logprobs"]
        it["loglik_correct"] = sc["pred"] == ref


def run_benchmark(name: str, sampler: Any, out_dir: Path, *, data_dir: str | None, limit: int | None, seed: int,
                  gen: GenSettings, mc_scoring: str = "generate", loglik_target: str = "letter",
                  loglik_normalize: str = "sum", n_boot: int = 1000, confidence: float = 0.95,
                  reuse: bool = True) -> tuple[dict, list[ResponseSet]]:
    """Evaluate one benchmark; returns (its eval.json entry, the response sets)."""
    if mc_scoring not in ("generate", "loglik", "both"):
        raise ConfigError(f"mc_scoring must be generate, loglik or both, got {mc_scoring!r}")
    label = set_label(name)
    t0 = time.perf_counter()
    prompts = load_prompts(name, data_dir, limit=limit, seed=seed)
    is_mc = any(p.choices for p in prompts)
    gen_needed = not (is_mc and mc_scoring == "loglik")
    sets = generate(sampler, prompts, gen, out_dir / f"responses_{label}.jsonl", reuse=reuse) if gen_needed else [
        ResponseSet(prompt_id=p.id, prompt=p, responses=[], generation=GenerationInfo(model=sampler.name))
        for p in prompts]
    if gen_needed:
        items = verify_sets(sets)
    else:
        items = [{"prompt_id": p.id, "category": p.category, "subject": subject_of(p)} for p in prompts]
    entry: dict = {"metric": BENCHMARKS.get(label, "accuracy"),
                   "category": prompts[0].category if prompts else None, "n_prompts": len(prompts)}
    if gen_needed:
        entry.update(summarize_items(items, "correct", n_boot=n_boot, confidence=confidence, seed=seed))
        entry["responses_file"] = f"responses_{label}.jsonl"
    if is_mc and mc_scoring in ("loglik", "both"):
        loglik_items(sampler, sets, items, target=loglik_target, normalize=loglik_normalize,
                     batch_size=gen.batch_size)
        ll = summarize_items(items, "loglik_correct", n_boot=n_boot, confidence=confidence, seed=seed)
        entry["loglik"] = {**ll, "target": loglik_target, "normalize": loglik_normalize}
        if not gen_needed:  # log-likelihood only: it is the benchmark's accuracy
            entry.update({k: v for k, v in ll.items()})
            entry["scoring"] = "loglik"
    entry.setdefault("scoring", "generate" if gen_needed else "loglik")
    write_jsonl(out_dir / f"items_{label}.jsonl", items)
    entry["items_file"] = f"items_{label}.jsonl"
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    return entry, [s for s in sets if s.responses]
