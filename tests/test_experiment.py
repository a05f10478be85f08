"""configs/experiment.yaml on tiny offline models: four arms, paired differences, RM comparison."""

from __future__ import annotations

import json
from itertools import combinations

import yaml

from conftest import REPO


def test_tiny_experiment_writes_paired_differences(tmp_path, cli, data_dir):
    cfg = yaml.safe_load((REPO / "configs" / "experiment_sim.yaml").read_text())
    out = tmp_path / "exp"
    cfg.update(out_dir=str(out), policy="tiny-llama", prompt_limit=12, use_redteam=False)
    cfg["generate"].update(k=3, max_new_tokens=12)
    cfg["rm"].update(epochs=1, max_length=96, trainable_layers=0, lr=1.0e-3)
    cfg["ppo"].update(updates=2, batch_size=4, max_new_tokens=8, save_every=2, threads=1)
    cfg["eval"].update(limit=10, max_new_tokens=12, toxicity_sets=[], n_bootstrap=100, scorer_accuracy_n=0)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(cfg))
    r = cli("-q", "run", str(tmp_path / "exp.yaml"), env={"HRLAIF_DATA_DIR": str(data_dir)}, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    s = json.loads((out / "summary.json").read_text())
    arms = ["SFT", "RLAIF", "HRLAIF", "HRLAIF+V"]
    assert list(s["arms"]) == arms
    got = {(p["a"], p["b"], p["set"]) for p in s["paired"]}
    want = {(hi, lo, st) for lo, hi in combinations(arms, 2) for st in ("arith-test", "easymc-test")}
    assert got == want
    for p in s["paired"]:
        assert p["n"] == 10 and -1 <= p["ci"][0] <= p["delta"] <= p["ci"][1] <= 1
        # the delta is the difference of the two arms' accuracies on the same items
        acc = {a: s["arms"][a]["benchmarks"][p["set"]]["accuracy"] for a in (p["a"], p["b"])}
        assert abs(p["delta"] - (acc[p["a"]] - acc[p["b"]])) < 1e-9
    rm = s["rm_compare"]
    assert rm["pairs"] == rm["rm_basic"]["all"]["n"] == rm["rm_hybrid"]["all"]["n"]
    assert (out / "ppo_hrlaif_v" / "policy" / "config.json").exists()
    v_cfg = yaml.safe_load((out / "ppo_hrlaif_v" / "hrlaif_config.yaml").read_text())
    assert v_cfg["reward"] == "hybrid"
    assert "paired" in (out / "report.md").read_text()
