"""PPO against a (clipped) reward model, a verifier, or both, with a KL penalty to the frozen SFT policy.

Per update: sample one response per prompt with the KV cache (old log-probs and, for a shared
critic, old values come from that same forward), score it (``--reward rm|verifier|hybrid``,
``ppo/reward.py``), build per-token rewards  r_t = −β·KL_t  (+ the score on the last token; a
penalty when no EOS was emitted),
GAE advantages (whitened), then several epochs of the clipped policy + clipped value loss over
minibatches. β is fixed or adaptive. Every ``eval_every`` updates the policy answers held-out
prompts greedily and the verified accuracy is logged (``ppo/heldout.py``); ``--select best_heldout``
exports the state with the best one. Checkpoints let a run resume exactly; NaN/inf stops it with
the last good checkpoint kept. Runs on a CPU, and on GPUs/multiple processes through accelerate
(``accelerate launch --multi_gpu --num_processes 2 -m hrlaif.cli ppo ...``; on a CPU
``--multi_gpu`` just selects the multi-process launcher and gloo).

Outputs in ``--output``: ``policy/`` (HF folder for ``hrlaif generate``), ``metrics.jsonl`` (one
line per update), ``heldout.jsonl`` and ``selection.json`` (with ``eval_prompts``),
``ppo_curves.png``, ``checkpoint/``, ``hrlaif_config.yaml``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hrlaif.config import config_path_for, opt, save_config
from hrlaif.errors import ConfigError, NonFiniteError

log = logging.getLogger(__name__)


@dataclass
class PPOConfig:
    model: str = opt("smollm2-135m", "policy to train and frozen reference (alias, HF folder or GGUF)")
    prompts: str = opt("", "Prompt JSONL/Parquet file or a prompt set name (demo, arith, gsm8k, ...)")
    split: str | None = opt(None, "split of a named prompt set (default: the set's first; train for arith, easymc)")
    data_dir: str | None = opt(None, "benchmark data folder for named prompt sets (default: ../shared/data)")
    limit: int | None = opt(None, "use at most this many prompts (seeded subsample)")
    reward_model: str | None = opt(None, "reward model folder written by `hrlaif train-rm`")
    target_text: str | None = opt(None, "toy reward instead of an RM: 1 if a response contains this text, else 0")
    reward: Literal["rm", "verifier", "hybrid"] = opt(
        "rm", "what PPO maximises. rm: the RM score; verifier: the verifier outcome v (+1 correct, -1 incorrect "
              "or hedged, 0 undecided; 0 for prompts without a verifier and reference); hybrid: v + rm_weight x the "
              "RM score normalised to [-1, 1] for verifiable prompts, the normalised RM score for the others")
    rm_weight: float = opt(0.4, "hybrid: weight w of the normalised RM score inside an outcome; 0 <= w < 0.5, so "
                                "any correct response outranks any incorrect one whatever the RM says")
    rm_scale: float | None = opt(None, "hybrid: divide the RM score by this, then clamp to [-1, 1] (default: the "
                                       "RM's clip r; 1 for --target-text)")
    hedged: Literal["incorrect", "unverifiable"] = opt(
        "incorrect", "verifier/hybrid: a hedged answer (several answers, none committed to) scores like an incorrect "
                     "one (-1) or like an undecided one (0)")
    output: str = opt("runs/ppo", "output folder (policy/, metrics.jsonl, ppo_curves.png, checkpoint/)",
                      flags=("--out", "-o"))
    updates: int = opt(10, "number of PPO updates (rollout + optimisation) in total")
    batch_size: int = opt(8, "prompts (= responses) per update and process")
    minibatches: int = opt(2, "minibatches per PPO epoch (batch_size must divide evenly)")
    ppo_epochs: int = opt(2, "optimisation passes over each rollout batch")
    max_new_tokens: int = opt(32, "response length limit in tokens")
    temperature: float = opt(0.7, "sampling temperature (log-probs use the same softmax(z/T))")
    lr: float = opt(1e-5, "Adam learning rate (constant)")
    value_head_lr: float | None = opt(None, "learning rate of the value head (default: lr); a zero-initialised "
                                            "head learns slowly at policy learning rates")
    kl_coef: float = opt(0.05, "β, the KL penalty coefficient (initial value when adaptive)")
    kl_estimator: Literal["k1", "k3"] = opt("k1", "per-token KL estimator in the reward: k1 = log π/π_ref, k3")
    adaptive_kl: bool = opt(False, "adapt β towards kl_target (Ziegler et al. 2019)")
    kl_target: float = opt(6.0, "target KL per response for the adaptive controller")
    kl_horizon: float = opt(10000.0, "horizon (responses) of the adaptive controller")
    gamma: float = opt(1.0, "discount γ")
    lam: float = opt(0.95, "GAE λ")
    clip_range: float = opt(0.2, "PPO ratio clip ε")
    vf_clip: float | None = opt(0.2, "value clip around the old values (none: unclipped)")
    vf_coef: float = opt(0.1, "weight of the value loss")
    ent_coef: float = opt(0.0, "entropy bonus weight")
    missing_eos_penalty: float | None = opt(1.0, "subtract this from the reward of responses that hit max_new_tokens "
                                                 "without EOS (0 or none: off); 1 = one verifier level")
    whiten_advantages: bool = opt(True, "normalise advantages to mean 0, std 1 per batch")
    max_grad_norm: float = opt(1.0, "gradient norm clip")
    critic: Literal["shared", "separate"] = opt("shared", "value head on the policy's backbone or on its own copy")
    lora_r: int = opt(0, "LoRA rank for the policy (0: full fine-tuning); the reference is then the base model")
    lora_alpha: int = opt(16, "LoRA alpha")
    reuse_rollout_logprobs: bool = opt(True, "take old log-probs/values from the sampling forward (no 2nd pass)")
    save_every: int = opt(5, "checkpoint every N updates (and at the end)")
    eval_prompts: str = opt("", "held-out prompts (set name or file) whose greedy answers are verified during "
                                "training: heldout_accuracy in metrics.jsonl ('' = off)")
    eval_split: str | None = opt("test", "split of a named eval_prompts set")
    eval_limit: int | None = opt(200, "use at most this many held-out prompts (a subsample with seed 0, the same "
                                      "items whatever --seed)")
    eval_every: int | None = opt(None, "evaluate every N updates, before the first and after the last (default: "
                                       "save_every; 0: off)")
    eval_batch_size: int = opt(32, "held-out responses decoded together")
    select: Literal["last", "best_heldout"] = opt(
        "last", "the state exported as policy/: the last update, or the evaluation with the best held-out verified "
                "accuracy (update 0 = the initial policy; never chosen by the RM; needs eval_prompts)")
    resume: bool = opt(True, "continue from output/checkpoint when it exists")
    seed: int = opt(0, "random seed (sampling, shuffling, initialisation)")
    cpu: bool = opt(False, "force CPU even when a GPU is available")
    threads: int | None = opt(None, "torch CPU threads per process (default: one per core); 1 is far faster on a "
                                    "busy shared CPU")


@dataclass
class PPOResult:
    output: Path
    policy: Path
    metrics_path: Path
    plot: Path | None
    metrics: list[dict] = field(default_factory=list)
    resumed_from: int = 0
    heldout: list[dict] = field(default_factory=list)  # held-out evaluations, update 0 included
    selected_update: int | None = None  # the update whose state policy/ holds


def _fingerprint(cfg: PPOConfig) -> dict:
    keys = ("model", "critic", "lora_r", "lora_alpha", "batch_size", "minibatches", "seed")
    return {k: getattr(cfg, k) for k in keys}


def _check(cfg: PPOConfig) -> None:
    if cfg.batch_size < 1 or cfg.minibatches < 1 or cfg.batch_size % cfg.minibatches:
        raise ConfigError(f"batch_size ({cfg.batch_size}) must be a positive multiple of minibatches ({cfg.minibatches})")
    if cfg.updates < 1 or cfg.ppo_epochs < 1 or cfg.max_new_tokens < 1 or cfg.save_every < 1:
        raise ConfigError("updates, ppo_epochs, max_new_tokens and save_every must be ≥ 1")
    if not cfg.temperature > 0:
        raise ConfigError("temperature must be > 0")
    if cfg.threads is not None and cfg.threads < 1:
        raise ConfigError(f"option 'threads': must be >= 1, got {cfg.threads}")
    if not cfg.prompts:
        raise ConfigError("no prompts: pass --prompts FILE.jsonl (Prompt records) or a prompt set name")
    if not 0 <= cfg.rm_weight < 0.5:
        raise ConfigError(f"option 'rm_weight': must be in [0, 0.5) so that outcome levels do not overlap, "
                          f"got {cfg.rm_weight}")
    if cfg.rm_scale is not None and not cfg.rm_scale > 0:
        raise ConfigError(f"option 'rm_scale': must be > 0, got {cfg.rm_scale}")
    if (cfg.eval_every is not None and cfg.eval_every < 0) or cfg.eval_batch_size < 1 or \
            (cfg.eval_limit is not None and cfg.eval_limit < 1):
        raise ConfigError("eval_every must be >= 0, eval_batch_size and eval_limit >= 1")
    if cfg.select == "best_heldout" and not eval_interval(cfg):
        raise ConfigError("select=best_heldout chooses by held-out verified accuracy: set eval_prompts "
                          "(e.g. --eval-prompts arith --eval-split test) and eval_every != 0")


def eval_interval(cfg: PPOConfig) -> int:
    """Updates between held-out evaluations; 0 when they are off."""
    if not cfg.eval_prompts:
        return 0
    return cfg.save_every if cfg.eval_every is None else cfg.eval_every


def load_prompts(cfg: PPOConfig) -> list:
    """A Prompt JSONL/Parquet file or a named prompt set (``demo``, ``gsm8k``, ...)."""
    from hrlaif.prompts import load_prompts as load

    prompts = load(cfg.prompts, cfg.data_dir, split=cfg.split, limit=cfg.limit, seed=cfg.seed)
    if not prompts:
        raise ConfigError(f"prompts {cfg.prompts!r}: no prompts")
    return prompts


def load_eval_prompts(cfg: PPOConfig, train: list) -> list:
    """The held-out prompts; warns when some of them are training prompts too (same text)."""
    from hrlaif.ppo.reward import is_verifiable
    from hrlaif.prompts import load_prompts as load

    # seed 0, not cfg.seed: runs with different seeds are scored on the same held-out items (paired)
    prompts = load(cfg.eval_prompts, cfg.data_dir, split=cfg.eval_split, limit=cfg.eval_limit, seed=0)
    if not any(is_verifiable(p) for p in prompts):
        raise ConfigError(f"eval_prompts {cfg.eval_prompts!r}: no prompt has a verifier and a reference")
    shared = {p.text for p in prompts} & {p.text for p in train}
    if shared:
        log.warning("%d of %d held-out prompts are also training prompts", len(shared), len(prompts))
    return prompts


def make_reward_fn(cfg: PPOConfig, tokenizer: Any, device: Any) -> Any:
    """The RM-like scorer (an RM, or the toy ``--target-text`` reward); None for ``reward=verifier``
    without one (with one, it is scored and logged but not optimised)."""
    from hrlaif.ppo.rollout import ContainsReward, RMReward

    if cfg.reward_model and cfg.target_text:
        raise ConfigError("pass either --reward-model or --target-text, not both")
    if cfg.reward_model:
        from hrlaif.rm.model import load_reward_model

        return RMReward(load_reward_model(cfg.reward_model, device=device), tokenizer)
    if cfg.target_text:
        return ContainsReward(cfg.target_text)
    if cfg.reward == "verifier":
        return None
    raise ConfigError(f"no reward for reward={cfg.reward}: pass --reward-model FOLDER (from `hrlaif train-rm`) or "
                      f"--target-text TEXT, or use --reward verifier")


def make_batch_reward(cfg: PPOConfig, rm_fn: Any) -> Any:
    from hrlaif.ppo.reward import BatchReward

    return BatchReward(cfg.reward, rm_fn, rm_scale=cfg.rm_scale, rm_weight=cfg.rm_weight, hedged=cfg.hedged)


def batch_indices(n: int, update: int, size: int, seed: int) -> list[int]:
    """Prompt indices of one update: consecutive slices of per-epoch shuffles (independent of the
    total number of updates, so a resumed run sees the same prompts)."""
    out, perms = [], {}
    for i in range(update * size, (update + 1) * size):
        epoch, pos = divmod(i, n)
        if epoch not in perms:
            perm = list(range(n))
            random.Random(seed * 100003 + epoch).shuffle(perm)
            perms[epoch] = perm
        out.append(perms[epoch][pos])
    return out


def build_models(cfg: PPOConfig) -> tuple[Any, Any, Any]:
    """(actor-critic, frozen reference or None when LoRA's base serves as the reference, tokenizer)."""
    import copy

    import torch

    from hrlaif.models import load_causal_lm, load_tokenizer
    from hrlaif.ppo.critic import ActorCritic

    torch.manual_seed(cfg.seed)
    tok = load_tokenizer(cfg.model, padding_side="left")
    policy = load_causal_lm(cfg.model)
    ref = None
    if cfg.lora_r > 0:
        from peft import LoraConfig, get_peft_model

        for p in policy.parameters():
            p.requires_grad_(False)
        critic_bb = None
        if cfg.critic == "separate":
            from hrlaif.ppo.critic import backbone_of

            critic_bb = copy.deepcopy(backbone_of(policy))
        policy = get_peft_model(policy, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                                                   task_type="CAUSAL_LM"))
        ac = ActorCritic(policy, layout=cfg.critic, critic_backbone=critic_bb)
    else:
        ref = copy.deepcopy(policy)
        for p in ref.parameters():
            p.requires_grad_(False)
        ac = ActorCritic(policy, layout=cfg.critic)
    ac.temperature = cfg.temperature
    ac.eval()  # no dropout anywhere: the first PPO ratio is exactly the rollout's
    return ac, ref, tok


