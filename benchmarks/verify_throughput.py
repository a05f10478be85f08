"""Verifier throughput on the real benchmark files.

    .venv/bin/python benchmarks/verify_throughput.py [--data ../shared/data] [--workers 1,2]

Prints one table: items/s for the math fast path (GSM8K solutions), math-verify (LaTeX answers,
main thread vs a worker thread that routes to the helper process), multiple choice (C-Eval
phrasing), the step checker, and the code sandbox (HumanEval canonical solutions) at each worker
count, beside bare ``python -I -c pass`` start-up (the floor for one sandboxed program).
Last line: ``humaneval_programs_per_s=X.XX`` at the largest worker count.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from hrlaif.ui import print_table
from hrlaif.verify import check_steps, sandbox_isolation, verify_choice, verify_code_many, verify_math


def _rate(n: int, fn) -> tuple[float, float]:  # noqa: ANN001
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    return n / dt, dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--humaneval", type=int, default=164, help="how many HumanEval problems")
    args = ap.parse_args()
    data = Path(args.data)
    rows = []

    gsm = [json.loads(x)["answer"] for x in open(data / "gsm8k" / "test.jsonl", encoding="utf-8")]
    refs = [s.rsplit("####", 1)[1].strip() for s in gsm]
    r, dt = _rate(len(gsm), lambda: [verify_math(s, a) for s, a in zip(gsm, refs)])
    rows.append(["math, numeric fast path (GSM8K solutions)", len(gsm), dt, r])
    r, dt = _rate(len(gsm), lambda: [check_steps(s) for s in gsm])
    rows.append(["steps: check_steps (GSM8K solutions)", len(gsm), dt, r])

    latex = [(f"so \\boxed{{\\frac{{{i}}}{{{i + 1}}}}}", f"\\frac{{{2 * i}}}{{{2 * i + 2}}}") for i in range(1, 41)]
    verify_math(*latex[0])  # warm up: sympy's import is paid once per process
    r, dt = _rate(len(latex), lambda: [verify_math(a, b) for a, b in latex])
    rows.append(["math-verify, main thread (LaTeX)", len(latex), dt, r])
    # (the helper process starts, and imports sympy, on the first off-main-thread call)
    th = threading.Thread(target=lambda: verify_math(*latex[0]))
    th.start()
    th.join()

    def in_thread() -> None:
        t = threading.Thread(target=lambda: [verify_math(a, b) for a, b in latex])
        t.start()
        t.join()

    r, dt = _rate(len(latex), in_thread)
    rows.append(["math-verify, worker thread → helper process", len(latex), dt, r])

    mc = [(f"答案是 {L}", L, ["a", "b", "c", "d"]) for L in "ABCD" * 250]
    r, dt = _rate(len(mc), lambda: [verify_choice(t, g, c) for t, g, c in mc])
    rows.append(["multiple choice (答案是 X)", len(mc), dt, r])

    t = time.perf_counter()
    for _ in range(10):
        subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)
    rows.append(["bare `python -I -c pass` (floor per program)", 10, time.perf_counter() - t,
                 10 / (time.perf_counter() - t)])
    probs = [json.loads(x) for x in gzip.open(data / "humaneval" / "HumanEval.jsonl.gz", "rt")][: args.humaneval]
    items = [(p["prompt"], p["canonical_solution"], p["test"], p["entry_point"]) for p in probs]
    iso = sandbox_isolation()
    allow = "no-network" not in iso
    last = 0.0
    for w in [int(x) for x in args.workers.split(",")]:
        res: list = []
        last, dt = _rate(len(items), lambda w=w: res.extend(
            verify_code_many(items, workers=w, timeout_s=10, allow_unisolated=allow)))
        assert all(v.correct for v in res), [v.reason for v in res if not v.correct][:3]
        rows.append([f"code sandbox, {w} worker(s) (HumanEval canonical)", len(items), dt, last])
    print_table("verifier throughput", ["what", "items", "seconds", "items/s"], rows)
    print("sandbox isolation: " + ", ".join(iso))
    print(f"humaneval_programs_per_s={last:.2f}")


if __name__ == "__main__":
    main()
