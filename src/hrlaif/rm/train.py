"""Train a reward model on K-response partial orders (``hrlaif train-rm``).

Each prompt's ranked responses are encoded once (K sequence forwards, not the K(K−1) of a
pairwise trainer); the loss is −log σ(r_i − r_j) over every strictly ordered pair of the
partial order, averaged per prompt (ties add nothing), plus optional margin and reward
centering. The reward is clipped to [−clip, clip] inside the model's forward and the clip is
saved in the model's config.

Runs on one CPU process by default; ``accelerate launch --num_processes N -m hrlaif.cli
train-rm ...`` splits each step's prompts over N processes with the same result. Checkpoints
go to OUT/checkpoints and a rerun resumes from the latest. Held-out pairwise accuracy (overall
and per category) is measured on a split of the prompts.

Example:
    hrlaif train-rm --rankings runs/labels.jsonl --model tiny-llama --out runs/rm --epochs 3
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hrlaif.config import config_path_for, opt, save_config
from hrlaif.errors import ConfigError, InputError, NonFiniteError

log = logging.getLogger(__name__)


@dataclass
class RMConfig:
    rankings: list[str] = opt(factory=list, help="Ranking JSONL/Parquet files (from hrlaif label / redteam)",
                              flags=("--in",))
    out: str = opt("runs/rm", "output folder: the reward model (HF folder), metrics.jsonl, checkpoints")
    model: str = opt("tiny-llama", "backbone: smollm2-135m, tiny-llama, tiny-gpt2, an HF folder or a .gguf file")
    eval_rankings: list[str] = opt(factory=list, help="held-out Ranking files (default: split off --eval-fraction)")
    eval_fraction: float = opt(0.2, "fraction of prompts held out for accuracy when --eval-rankings is empty")
    max_length: int = opt(512, "tokens per prompt+response sequence; longer ones are truncated and counted")
    epochs: int = opt(1, "passes over the training prompts")
    batch_size: int = opt(8, "prompts per optimizer step, over all processes and accumulation steps")
    grad_accum: int = opt(1, "micro-batches per optimizer step (same result as one big batch)")
    lr: float = opt(5e-5, "learning rate")
    optimizer: Literal["adamw", "sgd"] = opt("adamw", "optimizer (sgd: plain gradient steps, used by the equivalence tests)")
    weight_decay: float = opt(0.0, "weight decay")
    warmup_steps: int = opt(0, "linear learning-rate warm-up steps")
    max_grad_norm: float = opt(1.0, "clip the gradient norm (0: off)")
    margin: float = opt(0.0, "margin m in −log σ(r_i − r_j − m)")
    center_coef: float = opt(0.0, "reward-centering weight λ · (mean reward of a prompt)²")
    clip: float = opt(10.0, "rewards are clipped to [−clip, clip] inside the model (saved in its config)")
    pairwise: bool = opt(False, "encode each strict pair separately (the pairwise baseline, for benchmarks)")
    lora: bool = opt(False, "train LoRA adapters on the backbone (the score head stays fully trainable)")
    lora_r: int = opt(8, "LoRA rank")
    lora_alpha: int = opt(16, "LoRA alpha")
    lora_dropout: float = opt(0.0, "LoRA dropout")
    trainable_layers: int = opt(-1, "train only the last N transformer blocks + final norm + head (-1: all)")
    disable_dropout: bool = opt(True, "set every dropout to 0 (deterministic rewards, as RM trainers usually do)")
    save_every: int = opt(0, "checkpoint every N optimizer steps (0: at the end of each epoch)")
    max_steps: int = opt(0, "stop this run after N optimizer steps and checkpoint (0: no limit); rerun to go on")
    resume: bool = opt(True, "resume from the latest checkpoint in OUT/checkpoints if there is one")
    keep_checkpoints: bool = opt(False, "keep OUT/checkpoints after training finishes")
    skip_invalid: bool = opt(False, "skip invalid rankings (K < 2, empty responses, cycles) instead of failing")
    eval_batch_size: int = opt(16, "sequences per forward when scoring held-out responses")
    mixed_precision: Literal["no", "bf16", "fp16"] = opt("no", "accelerate mixed precision")
    seed: int = opt(0, "seed for the head initialisation, data order and held-out split")


@dataclass
class RMResult:
    out: str
    steps: int = 0
    epochs: int = 0
    train_prompts: int = 0
    eval_prompts: int = 0
    train_pairs: int = 0
    truncated: int = 0
    forwards: int = 0  # training sequence forwards (all processes)
    wall_s: float = 0.0
    epoch_s: list[float] = field(default_factory=list)  # wall-clock seconds per epoch (training only)
    epoch_cpu_s: list[float] = field(default_factory=list)  # CPU seconds of this process per epoch
    final_loss: float = float("nan")
    eval_accuracy: float | None = None
    eval_pairs: int = 0
    per_category: dict[str, tuple[float, int]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    no_pairs: int = 0
    resumed_from: int | None = None
    finished: bool = True  # False when --max-steps stopped the run early


# --------------------------------------------------------------------------- model setup


def _check_config(cfg: RMConfig) -> None:
    if not cfg.rankings:
        raise ConfigError("train-rm: no input; pass --rankings FILE (Ranking JSONL/Parquet from hrlaif label)")
    for name in ("epochs", "batch_size", "grad_accum", "max_length", "eval_batch_size"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"option '{name}': must be >= 1, got {getattr(cfg, name)}")
    if cfg.max_length < 8:
        raise ConfigError(f"option 'max_length': must be >= 8 tokens, got {cfg.max_length}")
    if cfg.batch_size < cfg.grad_accum:
        raise ConfigError(f"batch_size ({cfg.batch_size}) must be >= grad_accum ({cfg.grad_accum})")
    if not 0 <= cfg.eval_fraction < 1:
        raise ConfigError(f"option 'eval_fraction': must be in [0, 1), got {cfg.eval_fraction}")
    if not cfg.clip > 0:
        raise ConfigError(f"option 'clip': must be > 0, got {cfg.clip}")
    if cfg.lora and cfg.trainable_layers >= 0:
        raise ConfigError("--lora trains adapters on every block; drop --trainable-layers or --lora")
    if cfg.pairwise and cfg.center_coef:
        raise ConfigError("reward centering needs the K-wise layout; drop --pairwise or --center-coef")


def _layer_list(backbone: Any) -> Any:
    import torch

    n = getattr(backbone.config, "num_hidden_layers", None) or getattr(backbone.config, "n_layer", None)
    for _, mod in backbone.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) == n:
            return mod
    return None


def _freeze_lower(rm: Any, n_train: int) -> None:
    """Freeze everything but the last ``n_train`` blocks, the modules after them and the head."""
    layers = _layer_list(rm.backbone)
    if layers is None:
        raise ConfigError("trainable_layers: cannot find this backbone's list of transformer blocks")
    for p in rm.backbone.parameters():
        p.requires_grad_(False)
    keep = list(layers)[len(layers) - n_train:] if n_train else []
    for mod in keep:
        for p in mod.parameters():
            p.requires_grad_(True)
    base = getattr(rm.backbone, rm.backbone.base_model_prefix)
    for name, mod in base.named_children():  # final norm (children after the block list)
        if mod is not layers and ("norm" in name.lower() or name == "ln_f"):
            for p in mod.parameters():
                p.requires_grad_(True)
    for p in rm.backbone.score.parameters():
        p.requires_grad_(True)


def build_model(cfg: RMConfig) -> Any:
    import torch

    from hrlaif.rm.model import init_reward_model

    torch.manual_seed(cfg.seed)
    rm = init_reward_model(cfg.model, clip=cfg.clip, max_length=cfg.max_length)
    if cfg.disable_dropout:
        for m in rm.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
    if cfg.trainable_layers >= 0:
        _freeze_lower(rm, cfg.trainable_layers)
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        pm = get_peft_model(rm.backbone, LoraConfig(task_type="SEQ_CLS", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                                    lora_dropout=cfg.lora_dropout))
        rm.backbone = pm.get_base_model()  # LoRA layers are injected in place
        rm.__dict__["peft_model"] = pm  # not a registered submodule: no duplicate parameters
    rm.train()
    return rm


# --------------------------------------------------------------------------- evaluation


def evaluate(model: Any, examples: list, *, batch_size: int = 16, accelerator: Any = None) -> dict:
    """Held-out pairwise accuracy, overall and per category (rewards are the clipped ones)."""
    import torch

    from hrlaif.rm.loss import pairwise_accuracy
    from hrlaif.rm.model import pad_right

    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    mine = examples[rank::world]
    rows = []
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    with torch.no_grad():
        for ex in mine:
            rewards: list[float] = []
            for s in range(0, len(ex.input_ids), batch_size):
                ids, mask = pad_right(ex.input_ids[s:s + batch_size], model.tokenizer.pad_token_id)
                rewards += model(ids.to(device), mask.to(device)).tolist()
            hit, n = pairwise_accuracy(rewards, ex.tiers, ex.unordered)
            rows.append((ex.category, hit, n))
    model.train(was)
    if world > 1:
        from accelerate.utils import gather_object

        rows = gather_object(rows)
    per: dict[str, list[float]] = {}
    for cat, hit, n in rows:
        acc = per.setdefault(cat, [0.0, 0])
        acc[0] += hit
        acc[1] += n
    hits, total = sum(v[0] for v in per.values()), sum(v[1] for v in per.values())
    return {"accuracy": hits / total if total else None, "pairs": total,
            "per_category": {c: (v[0] / v[1] if v[1] else float("nan"), int(v[1])) for c, v in sorted(per.items())}}


# --------------------------------------------------------------------------- training


def _fingerprint(cfg: RMConfig) -> str:
    """The settings a checkpoint must share with the run that resumes it (data order and model)."""
    import hashlib

    keys = ("rankings", "eval_rankings", "eval_fraction", "model", "max_length", "batch_size", "grad_accum",
            "seed", "pairwise", "lora", "lora_r", "trainable_layers", "optimizer")
    return hashlib.sha256(json.dumps([getattr(cfg, k) for k in keys]).encode()).hexdigest()[:16]


def _multi_cpu() -> bool:
    """Launched as several processes on a machine without a GPU: use gloo on the CPU (accelerate
    otherwise needs ACCELERATE_USE_CPU=1 to form a multi-CPU group under torchrun)."""
    import os

    import torch

    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available() and not (
        hasattr(torch, "xpu") and torch.xpu.is_available())


def _latest_checkpoint(ckpt_root: Path) -> Path | None:
    done = [p for p in ckpt_root.glob("step-*") if (p / "train_state.json").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[1])) if done else None


def _dummy_batch(pad_id: int, eos_id: int) -> dict:
    import torch

    return {"input_ids": torch.tensor([[eos_id]]), "attention_mask": torch.ones(1, 1, dtype=torch.long)}


def train_reward_model(cfg: RMConfig) -> RMResult:
    """Train, evaluate and save an RM as configured; returns what happened (see ``RMResult``)."""
    from hrlaif.rm.data import LoadStats, collate, encode_rankings, load_rankings, split_heldout
    from hrlaif.ui import progress

    _check_config(cfg)
    t_start = time.perf_counter()
    out = Path(cfg.out)
    res = RMResult(out=str(out))

    stats = LoadStats()  # validate the input before the heavy imports
    rankings = load_rankings(cfg.rankings, skip_invalid=cfg.skip_invalid, stats=stats)
    if cfg.eval_rankings:
        train_r, eval_r = rankings, load_rankings(cfg.eval_rankings, skip_invalid=cfg.skip_invalid, stats=stats)
    else:
        train_r, eval_r = split_heldout(rankings, cfg.eval_fraction, cfg.seed)
    res.skipped, res.no_pairs = dict(stats.skipped), stats.no_pairs

    import torch
    from accelerate import Accelerator

    from hrlaif.rm.loss import kwise_loss

    acc = Accelerator(mixed_precision=cfg.mixed_precision, cpu=_multi_cpu())
    rank, world, main = acc.process_index, acc.num_processes, acc.is_main_process

    rm = build_model(cfg)
    tok = rm.tokenizer
    train_ex = encode_rankings(train_r, tok, cfg.max_length)
    eval_ex = encode_rankings(eval_r, tok, cfg.max_length)
    res.train_prompts, res.eval_prompts = len(train_ex), len(eval_ex)
    res.train_pairs = sum(e.n_pairs for e in train_ex)
    res.truncated = sum(e.n_truncated for e in train_ex + eval_ex)
    if res.truncated:
        log.warning("%d sequences longer than max_length=%d were truncated", res.truncated, cfg.max_length)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, config_path_for(out), stage="train-rm")

    params = [p for p in rm.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        opt_ = torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt_ = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt_, lambda s: min(1.0, (s + 1) / cfg.warmup_steps)
                                              if cfg.warmup_steps else 1.0)
    model, opt_ = acc.prepare(rm, opt_)
    acc.register_for_checkpointing(sched)  # stepped once per optimizer step on every rank

    if not train_ex:
        raise InputError("no training prompts left after holding out the evaluation prompts",
                         path=", ".join(cfg.rankings))
    steps_per_epoch = math.ceil(len(train_ex) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    ckpt_root = out / "checkpoints"
    step = 0
    latest = _latest_checkpoint(ckpt_root) if cfg.resume else None
    if latest is not None:
        state = json.loads((latest / "train_state.json").read_text())
        if state.get("fingerprint") != _fingerprint(cfg):
            raise ConfigError(f"{latest} was written by a run with other data or model settings; "
                              "pass --no-resume to start over (or use another --out)")
        acc.load_state(str(latest))
        step = state["step"]
        res.resumed_from = step
        log.info("resumed from %s (step %d of %d)", latest, step, total_steps)
    metrics_path = out / "metrics.jsonl"
    if main and latest is None:
        metrics_path.write_text("")

    def log_metrics(row: dict) -> None:
        if main:
            with open(metrics_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def checkpoint(at: int) -> None:
        d = ckpt_root / f"step-{at}"
        acc.wait_for_everyone()
        acc.save_state(str(d))
        if main:
            (d / "train_state.json").write_text(json.dumps({"step": at, "fingerprint": _fingerprint(cfg)}))
            for old in ckpt_root.glob("step-*"):
                if old != d:
                    shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()

    pad_id, eos_id = tok.pad_token_id, tok.eos_token_id
    start_step = step
    loss_val = float("nan")
    ev: dict | None = None
    with progress(total_steps, "train-rm", enabled=main) as bar:
        bar.advance(step)
        for epoch in range(step // steps_per_epoch, cfg.epochs):
            t_epoch, c_epoch = time.perf_counter(), time.process_time()
            order = list(range(len(train_ex)))
            random.Random(cfg.seed * 1000 + epoch).shuffle(order)
            first = step - epoch * steps_per_epoch
            for s in range(first, steps_per_epoch):
                batch_ids = order[s * cfg.batch_size:(s + 1) * cfg.batch_size]
                micro = [batch_ids[m::cfg.grad_accum] for m in range(cfg.grad_accum)]
                norm = len(batch_ids) / world  # prompts of the whole step per process
                step_loss = torch.zeros((), device=acc.device)
                for m, mids in enumerate(micro):
                    local = [train_ex[i] for i in mids[rank::world]]
                    b = collate(local, pad_id, expand_pairs=cfg.pairwise) if local else _dummy_batch(pad_id, eos_id)
                    ctx = acc.no_sync(model) if m < len(micro) - 1 else _nullcontext()
                    with ctx:
                        r = model(b["input_ids"].to(acc.device), b["attention_mask"].to(acc.device))
                        if local:
                            loss = kwise_loss(r, b["tiers"], margin=cfg.margin, center_coef=cfg.center_coef,
                                              normalizer=norm, batch_unordered=b["unordered"])
                        else:
                            loss = r.sum() * 0.0
                        if not torch.isfinite(loss):
                            raise NonFiniteError(f"non-finite RM loss {loss.item()} at step {step + 1}")
                        acc.backward(loss)
                    step_loss += loss.detach()
                    res.forwards += int(b["input_ids"].shape[0]) if local else 0
                if cfg.max_grad_norm > 0:
                    acc.clip_grad_norm_(params, cfg.max_grad_norm)
                opt_.step()
                sched.step()
                opt_.zero_grad(set_to_none=True)
                step += 1
                # each process's loss is scaled by world/N (DDP averages gradients), so the mean over
                # processes is the global-batch loss
                loss_val = float(acc.reduce(step_loss, reduction="mean").item())
                log_metrics({"step": step, "epoch": epoch + (s + 1) / steps_per_epoch, "loss": loss_val,
                             "lr": sched.get_last_lr()[0], "elapsed_s": round(time.perf_counter() - t_start, 3)})
                bar.advance()
                bar.update(loss=f"{loss_val:.4f}")
                if cfg.save_every and step % cfg.save_every == 0 and step < total_steps:
                    checkpoint(step)
                if cfg.max_steps and step - start_step >= cfg.max_steps and step < total_steps:
                    res.finished = False
                    break
            if not res.finished:
                checkpoint(step)
                log.info("stopped after %d steps (--max-steps); rerun to resume from step %d", cfg.max_steps, step)
                break
            res.epoch_s.append(time.perf_counter() - t_epoch)
            res.epoch_cpu_s.append(time.process_time() - c_epoch)
            ev = None
            if eval_ex:
                ev = evaluate(acc.unwrap_model(model), eval_ex, batch_size=cfg.eval_batch_size, accelerator=acc)
                log_metrics({"step": step, "epoch": epoch + 1, "eval_accuracy": ev["accuracy"],
                             "eval_pairs": ev["pairs"], "per_category": ev["per_category"]})
            if not cfg.save_every and step < total_steps:
                checkpoint(step)

    if not eval_ex:
        ev = {"accuracy": None, "pairs": 0, "per_category": {}}
    elif step == res.resumed_from or ev is None:  # nothing trained in this run: measure now
        ev = evaluate(acc.unwrap_model(model), eval_ex, batch_size=cfg.eval_batch_size, accelerator=acc)
    res.eval_accuracy, res.eval_pairs, res.per_category = ev["accuracy"], ev["pairs"], ev["per_category"]
    res.steps, res.epochs, res.final_loss = step, cfg.epochs, loss_val
    res.forwards = int(acc.reduce(torch.tensor(res.forwards, device=acc.device), reduction="sum").item())
    acc.wait_for_everyone()
    if main:
        acc.unwrap_model(model).save(out)
        if res.finished and not cfg.keep_checkpoints:
            shutil.rmtree(ckpt_root, ignore_errors=True)
        res.wall_s = time.perf_counter() - t_start
        (out / "train_summary.json").write_text(json.dumps(_summary_dict(res), indent=1))
    acc.wait_for_everyone()
    res.wall_s = time.perf_counter() - t_start
    return res


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: Any) -> None:
        return None


def _summary_dict(res: RMResult) -> dict:
    from dataclasses import asdict

    return asdict(res)


def cli(cfg: RMConfig) -> int:
    from hrlaif.ui import print_table

    res = train_reward_model(cfg)
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return 0
    per_prompt = res.forwards / max(1, res.train_prompts * res.epochs - 0)
    rows = [["model", cfg.model], ["train prompts / pairs", f"{res.train_prompts} / {res.train_pairs}"],
            ["held-out prompts / pairs", f"{res.eval_prompts} / {res.eval_pairs}"],
            ["steps (epochs)", f"{res.steps} ({res.epochs})"],
            ["sequence forwards per prompt", f"{per_prompt:.2f}" + (" (pairwise)" if cfg.pairwise else "")],
            ["truncated sequences", res.truncated], ["final train loss", res.final_loss],
            ["wall time (s)", round(res.wall_s, 1)]]
    if res.skipped:
        rows.append(["skipped invalid", ", ".join(f"{k}: {v}" for k, v in res.skipped.items())])
    if res.no_pairs:
        rows.append(["rankings without a strict pair", res.no_pairs])
    if res.resumed_from is not None:
        rows.append(["resumed from step", res.resumed_from])
    if not res.finished:
        rows.append(["stopped early (--max-steps)", f"checkpoint in {res.out}/checkpoints; rerun to continue"])
    acc_txt = "n/a (no held-out prompts)" if res.eval_accuracy is None else f"{res.eval_accuracy:.3f}"
    rows.append(["held-out pairwise accuracy", acc_txt])
    print_table(f"reward model → {res.out}", ["", "value"], rows)
    if res.per_category:
        print_table("held-out accuracy per category", ["category", "accuracy", "pairs"],
                    [[c, a, n] for c, (a, n) in res.per_category.items()])
    return 0
