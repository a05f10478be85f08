"""PPO end to end on tiny models: the toy task learns, resume is exact, NaN stops cleanly,
LoRA/separate critic run, two processes run, and the CLI writes a loadable policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hrlaif.errors import NonFiniteError
from hrlaif.ppo.train import PPOConfig, train_ppo

QUESTIONS = ["What is 2+3?", "Say hello.", "Name a color.", "What is the answer?", "Tell me a fact.",
             "Count to three.", "Add 4 and 5.", "Which option is correct?"]


@pytest.fixture(autouse=True, scope="module")
def _restore_threads():
    """train_ppo(threads=1) sets torch's thread count for the process: put it back afterwards."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("ppo") / "prompts.jsonl"
    p.write_text("".join(json.dumps({"id": f"p{i}", "category": "open_ended",
                                     "messages": [{"role": "user", "content": q}]}) + "\n"
                         for i, q in enumerate(QUESTIONS)))
    return p


def _cfg(model, prompts, out, **kw) -> PPOConfig:
    base = dict(model=str(model), prompts=str(prompts), target_text="y", output=str(out), batch_size=8,
                minibatches=2, ppo_epochs=2, max_new_tokens=8, temperature=1.0, lr=3e-3, kl_coef=0.01,
                updates=2, save_every=100, resume=True, seed=0, threads=1,
                missing_eos_penalty=None)  # these tests check PPO's mechanics on the toy reward alone
    base.update(kw)
    return PPOConfig(**base)


def test_toy_task_reward_rises(tiny_llama, prompts, tmp_path):
    """Reward +1 for a response containing 'y' (≈15% of random 16-token responses): PPO must
    push the rate up clearly within 12 updates."""
    cfg = _cfg(tiny_llama, prompts, tmp_path / "toy", batch_size=16, ppo_epochs=4, max_new_tokens=16, updates=12)
    rewards = [m["reward_mean"] for m in train_ppo(cfg, show_progress=False).metrics]
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last >= first + 0.25, rewards
    assert last >= 0.45, rewards


def _policy_weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "policy" / "model.safetensors"))


def test_resume_matches_uninterrupted_run(tiny_llama, prompts, tmp_path):
    full = train_ppo(_cfg(tiny_llama, prompts, tmp_path / "full", updates=4, save_every=2), show_progress=False)
    part = tmp_path / "part"
    first = train_ppo(_cfg(tiny_llama, prompts, part, updates=2, save_every=2), show_progress=False)
    assert first.resumed_from == 0 and len(first.metrics) == 2
    resumed = train_ppo(_cfg(tiny_llama, prompts, part, updates=4, save_every=2), show_progress=False)
    assert resumed.resumed_from == 2
    keys = ("reward_mean", "kl", "approx_kl", "clipfrac", "value_loss", "policy_loss", "entropy")
    for a, b in zip(full.metrics, resumed.metrics):
        assert a["update"] == b["update"]
        for k in keys:
            assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9), (a["update"], k)
    wa, wb = _policy_weights(tmp_path / "full"), _policy_weights(part)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-6, atol=1e-7)
    # the weights did change: PPO trained something
    base = _policy_weights_like(tiny_llama)
    assert any(not torch.equal(wa[k], base[k]) for k in wa if k in base)
    lines = (part / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["update"] for x in lines] == [1, 2, 3, 4]


def _policy_weights_like(model_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(model_dir) / "model.safetensors"))


class NaNAt:
    """A reward that turns NaN at one update (counting calls)."""

    def __init__(self, bad_call: int):
        self.calls, self.bad = 0, bad_call

    def __call__(self, messages, responses, rollout=None):
        self.calls += 1
        val = float("nan") if self.calls == self.bad else 1.0
        return torch.tensor([val if i == 0 else 0.0 for i in range(len(responses))])


def test_nan_reward_stops_and_keeps_last_good_checkpoint(tiny_llama, prompts, tmp_path):
    out = tmp_path / "nan"
    with pytest.raises(NonFiniteError, match=r"update 3: the reward of 1/8 responses is NaN/inf.*update 2"):
        train_ppo(_cfg(tiny_llama, prompts, out, updates=4, save_every=2), reward_fn=NaNAt(3), show_progress=False)
    state = torch.load(out / "checkpoint" / "state.pt", weights_only=False)
    assert state["update"] == 2
    assert all(torch.isfinite(v).all() for v in state["trainable"].values())
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert not (out / "policy").exists()
    # resuming with a healthy reward continues from the checkpoint
    res = train_ppo(_cfg(tiny_llama, prompts, out, updates=3, save_every=2), reward_fn=NaNAt(-1),
                    show_progress=False)
    assert res.resumed_from == 2 and [m["update"] for m in res.metrics] == [1, 2, 3]