STATS = ("policy_loss", "value_loss", "approx_kl", "clipfrac", "entropy", "grad_norm", "vf_clipfrac", "ratio")


def ppo_epochs(cfg: PPOConfig, model: Any, opt: Any, acc: Any, params: list, batch: Any, *,
               check: Any) -> dict[str, float]:
    """The optimisation phase of one update: ``ppo_epochs`` passes of shuffled minibatches over the
    rollout ``batch`` (ids, amask, rmask, n, old_lp, old_v, adv, ret); the clipped surrogate +
    vf_coef × clipped value loss − ent_coef × entropy, gradient-norm clipping, an Adam step.
    ``check(flag, what)`` raises on NaN/inf (on every rank together). Returns mean statistics."""
    import torch

    from hrlaif.ppo import core

    ids, amask, rmask, n, old_lp, old_v, adv, ret = batch
    stats: dict[str, list[float]] = {k: [] for k in STATS}
    mb_size = cfg.batch_size // cfg.minibatches
    for _ in range(cfg.ppo_epochs):
        perm = torch.randperm(ids.shape[0])
        for s in range(0, ids.shape[0], mb_size):
            mb = perm[s:s + mb_size].to(acc.device)
            m = rmask[mb]
            logp, ent, v = model(ids[mb], amask[mb], n)
            pl = core.policy_loss(logp, old_lp[mb], adv[mb], m, clip=cfg.clip_range)
            vl, vcf = core.value_loss(v, old_v[mb], ret[mb], m, clip=cfg.vf_clip)
            ent_mean = core.masked_mean(ent, m)
            loss = pl.loss + cfg.vf_coef * vl - cfg.ent_coef * ent_mean
            check(not bool(torch.isfinite(loss)), "the PPO loss")
            opt.zero_grad(set_to_none=True)
            acc.backward(loss)
            gn = acc.clip_grad_norm_(params, cfg.max_grad_norm)
            check(not bool(torch.isfinite(torch.as_tensor(gn))), "the gradient norm")
            opt.step()
            for k, val in (("policy_loss", pl.loss), ("value_loss", vl), ("approx_kl", pl.approx_kl),
                           ("clipfrac", pl.clipfrac), ("entropy", ent_mean), ("grad_norm", gn),
                           ("vf_clipfrac", vcf), ("ratio", pl.ratio_mean)):
                stats[k].append(float(torch.as_tensor(val).detach()))
    return {k: sum(v) / len(v) for k, v in stats.items()}


