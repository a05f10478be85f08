"""Judge throughput: the OpenAI-compatible judge against a loopback server with fixed latency,
and the local HF judge unbatched vs batched.

    .venv/bin/python benchmarks/labeling_throughput.py                  # both parts
    .venv/bin/python benchmarks/labeling_throughput.py --only server    # endpoint part only
    .venv/bin/python benchmarks/labeling_throughput.py --only local --no-smollm2

Part 1 (endpoint): ``hrlaif.judges.testserver.JudgeTestServer`` answers every pairwise request
after ``--latency`` seconds; ``OpenAIJudge`` judges N requests with 1, 16 and 64 in flight.
The ideal is in_flight / latency labels/s (a server that only waits). Last line of the part:
``throughput_vs_ideal_at_64=X.XX``.

Part 2 (local): ``LocalJudge`` scores the same pairs one at a time, in batches of
``--batch-size``, and in batches with the shared-prompt-prefix KV cache (the judge's default);
tiny random Llama, then SmolLM2-135M unless ``--no-smollm2``. Last line of the part:
``local_judge_batched_speedup=X.XX`` = default batched path vs one at a time (SmolLM2's when it
ran, else the tiny model's).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HRLAIF_QUIET", "1")

from hrlaif.data import Message  # noqa: E402
from hrlaif.judges.base import JudgeRequest  # noqa: E402
from hrlaif.judges.config import JudgeConfig, make_judge  # noqa: E402
from hrlaif.ui import print_table  # noqa: E402


def pairs(n: int) -> list[JudgeRequest]:
    out = []
    for i in range(n):
        a, b = 10 + i, 20 + 3 * i
        right = f"{a} + {b} = {a + b}."
        wrong = f"Let me add them step by step: {a} plus {b} gives {a + b + 10}, so the answer is {a + b + 10}."
        resp = [right, wrong] if i % 2 == 0 else [wrong, right]
        out.append(JudgeRequest("pairwise", [Message("user", f"What is {a} + {b}?")], resp, category="math",
                                reference=str(a + b)))
    return out


def bench_server(latency: float, levels: list[int], seconds: float, same_process: bool) -> float:
    from hrlaif.judges.testserver import JudgeTestServer, JudgeTestServerProcess

    rows, ratio64 = [], float("nan")
    server_cls = JudgeTestServer if same_process else JudgeTestServerProcess
    with server_cls(latency_s=latency, policy="prefer_reference") as srv:
        for k in levels:
            ideal = k / latency
            n = max(k * 2, int(ideal * seconds))
            cfg = JudgeConfig(backend="openai", base_urls=[srv.url], model="bench", concurrency=k,
                              show_reference=True, logprobs=False, timeout_s=30)
            judge = make_judge(cfg)
            reqs = pairs(n)
            judge.judge_many(reqs[: min(k, 8)])  # warm up connections
            t0, c0 = time.perf_counter(), time.process_time()
            res = judge.judge_many(reqs)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            ok = sum(r.ok for r in res)
            assert len(res) == n and sum(r.attempts for r in res) == n, "lost or repeated calls"
            rate = ok / dt
            rows.append([k, n, ok, f"{dt:.2f}", f"{rate:.1f}", f"{ideal:.1f}", f"{rate / ideal:.2f}",
                         f"{cpu / n * 1000:.2f}", f"{n / cpu if cpu > 0 else float('inf'):.0f}"])
            if k == 64:
                ratio64 = rate / ideal
    where = "in this process" if same_process else "in a child process"
    print_table(f"OpenAI-compatible judge vs loopback server {where} (latency {latency * 1000:.0f} ms, "
                f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f})",
                ["in flight", "requests", "ok", "seconds", "labels/s", "ideal labels/s", "vs ideal",
                 "client CPU ms/label", "labels/s if CPU-bound"], rows)
    print(f"throughput_vs_ideal_at_64={ratio64:.2f}")
    return ratio64


def bench_local(model: str, n: int, batch_size: int) -> tuple[list, float]:
    """pairs/s of three paths on the same pairs: one at a time (no sharing), batched, and batched
    with the shared-prefix KV cache (the judge's default)."""
    from hrlaif.judges.local import LocalJudge

    reqs = pairs(n)
    t0 = time.perf_counter()
    base = LocalJudge(JudgeConfig(backend="local", model=model, batch_size=1), share_prefix=False)
    base.judge_many(reqs[:1])  # load + warm up
    load_s = time.perf_counter() - t0
    runs = {"bs=1": (1, False), f"bs={batch_size}": (batch_size, False), f"bs={batch_size}+prefix": (batch_size, True)}
    rates, prefs = {}, {}
    for name, (bs, share) in runs.items():
        judge = LocalJudge(JudgeConfig(backend="local", model=model, batch_size=bs), model=base._model,
                           tokenizer=base._tok, share_prefix=share)
        t0 = time.perf_counter()
        res = judge.judge_many(reqs)
        rates[name] = n / (time.perf_counter() - t0)
        prefs[name] = [r.preference for r in res]
    max_diff = max(abs(x - y) for k in prefs for x, y in zip(prefs["bs=1"], prefs[k]))
    tokens = sum(len(base._prompt_ids(r)) for r in reqs) / n
    names = list(runs)
    speedup = rates[names[2]] / rates[names[0]]
    label = Path(model).name if os.sep in model else model
    row = [label, n, f"{tokens:.0f}", f"{load_s:.1f}"] + [f"{rates[k]:.2f}" for k in names] + [
        f"{rates[names[1]] / rates[names[0]]:.2f}", f"{speedup:.2f}", f"{max_diff:.1e}"]
    return row, speedup


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["server", "local"], default=None)
    ap.add_argument("--latency", type=float, default=0.1, help="server latency per call, seconds")
    ap.add_argument("--seconds", type=float, default=2.0, help="target duration of each in-flight level")
    ap.add_argument("--levels", default="1,16,64")
    ap.add_argument("--pairs", type=int, default=32, help="pairs for the tiny local model")
    ap.add_argument("--smollm2-pairs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--no-smollm2", action="store_true")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads for the local part (0 = torch's default). On a shared, oversubscribed "
                         "machine 1 thread is far faster: OpenMP threads wait for each other at every op")
    ap.add_argument("--same-process", action="store_true", help="run the server in this process (shares the GIL)")
    args = ap.parse_args()
    if args.only in (None, "server"):
        bench_server(args.latency, [int(x) for x in args.levels.split(",")], args.seconds, args.same_process)
    if args.only in (None, "local"):
        import torch

        from hrlaif.models import build_tiny_model

        if args.threads > 0:
            torch.set_num_threads(args.threads)

        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            tiny = build_tiny_model(Path(tmp) / "tiny-llama", arch="llama")
            row, speedup = bench_local(str(tiny), args.pairs, args.batch_size)
            rows.append(row)
            if not args.no_smollm2:
                row, speedup = bench_local("smollm2-135m", args.smollm2_pairs, args.batch_size)
                rows.append(row)
        print_table(f"Local judge: pairs/s unbatched vs batch {args.batch_size} "
                    f"(torch {torch.__version__}, {torch.get_num_threads()} threads, "
                    f"{'cuda' if torch.cuda.is_available() else 'cpu'})",
                    ["model", "pairs", "tokens/pair", "load s", "pairs/s bs=1", f"pairs/s bs={args.batch_size}",
                     f"pairs/s bs={args.batch_size} + shared prefix", "batching speedup", "total speedup",
                     "max |Δp|"], rows)
        print(f"local_judge_batched_speedup={speedup:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
