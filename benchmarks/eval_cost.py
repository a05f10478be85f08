"""What ``hrlaif eval`` costs and what its offline toxicity scorer is worth (prints tables).

    .venv/bin/python benchmarks/eval_cost.py --data-dir ../shared/data [--model smollm2-135m] [--limit 10]

1. The offline toxicity scorer: training time, held-out accuracy on ToxiGen sentences (with its
   Wilson interval), benign false-positive rate, and — for reference only — its agreement with
   BeaverTails labels (those label prompt+response pairs, not the prompt text it is shown here,
   so this is not an accuracy).
2. One ``evaluate_policy`` run of ``--model`` on ``--limit`` items per benchmark: seconds per
   stage, generated tokens per second and peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from hrlaif.ui import print_table


def scorer_table(data_dir: str) -> None:
    from hrlaif.evaluation.metrics import binary_report
    from hrlaif.evaluation.toxicity import OfflineToxicityScorer

    t0 = time.perf_counter()
    sc = OfflineToxicityScorer(data_dir)
    train_s = time.perf_counter() - t0
    q = sc.quality
    bt = json.loads((Path(data_dir) / "beavertails" / "beavertails_30k.json").read_text(encoding="utf-8"))
    seen, rows = set(), []
    for r in bt:
        if r["text"] not in seen:
            seen.add(r["text"])
            rows.append((r["text"], r["label"] == "harmful"))
    t0 = time.perf_counter()
    preds = [s.toxic for s in sc.score([None] * len(rows), [t for t, _ in rows])]
    score_s = time.perf_counter() - t0
    bt_rep = binary_report([y for _, y in rows], preds)
    print_table("Offline toxicity scorer (no hub)", ["measure", "value", "n"], [
        ["build time (s; weights cached after the first build)", round(train_s, 2), q["n_train"]],
        ["held-out ToxiGen accuracy", f"{q['accuracy']:.3f} [{q['accuracy_ci'][0]:.3f}, {q['accuracy_ci'][1]:.3f}]",
         q["n"]],
        ["held-out ToxiGen precision / recall", f"{q['precision']:.3f} / {q['recall']:.3f}", q["n"]],
        ["benign false-positive rate (held-out background sentences)", f"{q['benign_false_positive_rate']:.3f}",
         q["n_benign_heldout"]],
        ["agreement with BeaverTails QA-pair labels (prompt text only; NOT an accuracy)",
         f"{bt_rep['accuracy']:.3f} (P {bt_rep['precision']:.2f}, R {bt_rep['recall']:.2f})", bt_rep["n"]],
        ["scoring speed (texts/s)", round(len(rows) / score_s), len(rows)],
    ])


def eval_table(model: str, data_dir: str, limit: int, max_new_tokens: int) -> None:
    from hrlaif.config import build_config
    from hrlaif.evaluate import EvalConfig, evaluate_policy
    from hrlaif.sampling import Sampler

    cfg = build_config(EvalConfig, {"model": model, "data_dir": data_dir, "limit": limit, "toxicity_limit": limit,
                                    "max_new_tokens": max_new_tokens, "mc_scoring": "both",
                                    "harm_source": "scorer", "satisfaction": True})
    t0 = time.perf_counter()
    sampler = Sampler.from_spec(model)
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        res = evaluate_policy(sampler, cfg, d)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [["load model", round(load_s, 1), ""]]
    rows += [[k, v, ""] for k, v in res["timings_s"].items() if k != "load_policy"]
    rows.append(["generated tokens/s", round(sampler.stats.tokens_per_s, 1),
                 f"{sampler.stats.new_tokens} tokens, {sampler.stats.sequences} responses"])
    rows.append(["peak RSS (MB)", round(rss_mb), ""])
    print_table(f"hrlaif eval cost: {model}, {limit} items per set, max_new_tokens={max_new_tokens}, "
                f"{os.cpu_count()} CPUs", ["stage", "seconds / value", "note"], rows)
    acc = [[n, b["n"], b["accuracy"], (b.get("loglik") or {}).get("accuracy")] for n, b in res["benchmarks"].items()]
    print_table("accuracy on those subsets (small n: see the intervals in eval.json)",
                ["benchmark", "n", "generative", "log-likelihood"], acc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("HRLAIF_DATA_DIR", "../shared/data"))
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--skip-eval", action="store_true", help="only the scorer table")
    a = ap.parse_args()
    os.environ.setdefault("HRLAIF_QUIET", "1")
    scorer_table(a.data_dir)
    if not a.skip_eval:
        eval_table(a.model, a.data_dir, a.limit, a.max_new_tokens)


if __name__ == "__main__":
    main()
