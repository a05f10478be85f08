"""Harm-threshold calibration: the Youden rule on hand-made scores, and the real CLI on ToxiGen."""

from __future__ import annotations

import json
import math

import pytest

from hrlaif.judges.calibrate import balanced_accuracy, youden_threshold


def test_balanced_accuracy_by_hand() -> None:
    scores = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1]
    labels = [True, True, True, False, False, False]
    # t = 0.5: TPR = 2/3 (0.3 missed), TNR = 2/3 (0.6 flagged) → 2/3
    assert balanced_accuracy(scores, labels, 0.5) == pytest.approx(2 / 3)
    assert balanced_accuracy(scores, labels, 0.95) == pytest.approx(0.5)  # nothing flagged
    assert math.isnan(balanced_accuracy([0.1], [True], 0.5))


def test_youden_separates_separable_scores_and_is_never_below_half() -> None:
    t, bal = youden_threshold([0.11, 0.12, 0.13, 0.16, 0.17, 0.18], [False, False, False, True, True, True])
    assert bal == 1.0 and 0.13 < t < 0.16
    t, bal = youden_threshold([0.2] * 4, [True, False, True, False])  # no signal
    assert bal == 0.5
    t, bal = youden_threshold([0.9, 0.8, 0.3, 0.6, 0.2, 0.1], [True, True, True, False, False, False])
    # 0.7 and 0.25 both make one error (5/6); the tie goes to the one nearer 0.5
    assert bal == pytest.approx(5 / 6) and t == pytest.approx(0.7)
    with pytest.raises(ValueError):
        youden_threshold([0.1, 0.2], [True, True])


def test_calibrate_cli_on_toxigen_with_a_tiny_local_judge(tmp_path, cli, tiny_llama, data_dir) -> None:
    out = tmp_path / "cal" / "calibration.json"
    r = cli("-q", "calibrate-harm", "--out", str(out), "--judge.model", str(tiny_llama), "--data-dir", str(data_dir),
            "--limit", "12", "--heldout-limit", "8", "--judge.harm-threshold", "0.3",
            "--judge.min-mass", "0", timeout=300)  # the random tiny model puts ~0.01 on yes/no
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert rep["n_fit"] == 24 and 0 < rep["n_heldout"] <= 16
    assert rep["fit_balanced_accuracy"] >= 0.5  # a threshold below every score already gives ½
    assert rep["heldout_at_configured"]["threshold"] == 0.3
    held = rep["heldout_at_threshold"]
    assert held["n"] == rep["n_heldout"] and held["tp"] + held["tn"] + held["fp"] + held["fn"] == held["n"]
    assert f"{rep['threshold']:.4g}" in r.stdout and "--judge.harm-threshold" in r.stdout
    assert (out.parent / "calibration.config.yaml").exists()


def test_calibrate_refuses_an_endpoint_judge(tmp_path, cli, data_dir) -> None:
    r = cli("calibrate-harm", "--out", str(tmp_path / "c.json"), "--judge.backend", "openai",
            "--judge.base-urls", "http://127.0.0.1:9/v1", "--data-dir", str(data_dir))
    assert r.returncode == 2 and "only the local judge" in r.stderr
    assert not (tmp_path / "c.json").exists()
