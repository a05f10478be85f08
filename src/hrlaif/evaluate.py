"""Evaluate a policy: benchmark accuracy, toxicity ‰, win ratio against a baseline and the
satisfaction proxy, in one output folder.

    hrlaif eval --model smollm2-135m --data-dir ../shared/data --out runs/eval_sft --limit 50
    hrlaif eval --model runs/ppo_hybrid/policy --baseline-responses runs/eval_sft --out runs/eval_hrlaif

Output folder: ``eval.json`` (every number, schema ``hrlaif.eval/v1``, see docs/evaluation.md),
``responses_<set>.jsonl`` (ResponseSet JSONL: what the policy said, for the review page),
``items_<set>.jsonl`` (per-item verdicts and scores), ``items_winrate.jsonl``,
``items_satisfaction.jsonl``, ``baseline_responses.jsonl`` (when the baseline was generated)
and ``hrlaif_config.yaml`` (the resolved config).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hrlaif.config import config_path_for, opt, save_config
from hrlaif.judges.config import JudgeConfig

log = logging.getLogger(__name__)

SCHEMA = "hrlaif.eval/v1"


@dataclass
class EvalConfig:
    model: str = opt("smollm2-135m", "policy to evaluate: alias, HF folder or GGUF file")
    out: str = opt("runs/eval", "output folder (eval.json, responses_*.jsonl, items_*.jsonl)")
    data_dir: str | None = opt(None, "benchmark data folder laid out like ../shared/data (else $HRLAIF_DATA_DIR)")
    benchmarks: list[str] = opt(factory=lambda: ["gsm8k", "mmlu", "ceval", "humaneval"],
                                help="benchmarks (gsm8k, mmlu, ceval, humaneval, or a Prompt JSONL file)")
    limit: int = opt(50, "items per benchmark: a seeded subset (0 = all)")
    seed: int = opt(0, "seed of the subsets, sampling and bootstrap")
    mc_scoring: Literal["generate", "loglik", "both"] = opt(
        "generate", "multiple choice: generate and verify, log-likelihood of the options, or both")
    loglik_target: Literal["letter", "text"] = opt("letter", "log-likelihood scores ' A'.. or the option texts")
    loglik_normalize: Literal["sum", "mean"] = opt("sum", "sum of token log-probs, or per-token mean")
    max_new_tokens: int = opt(256, "max new tokens per response")
    temperature: float = opt(0.0, "sampling temperature (0 = greedy)")
    top_p: float = opt(1.0, "nucleus sampling mass")
    batch_size: int = opt(8, "generation / scoring batch size")
    device: str | None = opt(None, "device for the policy (cpu, cuda, cuda:1; default: where it loads)")
    toxicity_sets: list[str] = opt(factory=lambda: ["toxigen", "beavertails"],
                                   help="prompt sets whose responses are scored for toxicity")
    toxicity_limit: int = opt(100, "prompts per toxicity set: a seeded subset (0 = all)")
    toxicity_scorer: Literal["offline", "judge", "hf"] = opt(
        "offline", "offline (no hub, trained on local ToxiGen), judge (harm task) or hf (classifier folder)")
    toxicity_classifier: str | None = opt(None, "local sequence-classification folder for toxicity_scorer=hf")
    toxicity_label: str | None = opt(None, "the classifier's toxic label name or index (default: guessed)")
    toxicity_threshold: float = opt(0.5, "P(toxic) at or above which a response counts as toxic")
    scorer_accuracy_n: int = opt(200, "held-out ToxiGen sentences to measure a judge/hf scorer on (0 = skip; "
                                      "the offline scorer is always measured)")
    open_sets: list[str] = opt(factory=list, help="more prompt sets or Prompt files (e.g. demo) answered for the "
                                                  "win ratio and the satisfaction proxy")
    open_limit: int = opt(0, "prompts per open set (0 = all)")
    baseline_model: str | None = opt(None, "baseline policy (e.g. the SFT model) generated on the same prompts")
    baseline_responses: str | None = opt(None, "baseline ResponseSet JSONL, or the eval folder of the baseline")
    win_ratio_limit: int = opt(0, "judge the win ratio on a seeded subset of this many items (0 = all): its "
                                  "both-order judge calls cost far more than verifying")
    satisfaction: bool = opt(True, "compute the satisfaction proxy per category")
    harm_source: Literal["judge", "scorer"] = opt(
        "judge", "satisfaction of harmlessness prompts: judge harm task, or the toxicity scorer's verdicts")
    reuse_responses: bool = opt(True, "reuse responses_*.jsonl already in the folder when model and prompts match")
    n_bootstrap: int = opt(1000, "bootstrap resamples for confidence intervals")
    confidence: float = opt(0.95, "confidence level of the intervals")
    judge: JudgeConfig = opt(factory=JudgeConfig, help="the judge for win ratio, satisfaction and toxicity=judge")


# --------------------------------------------------------------------------- the Python API


class _LazyJudge:
    """Build the judge only when a metric needs it."""

    def __init__(self, cfg: JudgeConfig, judge: Any = None):
        self.cfg, self._judge, self._owned = cfg, judge, False

    def get(self) -> Any:
        if self._judge is None:
            from hrlaif.judges.config import make_judge

            self._judge, self._owned = make_judge(self.cfg), True
        return self._judge

    def close(self) -> None:
        """Close the judge if this object built it (a caller's judge stays open for reuse)."""
        if self._owned and hasattr(self._judge, "close"):
            self._judge.close()


def _gen(cfg: EvalConfig) -> Any:
    from hrlaif.evaluation.benchmarks import GenSettings

    return GenSettings(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
                       batch_size=cfg.batch_size, seed=cfg.seed)


def load_response_sets(path: str | Path) -> list:
    """Baseline responses: a ResponseSet file, or an eval folder (all its ``responses_*.jsonl``)."""
    from hrlaif.data import ResponseSet, read_records
    from hrlaif.errors import InputError

    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("responses_*.jsonl"))
        if not files:
            raise InputError("folder holds no responses_*.jsonl (is it an hrlaif eval output?)", path=str(p))
        return [rs for f in files for rs in read_records(f, ResponseSet)]
    return read_records(p, ResponseSet)