def train_ppo(cfg: PPOConfig, *, reward_fn: Any = None, show_progress: bool = True) -> PPOResult:
    """Run PPO as configured; returns where everything was written and the per-update metrics.
    ``reward_fn`` replaces the RM-like scorer that ``--reward-model`` / ``--target-text`` build."""
    _check(cfg)
    import torch
    from accelerate import Accelerator

    from hrlaif.models import chat_prompt
    from hrlaif.ppo import core, state
    from hrlaif.ppo.critic import reference_logprobs
    from hrlaif.ppo.heldout import BestCheckpoint, heldout_counts, heldout_row, write_selection
    from hrlaif.ppo.rollout import generate_rollout
    from hrlaif.ui import progress

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # cpu=True without CUDA: under `accelerate launch --multi_gpu` this selects gloo multi-CPU
    acc = Accelerator(cpu=cfg.cpu or not torch.cuda.is_available())
    out = Path(cfg.output)
    prompts = load_prompts(cfg)
    every = eval_interval(cfg)
    eval_prompts = load_eval_prompts(cfg, prompts) if every else []
    ac, ref, tok = build_models(cfg)
    ac.to(acc.device)
    if ref is not None:
        ref.to(acc.device)
    rewarder = make_batch_reward(cfg, reward_fn or make_reward_fn(cfg, tok, acc.device))
    params = [p for p in ac.parameters() if p.requires_grad]
    head = {id(p) for p in ac.value_head.parameters()}
    opt = torch.optim.Adam([{"params": [p for p in params if id(p) not in head]},
                            {"params": list(ac.value_head.parameters()), "lr": cfg.value_head_lr or cfg.lr}],
                           lr=cfg.lr, eps=1e-5)
    model, opt = acc.prepare(ac, opt)
    ac = acc.unwrap_model(model)
    kl_ctl = (core.AdaptiveKLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon) if cfg.adaptive_kl
              else core.FixedKLController(cfg.kl_coef))
    rank, world = acc.process_index, acc.num_processes
    torch.manual_seed(cfg.seed * 1000 + rank)  # each process samples its own responses
    best = BestCheckpoint(out / state.CKPT_DIR, enabled=cfg.select == "best_heldout", is_main=acc.is_main_process)

    metrics: list[dict] = []
    heldout: list[dict] = []
    start = 0
    ckpt = state.load_checkpoint(out, rank=rank, fingerprint=_fingerprint(cfg)) if cfg.resume else None
    if ckpt is not None:
        missing = set(ckpt["trainable"]) - set(ac.state_dict())
        if missing:
            raise ConfigError(f"checkpoint holds unknown weights: {sorted(missing)[:3]}")
        ac.load_state_dict(ckpt["trainable"], strict=False)
        opt.load_state_dict(ckpt["optimizer"])
        kl_ctl.load_state_dict(ckpt["kl_ctl"])
        metrics = [m for m in ckpt["metrics"] if m["update"] <= ckpt["update"]]
        heldout = [h for h in ckpt.get("heldout", []) if h["update"] <= ckpt["update"]]
        start = ckpt["update"]
        best.resume(heldout, start)
        if "rng" in ckpt:
            state.set_rng_state(ckpt["rng"])
        log.info("resumed from %s at update %d", out / state.CKPT_DIR, start)
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, config_path_for(out), stage="ppo")
    last_saved = start

    def checkpoint(update: int) -> None:
        nonlocal last_saved
        acc.wait_for_everyone()
        state.save_checkpoint(out, rank=rank, update=update, trainable=ac.trainable_state(), optimizer=opt,
                              kl_ctl=kl_ctl, metrics=metrics, fingerprint=_fingerprint(cfg), heldout=heldout)
        if acc.is_main_process:
            state.write_metrics(out, metrics)
            if heldout:
                state.write_heldout(out, heldout)
        best.prune()
        last_saved = update

    def any_rank(flag: bool) -> bool:
        """True when ``flag`` holds on any process (so every rank stops together, none hangs)."""
        if world == 1:
            return flag
        return bool(acc.reduce(torch.tensor(float(flag), device=acc.device), reduction="sum") > 0)

    def stop_if(flag: bool, what: str, update: int) -> None:
        if any_rank(flag):
            where = (f"last good checkpoint: {out / state.CKPT_DIR} (update {last_saved})" if last_saved
                     else "no checkpoint was written yet")
            raise NonFiniteError(f"update {update}: {what} is NaN/inf; stopping ({where})")

    def ref_logp(ids: Any, mask: Any, n: int) -> Any:
        if ref is not None:
            return reference_logprobs(ref, ids, mask, n, cfg.temperature)
        with ac.policy.disable_adapter():  # LoRA: the base model *is* the SFT reference
            return reference_logprobs(ac.policy, ids, mask, n, cfg.temperature)

    def evaluate(update: int) -> dict:
        """Held-out verified accuracy (greedy), summed over ranks; the best state is kept."""
        t = time.perf_counter()
        c = heldout_counts(ac.policy, tok, eval_prompts[rank::world], max_new_tokens=cfg.max_new_tokens,
                           batch_size=cfg.eval_batch_size)
        if world > 1:
            summed = acc.reduce(torch.tensor(list(c.values()), dtype=torch.float64, device=acc.device), "sum")
            c = dict(zip(c, summed.tolist()))
        row = heldout_row(update, c, time.perf_counter() - t)
        heldout.append(row)
        best.consider(row, ac.trainable_state)
        log.info("update %d: held-out verified accuracy %.3f (n=%d)", update, row["heldout_accuracy"],
                 row["heldout_n"])
        return row

    if every and start == 0:
        evaluate(0)
    with progress(cfg.updates, "ppo", enabled=show_progress and acc.is_main_process) as bar:
        bar.advance(start)
        for u in range(start, cfg.updates):
            t0 = time.perf_counter()
            idx = batch_indices(len(prompts), u, cfg.batch_size * world, cfg.seed)
            batch = [prompts[i] for i in idx[rank * cfg.batch_size:(rank + 1) * cfg.batch_size]]
            messages = [[{"role": m.role, "content": m.content} for m in p.messages] for p in batch]
            queries = [chat_prompt(tok, m) for m in messages]
            # ---- batch phase: rollout (KV cache; old log-probs and shared-critic values from the same forward)
            value_fn = ac.values_from_hidden if (cfg.critic == "shared" and cfg.reuse_rollout_logprobs) else None
            ro = generate_rollout(ac.policy, tok, queries, max_new_tokens=cfg.max_new_tokens,
                                  temperature=cfg.temperature, keep_logprobs=cfg.reuse_rollout_logprobs,
                                  value_fn=value_fn)
            t_gen = time.perf_counter() - t0
            ids, amask, rmask, n = ro.input_ids, ro.attention_mask, ro.response_mask, ro.n_resp
            scored = rewarder(batch, messages, ro)  # RM and/or verifier (ppo/reward.py)
            scores = scored.scores.to(acc.device)
            stop_if(not bool(torch.isfinite(scores).all()),
                    f"the reward of {int((~torch.isfinite(scores)).sum())}/{len(scores)} responses", u + 1)
            if cfg.missing_eos_penalty:
                scores = torch.where(ro.has_eos, scores, scores - cfg.missing_eos_penalty)
            with torch.no_grad():
                ref_lp = ref_logp(ids, amask, n)
                if not cfg.reuse_rollout_logprobs:  # the unoptimised path: one more full forward
                    old_lp, _, old_v = ac(ids, amask, n, with_entropy=False)
                else:
                    old_lp = ro.logprobs
                    old_v = ro.values if ro.values is not None else ac.critic_values(ids, amask, n)
                old_lp, old_v = old_lp * rmask, old_v * rmask
                kl_tok = core.kl_estimate(old_lp, ref_lp, cfg.kl_estimator) * rmask
                rewards = core.token_rewards(scores, kl_tok, rmask, kl_ctl.value)
                adv, ret = core.gae(rewards, old_v, rmask, gamma=cfg.gamma, lam=cfg.lam)
                if cfg.whiten_advantages:
                    adv = core.whiten(adv, rmask)
            t_prep = time.perf_counter() - t0 - t_gen
            # ---- optimisation phase
            stats = ppo_epochs(cfg, model, opt, acc, params, (ids, amask, rmask, n, old_lp, old_v, adv, ret),
                               check=lambda flag, what: stop_if(flag, what, u + 1))
            seq_kl = core.masked_sum(core.kl_k1(old_lp, ref_lp), rmask, dim=1)
            beta = kl_ctl.value
            local = {"reward_mean": scores.mean(), "reward_sq": (scores ** 2).mean(), "kl": seq_kl.mean(),
                     "kl_k3": core.masked_sum(core.kl_k3(old_lp, ref_lp), rmask, dim=1).mean(),
                     "response_length": ro.lengths.mean(), "eos_frac": ro.has_eos.float().mean(),
                     "reward_verifier_term": scored.verifier_term.mean(), "reward_rm_term": scored.rm_term.mean(),
                     **({"rm_reward_mean": scored.rm.mean()} if scored.rm is not None else {}),
                     **scored.fractions(),
                     "explained_variance": torch.tensor(core.explained_variance(old_v, ret, rmask)),
                     **{k: torch.tensor(v) for k, v in stats.items()}}
            g = acc.reduce(torch.stack([torch.as_tensor(x, dtype=torch.float32, device=acc.device).reshape(())
                                        for x in local.values()]), reduction="mean")
            agg = dict(zip(local, g.tolist()))
            kl_ctl.update(agg["kl"], n_steps=cfg.batch_size * world)
            dt = time.perf_counter() - t0
            tokens = float(acc.reduce(ro.lengths.sum().to(acc.device), reduction="sum"))
            rec = {"update": u + 1, "responses": len(batch) * world, "reward_mean": agg["reward_mean"],
                   "reward_std": math.sqrt(max(agg.pop("reward_sq") - agg["reward_mean"] ** 2, 0.0)),
                   **{k: v for k, v in agg.items() if k != "reward_mean"},
                   "kl_coef": beta, "non_score_reward": -beta * agg["kl"], "tokens_per_s": tokens / dt,
                   "step_time_s": dt, "gen_time_s": t_gen, "score_ref_time_s": t_prep,
                   "train_time_s": dt - t_gen - t_prep, "peak_mem_mb": state.peak_memory_mb(acc.device)}
            metrics.append(rec)
            if every and ((u + 1) % every == 0 or u + 1 == cfg.updates):
                rec.update({k: v for k, v in evaluate(u + 1).items() if k != "update"})
            log.debug("update %d: %s", u + 1, rec)
            bar.update(reward=f"{rec['reward_mean']:.3f}", kl=f"{rec['kl']:.3f}", s=f"{dt:.1f}")
            bar.advance()
            if (u + 1) % cfg.save_every == 0 or u + 1 == cfg.updates:
                checkpoint(u + 1)
    acc.wait_for_everyone()
    policy_dir = out / state.POLICY_DIR
    metrics_path = out / state.METRICS_FILE
    plot = None
    selected = metrics[-1]["update"] if metrics else start
    if best.best is not None:
        selected = best.best["update"]
    if acc.is_main_process:
        if best.best is not None and selected != (metrics[-1]["update"] if metrics else start):
            ac.load_state_dict(best.load(), strict=False)  # after the last checkpoint: resume stays exact
            log.info("policy/ = update %d (best held-out verified accuracy %.3f)", selected,
                     best.best["heldout_accuracy"])
        state.export_policy(ac.policy, tok, policy_dir)
        metrics_path = state.write_metrics(out, metrics)
        if heldout:
            state.write_heldout(out, heldout)
            write_selection(out, cfg.select, selected, heldout)
        plot = state.plot_metrics(out, metrics, heldout)
    acc.wait_for_everyone()
    return PPOResult(out, policy_dir, metrics_path, plot, metrics, resumed_from=start, heldout=heldout,
                     selected_update=selected)


