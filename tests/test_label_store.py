"""Label store against a real OpenAI-compatible server on 127.0.0.1: resume after kill -9 with no
duplicate calls, faults become recorded failures (never labels) and are retried on the next run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from label_data import open_sets, write_sets

from hrlaif.data import Ranking, read_records
from hrlaif.judges.config import JudgeConfig
from hrlaif.judges.testserver import JudgeTestServer
from hrlaif.label import LabelConfig, label

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _judge(url: str, **kw) -> JudgeConfig:
    base = dict(backend="openai", base_urls=[url], model="test-judge", concurrency=4, timeout_s=0.5,
                max_retries=3, backoff_base_s=0.01, backoff_max_s=0.05, logprobs=False)
    return JudgeConfig(**{**base, **kw})


def _stored(db) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT status, COUNT(*) FROM calls GROUP BY status").fetchall())
    finally:
        con.close()


def test_resume_after_kill9_makes_no_duplicate_calls(tmp_path):
    sets = open_sets(12, k=3)  # 12 prompts × 3 pairs × 2 orders = 72 calls
    inp = write_sets(tmp_path / "rs.jsonl", sets)
    out, db = tmp_path / "labels.jsonl", tmp_path / "store.sqlite"
    with JudgeTestServer(policy="prefer_longer", latency_s=0.1) as srv:
        args = [sys.executable, "-m", "hrlaif.cli", "-q", "label", "--in", str(inp), "--out", str(out),
                "--store", str(db), "--mode", "basic", "--no-compare", "--judge.backend", "openai",
                "--judge.base_urls", srv.url, "--judge.model", "test-judge", "--judge.concurrency", "2",
                "--no-judge.logprobs", "--chunk-size", "8"]
        env = {**os.environ, "HRLAIF_QUIET": "1"}
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while srv.completions < 25 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not out.exists()
        first = srv.completions
        stored = _stored(db).get("ok", 0)
        assert 20 <= stored <= first <= stored + 2  # at most the calls in flight were lost
        bodies_first = [json.dumps(b["messages"], sort_keys=True) for b in srv.bodies]

        r = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        second = srv.completions - first
        assert second == 72 - stored  # exactly the calls not yet stored
        bodies = [json.dumps(b["messages"], sort_keys=True) for b in srv.bodies]
        assert len(set(bodies)) == 72  # every call made, none twice except the ones lost in flight
        assert len(bodies) - len(set(bodies)) == first - stored
        assert len(set(bodies_first)) == len(bodies_first)

        r = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and srv.completions == first + second  # a full rerun calls nothing
    rankings = read_records(out, Ranking)
    assert [x.prompt_id for x in rankings] == [s.prompt_id for s in sets]
    for x in rankings:  # prefer_longer judge: longest first, every response ranked
        assert x.tiers == [[2], [1], [0]] and x.metadata["complete"]
    assert _stored(db) == {"ok": 72}


def test_faults_become_recorded_failures_then_are_retried(tmp_path):
    sets = open_sets(6, k=3)
    poison = sets[2].responses[1].text  # every call showing this response fails for good
    inp = write_sets(tmp_path / "rs.jsonl", sets)
    cfg = LabelConfig(input=str(inp), out=str(tmp_path / "labels.jsonl"), mode="basic", compare=False,
                      export_trl=str(tmp_path / "trl.jsonl"))
    script = ["429", "500", "garbage", "truncated", "unparseable", "disconnect", "503", "hang"]
    with JudgeTestServer(policy="prefer_longer", script=script, retry_after=0.05, hang_s=1.0,
                         rules=[(poison, "500")]) as srv:
        cfg.judge = _judge(srv.url)
        res = label(cfg)
        assert srv.faults_served["429"] == 1 and srv.faults_served["hang"] == 1
    # 4 calls show the poisoned response (2 pairs × 2 orders): failed, recorded with a reason
    assert res.calls_failed == 4 and len(res.failures) == 4
    assert all("500" in f["reason"] and f["prompt_id"] == "open-2" for f in res.failures)
    failures_file = [json.loads(x) for x in open(res.paths["failures"])]
    assert {f["key"] for f in failures_file} == {f["key"] for f in res.failures}
    bad = res.rankings[2]
    assert bad.tiers == [[2], [0]] and bad.metadata["unranked"] == [1] and not bad.metadata["complete"]
    assert all(1 not in (d.items if d.kind == "judge" and d.outcome[0].isdigit() else []) for d in bad.decisions)
    for r in res.rankings[:2] + res.rankings[3:]:  # the scripted faults were retried into good labels
        assert r.tiers == [[2], [1], [0]] and r.metadata["complete"]
    trl = [json.loads(x) for x in open(tmp_path / "trl.jsonl")]
    assert not any(poison in row["chosen"][0]["content"] or poison in row["rejected"][0]["content"] for row in trl)

    with JudgeTestServer(policy="prefer_longer") as srv:  # the endpoint recovered: only the failures are retried
        cfg.judge = _judge(srv.url)
        res2 = label(cfg)
        assert srv.completions == 4
    assert res2.calls_failed == 0 and res2.rankings[2].tiers == [[2], [1], [0]]
    assert open(res2.paths["failures"]).read() == ""
    assert _stored(res.paths["store"]) == {"ok": 36}
    con = sqlite3.connect(res.paths["store"])  # WAL: readers never block the labeling process
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
