"""Training: the CLI end to end, gradient accumulation = big batch, resume = uninterrupted run,
two processes (accelerate, gloo on 127.0.0.1) = one process, LoRA and frozen layers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from hrlaif.config import build_config, load_yaml
from hrlaif.data import write_records
from hrlaif.errors import ConfigError
from hrlaif.rm.synthetic import synthetic_rankings
from hrlaif.rm.train import RMConfig, train_reward_model
from tests.conftest import REPO, run_cli


@pytest.fixture(scope="module")
def rankings(data_dir, tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("rm") / "rankings.jsonl"
    write_records(p, synthetic_rankings(data_dir, n=24, k=4, seed=0))
    return p


@pytest.fixture(scope="module")
def small(data_dir, tmp_path_factory) -> Path:
    """10 prompts → 8 train (steps of 3, 3, 2 prompts at batch 3) + 2 held out."""
    p = tmp_path_factory.mktemp("rm") / "small.jsonl"
    write_records(p, synthetic_rankings(data_dir, n=10, k=4, seed=1, mmlu_share=0.3))
    return p


def _cfg(rankings, tiny_llama, out, **kw) -> RMConfig:
    base = dict(rankings=[str(rankings)], model=str(tiny_llama), out=str(out), max_length=64, batch_size=3,
                optimizer="sgd", lr=0.5, max_grad_norm=0.0, eval_fraction=0.2)
    base.update(kw)
    return build_config(RMConfig, base)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(folder) -> dict:
    return load_file(str(Path(folder) / "model.safetensors"))


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_cli_trains_and_reports_heldout_accuracy(rankings, tiny_llama, tmp_path):
    out = tmp_path / "rm"
    proc = run_cli("train-rm", "--in", str(rankings), "--model", str(tiny_llama), "--out", str(out),
                   "--epochs", "2", "--batch-size", "4", "--lr", "2e-3", "--max-length", "64", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "held-out pairwise accuracy" in proc.stdout and "math" in proc.stdout
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["train_prompts"] == 19 and summary["eval_prompts"] == 5
    assert summary["forwards"] == 19 * 4 * 2  # one forward per response, K = 4, 2 epochs
    assert summary["eval_accuracy"] > 0.6, summary  # chance is 0.5; correct > wrong > non-answer is learnable
    assert summary["truncated"] > 0
    saved = build_config(RMConfig, {k: v for k, v in load_yaml(out / "hrlaif_config.yaml").items() if k != "stage"})
    assert saved.epochs == 2 and saved.lr == 2e-3
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert sum("loss" in r for r in rows) == 10 and sum("eval_accuracy" in r for r in rows) == 2
    assert not (out / "checkpoints").exists()
    from hrlaif.rm.model import load_reward_model

    rm = load_reward_model(str(out))
    assert rm.clip == 10.0


def test_gradient_accumulation_equals_big_batch(small, tiny_llama, tmp_path):
    big = train_reward_model(_cfg(small, tiny_llama, tmp_path / "big", batch_size=4))
    acc = train_reward_model(_cfg(small, tiny_llama, tmp_path / "acc", batch_size=4, grad_accum=2))
    assert big.steps == acc.steps == 2
    w_big, w_acc = _weights(tmp_path / "big"), _weights(tmp_path / "acc")
    assert _max_diff(w_big, w_acc) < 1e-5
    # and the step did something: a run with half the learning rate lands elsewhere
    train_reward_model(_cfg(small, tiny_llama, tmp_path / "half", batch_size=4, lr=0.25))
    assert _max_diff(w_big, _weights(tmp_path / "half")) > 1e-3


def test_resume_equals_uninterrupted(small, tiny_llama, tmp_path):
    kw = dict(optimizer="adamw", lr=1e-3, max_grad_norm=1.0, epochs=2, warmup_steps=2)
    full = train_reward_model(_cfg(small, tiny_llama, tmp_path / "full", **kw))
    part = train_reward_model(_cfg(small, tiny_llama, tmp_path / "part", max_steps=4, **kw))
    assert not part.finished and part.steps == 4 and (tmp_path / "part" / "checkpoints" / "step-4").is_dir()
    with pytest.raises(ConfigError, match="no-resume"):  # a checkpoint of another data order is refused
        train_reward_model(_cfg(small, tiny_llama, tmp_path / "part", **{**kw, "warmup_steps": 2}, batch_size=4))
    rest = train_reward_model(_cfg(small, tiny_llama, tmp_path / "part", **kw))
    assert rest.resumed_from == 4 and rest.finished and rest.steps == full.steps == 6
    assert _max_diff(_weights(tmp_path / "full"), _weights(tmp_path / "part")) < 1e-6
    assert rest.eval_accuracy == full.eval_accuracy
    assert not (tmp_path / "part" / "checkpoints").exists()


def test_two_processes_equal_one(small, tiny_llama, tmp_path):
    """accelerate launch --num_processes 2 (gloo, 127.0.0.1): the 3 prompts of a step split 2 + 1."""
    one = train_reward_model(_cfg(small, tiny_llama, tmp_path / "one"))
    args = ["--in", str(small), "--model", str(tiny_llama), "--out", str(tmp_path / "two"), "--max-length", "64",
            "--batch-size", "3", "--optimizer", "sgd", "--lr", "0.5", "--max-grad-norm", "0"]
    env = {**os.environ, "HRLAIF_QUIET": "1"}
    proc = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                           "--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port()),
                           "-m", "hrlaif.cli", "train-rm", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "train_summary.json").read_text())
    assert two["steps"] == one.steps == 3 and two["forwards"] == one.forwards == 32
    w1, w2 = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert _max_diff(w1, w2) < 1e-5
    assert two["eval_accuracy"] == one.eval_accuracy


def test_lora_and_frozen_layers(small, tiny_llama, tmp_path):
    import torch

    from hrlaif.rm.model import init_reward_model, load_reward_model

    torch.manual_seed(0)
    init = {k: v.clone() for k, v in init_reward_model(str(tiny_llama)).backbone.state_dict().items()}
    train_reward_model(_cfg(small, tiny_llama, tmp_path / "head", trainable_layers=0))
    head = _weights(tmp_path / "head")
    changed = {k for k in head if not torch.equal(head[k], init[k])}
    assert changed == {"score.weight", "model.norm.weight"}  # head + final norm only

    res = train_reward_model(_cfg(small, tiny_llama, tmp_path / "lora", lora=True, lora_r=4,
                                  optimizer="adamw", lr=1e-2))
    lora = _weights(tmp_path / "lora")
    assert lora.keys() == init.keys()  # merged: a plain HF folder, no adapter keys
    assert not torch.equal(lora["model.layers.0.self_attn.q_proj.weight"], init["model.layers.0.self_attn.q_proj.weight"])
    assert torch.equal(lora["model.layers.0.mlp.up_proj.weight"], init["model.layers.0.mlp.up_proj.weight"])
    rm = load_reward_model(str(tmp_path / "lora"))
    assert res.eval_accuracy is not None and len(rm.score([[{"role": "user", "content": "1+1?"}]], ["2"])) == 1
