"""``hrlaif run CONFIG``: the whole Hybrid-RLAIF pipeline, end to end, resumable.

    prompts ─▶ generate K (SFT policy) ─▶ label basic ─▶ RM_basic  ─▶ PPO ─▶ π_RLAIF  ─┐
                                      └▶ label hybrid (+ red team) ─▶ RM_hybrid ─▶ PPO ─▶ π_HRLAIF ├▶ eval ─▶ report
                                                                                   π_SFT ─────────┘

Each stage's output is cached by content hash (``stagecache``): a rerun skips finished stages,
an interrupted stage resumes, a changed config reruns what it affects. Stage sections in the
YAML (``generate:``, ``label:``, ``redteam:``, ``rm:``, ``ppo:``, ``eval:``) hold overrides of
that stage's own config (the same keys as its CLI flags); paths are filled in by the pipeline.
The run ends with ``report.html`` (self-contained) and ``report.md``, printed to the console.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrlaif.config import build_config, config_to_dict, config_path_for, opt, save_config
from hrlaif.errors import ConfigError
from hrlaif.judges.config import JudgeConfig

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    out_dir: str = opt("runs/hrlaif", "folder for every stage's output and the report")
    policy: str = opt("smollm2-135m", "the SFT policy: alias, HF folder or GGUF file")
    prompts: str = opt("demo", "training prompts: a built-in set name (arith, arith:train, ...) or a Prompt "
                               "JSONL/Parquet file; several, comma-separated, are concatenated")
    prompt_split: str | None = opt(None, "split of a named prompt set (e.g. train for gsm8k; default: the set's "
                                         "first split, which for benchmarks is the one eval uses)")
    prompt_limit: int | None = opt(None, "use a seeded subset of this many training prompts (per source)")
    data_dir: str | None = opt(None, "benchmark data folder (default: $HRLAIF_DATA_DIR)")
    seed: int = opt(0, "seed for every stage")
    judge: JudgeConfig = opt(factory=JudgeConfig, help="the AI labeller / judge shared by label, redteam and eval")
    use_redteam: bool = opt(True, "add AI red-teaming rankings to the hybrid (HRLAIF) reward model's data")
    review_db: str | None = opt(None, "a `hrlaif review` SQLite file whose human results join the report")
    generate: dict[str, Any] = opt(factory=dict, help="GenerateConfig overrides (k, max_new_tokens, ...)")
    label: dict[str, Any] = opt(factory=dict, help="LabelConfig overrides (except input/out/mode)")
    redteam: dict[str, Any] = opt(factory=dict, help="RedTeamConfig overrides")
    rm: dict[str, Any] = opt(factory=dict, help="RMConfig overrides (epochs, lr, trainable_layers, ...)")
    ppo: dict[str, Any] = opt(factory=dict, help="PPOConfig overrides (updates, batch_size, ...)")
    arms: list[str] = opt(factory=lambda: ["SFT", "RLAIF", "HRLAIF"],
                          help="policies to train and compare: SFT, RLAIF (RM_basic), HRLAIF (RM_hybrid) and "
                               "HRLAIF+V (RM_hybrid inside the verifier's outcome, ppo.reward=hybrid)")
    ppo_v: dict[str, Any] = opt(factory=lambda: {"reward": "hybrid"},
                                help="PPOConfig overrides of the HRLAIF+V arm, on top of ppo:")
    rm_compare: bool = opt(True, "score RM_basic and RM_hybrid on the same held-out correctness pairs")
    eval: dict[str, Any] = opt(factory=dict, help="EvalConfig overrides (benchmarks, limit, ...)")


# arm → (eval folder, reward model, PPO stage); SFT has neither
ARMS: dict[str, tuple[str, str | None, str | None]] = {
    "SFT": ("sft", None, None), "RLAIF": ("rlaif", "rm_basic", "ppo_rlaif"),
    "HRLAIF": ("hrlaif", "rm_hybrid", "ppo_hrlaif"), "HRLAIF+V": ("hrlaif_v", "rm_hybrid", "ppo_hrlaif_v"),
}


@dataclass
class StageConfigs:
    """Every stage's resolved config, built and validated before anything runs."""

    generate: Any
    label: Any
    redteam: Any | None
    rm_basic: Any
    rm_hybrid: Any
    ppo_rlaif: Any
    ppo_hrlaif: Any
    eval: Any
    paths: dict[str, Path] = field(default_factory=dict)
    ppo_hrlaif_v: Any = None


