"""hrlaif generate: sample K responses per prompt into ResponseSet records.

    hrlaif generate --prompts demo --model smollm2-135m --k 4 --max-new-tokens 64 --out gen.jsonl
    hrlaif generate --prompts gsm8k --data-dir ../shared/data --limit 50 --k 4 --out gsm8k_k4.jsonl
    hrlaif generate --prompts my_prompts.jsonl --model ./my-sft-model --temperature 0 --k 1 --out greedy.jsonl

Prompts come from a built-in set (demo, gsm8k, mmlu, ceval, humaneval, toxigen, hh-rlhf,
beavertails; see ``hrlaif.prompts``) or a Prompt JSONL/Parquet file. Each finished prompt is
appended to ``OUT.partial`` at once; the final ``OUT`` (JSONL, or Parquet for ``.parquet``) is
written atomically at the end, with the resolved config beside it (``OUT.config.yaml``).
Rerunning the same command skips prompts already done, so an interrupted run resumes where it
stopped; a run whose settings differ from the existing output's is refused.
Sampling is per-row seeded (``hrlaif.sampling``): the same seed gives the same responses
whatever the batch size and however often the run was interrupted.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hrlaif.config import config_path_for, opt, save_config
from hrlaif.data import GenerationInfo, ResponseSet, ResumableWriter
from hrlaif.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class GenerateConfig:
    prompts: str = opt("demo", "prompt set name (demo, gsm8k, mmlu, ceval, humaneval, toxigen, hh-rlhf, "
                               "beavertails) or a Prompt JSONL/Parquet file")
    data_dir: str | None = opt(None, "benchmark data folder for named sets (default: $HRLAIF_DATA_DIR)")
    split: str | None = opt(None, "split of a named set (default: the set's first, e.g. test)")
    limit: int | None = opt(None, "deterministic subsample of this many prompts (seeded by --seed)")
    seed: int = opt(0, "seed for subsampling and for sampling")
    model: str = opt("smollm2-135m", "policy: alias (smollm2-135m, tiny-llama), HF folder, GGUF file or hub id")
    k: int = opt(4, "responses per prompt")
    batch_size: int = opt(8, "response rows decoded together")
    temperature: float = opt(0.8, "sampling temperature; 0 = greedy")
    top_p: float = opt(0.95, "nucleus sampling mass in (0, 1]")
    max_new_tokens: int = opt(128, "maximum new tokens per response")
    device: str = opt("auto", "auto (cuda if available, else cpu), cpu, cuda, cuda:1, mps")
    dtype: str = opt("auto", "auto (float32 on cpu, bfloat16 on gpu), float32, bfloat16, float16")
    threads: int | None = opt(None, "torch CPU threads (default: one per core); 1 is far faster on a busy shared CPU")
    out: str = opt("generations.jsonl", "output ResponseSet file (.jsonl or .parquet)")


@dataclass
class GenerateResult:
    out: Path
    config_path: Path
    n_prompts: int  # prompts asked for
    n_generated: int  # prompts sampled by this run
    n_resumed: int  # prompts already in the output or its .partial
    n_responses: int  # responses sampled by this run
    new_tokens: int
    seconds: float  # sampling wall time (model loading excluded)
    load_seconds: float
    finish: dict[str, int] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


def _check(cfg: GenerateConfig) -> None:
    if cfg.k < 1:
        raise ConfigError(f"option 'k': must be >= 1, got {cfg.k}")
    if cfg.batch_size < 1:
        raise ConfigError(f"option 'batch_size': must be >= 1, got {cfg.batch_size}")
    if cfg.max_new_tokens < 1:
        raise ConfigError(f"option 'max_new_tokens': must be >= 1, got {cfg.max_new_tokens}")
    if cfg.temperature < 0:
        raise ConfigError(f"option 'temperature': must be >= 0, got {cfg.temperature}")
    if not 0 < cfg.top_p <= 1:
        raise ConfigError(f"option 'top_p': must be in (0, 1], got {cfg.top_p}")
    if cfg.threads is not None and cfg.threads < 1:
        raise ConfigError(f"option 'threads': must be >= 1, got {cfg.threads}")
    if not (cfg.out.endswith(".jsonl") or cfg.out.endswith(".parquet")):
        raise ConfigError(f"option 'out': expected a .jsonl or .parquet file, got {cfg.out!r}")
    if cfg.temperature == 0 and cfg.k > 1:
        log.warning("temperature 0 (greedy) with k=%d: the %d responses of a prompt will be identical", cfg.k, cfg.k)


def device_and_dtype(device: str = "auto", dtype: str = "auto", threads: int = 0) -> tuple[str, object]:
    """Resolve the ``device``/``dtype`` options every generating stage shares: ``auto`` is cuda
    when available (else cpu), and float32 on cpu, bfloat16 on a GPU."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype == "auto":
        return device, torch.float32 if device == "cpu" else torch.bfloat16
    if dtype in names:
        return device, names[dtype]
    raise ConfigError(f"option 'dtype': expected auto, {', '.join(names)}; got {dtype!r}")


