"""Sampling throughput: hrlaif's Sampler vs Hugging Face ``model.generate`` on the same rows.

Both sample K responses for each of the first N demo prompts (chat template applied, left-padded
batches of ``--batch-size`` rows, temperature 0.8, top-p 0.95, ``--max-new-tokens``, KV cache).
hrlaif prefills each distinct prompt once and gathers its cache K times, drops finished rows
from the batch, and seeds every row separately; ``generate`` prefills all K copies and keeps
finished rows in the batch. Per method the table shows wall seconds, generated tokens (up to and
including the stop token), tokens/s and the number of prompt tokens pushed through prefill.
Same model object and thread count for both; the order of the methods alternates per repeat.

Run: ``.venv/bin/python benchmarks/generate_throughput.py [--model smollm2-135m] [--prompts 8]
[--k 4] [--max-new-tokens 32] [--batch-size 8] [--threads 1] [--repeats 2]``
On a CPU shared with other jobs, ``--threads 1`` avoids the OpenMP slowdown of oversubscription.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HRLAIF_QUIET", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def run_hrlaif(sampler, chats, args) -> tuple[float, int, int]:
    from hrlaif.sampling import SampleStats

    sampler.stats = SampleStats()
    t0 = time.perf_counter()
    out = sampler.sample(chats, args.k, temperature=0.8, top_p=0.95, max_new_tokens=args.max_new_tokens,
                         seed=0, batch_size=args.batch_size)
    secs = time.perf_counter() - t0
    prefill = 0  # one prefill per distinct prompt per batch
    tok = sampler.tokenizer
    lengths = {i: len(tok(sampler.render(c), add_special_tokens=False)["input_ids"]) for i, c in enumerate(chats)}
    order = sorted(lengths, key=lambda i: (lengths[i], i))
    rows = [i for i in order for _ in range(args.k)]
    for s in range(0, len(rows), args.batch_size):
        batch = rows[s:s + args.batch_size]
        prefill += len(set(batch)) * max(lengths[i] for i in batch)
    return secs, sum(r.n_tokens for rs in out for r in rs), prefill


def run_hf(sampler, chats, args) -> tuple[float, int, int]:
    import torch

    tok, model = sampler.tokenizer, sampler.model
    texts = [sampler.render(c) for c in chats for _ in range(args.k)]
    t0 = time.perf_counter()
    n_new = prefill = 0
    for s in range(0, len(texts), args.batch_size):
        enc = tok(texts[s:s + args.batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        prefill += enc.input_ids.numel()
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=True, temperature=0.8, top_p=0.95,
                                 max_new_tokens=args.max_new_tokens, pad_token_id=tok.pad_token_id)
        for row in out[:, enc.input_ids.shape[1]:].tolist():
            stop = next((i for i, t in enumerate(row) if t in sampler.stop_ids), None)
            n_new += stop + 1 if stop is not None else len(row)
    return time.perf_counter() - t0, n_new, prefill


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import torch

    from hrlaif.prompts import load_prompt_set
    from hrlaif.sampling import Sampler
    from hrlaif.ui import print_table

    if args.threads:
        torch.set_num_threads(args.threads)
    sampler = Sampler.from_spec(args.model)
    chats = [p.messages for p in load_prompt_set("demo")[: args.prompts]]
    sampler.sample(chats[:1], 1, max_new_tokens=2)  # warm-up
    results: dict[str, list[tuple[float, int, int]]] = {"hrlaif Sampler": [], "HF generate": []}
    for r in range(args.repeats):
        methods = [("hrlaif Sampler", run_hrlaif), ("HF generate", run_hf)]
        for name, fn in (methods if r % 2 == 0 else methods[::-1]):
            results[name].append(fn(sampler, chats, args))
    rows = []
    for name, runs in results.items():
        secs = sum(x[0] for x in runs) / len(runs)
        toks = sum(x[1] for x in runs) / len(runs)
        rows.append([name, round(secs, 2), int(toks), round(toks / secs, 1), runs[0][2]])
    print_table(f"{args.model}: {args.prompts} prompts x K={args.k}, {args.max_new_tokens} new tokens, "
                f"batch {args.batch_size}, threads {torch.get_num_threads()}, load {os.getloadavg()[0]:.1f}",
                ["method", "seconds", "new tokens", "tokens/s", "prefill tokens"], rows)
    print(f"tokens_per_s_ratio={rows[0][3] / max(rows[1][3], 1e-9):.2f}")


if __name__ == "__main__":
    main()