def _section(cls: type, base: dict, overrides: dict, name: str, forced: dict) -> Any:
    bad = sorted(set(overrides) & set(forced))
    if bad:
        raise ConfigError(f"section '{name}': {', '.join(bad)} is set by the pipeline and cannot be overridden")
    return build_config(cls, {**base, **overrides, **forced}, source=f"run config, section '{name}'")


def plan(cfg: RunConfig) -> StageConfigs:
    """Resolve every stage's config from the run config (fails fast on unknown keys)."""
    from hrlaif.evaluate import EvalConfig
    from hrlaif.generate import GenerateConfig

    bad = [a for a in cfg.arms if a not in ARMS]
    if bad or "SFT" not in cfg.arms:
        raise ConfigError(f"arms: {', '.join(bad) or 'SFT is missing'}; known: {', '.join(ARMS)} (SFT is the "
                          "baseline every arm is compared with)")
    from hrlaif.label import LabelConfig
    from hrlaif.ppo.train import PPOConfig
    from hrlaif.rm.train import RMConfig

    out = Path(cfg.out_dir)
    judge = config_to_dict(cfg.judge)
    P = {
        "prompts": out / "prompts.jsonl",
        "responses": out / "responses.jsonl",
        "labels_hybrid": out / "labels_hybrid.jsonl",
        "labels_basic": out / "labels_basic.jsonl",
        "label_report": out / "labels_hybrid.label_report.json",
        "label_store": out / "labels.store.sqlite",
        "redteam": out / "redteam",
        "redteam_rankings": out / "redteam" / "rankings.jsonl",
        "rm_basic": out / "rm_basic",
        "rm_hybrid": out / "rm_hybrid",
        "ppo_rlaif": out / "ppo_rlaif",
        "ppo_hrlaif": out / "ppo_hrlaif",
        "ppo_hrlaif_v": out / "ppo_hrlaif_v",
        "eval": out / "eval",
    }
    gen = _section(GenerateConfig, {"seed": cfg.seed}, cfg.generate, "generate",
                   {"prompts": str(P["prompts"]), "model": cfg.policy, "out": str(P["responses"])})
    lab = _section(LabelConfig, {"judge": judge}, cfg.label, "label",
                   {"input": str(P["responses"]), "out": str(P["labels_hybrid"]), "mode": "hybrid",
                    "compare": True, "store": str(P["label_store"]), "report": str(P["label_report"])})
    red = None
    if cfg.use_redteam:
        try:
            from hrlaif.redteam import RedTeamConfig
        except ImportError:  # pragma: no cover - the stage ships with hrlaif
            raise ConfigError("use_redteam: the redteam stage is not available") from None
        red = _section(RedTeamConfig, {"judge": judge, "seed": cfg.seed, "model": cfg.policy,
                                       "data_dir": cfg.data_dir}, cfg.redteam,
                       "redteam", {"out": str(P["redteam"])})
        P["redteam_rankings"] = Path(red.out) / "rankings.jsonl"
    rm_base = {"model": cfg.policy, "seed": cfg.seed}
    rm_b = _section(RMConfig, rm_base, cfg.rm, "rm", {"rankings": [str(P["labels_basic"])], "out": str(P["rm_basic"])})
    hyb = [str(P["labels_hybrid"])] + ([str(P["redteam_rankings"])] if red else [])
    rm_h = _section(RMConfig, rm_base, cfg.rm, "rm", {"rankings": hyb, "out": str(P["rm_hybrid"])})
    ppo_base = {"model": cfg.policy, "seed": cfg.seed, "prompts": str(P["prompts"])}
    ppo_r = _section(PPOConfig, ppo_base, cfg.ppo, "ppo",
                     {"reward_model": str(P["rm_basic"]), "output": str(P["ppo_rlaif"])})
    ppo_h = _section(PPOConfig, ppo_base, cfg.ppo, "ppo",
                     {"reward_model": str(P["rm_hybrid"]), "output": str(P["ppo_hrlaif"])})
    ppo_v = None
    if "HRLAIF+V" in cfg.arms:
        ppo_v = _section(PPOConfig, ppo_base, {**cfg.ppo, **cfg.ppo_v}, "ppo_v",
                         {"reward_model": str(P["rm_hybrid"]), "output": str(P["ppo_hrlaif_v"])})
    ev = _section(EvalConfig, {"judge": judge, "seed": cfg.seed, "data_dir": cfg.data_dir}, cfg.eval, "eval",
                  {"out": str(P["eval"])})
    return StageConfigs(gen, lab, red, rm_b, rm_h, ppo_r, ppo_h, ev, P, ppo_v)


