"""`hrlaif review` through the real CLI: light imports, results without a server, export, bad input,
and the server started by the CLI on a `hrlaif run`-shaped folder."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import urllib.request

import yaml

from conftest import REPO, run_cli
from hrlaif.review.server import ReviewConfig, prepare
from hrlaif.review.store import Store
from test_review_support import make_run


def test_review_modules_import_no_torch():
    code = ("import sys, hrlaif.review.server, hrlaif.review.web, hrlaif.review.results, hrlaif.review.store; "
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'accelerate')]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_cli("review", "--help")
    assert r.returncode == 0 and "--run-dir" in r.stdout and "--results-only" in r.stdout


def test_results_only_and_export(tmp_path, data_dir):
    run = make_run(tmp_path / "run", data_dir)
    r = run_cli("review", "--run-dir", str(run), "--results-only")
    assert r.returncode == 0, r.stderr
    assert "AI-vs-human label agreement" in r.stdout and "Satisfaction rate" in r.stdout
    res = json.loads((run / "review" / "results.json").read_text())
    assert res["schema"] == "hrlaif.review.results/1" and res["labels"]["items"] == 8
    saved = yaml.safe_load((run / "review" / "hrlaif_config.yaml").read_text())
    assert saved["stage"] == "review" and saved["run_dir"] == str(run)

    db, new = prepare(ReviewConfig(run_dir=str(run)))
    assert new == {"label_items": 0, "sat_items": 0}  # the CLI run already imported them
    with Store(db) as s:
        item = s.next_item("label", "ann")
        s.record_label("ann", item["id"], "tie")
        sat = s.next_item("satisfaction", "ann")
        s.record_satisfaction("ann", sat["id"], False, "=HYPERLINK(\"http://x\")")
    out_csv, out_jsonl = tmp_path / "j.csv", tmp_path / "j.jsonl"
    r = run_cli("review", "--out", str(run / "review"), "--export", str(out_csv))
    assert r.returncode == 0, r.stderr
    assert "1 label judgements, 1 satisfaction ratings" in r.stdout
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert [x["kind"] for x in rows] == ["label", "satisfaction"]
    assert rows[0]["human_label"] == "tie" and rows[1]["satisfied"] == "False"
    assert rows[1]["reason"].startswith("'=")  # a spreadsheet formula is neutralised
    assert rows[1]["policy"] in ("sft", "hrlaif")
    r = run_cli("review", "--out", str(run / "review"), "--export", str(out_jsonl))
    recs = [json.loads(x) for x in out_jsonl.read_text().splitlines()]
    assert r.returncode == 0 and recs[0]["ai_labels"].keys() == {"basic", "hybrid"}


def test_pipeline_run_layout(tmp_path, data_dir):
    """`hrlaif run` writes eval/<policy>/responses_<set>.jsonl and redteam/rankings.jsonl."""
    run = make_run(tmp_path / "run", data_dir, pipeline_layout=True)
    r = run_cli("review", "--run-dir", str(run), "--results-only", "--per-category", "3")
    assert r.returncode == 0, r.stderr
    res = json.loads((run / "review" / "results.json").read_text())
    assert res["labels"]["items"] == 3 + 3 + 1 + 2  # math, multiple choice, open-ended, red-team harmlessness
    assert set(res["satisfaction"]["by_policy"]) == {"sft", "rlaif", "hrlaif"}
    assert res["satisfaction"]["items"] == 3 * (3 + 3 + 1)
    with Store(run / "review" / "review.sqlite") as s:
        red = [x for x in s.label_items() if x["category"] == "harmlessness"]
    assert len(red) == 2 and all(x["ai_labels"] == {"redteam": "second"} for x in red)


def test_bad_inputs_exit_2_with_a_clear_message(tmp_path):
    r = run_cli("review", "--out", str(tmp_path / "rv"))
    assert r.returncode == 2 and "nothing to review" in r.stderr
    r = run_cli("review", "--labels", f"basic={tmp_path / 'missing.jsonl'}", "--out", str(tmp_path / "rv"))
    assert r.returncode == 2 and "missing.jsonl" in r.stderr and "not found" in r.stderr
    bad = tmp_path / "labels_bad.jsonl"
    bad.write_text('{"prompt_id": "x", "category": "math"}\n{not json\n')
    r = run_cli("review", "--labels", str(bad), "--out", str(tmp_path / "rv"))
    assert r.returncode == 2 and "labels_bad.jsonl:1" in r.stderr
    r = run_cli("review", "--labels", str(bad), "--host", "0.0.0.0", "--out", str(tmp_path / "rv"))
    assert r.returncode == 2 and "allow-remote" in r.stderr


def test_cli_serves_a_run_folder_until_interrupted(tmp_path, data_dir):
    run = make_run(tmp_path / "run", data_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "hrlaif.cli", "-q", "review", "--run-dir", str(run), "--port", "0"],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        for line in p.stdout:
            if line.startswith("open: "):
                url = line.split()[1]
                break
        assert url and "127.0.0.1" in url and "token=" in url
        origin, token = url.split("/?token=")
        req = urllib.request.Request(origin + "/api/state?reviewer=ann", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            state = json.loads(resp.read())
        assert state["label"]["math"] == {"items": 4, "done": 0}
        assert state["satisfaction"]["open_ended"]["items"] == 2
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "Satisfaction rate" in out
    assert token not in err and token not in (run / "review" / "hrlaif_config.yaml").read_text()
