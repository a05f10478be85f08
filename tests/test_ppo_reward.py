"""Rewards PPO optimises (``--reward rm|verifier|hybrid``) on hand-built cases, the telemetry a
tiny-model run writes, and the checkpoint chosen by held-out verified accuracy.

Expected numbers come from the formulas in ``hrlaif/ppo/reward.py``'s docstring:
v(o) = +1 / −1 / −1 (hedged) / 0 (undecided), ŝ = clamp(s / c, −1, 1), hybrid R = v(o) + w·ŝ for
a verified prompt and R = ŝ otherwise; verifier R = v(o), 0 without a verifier."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from hrlaif.data import Prompt
from hrlaif.errors import ConfigError
from hrlaif.ppo.reward import BatchReward, hybrid_reward, normalise_rm, outcome_value, verifier_reward
from hrlaif.ppo.train import PPOConfig, _check, train_ppo


@pytest.fixture(autouse=True, scope="module")
def _restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------- the pure formula

RM_SCORES = [-1e6, -10.0, -3.0, -0.1, 0.0, 0.1, 3.0, 10.0, 1e6]  # clip c = 10: the extremes are clamped


def test_a_correct_response_outranks_any_incorrect_one_whatever_the_rm_says():
    w, c = 0.4, 10.0
    correct = [hybrid_reward("correct", s, rm_scale=c, rm_weight=w).total for s in RM_SCORES]
    incorrect = [hybrid_reward("incorrect", s, rm_scale=c, rm_weight=w).total for s in RM_SCORES]
    assert min(correct) == pytest.approx(1 - w) and max(incorrect) == pytest.approx(-1 + w)
    assert min(correct) > max(incorrect)
    # the worst-scored correct answer against the RM's favourite incorrect one
    assert hybrid_reward("correct", -10.0, rm_scale=c, rm_weight=w) == pytest.approx((1.0, -0.4))
    assert hybrid_reward("incorrect", 10.0, rm_scale=c, rm_weight=w) == pytest.approx((-1.0, 0.4))
    # inside one outcome the RM orders: 1 + 0.4·0.3 = 1.12 > 1 + 0.4·(−0.3) = 0.88
    assert hybrid_reward("correct", 3.0, rm_scale=c, rm_weight=w).total == pytest.approx(1.12)
    assert hybrid_reward("correct", -3.0, rm_scale=c, rm_weight=w).total == pytest.approx(0.88)


@pytest.mark.parametrize("w", [0.0, 0.1, 0.25, 0.49])
def test_outcome_levels_never_overlap(w):
    levels = {o: [hybrid_reward(o, s, rm_scale=10.0, rm_weight=w).total for s in RM_SCORES]
              for o in ("correct", "undecided", "incorrect", "hedged")}
    assert min(levels["correct"]) > max(levels["undecided"]) > max(levels["incorrect"])
    assert min(levels["undecided"]) > max(levels["incorrect"])
    assert max(levels["hedged"]) < min(levels["correct"])


def test_hedged_ranks_below_correct_and_by_default_with_incorrect():
    assert outcome_value("hedged") == -1.0 and outcome_value("hedged", hedged="unverifiable") == 0.0
    # hedged with the RM's best score: −1 + 0.4·1 = −0.6, below a correct one with its worst: 0.6
    assert hybrid_reward("hedged", 10.0, rm_scale=10.0).total == pytest.approx(-0.6)
    assert hybrid_reward("hedged", 10.0, rm_scale=10.0, hedged="unverifiable").total == pytest.approx(0.4)
    assert hybrid_reward("hedged", 10.0, rm_scale=10.0).total < hybrid_reward("correct", -10.0, rm_scale=10.0).total


def test_undecided_and_unverifiable_fall_back_to_the_rm():
    # undecided: 0 + 0.4·(5/10) = 0.2; the RM still orders undecided answers
    assert hybrid_reward("undecided", 5.0, rm_scale=10.0).total == pytest.approx(0.2)
    assert hybrid_reward("undecided", -5.0, rm_scale=10.0).total == pytest.approx(-0.2)
    # no verifier / no reference: the RM alone on the [−1, 1] scale: 5/10 = 0.5, −20/10 → −1
    assert hybrid_reward(None, 5.0, rm_scale=10.0) == pytest.approx((0.0, 0.5))
    assert hybrid_reward(None, -20.0, rm_scale=10.0) == pytest.approx((0.0, -1.0))
    assert normalise_rm(2.5, 5.0) == 0.5 and normalise_rm(-7.0, 5.0) == -1.0
    # verifier only: the outcome; nothing to verify → 0
    assert verifier_reward("correct") == (1.0, 0.0) and verifier_reward(None) == (0.0, 0.0)
    assert verifier_reward("hedged").total == -1.0 and verifier_reward("undecided").total == 0.0
    with pytest.raises(ValueError, match="rm_weight"):
        hybrid_reward("correct", 0.0, rm_scale=1.0, rm_weight=0.5)


# --------------------------------------------------------------------------- routing a batch

MATH = Prompt.simple("m", "math", "Tom has 37 apples and buys 48 more. How many apples does he have now?",
                     reference="85")
MC = Prompt.simple("c", "multiple_choice", "Which is a fruit?\n\nA. dog\nB. pear\nC. car\nD. red",
                   reference="B", choices=["dog", "pear", "car", "red"])
NO_REF = Prompt.simple("n", "math", "Invent a word problem.")  # verifiable category, but no reference
OPEN = Prompt.simple("o", "open_ended", "Give me a tip for studying.")


class FixedRM:
    """A stand-in RM: returns the given scores, clip 10."""

    scale = 10.0

    def __init__(self, scores):
        self.scores, self.calls = scores, 0

    def __call__(self, messages, responses, rollout=None):
        self.calls += 1
        assert len(responses) == len(self.scores)
        return torch.tensor(self.scores)


BATCH = [(MATH, "37 + 48 = 85. The answer is 85."),  # correct
         (MATH, "The answer is 84."),  # incorrect
         (MATH, "It is 84 or 85."),  # hedged
         (MATH, "To solve this problem, we need to consider"),  # undecided: no answer
         (MC, "B"),  # correct
         (NO_REF, "Sam has 3 cats."),  # no reference: RM only
         (OPEN, "Sleep well.")]  # no verifier: RM only
RM = [-10.0, 10.0, 10.0, 5.0, 0.0, 5.0, -2.0]


def _score(mode, **kw):
    prompts, texts = zip(*BATCH)
    return BatchReward(mode, FixedRM(RM), **kw)(list(prompts), [[{"role": "user", "content": p.text}]
                                                                 for p in prompts], SimpleNamespace(texts=list(texts)))


def test_hybrid_routing_on_a_mixed_batch():
    got = _score("hybrid")
    assert got.outcomes == ["correct", "incorrect", "hedged", "undecided", "correct", None, None]
    # 1−0.4, −1+0.4, −1+0.4, 0+0.4·0.5, 1+0, 0.5, −0.2
    assert got.scores.tolist() == pytest.approx([0.6, -0.6, -0.6, 0.2, 1.0, 0.5, -0.2])
    assert got.verifier_term.tolist() == pytest.approx([1, -1, -1, 0, 1, 0, 0])
    assert got.rm.tolist() == RM  # the raw RM score is kept for the telemetry
    fr = got.fractions()
    assert fr == pytest.approx({"frac_correct": 2 / 7, "frac_incorrect": 1 / 7, "frac_hedged": 1 / 7,
                                "frac_undecided": 1 / 7, "frac_unverified": 2 / 7})
    # rm_scale rescales the RM part only: correct 1 − 0.4·1, undecided 0 + 0.4·clamp(5/2) = 0.4, open −2/2 = −1
    assert _score("hybrid", rm_scale=2.0).scores.tolist() == pytest.approx([0.6, -0.6, -0.6, 0.4, 1.0, 1.0, -1.0])


def test_verifier_and_rm_modes_on_the_same_batch():
    v = _score("verifier")
    assert v.scores.tolist() == pytest.approx([1, -1, -1, 0, 1, 0, 0])  # unverifiable prompts get 0
    assert v.rm_term.tolist() == [0.0] * 7 and v.rm.tolist() == RM  # RM logged, not optimised
    assert _score("verifier", hedged="unverifiable").scores.tolist()[2] == 0.0
    r = _score("rm")
    assert r.scores.tolist() == RM and r.outcomes[0] == "correct"  # still verified, for the log
    with pytest.raises(ValueError, match="needs a reward model"):
        BatchReward("hybrid", None)


# --------------------------------------------------------------------------- options and CLI


def test_cli_reward_flag_parses_and_bad_settings_fail_early():
    from hrlaif.cli import _stage_parser
    from hrlaif.config import resolve_config

    parser, cls, _ = _stage_parser("ppo")
    args = parser.parse_args(["--prompts", "arith", "--reward", "hybrid", "--rm-weight", "0.3", "--eval-prompts",
                              "arith", "--select", "best_heldout", "--eval-every", "2"])
    cfg = resolve_config(cls, args)
    assert (cfg.reward, cfg.rm_weight, cfg.select, cfg.eval_every, cfg.eval_split) == \
        ("hybrid", 0.3, "best_heldout", 2, "test")
    assert cfg.missing_eos_penalty == 1.0  # on by default
    _check(cfg)
    with pytest.raises(ConfigError, match="reward"):
        resolve_config(cls, parser.parse_args(["--prompts", "arith", "--reward", "judge"]))
    for bad, match in [(dict(rm_weight=0.5), "rm_weight"), (dict(select="best_heldout"), "eval_prompts"),
                       (dict(select="best_heldout", eval_prompts="arith", eval_every=0), "eval_prompts"),
                       (dict(rm_scale=0.0), "rm_scale")]:
        with pytest.raises(ConfigError, match=match):
            _check(PPOConfig(prompts="arith", **bad))


# --------------------------------------------------------------------------- tiny-model runs


def _tiny(model, out, **kw) -> PPOConfig:
    base = dict(model=str(model), prompts="arith", limit=8, output=str(out), batch_size=4, minibatches=2,
                ppo_epochs=1, max_new_tokens=8, temperature=1.0, lr=3e-3, updates=2, save_every=100, seed=0,
                threads=1, eval_prompts="arith", eval_split="test", eval_limit=4, eval_every=1, eval_batch_size=4)
    base.update(kw)
    return PPOConfig(**base)


def test_verifier_reward_run_writes_the_telemetry(tiny_llama, tmp_path):
    out = tmp_path / "v"
    res = train_ppo(_tiny(tiny_llama, out, reward="verifier", target_text="7"), show_progress=False)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2]
    for r in rows:
        fr = [r[f"frac_{o}"] for o in ("correct", "incorrect", "hedged", "undecided", "unverified")]
        assert sum(fr) == pytest.approx(1.0) and r["frac_unverified"] == 0.0  # every arith prompt is verifiable
        assert r["reward_rm_term"] == 0.0 and "rm_reward_mean" in r  # the toy RM is logged, not optimised
        # reward = verifier term − 1 × (share without EOS), the default missing-EOS penalty
        assert r["reward_mean"] == pytest.approx(r["reward_verifier_term"] - (1 - r["eos_frac"]), abs=1e-5)
        assert 0 < r["response_length"] <= 8 and 0 <= r["eos_frac"] <= 1
        assert r["heldout_n"] == 4 and 0 <= r["heldout_accuracy"] <= 1
    held = [json.loads(x) for x in (out / "heldout.jsonl").read_text().splitlines()]
    assert [h["update"] for h in held] == [0, 1, 2] and res.selected_update == 2  # select=last
    assert json.loads((out / "selection.json").read_text())["update"] == 2
    assert (out / "ppo_curves.png").stat().st_size > 1000


class ScriptedAccuracy:
    """Held-out counts 1/4, 3/4, 2/4 at the evaluations of updates 0, 1, 2."""

    def __init__(self):
        self.acc = itertools.cycle([1, 3, 2])

    def __call__(self, policy, tokenizer, prompts, **kw):
        return {"n": 4.0, "correct": float(next(self.acc)), "hedged": 0.0, "undecided": 0.0, "tokens": 8.0,
                "eos": 0.0}


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "policy" / "model.safetensors"))


def test_best_heldout_exports_the_best_update_not_the_last(tiny_llama, tmp_path, monkeypatch):
    import hrlaif.ppo.heldout as heldout

    monkeypatch.setattr(heldout, "heldout_counts", ScriptedAccuracy())
    best = train_ppo(_tiny(tiny_llama, tmp_path / "best", target_text="7", select="best_heldout"),
                     show_progress=False)
    assert best.selected_update == 1 and [h["heldout_accuracy"] for h in best.heldout] == [0.25, 0.75, 0.5]
    assert json.loads((tmp_path / "best" / "selection.json").read_text())["heldout_accuracy"] == 0.75
    assert sorted(p.name for p in (tmp_path / "best" / "checkpoint").glob("best_*.pt")) == ["best_1.pt"]
    one = train_ppo(_tiny(tiny_llama, tmp_path / "one", target_text="7", updates=1), show_progress=False)
    last = torch.load(tmp_path / "best" / "checkpoint" / "state.pt", weights_only=False)
    assert last["update"] == 2 and one.selected_update == 1
    wb, w1 = _weights(tmp_path / "best"), _weights(tmp_path / "one")
    for k in wb:  # policy/ holds the state after update 1 (the same run stopped there), not update 2
        torch.testing.assert_close(wb[k], w1[k], rtol=1e-6, atol=1e-7)
    final = {k.removeprefix("policy."): v for k, v in last["trainable"].items()}
    shared = [k for k in wb if k in final]
    assert shared and any(not torch.equal(final[k], wb[k]) for k in shared)  # update 2 did change the weights