def _no_paths(cfg: Any, *drop: str) -> dict:
    d = config_to_dict(cfg)
    for k in drop:
        d.pop(k, None)
    return d


def run_pipeline(cfg: RunConfig, *, echo: Any = print) -> dict:
    """Run (or resume) every stage; returns a summary dict (also written as ``summary.json``)."""
    from hrlaif.data import read_records, write_records, Prompt
    from hrlaif.prompts import load_prompts
    from hrlaif.stagecache import StageCache

    sc = plan(cfg)
    P = sc.paths
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "run_config.yaml", stage="run")
    cache = StageCache(out)
    t_start = time.perf_counter()
    summary: dict[str, Any] = {"out_dir": str(out), "policy": cfg.policy, "stages": {}}

    # 1. training prompts, frozen into the run folder so every stage sees the same ones
    def _prompts() -> None:
        prompts = [p for source in _sources(cfg.prompts) for p in load_prompts(
            source, cfg.data_dir, split=None if ":" in source else cfg.prompt_split, limit=cfg.prompt_limit,
            seed=cfg.seed)]
        write_records(P["prompts"], prompts)

    src = [x for x in _sources(cfg.prompts) if Path(x).exists()]
    cache.run("prompts", {"prompts": cfg.prompts, "split": cfg.prompt_split, "limit": cfg.prompt_limit, "seed": cfg.seed,
                          "data_dir": cfg.data_dir}, src, [P["prompts"]], _prompts, log=echo)
    n_prompts = len(read_records(P["prompts"], Prompt))
    echo(f"[run] {n_prompts} training prompts")

    # 2. K responses per prompt from the SFT policy
    from hrlaif.generate import generate

    cache.run("generate", _no_paths(sc.generate, "out", "prompts"), [P["prompts"]] + _model_inputs(cfg.policy),
              [P["responses"]], lambda: generate(sc.generate), log=echo)

    # 3. labels: hybrid (verifiers + judge) and basic (judge only), judge calls shared via the store
    from hrlaif.label import label

    def _label() -> None:
        res = label(sc.label)
        write_records(P["labels_basic"], res.compared)
        summary["label_calls"] = {"needed": res.calls_needed, "made": res.calls_made, "cached": res.calls_cached,
                                  "failed": res.calls_failed}

    cache.run("label", _no_paths(sc.label, "input", "out", "store", "report"), [P["responses"]],
              [P["labels_hybrid"], P["labels_basic"], P["label_report"]], _label, log=echo)

    # 4. red teaming (HRLAIF only)
    if sc.redteam is not None:
        from hrlaif.redteam import run_redteam

        cache.run("redteam", _no_paths(sc.redteam, "out"), _model_inputs(cfg.policy), [P["redteam_rankings"]],
                  lambda: run_redteam(sc.redteam), log=echo)

    # 5. reward models and 6. PPO, once per labelling method
    from hrlaif.ppo.train import train_ppo
    from hrlaif.rm.train import train_reward_model

    rms = {"rm_basic": sc.rm_basic, "rm_hybrid": sc.rm_hybrid}
    ppos = {"ppo_rlaif": sc.ppo_rlaif, "ppo_hrlaif": sc.ppo_hrlaif, "ppo_hrlaif_v": sc.ppo_hrlaif_v}
    needed_rms = {ARMS[a][1] for a in cfg.arms if ARMS[a][1]} | ({"rm_basic", "rm_hybrid"} if cfg.rm_compare else set())
    for rm_name in ("rm_basic", "rm_hybrid"):
        if rm_name not in needed_rms:
            continue
        rmc = rms[rm_name]
        kept = [p for p in rmc.rankings if _has_records(p)]
        if len(kept) < len(rmc.rankings):  # e.g. red teaming found nothing to rank this time
            echo(f"[run] {rm_name}: skipping empty ranking file(s): "
                 + ", ".join(p for p in rmc.rankings if p not in kept))
            rmc = dataclasses.replace(rmc, rankings=kept)
        cache.run(rm_name, _no_paths(rmc, "out", "rankings"), [Path(p) for p in rmc.rankings],
                  [Path(rmc.out) / "config.json"], lambda rmc=rmc: _fresh(train_reward_model, rmc), log=echo)
    for arm in cfg.arms:
        _, rm_name, ppo_name = ARMS[arm]
        if ppo_name is None:
            continue
        ppoc, rmc = ppos[ppo_name], rms[rm_name]
        cache.run(ppo_name, _no_paths(ppoc, "output", "reward_model", "prompts"),
                  [P["prompts"], Path(rmc.out) / "config.json", Path(rmc.out) / "model.safetensors"],
                  [Path(ppoc.output) / "policy" / "config.json"], lambda ppoc=ppoc: _fresh(train_ppo, ppoc), log=echo)

    # 7. evaluation: SFT first (the win-ratio baseline), then every trained arm against it
    from hrlaif.evaluate import evaluate_policy

    policies = {ARMS[a][0]: (cfg.policy if ARMS[a][2] is None else str(P[ARMS[a][2]] / "policy")) for a in cfg.arms}
    for name, spec in policies.items():
        ev_dir = P["eval"] / name
        base = None if name == "sft" else str(P["eval"] / "sft")
        ev_cfg = build_config(type(sc.eval), {**config_to_dict(sc.eval), "out": str(ev_dir),
                                              "model": spec, "baseline_responses": base})
        inputs = _model_inputs(spec) + ([P["eval"] / "sft" / "eval.json"] if base else [])
        cache.run(f"eval_{name}", _no_paths(ev_cfg, "out", "model", "baseline_responses"), inputs,
                  [ev_dir / "eval.json"], lambda ev_cfg=ev_cfg, spec=spec, ev_dir=ev_dir:
                  evaluate_policy(spec, ev_cfg, ev_dir), log=echo)

    # 8. the comparison the run exists for: paired differences on the same held-out items
    from hrlaif.experiment import arm_results, paired_results, rm_comparison

    summary["arms"] = arm_results(P, cfg.arms, seed=cfg.seed)
    summary["paired"] = paired_results(P, cfg.arms, seed=cfg.seed)
    if cfg.rm_compare:
        cache.run("rm_compare", {"seed": cfg.seed}, [P["responses"], Path(sc.rm_basic.out) / "model.safetensors",
                                                   Path(sc.rm_hybrid.out) / "model.safetensors"],
                  [out / "rm_compare.json"], lambda: rm_comparison(sc, out / "rm_compare.json"), log=echo)
        summary["rm_compare"] = json.loads((out / "rm_compare.json").read_text(encoding="utf-8"))

    # 9. report
    from hrlaif.pipeline_report import build_report

    summary["stages"] = {r.name: {"seconds": round(r.seconds, 1), "cached": r.cached} for r in cache.records}
    summary["wall_s"] = round(time.perf_counter() - t_start, 1)
    html_path, md_path = build_report(cfg, sc, summary, review_db=cfg.review_db)
    summary["report_html"], summary["report_md"] = str(html_path), str(md_path)
    from hrlaif.data import atomic_write_text

    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def _sources(spec: str) -> list[str]:
    return [x.strip() for x in spec.split(",") if x.strip()] if not Path(spec).exists() else [spec]