@pytest.mark.parametrize("opts", [dict(lora_r=4, critic="shared"), dict(lora_r=0, critic="separate",
                                                                         reuse_rollout_logprobs=False)])
def test_lora_and_separate_critic_train_and_export(tiny_gpt2, prompts, tmp_path, opts):
    from hrlaif.models import load_causal_lm

    res = train_ppo(_cfg(tiny_gpt2, prompts, tmp_path / "run", updates=2, kl_estimator="k3", **opts),
                    show_progress=False)
    m = res.metrics[0]
    assert abs(m["approx_kl"]) < 0.5 and 0 <= m["clipfrac"] <= 1
    # the ratio starts at 1 (reused rollout log-probs = training forward) and stays near it
    assert res.metrics[0]["ratio"] == pytest.approx(1.0, abs=0.1)
    lm = load_causal_lm(str(res.policy))  # a plain HF folder (LoRA merged)
    assert not any("lora" in n for n, _ in lm.named_parameters())
    assert (tmp_path / "run" / "ppo_curves.png").stat().st_size > 1000


def test_cli_two_processes_with_accelerate(tiny_llama, prompts, tmp_path):
    import os
    import subprocess
    import sys

    accel = Path(sys.executable).parent / "accelerate"
    if not accel.exists():
        pytest.fail("accelerate launcher not installed in this venv")
    out = tmp_path / "ddp"
    cmd = [str(accel), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "-m", "hrlaif.cli", "-q", "ppo", "--model", str(tiny_llama), "--prompts",
           str(prompts), "--target-text", "y", "--out", str(out), "--updates", "2", "--batch-size", "4",
           "--minibatches", "2", "--max-new-tokens", "8", "--save-every", "1", "--threads", "1",
           "--eval-prompts", "arith", "--eval-limit", "5", "--select", "best_heldout"]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["responses"] for m in metrics] == [8, 8]  # 2 processes × 4 prompts
    assert (out / "checkpoint" / "rng_1.pt").exists()
    assert (out / "policy" / "config.json").exists()
    assert "PPO updates" in proc.stdout
    # held-out items are split over the ranks (3 + 2) and their counts summed
    held = [json.loads(x) for x in (out / "heldout.jsonl").read_text().splitlines()]
    assert [h["update"] for h in held] == [0, 1, 2] and {h["heldout_n"] for h in held} == {5}
    assert "held-out verified accuracy" in proc.stdout


def test_cli_end_to_end_and_bad_input(tiny_llama, prompts, tmp_path, cli, capsys):
    from hrlaif.cli import main

    out = tmp_path / "cli"
    r = cli("-q", "ppo", "--model", str(tiny_llama), "--prompts", str(prompts), "--target-text", "y", "--out",
            str(out), "--updates", "1", "--batch-size", "4", "--max-new-tokens", "6", "--threads", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "PPO updates" in r.stdout and "reward_mean" in (out / "metrics.jsonl").read_text()
    assert (out / "hrlaif_config.yaml").exists() and (out / "policy" / "tokenizer_config.json").exists()
    # the trained policy is an ordinary model folder for `hrlaif generate` (in-process: same CLI code)
    gen = tmp_path / "gen.jsonl"
    assert main(["-q", "generate", "--prompts", str(prompts), "--model", str(out / "policy"), "--k", "1",
                 "--limit", "2", "--max-new-tokens", "4", "--threads", "1", "--out", str(gen)]) == 0
    assert len(gen.read_text().splitlines()) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "category": "math"}\n')
    capsys.readouterr()
    assert main(["ppo", "--model", str(tiny_llama), "--prompts", str(bad), "--target-text", "y",
                 "--out", str(tmp_path / "b")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert main(["ppo", "--model", str(tiny_llama), "--prompts", str(prompts), "--out", str(tmp_path / "c")]) == 2
    assert "no reward" in capsys.readouterr().err
    assert main(["ppo", "--prompts", str(prompts), "--target-text", "y", "--batch-size", "5"]) == 2