def cli(cfg: PPOConfig) -> int:
    from hrlaif.ui import print_table

    res = train_ppo(cfg)
    if not res.metrics:
        return 0
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    keys = ["reward_mean", "reward_std", "rm_reward_mean", "frac_correct", "heldout_accuracy", "kl", "kl_coef",
            "approx_kl", "clipfrac", "entropy", "value_loss", "explained_variance", "response_length", "eos_frac",
            "tokens_per_s", "step_time_s", "peak_mem_mb"]
    keys = [k for k in keys if any(m.get(k) is not None for m in res.metrics)]
    if all(m.get("frac_unverified") == 1.0 for m in res.metrics):  # nothing verifiable in training
        keys.remove("frac_correct")
    shown = res.metrics if len(res.metrics) <= 12 else res.metrics[:3] + res.metrics[-9:]
    print_table("PPO updates", ["update"] + keys, [[m["update"]] + [m.get(k) for k in keys] for m in shown])
    times = [m["step_time_s"] for m in res.metrics]
    print(f"policy: {res.policy}  (hrlaif generate --model {res.policy})")
    print(f"metrics: {res.metrics_path}  plot: {res.plot}  mean step time: {sum(times) / len(times):.2f} s")
    if res.heldout:
        first, last = res.heldout[0], res.heldout[-1]
        chosen = next((h["heldout_accuracy"] for h in res.heldout if h["update"] == res.selected_update), None)
        print(f"held-out verified accuracy: {first['heldout_accuracy']:.3f} at update {first['update']} -> "
              f"{last['heldout_accuracy']:.3f} at update {last['update']} (n={last['heldout_n']}); policy/ holds "
              f"update {res.selected_update}" + (f" ({chosen:.3f})" if chosen is not None else "")
              + f" (--select {cfg.select})")
    if res.resumed_from:
        print(f"resumed at update {res.resumed_from}")
    return 0
