"""Reward-model training cost: K-wise (one forward per response) vs pairwise expansion vs TRL.

On identical rankings (synthetic GSM8K/MMLU partial orders from ``hrlaif.rm.synthetic``, same
train/held-out split, same token ids, same tiny Llama backbone and head initialisation, AdamW,
same number of optimizer steps) at K=4 and K=8, it measures per method:

* sequence forwards per training prompt per epoch,
* wall-clock (and CPU) seconds per epoch, training only: no model loading, no evaluation; hrlaif
  reports the median epoch, TRL (one ``train()`` call) the mean; an untimed warm-up run goes first,
* held-out pairwise accuracy (all three scored by the same function on the same examples).

Methods: (a) ``hrlaif train-rm`` K-wise; (b) ``hrlaif train-rm --pairwise`` (each strict pair
encoded separately, same loss); (c) TRL's ``RewardTrainer`` on the expanded chosen/rejected
pairs (pre-tokenised with the same ids). TRL is a benchmark-only dependency (``pip install
-e .[bench]``). The last line reads ``speedup_vs_trl_k4=X.XX speedup_vs_trl_k8=Y.YY`` (TRL
seconds per epoch / hrlaif K-wise seconds per epoch).

Run: ``.venv/bin/python benchmarks/rm_forward.py [--prompts 40] [--epochs 2]``
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HRLAIF_QUIET", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HRLAIF_DATA_DIR", REPO.parent / "shared" / "data"))


def run_hrlaif(rank_file: Path, model: str, out: Path, args: argparse.Namespace, *, pairwise: bool) -> dict:
    from hrlaif.config import build_config
    from hrlaif.rm.train import RMConfig, train_reward_model

    cfg = build_config(RMConfig, dict(rankings=[str(rank_file)], model=model, out=str(out), epochs=args.epochs,
                                      batch_size=args.batch, lr=args.lr, max_length=args.max_length,
                                      eval_fraction=args.eval_fraction, pairwise=pairwise, seed=args.seed))
    res = train_reward_model(cfg)
    return {"forwards_per_prompt": res.forwards / (res.train_prompts * res.epochs),
            "epoch_s": statistics.median(res.epoch_s), "epoch_cpu_s": statistics.median(res.epoch_cpu_s),
            "accuracy": res.eval_accuracy}


def run_trl(rank_file: Path, model: str, out: Path, args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from hrlaif.rm.data import encode_rankings, load_rankings, split_heldout
    from hrlaif.rm.loss import strict_pairs
    from hrlaif.rm.model import init_reward_model
    from hrlaif.rm.train import evaluate

    train_r, eval_r = split_heldout(load_rankings([rank_file]), args.eval_fraction, args.seed)
    torch.manual_seed(args.seed)  # the same head initialisation as hrlaif's run
    rm = init_reward_model(model, max_length=args.max_length)
    train_ex = encode_rankings(train_r, rm.tokenizer, args.max_length)
    rows = [{"chosen_ids": ex.input_ids[i], "rejected_ids": ex.input_ids[j]}
            for ex in train_ex for i, j in strict_pairs(ex.tiers)]
    pairs_per_prompt = len(rows) / len(train_ex)
    conf = RewardConfig(output_dir=str(out), per_device_train_batch_size=round(args.batch * pairs_per_prompt),
                        num_train_epochs=args.epochs, learning_rate=args.lr, lr_scheduler_type="constant",
                        report_to="none", save_strategy="no", logging_strategy="no", use_cpu=True, bf16=False,
                        gradient_checkpointing=False, max_length=None, seed=args.seed, disable_tqdm=True,
                        dataloader_drop_last=False)
    trainer = RewardTrainer(model=rm.backbone, args=conf, train_dataset=Dataset.from_list(rows),
                            processing_class=rm.tokenizer)
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    for cb in (PrinterCallback, ProgressCallback):  # TRL would print its metrics dict on stdout
        trainer.remove_callback(cb)
    t, c = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(sys.stderr):
        trainer.train()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    ev = evaluate(rm, encode_rankings(eval_r, rm.tokenizer, args.max_length))
    return {"forwards_per_prompt": 2 * pairs_per_prompt, "epoch_s": wall / args.epochs,
            "epoch_cpu_s": cpu / args.epochs, "accuracy": ev["accuracy"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=50, help="rankings per K (30%% held out)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4, help="prompts per optimizer step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--eval-fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="tiny-llama")
    ap.add_argument("--no-trl", action="store_true", help="skip TRL (when it is not installed)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)

    import torch

    from hrlaif.data import write_records
    from hrlaif.models import resolve_model
    from hrlaif.rm.synthetic import synthetic_rankings
    from hrlaif.ui import print_table

    model = resolve_model(args.model).path
    rows, speedups = [], {}
    with tempfile.TemporaryDirectory(prefix="rm-bench-") as tmp:
        # Warm-up (untimed): the first training run in a process pays one-off costs (thread pools,
        # allocator, kernel selection) that would otherwise land on whichever method runs first.
        warm = Path(tmp) / "warmup.jsonl"
        write_records(warm, synthetic_rankings(DATA, n=12, k=4, seed=args.seed + 1))
        run_hrlaif(warm, model, Path(tmp) / "warm", argparse.Namespace(**{**vars(args), "epochs": 1}), pairwise=False)
        for k in (4, 8):
            f = Path(tmp) / f"rankings_k{k}.jsonl"
            write_records(f, synthetic_rankings(DATA, n=args.prompts, k=k, seed=args.seed))
            results = {"hrlaif K-wise": run_hrlaif(f, model, Path(tmp) / f"a{k}", args, pairwise=False),
                       "hrlaif pairwise": run_hrlaif(f, model, Path(tmp) / f"b{k}", args, pairwise=True)}
            if not args.no_trl:
                results["TRL RewardTrainer"] = run_trl(f, model, Path(tmp) / f"c{k}", args)
            base = results["hrlaif K-wise"]["epoch_s"]
            for name, r in results.items():
                rows.append([k, name, f"{r['forwards_per_prompt']:.1f}", f"{r['epoch_s']:.2f}",
                             f"{r['epoch_cpu_s']:.2f}", f"{r['epoch_s'] / base:.2f}x", "n/a" if r["accuracy"] is None else f"{r['accuracy']:.3f}"])
            if "TRL RewardTrainer" in results:
                speedups[k] = results["TRL RewardTrainer"]["epoch_s"] / base
    print_table(f"reward-model training cost ({args.prompts} rankings per K, {args.epochs} epochs, tiny Llama, "
                f"torch threads={torch.get_num_threads()})",
                ["K", "method", "forwards / prompt", "s / epoch", "CPU s / epoch", "time vs K-wise",
                 "held-out acc"], rows)
    if speedups:
        print(f"speedup_vs_trl_k4={speedups[4]:.2f} speedup_vs_trl_k8={speedups[8]:.2f}")
    else:
        print("speedup_vs_trl_k4=n/a speedup_vs_trl_k8=n/a (TRL skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
