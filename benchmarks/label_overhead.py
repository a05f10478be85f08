"""Overhead of the label stage itself (routing, verification, SQLite store, aggregation, report),
measured with the simulated judge, which costs ~nothing per call.

    .venv/bin/python benchmarks/label_overhead.py [--data ../shared/data] [--sets 100,400]

For N GSM8K + N MMLU ResponseSets (K = 4, built as in tests/label_data.py) it runs
`label(mode=hybrid, compare=True)` twice: cold (empty store: every call made and committed one by
one) and warm (everything read back from the store). Prints one table; last line
``label_store_calls_per_s=X`` (cold, the largest N).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from label_data import math_sets, mc_sets, write_sets  # noqa: E402

from hrlaif.judges.config import JudgeConfig  # noqa: E402
from hrlaif.label import LabelConfig, label  # noqa: E402
from hrlaif.ui import print_table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--sets", default="100,400", help="N per category (GSM8K and MMLU)")
    args = ap.parse_args()
    import os

    os.environ["HRLAIF_QUIET"] = "1"
    rows, last = [], 0.0
    for n in [int(x) for x in args.sets.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            sets = math_sets(Path(args.data), n) + mc_sets(Path(args.data), n, subject="professional_law")
            inp = write_sets(Path(tmp) / "rs.jsonl", sets)
            cfg = LabelConfig(input=str(inp), out=str(Path(tmp) / "l.jsonl"),
                              judge=JudgeConfig(backend="simulated", sim_length_bias=0.6))
            t = time.perf_counter()
            cold = label(cfg)
            t_cold = time.perf_counter() - t
            t = time.perf_counter()
            warm = label(cfg)
            t_warm = time.perf_counter() - t
            size = Path(cold.paths["store"]).stat().st_size / 2**20
            assert warm.calls_made == 0 and warm.calls_cached == cold.calls_made
            last = cold.calls_made / t_cold
            rows.append([len(sets), cold.calls_made, round(t_cold, 2), round(last), round(t_warm, 2),
                         round(warm.calls_cached / t_warm), round(size, 1)])
    print_table("label stage overhead (simulated judge; hybrid + basic comparison)",
                ["sets", "judge calls", "cold s", "cold calls/s", "warm s", "warm calls/s", "store MiB"], rows)
    print(f"label_store_calls_per_s={last:.2f}")


if __name__ == "__main__":
    main()