def generation_info(cfg: GenerateConfig) -> GenerationInfo:
    return GenerationInfo(model=cfg.model, temperature=cfg.temperature, top_p=cfg.top_p,
                          max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                          extra={"k": cfg.k, "sampler": "hrlaif.sampling.Sampler", "seeding": "per-row",
                                 "prompts": cfg.prompts})


def _check_resumed(writer: ResumableWriter, info: GenerationInfo, k: int, out: str) -> None:
    """Refuse to mix responses made with other settings into one output."""
    want = (info.model, info.temperature, info.top_p, info.max_new_tokens, info.seed, k)
    names = ("model", "temperature", "top_p", "max_new_tokens", "seed", "k")
    for rs in writer.records:
        g = rs.generation
        have = (g.model, g.temperature, g.top_p, g.max_new_tokens, g.seed, len(rs.responses))
        if have != want:
            diff = ", ".join(f"{n} {h!r} there vs {w!r} now" for n, h, w in zip(names, have, want) if h != w)
            raise ConfigError(f"{out} (or its .partial) already holds prompt {rs.prompt_id!r} generated with other "
                              f"settings ({diff}); delete it or choose another --out")


def generate(cfg: GenerateConfig, *, progress: bool = True) -> GenerateResult:
    """Sample ``cfg.k`` responses for every prompt not yet in ``cfg.out``; write ``cfg.out``."""
    from hrlaif.prompts import load_prompts
    from hrlaif.ui import progress as progress_bar

    _check(cfg)
    prompts = load_prompts(cfg.prompts, cfg.data_dir, split=cfg.split, limit=cfg.limit, seed=cfg.seed)
    info = generation_info(cfg)
    out = Path(cfg.out)
    position = {p.id: n for n, p in enumerate(prompts)}
    load_s = gen_s = 0.0
    new_tokens = n_resp = 0
    finish: Counter[str] = Counter()
    writer = ResumableWriter(out, ResponseSet, key=lambda r: r.prompt_id)
    _check_resumed(writer, info, cfg.k, cfg.out)
    with writer:
        n_resumed = sum(1 for p in prompts if p.id in writer.done)
        todo = [p for p in prompts if p.id not in writer.done]
        if todo:
            from hrlaif.sampling import Sampler

            t0 = time.perf_counter()
            device, dtype = device_and_dtype(cfg.device, cfg.dtype, cfg.threads)
            sampler = Sampler.from_spec(cfg.model, device=device, dtype=dtype)
            load_s = time.perf_counter() - t0
            log.info("loaded %s on %s in %.1fs; %d prompts to do, %d resumed", cfg.model, device, load_s,
                     len(todo), n_resumed)
            with progress_bar(len(todo), "generate", enabled=progress, unit="prompts") as bar:
                stream = sampler.iter_sample([p.messages for p in todo], cfg.k, temperature=cfg.temperature,
                                             top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                                             batch_size=cfg.batch_size, keys=[p.id for p in todo])
                for i, responses in stream:
                    p = todo[i]
                    writer.write(ResponseSet(prompt_id=p.id, prompt=p, responses=responses, generation=info))
                    n_resp += len(responses)
                    finish.update(r.finish_reason or "?" for r in responses)
                    bar.advance()
                    bar.update(**{"tok/s": f"{sampler.stats.tokens_per_s:.1f}"})
            new_tokens, gen_s = sampler.stats.new_tokens, sampler.stats.seconds
        # final file in prompt order (records from an earlier run with other prompts go last)
        writer.records.sort(key=lambda r: position.get(r.prompt_id, len(position)))
    cfg_path = save_config(cfg, config_path_for(out), stage="generate")
    return GenerateResult(out=out, config_path=cfg_path, n_prompts=len(prompts), n_generated=len(todo),
                          n_resumed=n_resumed, n_responses=n_resp, new_tokens=new_tokens, seconds=gen_s,
                          load_seconds=load_s, finish=dict(finish))


def cli(cfg: GenerateConfig) -> int:
    from hrlaif.ui import print_table, quiet

    res = generate(cfg, progress=not quiet())
    rows = [["prompts", res.n_prompts], ["generated now", res.n_generated], ["resumed (skipped)", res.n_resumed],
            ["responses sampled", res.n_responses], ["finish: stop / length",
                                                      f"{res.finish.get('stop', 0)} / {res.finish.get('length', 0)}"],
            ["new tokens", res.new_tokens], ["model load s", round(res.load_seconds, 2)],
            ["sampling s", round(res.seconds, 2)], ["tokens/s", round(res.tokens_per_s, 1)],
            ["output", str(res.out)], ["config", str(res.config_path)]]
    print_table(f"hrlaif generate: {cfg.model}, k={cfg.k}", ["", "value"], rows)
    if res.n_generated:
        print(f"generated {res.n_responses} responses for {res.n_generated} prompts "
              f"({res.n_resumed} resumed) in {res.seconds:.1f}s: {res.tokens_per_s:.1f} tokens/s")
    else:
        print(f"nothing to generate: all {res.n_prompts} prompts already in {res.out}")
    return 0
