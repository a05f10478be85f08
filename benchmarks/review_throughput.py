"""How fast the review server stores judgements and computes results (prints a table).

    .venv/bin/python benchmarks/review_throughput.py [--items 200] [--per-reviewer 150]

Synthetic items (no model, no data files): a temporary SQLite database with ``--items`` label pairs
and as many satisfaction items. Reviewer threads POST judgements over real HTTP on 127.0.0.1
(one connection per request, as the page does); every write is committed with synchronous=FULL
before the answer. Then ``review_results`` runs on the filled database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from hrlaif.review.items import LabelItem, SatItem
from hrlaif.review.results import review_results
from hrlaif.review.server import serve
from hrlaif.review.store import Store
from hrlaif.ui import print_table


def fill(db: Path, n: int) -> None:
    cats = ["math", "multiple_choice", "code", "open_ended"]
    with Store(db) as s:
        s.add_label_items(LabelItem(key=f"l{i}", category=cats[i % 4], prompt_id=f"p{i}", prompt="q" * 200,
                                    reference=None, choices=None, first="x" * 400, second="y" * 400, first_index=0,
                                    second_index=1, ai_labels={"basic": "second", "hybrid": "first"})
                          for i in range(n))
        s.add_sat_items(SatItem(key=f"s{i}", category=cats[i % 4], prompt_id=f"p{i}", prompt="q", reference=None,
                                choices=None, policy=("sft", "rlaif", "hrlaif")[i % 3], response="r" * 400)
                        for i in range(n))


def hammer(srv, n_threads: int, per_reviewer: int, n_items: int) -> tuple[float, list[float]]:
    lat: list[float] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        mine = []
        for j in range(per_reviewer):
            body = json.dumps({"reviewer": f"bench{n_threads}-{k}", "item_id": 1 + (j % n_items),
                               "choice": ("a", "b", "tie")[j % 3]}).encode()
            req = urllib.request.Request(srv.origin + "/api/label", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {srv.token}",
                                                  "Content-Type": "application/json"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--per-reviewer", type=int, default=150)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "review.sqlite"
        fill(db, args.items)
        with serve(db) as srv:
            for n_threads in (1, 4, 8):
                wall, lat = hammer(srv, n_threads, args.per_reviewer, args.items)
                lat.sort()
                rows.append([f"POST /api/label, {n_threads} reviewer thread(s)", len(lat), f"{len(lat) / wall:.0f}/s",
                             f"{1000 * statistics.median(lat):.1f}", f"{1000 * lat[int(0.95 * (len(lat) - 1))]:.1f}"])
        with Store(db) as s:
            n_j = s.counts()["label_judgements"]
            t0 = time.perf_counter()
            review_results(s)
            dt = time.perf_counter() - t0
        rows.append([f"review_results ({args.items} pairs, {n_j} judgements)", 1, "", f"{1000 * dt:.0f}", ""])
    print_table("hrlaif review: storage and results", ["operation", "count", "throughput", "p50 ms", "p95 ms"], rows)


if __name__ == "__main__":
    main()