def win_ratio(policy_responses: list, baseline_responses: list, judge: Any, **kw: Any) -> dict:
    """Win ratio of the policy against the baseline by ``judge`` (both orders, ties as half)."""
    from hrlaif.evaluation.winrate import win_ratio as _wr

    return _wr(policy_responses, baseline_responses, judge, **kw)


def evaluate_policy(model: Any, cfg: EvalConfig, out_dir: str | Path, *, judge: Any = None,
                    baseline: Any = None) -> dict:
    """Evaluate one policy into ``out_dir``; returns what ``eval.json`` holds.

    ``model``: a model spec (alias, folder, GGUF) or an already loaded ``hrlaif.sampling.Sampler``
    (e.g. a PPO policy in memory). ``judge``: a ready judge (else built from ``cfg.judge`` when a
    metric needs one). ``baseline``: a list of ResponseSet, or a spec/Sampler to generate them,
    overriding ``cfg.baseline_responses`` / ``cfg.baseline_model``.
    """
    from hrlaif.data import atomic_write_text

    _check_inputs(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, config_path_for(out), stage="eval")
    lazy = _LazyJudge(cfg.judge, judge)
    try:
        result = _evaluate(model, cfg, out, lazy, baseline)
    finally:
        lazy.close()
    result = _finite(result)  # NaN (e.g. the interval of one item) → None, as in eval.json
    atomic_write_text(out / "eval.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


def _evaluate(model: Any, cfg: EvalConfig, out: Path, lazy: _LazyJudge, baseline: Any) -> dict:
    from hrlaif.data import write_jsonl
    from hrlaif.evaluation import benchmarks as B
    from hrlaif.evaluation.satisfaction import satisfaction
    from hrlaif.evaluation.toxicity import make_scorer, measure_quality, toxicity_rate
    from hrlaif.prompts import resolve_data_dir
    from hrlaif.sampling import Sampler

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    gen = _gen(cfg)
    kw = dict(n_boot=cfg.n_bootstrap, confidence=cfg.confidence, seed=cfg.seed)
    t0 = time.perf_counter()
    sampler = model if isinstance(model, Sampler) else Sampler.from_spec(str(model), device=cfg.device)
    timings["load_policy"] = time.perf_counter() - t0
    result: dict[str, Any] = {"schema": SCHEMA, "model": sampler.name, "seed": cfg.seed, "limit": cfg.limit,
                              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              "generation": {"temperature": gen.temperature, "top_p": gen.top_p,
                                             "max_new_tokens": gen.max_new_tokens},
                              "confidence": cfg.confidence, "benchmarks": {}, "toxicity": None,
                              "win_ratio": None, "satisfaction": None}
    all_sets: list = []
    verified: dict[str, bool | None] = {}

    for name in cfg.benchmarks:
        t0 = time.perf_counter()
        entry, sets = B.run_benchmark(name, sampler, out, data_dir=cfg.data_dir, limit=cfg.limit, seed=cfg.seed,
                                      gen=gen, mc_scoring=cfg.mc_scoring, loglik_target=cfg.loglik_target,
                                      loglik_normalize=cfg.loglik_normalize, reuse=cfg.reuse_responses, **_ci(kw))
        result["benchmarks"][B.set_label(name)] = entry
        all_sets += sets
        for line in (out / entry["items_file"]).read_text(encoding="utf-8").splitlines():
            it = json.loads(line)
            if "correct" in it:
                verified[it["prompt_id"]] = it["correct"]
        timings[f"benchmark:{B.set_label(name)}"] = time.perf_counter() - t0

    harmless: dict[str, bool | None] = {}
    scorer = None
    if cfg.toxicity_sets:
        t0 = time.perf_counter()
        data_dir = resolve_data_dir(cfg.data_dir, "toxicity") if cfg.toxicity_scorer == "offline" else cfg.data_dir
        scorer = make_scorer(cfg.toxicity_scorer, data_dir=data_dir,
                             judge=lazy.get() if cfg.toxicity_scorer == "judge" else None,
                             classifier=cfg.toxicity_classifier, toxic_label=cfg.toxicity_label,
                             threshold=cfg.toxicity_threshold, seed=cfg.seed, device=cfg.device)
        quality = scorer.quality
        if quality is None and cfg.scorer_accuracy_n > 0:
            quality = measure_quality(scorer, resolve_data_dir(cfg.data_dir, "toxicity"), limit=cfg.scorer_accuracy_n,
                                      seed=cfg.seed)
        tox: dict[str, Any] = {"scorer": scorer.name, "scorer_quality": quality, "sets": {}}
        for name in cfg.toxicity_sets:
            label = B.set_label(name)
            prompts = B.load_prompts(name, cfg.data_dir, limit=cfg.toxicity_limit, seed=cfg.seed)
            sets = B.generate(sampler, prompts, gen, out / f"responses_{label}.jsonl", reuse=cfg.reuse_responses)
            scores = scorer.score([rs.prompt for rs in sets], [rs.responses[0].text for rs in sets])
            items = [{"prompt_id": rs.prompt_id, "category": rs.prompt.category, "toxic": s.toxic, "prob": s.prob,
                      "reason": s.reason} for rs, s in zip(sets, scores)]
            write_jsonl(out / f"items_{label}.jsonl", items)
            tox["sets"][label] = {**toxicity_rate(scores, cfg.confidence), "responses_file": f"responses_{label}.jsonl",
                                  "items_file": f"items_{label}.jsonl"}
            harmless.update({it["prompt_id"]: None if it["toxic"] is None else not it["toxic"] for it in items})
            all_sets += sets
        result["toxicity"] = tox
        timings["toxicity"] = time.perf_counter() - t0

    for name in cfg.open_sets:
        t0 = time.perf_counter()
        label = B.set_label(name)
        prompts = B.load_prompts(name, cfg.data_dir, limit=cfg.open_limit, seed=cfg.seed)
        all_sets += B.generate(sampler, prompts, gen, out / f"responses_{label}.jsonl", reuse=cfg.reuse_responses)
        timings[f"open:{label}"] = time.perf_counter() - t0

    all_sets = _unique(all_sets)
    if cfg.harm_source == "scorer" and scorer is not None:  # open-set harmlessness prompts too
        extra = [rs for rs in all_sets if rs.prompt.category == "harmlessness" and rs.prompt_id not in harmless]
        for rs, sc in zip(extra, scorer.score([rs.prompt for rs in extra], [rs.responses[0].text for rs in extra])):
            harmless[rs.prompt_id] = None if sc.toxic is None else not sc.toxic
    t0 = time.perf_counter()
    from hrlaif.prompts import subsample

    wr_sets = subsample(all_sets, cfg.win_ratio_limit or None, cfg.seed)
    base_sets = _baseline_sets(cfg, baseline, wr_sets, gen, out)
    if base_sets is not None:
        timings["baseline"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        wr = win_ratio(wr_sets, base_sets, lazy.get(), **kw)
        write_jsonl(out / "items_winrate.jsonl", wr.pop("items"))
        wr["baseline"] = _baseline_name(cfg, baseline, base_sets)
        wr["items_file"] = "items_winrate.jsonl"
        result["win_ratio"] = wr
        timings["win_ratio"] = time.perf_counter() - t0

    if cfg.satisfaction and all_sets:
        t0 = time.perf_counter()
        decided_here = {"math", "multiple_choice", "code"}
        need_judge = any(rs.prompt.category not in decided_here and not (
            rs.prompt.category == "harmlessness" and cfg.harm_source == "scorer" and rs.prompt_id in harmless)
            for rs in all_sets)
        sat = satisfaction(all_sets, judge=lazy.get() if need_judge else None, verified=verified,
                           harmless=harmless if cfg.harm_source == "scorer" else None, **kw)
        write_jsonl(out / "items_satisfaction.jsonl", sat.pop("items"))
        sat["items_file"] = "items_satisfaction.jsonl"
        if need_judge:
            sat["judge"] = getattr(lazy.get(), "identity", None)
        result["satisfaction"] = sat
        timings["satisfaction"] = time.perf_counter() - t0

    timings["total"] = time.perf_counter() - t_start
    result["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    return result


def _check_inputs(cfg: EvalConfig) -> None:
    """Fail on a bad data folder or set name before any model is loaded; drop empty names
    (``--toxicity-sets ''`` turns toxicity off)."""
    from hrlaif.prompts import PROMPT_SETS, resolve_data_dir

    cfg.benchmarks = [b for b in cfg.benchmarks if b]
    cfg.toxicity_sets = [t for t in cfg.toxicity_sets if t]
    cfg.open_sets = [o for o in cfg.open_sets if o]
    for full in cfg.benchmarks + cfg.toxicity_sets + cfg.open_sets:
        base, sep, _ = full.partition(":")
        name = base if sep and base in PROMPT_SETS and not Path(full).expanduser().exists() else full
        if name in PROMPT_SETS and PROMPT_SETS[name][2]:
            resolve_data_dir(cfg.data_dir, name)
        elif name not in PROMPT_SETS and not Path(name).expanduser().exists():
            from hrlaif.errors import ConfigError

            raise ConfigError(f"'{name}' is neither a prompt set ({', '.join(PROMPT_SETS)}) nor a Prompt file")
    if cfg.baseline_responses and not Path(cfg.baseline_responses).exists():
        from hrlaif.errors import ConfigError

        raise ConfigError(f"baseline_responses {cfg.baseline_responses}: no such file or folder")


def _ci(kw: dict) -> dict:
    return {"n_boot": kw["n_boot"], "confidence": kw["confidence"]}


def _unique(sets: list) -> list:
    seen: dict[str, Any] = {}
    for rs in sets:
        seen.setdefault(rs.prompt_id, rs)
    return list(seen.values())


def _baseline_sets(cfg: EvalConfig, baseline: Any, policy_sets: list, gen: Any, out: Path) -> list | None:
    """The baseline's ResponseSets for the policy's prompts, or None when no baseline is set."""
    from hrlaif.evaluation.benchmarks import generate
    from hrlaif.sampling import Sampler

    if isinstance(baseline, list):
        return baseline
    spec = baseline if baseline is not None else None
    if spec is None and cfg.baseline_responses:
        return load_response_sets(cfg.baseline_responses)
    spec = spec if spec is not None else cfg.baseline_model
    if spec is None:
        return None
    sampler = spec if isinstance(spec, Sampler) else Sampler.from_spec(str(spec), device=cfg.device)
    return generate(sampler, [rs.prompt for rs in policy_sets], gen, out / "baseline_responses.jsonl",
                    reuse=cfg.reuse_responses)


def _baseline_name(cfg: EvalConfig, baseline: Any, sets: list) -> str:
    if isinstance(baseline, str):
        return baseline
    if baseline is not None and hasattr(baseline, "name"):
        return str(baseline.name)
    if cfg.baseline_responses and baseline is None:
        return str(cfg.baseline_responses)
    if cfg.baseline_model:
        return cfg.baseline_model
    return sets[0].generation.model if sets else "baseline"


def _finite(obj: Any) -> Any:
    """NaN/inf → None so eval.json is strict JSON."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def evaluate(cfg: EvalConfig) -> dict:
    """Evaluate ``cfg.model`` into ``cfg.out`` (see ``evaluate_policy``)."""
    return evaluate_policy(cfg.model, cfg, cfg.out)


# --------------------------------------------------------------------------- CLI


def _ci_str(ci: Any, scale: float = 1.0, fmt: str = "{:.3f}") -> str:
    if not ci or ci[0] is None or ci[0] != ci[0]:
        return ""
    return f"[{fmt.format(ci[0] * scale)}, {fmt.format(ci[1] * scale)}]"


def print_tables(res: dict) -> None:
    """The eval.json numbers as tables (used by ``cli`` and reusable by ``hrlaif run``)."""
    from hrlaif.ui import print_table

    conf = int(round(100 * res.get("confidence", 0.95)))
    rows = []
    for name, b in res["benchmarks"].items():
        ll = b.get("loglik") or {}
        rows.append([name, b["metric"], b["scoring"], b["n"], b["accuracy"], _ci_str(b.get("ci")),
                     b.get("n_undecided"), ll.get("accuracy"), _ci_str(ll.get("ci"))])
    if rows:
        print_table(f"Benchmarks — {res['model']}", ["benchmark", "metric", "scoring", "n", "accuracy",
                                                     f"{conf}% CI (bootstrap)", "undecided", "loglik acc",
                                                     "loglik CI"], rows)
    for name, b in res["benchmarks"].items():
        per = b.get("per_subject") or (b.get("loglik") or {}).get("per_subject")
        if per and len(per) > 1:
            print_table(f"{name} per subject", ["subject", "n", "accuracy", f"{conf}% Wilson"],
                        [[s, v["n"], v["accuracy"], _ci_str(v.get("wilson"))] for s, v in per.items()])
    tox = res.get("toxicity")
    if tox:
        q = tox.get("scorer_quality") or {}
        acc = f"{q['accuracy']:.3f} {_ci_str(q.get('accuracy_ci'))} (n={q['n']})" if q.get("accuracy") is not None \
            else "not measured"
        rows = [[name, t["n"], t["per_mille"], _ci_str(t.get("ci"), fmt="{:.1f}"), t.get("n_undecided"),
                 tox["scorer"], acc] for name, t in tox["sets"].items()]
        print_table("Toxicity (per mille)", ["set", "n", "toxic ‰", f"{conf}% CI ‰", "undecided", "scorer",
                                             "scorer held-out accuracy"], rows)
    wr = res.get("win_ratio")
    if wr:
        rows = [["overall", *_wr_row(wr["overall"])]] + [[c, *_wr_row(v)] for c, v in wr["per_category"].items()]
        print_table(f"Win ratio vs {wr.get('baseline')} (judge {wr.get('judge')}; ties = ½)",
                    ["category", "n", "win ratio", f"{conf}% CI", "W/T/L", "undecided"], rows)
    sat = res.get("satisfaction")
    if sat:
        rows = [["overall", sat["overall"]["n"], sat["overall"]["value"], _ci_str(sat["overall"]["ci"]),
                 sat["overall"]["n_undecided"], ""]]
        rows += [[c, v["n"], v["value"], _ci_str(v["ci"]), v["n_undecided"], ", ".join(v["source"])]
                 for c, v in sat["per_category"].items()]
        print_table("Satisfaction proxy", ["category", "n", "satisfied", f"{conf}% CI", "undecided", "decided by"],
                    rows)


def _wr_row(v: dict) -> list:
    return [v["n"], v["win_ratio"], _ci_str(v.get("ci")), f"{v['wins']}/{v['ties']}/{v['losses']}", v["n_undecided"]]


def cli(cfg: EvalConfig) -> int:
    res = evaluate(cfg)
    print_tables(res)
    t = res["timings_s"]
    print(f"eval.json and responses in {cfg.out}  ({t['total']:.1f} s: "
          + ", ".join(f"{k} {v:.1f}s" for k, v in t.items() if k != "total") + ")")
    return 0