def _has_records(path: str) -> bool:
    p = Path(path)
    return p.exists() and any(line.strip() for line in p.read_text(encoding="utf-8").splitlines())


def _fresh(fn: Any, cfg: Any) -> Any:
    """Run a training stage with accelerate's process-wide state reset first: accelerate fixes
    mixed precision (and the device) the first time an ``Accelerator`` is built, so two stages
    with different precision in one process would clash."""
    try:
        from accelerate.state import AcceleratorState, GradientState, PartialState

        AcceleratorState._reset_state(reset_partial_state=False)
        GradientState._reset_state()
        del PartialState  # the process group itself (distributed runs) stays as it is
    except (ImportError, AttributeError):  # pragma: no cover - older/newer accelerate
        pass
    return fn(cfg)


def _model_inputs(spec: str) -> list[Path]:
    """Files that identify a model folder's content for the stage cache (config + weights)."""
    p = Path(spec)
    if p.is_dir():
        return [x for x in (p / "config.json", p / "model.safetensors", p / "adapter_model.safetensors") if x.exists()]
    if p.is_file():
        return [p]
    return []  # an alias or hub id: its name (in the stage config) is the key


def cli(cfg: RunConfig) -> int:
    t0 = time.perf_counter()
    summary = run_pipeline(cfg)
    md = Path(summary["report_md"]).read_text(encoding="utf-8")
    print(md)
    print(f"\nreport: {summary['report_html']}\nsummary: {Path(cfg.out_dir) / 'summary.json'}")
    print("stage times: " + ", ".join(f"{k} {v['seconds']:.0f}s{' (cached)' if v['cached'] else ''}"
                                      for k, v in summary["stages"].items()))
    print(f"total wall time: {time.perf_counter() - t0:.0f}s")
    return 0
