"""PPO update time and peak RSS: hrlaif vs TRL 1.12's experimental PPOTrainer, plus what each of
hrlaif's step optimisations buys.

Both trainers get the same policy, reward model, prompts and settings (batch, response length,
PPO epochs, minibatches, temperature, learning rate); every configuration runs in its own
subprocess so its peak RSS is its own. "update time" is the median wall time of the updates
after the first (warm-up). TRL 1.12 is installed only for this script (``pip install
'hrlaif[bench]'``).

    .venv/bin/python benchmarks/ppo_step.py            # tiny GPT-2 + SmolLM2-135M, ablations
    .venv/bin/python benchmarks/ppo_step.py --quick    # no ablations

Last line: ``speedup_vs_trl_tiny=X.XX speedup_vs_trl_smollm2=Y.YY rss_ratio_smollm2=Z.ZZ``
(speedup = TRL time / hrlaif time; rss ratio = hrlaif peak RSS / TRL peak RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HRLAIF_QUIET", "1")

QUESTIONS = ["What is 12 + 30?", "Name three colours.", "Write a haiku about rain.", "What is the capital of France?",
             "Give me a tip for sleeping well.", "Explain what a prime number is.", "Translate 'thank you' to Spanish.",
             "What is 7 times 8?", "Suggest a name for a cat.", "Why is the sky blue?", "List two fruits.",
             "How many legs does a spider have?", "Say something kind.", "What is 100 minus 37?",
             "Describe the sea in one sentence.", "Which is bigger, 9 or 12?"]


THREADS = 1


def _rss_mb() -> float:
    """This process's own peak RSS (VmHWM). ru_maxrss would also count the driver's RSS at fork."""
    from hrlaif.ppo.state import peak_memory_mb

    return peak_memory_mb("cpu")


# --------------------------------------------------------------------------- workers (subprocess)


def worker_hrlaif(a: argparse.Namespace) -> dict:
    from hrlaif.ppo.rollout import RMReward
    from hrlaif.ppo.train import PPOConfig, build_models, train_ppo  # noqa: F401
    from hrlaif.rm.model import load_reward_model

    prompts = Path(a.work) / "prompts.jsonl"
    v = a.variant
    cfg = PPOConfig(model=a.model, prompts=str(prompts), output=str(Path(a.work) / f"hrlaif-{v}"), updates=a.updates,
                    batch_size=a.batch, minibatches=a.minibatches, ppo_epochs=a.epochs, max_new_tokens=a.resp_len,
                    temperature=0.7, lr=1e-5, kl_coef=0.05, resume=False, save_every=10**6, seed=0,
                    critic="separate" if v == "separate_critic" else "shared",
                    lora_r=8 if v == "lora" else 0, reuse_rollout_logprobs=v != "recompute_logprobs",
                    threads=a.threads or None)
    from hrlaif.models import load_tokenizer

    tok = load_tokenizer(a.model, padding_side="left")
    reward = RMReward(load_reward_model(a.rm), tok, reuse_tokens=v != "rm_retokenize")
    res = train_ppo(cfg, reward_fn=reward, show_progress=False)
    times = [m["step_time_s"] for m in res.metrics][1:]
    return {"update_s": statistics.median(times), "rss_mb": _rss_mb(),
            "gen_s": statistics.median(m["gen_time_s"] for m in res.metrics[1:]),
            "score_ref_s": statistics.median(m["score_ref_time_s"] for m in res.metrics[1:]),
            "train_s": statistics.median(m["train_time_s"] for m in res.metrics[1:]),
            "resp_len": statistics.mean(m["response_length"] for m in res.metrics)}


def worker_trl(a: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, TrainerCallback
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    from hrlaif.models import chat_prompt, load_causal_lm, load_tokenizer

    torch.manual_seed(0)
    tok = load_tokenizer(a.model, padding_side="left")
    policy = load_causal_lm(a.model)
    import copy

    ref = copy.deepcopy(policy)
    from hrlaif.models import resolve_model

    path = resolve_model(a.model).path
    value = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=torch.float32)
    reward = AutoModelForSequenceClassification.from_pretrained(a.rm, num_labels=1, dtype=torch.float32)
    ids = [tok(chat_prompt(tok, [{"role": "user", "content": q}]), add_special_tokens=False)["input_ids"]
           for q in QUESTIONS]
    ds = Dataset.from_dict({"input_ids": ids})
    stamps: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001, ANN003
            stamps.append(time.perf_counter())

    cfg = PPOConfig(output_dir=str(Path(a.work) / "trl"), per_device_train_batch_size=a.batch,
                    gradient_accumulation_steps=1, num_mini_batches=a.minibatches, num_ppo_epochs=a.epochs,
                    response_length=a.resp_len, total_episodes=a.batch * a.updates, stop_token="eos",
                    temperature=0.7, learning_rate=1e-5, kl_coef=0.05, num_sample_generations=0, report_to="none",
                    save_strategy="no", use_cpu=True, seed=0, logging_steps=1, disable_tqdm=True,
                    local_rollout_forward_batch_size=a.batch, dataloader_num_workers=0)
    trainer = PPOTrainer(args=cfg, processing_class=tok, model=policy, ref_model=ref, reward_model=reward,
                         train_dataset=ds, value_model=value, callbacks=[Timer()])
    t0 = time.perf_counter()
    trainer.train()
    edges = [t0] + stamps
    times = [b - a_ for a_, b in zip(edges, edges[1:])][1:]
    return {"update_s": statistics.median(times), "rss_mb": _rss_mb()}


def micro(a: argparse.Namespace) -> dict:
    """What the KV cache and no_grad buy, measured on one batch."""
    import torch

    from hrlaif.models import chat_prompt, load_causal_lm, load_tokenizer
    from hrlaif.ppo.critic import reference_logprobs

    tok, lm = load_tokenizer(a.model, padding_side="left"), load_causal_lm(a.model)
    qs = [chat_prompt(tok, [{"role": "user", "content": q}]) for q in QUESTIONS[:a.batch]]
    enc = tok(qs, return_tensors="pt", padding=True, add_special_tokens=False)
    out = {}
    for cache in (True, False):
        torch.manual_seed(0)
        t = time.perf_counter()
        seq = lm.generate(**enc, do_sample=True, top_k=0, max_new_tokens=a.resp_len, min_new_tokens=a.resp_len,
                          use_cache=cache, pad_token_id=tok.pad_token_id)
        out[f"generate_cache_{cache}"] = time.perf_counter() - t
    mask = (seq != -1).long()
    mask[:, :enc["input_ids"].shape[1]] = enc["attention_mask"]
    t = time.perf_counter()
    reference_logprobs(lm, seq, mask, a.resp_len, 0.7)
    out["ref_forward_no_grad"] = time.perf_counter() - t
    t = time.perf_counter()
    with torch.enable_grad():
        reference_logprobs.__wrapped__(lm, seq, mask, a.resp_len, 0.7).sum()
    out["ref_forward_with_grad"] = time.perf_counter() - t
    return out


# --------------------------------------------------------------------------- driver


def run_worker(kind: str, model: str, rm: str, work: Path, s: dict, variant: str = "default") -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--model", model, "--rm", rm, "--work", str(work),
           "--variant", variant, "--threads", str(THREADS)] + [x for k, v in s.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{kind}/{variant} on {model} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t
    return res


def setup(work: Path, models: list[str]) -> dict[str, str]:
    """Prompts file and one reward model per policy (random head on the policy's backbone)."""
    import torch

    from hrlaif.models import build_tiny_model
    from hrlaif.rm.model import init_reward_model

    (work / "prompts.jsonl").write_text("".join(
        json.dumps({"id": f"q{i}", "category": "open_ended", "messages": [{"role": "user", "content": q}]}) + "\n"
        for i, q in enumerate(QUESTIONS)))
    out = {}
    for m in models:
        spec = m
        if m == "tiny-gpt2":
            spec = str(build_tiny_model(work / "tiny-gpt2", arch="gpt2"))
        torch.manual_seed(0)
        rm = init_reward_model(spec, clip=10.0)
        rm.save(work / f"rm-{m}")
        out[m] = spec
    return out


def table(title: str, cols: list[str], rows: list[list]) -> None:
    print(f"\n{title}")
    w = [max(len(str(c)), *(len(_f(r[i])) for r in rows)) for i, c in enumerate(cols)]
    print("  ".join(str(c).ljust(n) for c, n in zip(cols, w)))
    for r in rows:
        print("  ".join(_f(v).ljust(n) for v, n in zip(r, w)))


def _f(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", choices=["hrlaif", "trl", "micro"])
    p.add_argument("--model"), p.add_argument("--rm"), p.add_argument("--work")
    p.add_argument("--variant", default="default")
    p.add_argument("--batch", type=int), p.add_argument("--resp-len", type=int)
    p.add_argument("--epochs", type=int), p.add_argument("--minibatches", type=int)
    p.add_argument("--updates", type=int)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for every run (1: steady timings on a busy shared CPU; 0: torch default)")
    p.add_argument("--quick", action="store_true", help="skip the ablation and micro tables")
    p.add_argument("--models", default="tiny-gpt2,smollm2-135m", help="comma-separated subset (for debugging)")
    a = p.parse_args()
    if a.worker:
        import torch

        if a.threads:
            torch.set_num_threads(a.threads)
        fn = {"hrlaif": worker_hrlaif, "trl": worker_trl, "micro": micro}[a.worker]
        print(json.dumps(fn(a)))
        return
    import torch

    global THREADS
    THREADS = a.threads
    settings = {"tiny-gpt2": dict(batch=16, resp_len=24, epochs=2, minibatches=2, updates=8),
                "smollm2-135m": dict(batch=4, resp_len=24, epochs=2, minibatches=2, updates=3)}
    settings = {m: s for m, s in settings.items() if m in a.models.split(",")}
    with tempfile.TemporaryDirectory(prefix="ppo-bench-") as tmp:
        work = Path(tmp)
        specs = setup(work, list(settings))
        rows, res = [], {}
        for m, s in settings.items():
            rm = str(work / f"rm-{m}")
            for kind in ("trl", "hrlaif"):
                r = run_worker(kind, specs[m], rm, work, s)
                res[(m, kind)] = r
                rows.append([m, kind, s["batch"], s["resp_len"], s["epochs"], s["minibatches"], r["update_s"],
                             r["rss_mb"], r["wall_s"]])
        print(f"torch {torch.__version__}, threads per run {THREADS or torch.get_num_threads()}, "
              f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
        table("PPO update: TRL 1.12 experimental PPOTrainer vs hrlaif (defaults: shared critic, reused log-probs)",
              ["model", "trainer", "batch", "resp_len", "ppo_epochs", "minibatches", "update_s", "peak_rss_mb",
               "process_wall_s"], rows)
        if not a.quick:
            for m, s in settings.items():
                rm = str(work / f"rm-{m}")
                abl = []
                base = res[(m, "hrlaif")]
                for v in ("default", "recompute_logprobs", "separate_critic", "lora", "rm_retokenize"):
                    r = base if v == "default" else run_worker("hrlaif", specs[m], rm, work, s, v)
                    abl.append([v, r["update_s"], r["gen_s"], r["score_ref_s"], r["train_s"], r["rss_mb"],
                                r["update_s"] / base["update_s"]])
                table(f"hrlaif step ablations on {m} (each row changes one thing from default)",
                      ["variant", "update_s", "gen_s", "score+ref_s", "train_s", "peak_rss_mb", "time_vs_default"],
                      abl)
                mr = run_worker("micro", specs[m], rm, work, s)
                table(f"one batch on {m}: KV cache and no_grad",
                      ["measure", "seconds"], [[k, v] for k, v in mr.items() if k != "wall_s"])
        nan = {"update_s": float("nan"), "rss_mb": float("nan")}
        t, h = res.get(("tiny-gpt2", "trl"), nan), res.get(("tiny-gpt2", "hrlaif"), nan)
        ts, hs = res.get(("smollm2-135m", "trl"), nan), res.get(("smollm2-135m", "hrlaif"), nan)
        print(f"speedup_vs_trl_tiny={t['update_s'] / h['update_s']:.2f} "
              f"speedup_vs_trl_smollm2={ts['update_s'] / hs['update_s']:.2f} "
              f"rss_ratio_smollm2={hs['rss_mb'] / ts['rss_mb']:.2f}")


if __name__ == "__main__":
    main()
