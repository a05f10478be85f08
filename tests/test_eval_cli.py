"""``hrlaif eval`` end to end through the real CLI: a tiny model on real GSM8K / MMLU / C-Eval /
HumanEval / ToxiGen / BeaverTails subsets. Accuracy near zero is expected; the plumbing is real."""

from __future__ import annotations

import json

import pytest

from hrlaif.data import ResponseSet, read_records

from conftest import run_cli


@pytest.fixture(scope="module")
def first_run(tiny_llama, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "policy"
    proc = run_cli("eval", "--model", str(tiny_llama), "--data-dir", str(data_dir), "--out", str(out),
                   "--limit", "3", "--toxicity-limit", "3", "--max-new-tokens", "16", "--mc-scoring", "both",
                   "--open-sets", "demo", "--open-limit", "4", "--baseline-model", str(tiny_llama),
                   "--judge.backend", "simulated", "--n-bootstrap", "100", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_eval_json_schema_and_files(first_run):
    out, proc = first_run
    res = json.loads((out / "eval.json").read_text())
    assert res["schema"] == "hrlaif.eval/v1"
    assert set(res["benchmarks"]) == {"gsm8k", "mmlu", "ceval", "humaneval"}
    for name, b in res["benchmarks"].items():
        assert b["n"] == 3 and 0.0 <= b["accuracy"] <= 1.0, name
        assert b["k"] == round(b["accuracy"] * 3)
        sets = read_records(out / b["responses_file"], ResponseSet)
        assert len(sets) == 3 and all(len(rs.responses) == 1 for rs in sets)
        items = [json.loads(x) for x in (out / b["items_file"]).read_text().splitlines()]
        assert [it["prompt_id"] for it in items] == [rs.prompt_id for rs in sets]
        assert sum(it["correct"] is True for it in items) == b["k"]
    assert res["benchmarks"]["humaneval"]["metric"] == "pass@1"
    assert {it["verifier"] for it in map(json.loads, (out / "items_humaneval.jsonl").read_text().splitlines())} \
        == {"code"}  # every completion ran in the sandbox
    for mc in ("mmlu", "ceval"):
        b = res["benchmarks"][mc]
        assert b["per_subject"] and sum(v["n"] for v in b["per_subject"].values()) == 3
        assert b["loglik"]["n"] == 3 and b["loglik"]["n_undecided"] == 0  # log-likelihood always decides
        items = [json.loads(x) for x in (out / b["items_file"]).read_text().splitlines()]
        assert all(it["loglik_pred"] in "ABCD" and len(it["loglik_logprobs"]) == 4 for it in items)
    tox = res["toxicity"]
    assert tox["scorer"].startswith("offline") and tox["scorer_quality"]["accuracy"] > 0.7
    for name in ("toxigen", "beavertails"):
        t = tox["sets"][name]
        assert t["n"] + t["n_undecided"] == 3 and 0 <= t["per_mille"] <= 1000 and t["ci"][0] <= t["per_mille"]
    # the baseline is the same model with greedy decoding: identical responses → exactly ½
    wr = res["win_ratio"]
    assert wr["overall"]["win_ratio"] == 0.5 and wr["overall"]["n"] >= 12
    assert {"math", "multiple_choice", "code", "harmlessness"} <= set(wr["per_category"])
    assert (out / "baseline_responses.jsonl").exists() and (out / "items_winrate.jsonl").exists()
    sat = res["satisfaction"]
    assert sat["per_category"]["math"]["source"] == ["verifier"]
    assert sat["overall"]["n"] == wr["overall"]["n"]
    assert (out / "hrlaif_config.yaml").read_text().startswith("stage: eval")
    assert (out / "responses_demo.jsonl").exists()
    # the tables
    for title in ("Benchmarks", "per subject", "Toxicity (per mille)", "held-out accuracy", "Win ratio",
                  "Satisfaction proxy"):
        assert title in proc.stdout, title


def test_baseline_from_an_eval_folder_and_response_reuse(first_run, tiny_llama, data_dir):
    out, _ = first_run
    before = (out / "responses_gsm8k.jsonl").stat().st_mtime_ns
    proc = run_cli("eval", "--model", str(tiny_llama), "--data-dir", str(data_dir), "--out", str(out),
                   "--limit", "3", "--toxicity-limit", "3", "--max-new-tokens", "16", "--benchmarks", "gsm8k",
                   "--toxicity-sets", "toxigen", "--baseline-responses", str(out), "--harm-source", "scorer",
                   "--judge.backend", "simulated", "--n-bootstrap", "100", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "responses_gsm8k.jsonl").stat().st_mtime_ns == before  # reused, not regenerated
    res = json.loads((out / "eval.json").read_text())
    assert res["win_ratio"]["overall"]["win_ratio"] == 0.5 and res["win_ratio"]["overall"]["n"] == 6
    harm = res["satisfaction"]["per_category"]["harmlessness"]
    assert harm["source"] == ["scorer"] and harm["n"] == 3  # decided by the toxicity scorer, no judge call
    toxic = [json.loads(x)["toxic"] for x in (out / "items_toxigen.jsonl").read_text().splitlines()]
    assert harm["k"] == sum(t is False for t in toxic)


def test_bad_inputs_are_config_errors_before_any_model_loads(tmp_path):
    missing_model = str(tmp_path / "no-model")  # never reached: inputs are checked first
    proc = run_cli("eval", "--model", missing_model, "--data-dir", str(tmp_path / "nope"), "--out",
                   str(tmp_path / "o"), "--benchmarks", "gsm8k", "--toxicity-sets", "", timeout=120)
    assert proc.returncode == 2 and "nope" in proc.stderr
    proc = run_cli("eval", "--model", missing_model, "--benchmarks", "gsm9k", "--toxicity-sets", "",
                   "--out", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2 and "gsm9k" in proc.stderr
