"""`hrlaif run configs/tiny.yaml`: the whole pipeline on tiny offline models, through the CLI,
then a rerun that is served from the stage cache."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from conftest import REPO


def test_tiny_pipeline_end_to_end_and_cached_rerun(tmp_path, cli, data_dir):
    cfg = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    out = tmp_path / "run"
    cfg["out_dir"] = str(out)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    r = cli("-q", "run", str(tmp_path / "tiny.yaml"), env={"HRLAIF_DATA_DIR": str(data_dir)}, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    # every stage left its documented output
    for rel in ("prompts.jsonl", "responses.jsonl", "labels_basic.jsonl", "labels_hybrid.jsonl",
                "labels_hybrid.label_report.json", "redteam/rankings.jsonl", "rm_basic/config.json",
                "rm_hybrid/config.json", "ppo_rlaif/policy/config.json", "ppo_hrlaif/policy/config.json",
                "eval/sft/eval.json", "eval/rlaif/eval.json", "eval/hrlaif/eval.json", "report.html", "report.md",
                "summary.json", "run_config.yaml"):
        assert (out / rel).exists(), rel
    md = (out / "report.md").read_text()
    assert "Table 1" in md and "Policy comparison" in md and "win ratio vs SFT" in md
    assert "Table 1" in r.stdout  # the markdown summary is printed at the end
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2  # plots embedded: one self-contained file
    summary = json.loads((out / "summary.json").read_text())
    assert not any(s["cached"] for s in summary["stages"].values())
    hybrid_rm = yaml.safe_load((out / "rm_hybrid" / "hrlaif_config.yaml").read_text()) \
        if (out / "rm_hybrid" / "hrlaif_config.yaml").exists() else None
    if hybrid_rm:  # the HRLAIF reward model saw the red-teaming rankings too
        assert any("redteam" in p for p in hybrid_rm["rankings"])
    # rerun: nothing recomputed
    r2 = cli("-q", "run", str(tmp_path / "tiny.yaml"), env={"HRLAIF_DATA_DIR": str(data_dir)}, timeout=300)
    assert r2.returncode == 0, r2.stderr[-4000:]
    summary2 = json.loads((out / "summary.json").read_text())
    assert all(s["cached"] for s in summary2["stages"].values())


def test_run_config_rejects_unknown_stage_key(tmp_path, cli):
    (tmp_path / "bad.yaml").write_text("policy: tiny-llama\nrm: {epochs: 1, learning_rate: 3}\n")
    r = cli("run", str(tmp_path / "bad.yaml"))
    assert r.returncode == 2
    assert "learning_rate" in r.stderr and "rm" in r.stderr


def test_training_stages_can_change_precision_within_one_process():
    from accelerate import Accelerator

    from hrlaif.pipeline import _fresh

    Accelerator(mixed_precision="no")  # e.g. a PPO stage ran first in this process
    assert _fresh(lambda _: Accelerator(mixed_precision="bf16").mixed_precision, None) == "bf16"
    assert _fresh(lambda _: Accelerator(mixed_precision="no").mixed_precision, None) == "no"
