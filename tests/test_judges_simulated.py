"""The simulated judge: its documented accuracy and biases hold statistically, draws are
deterministic, and injected failures come back as abstains (never labels)."""

from __future__ import annotations

import pytest

from hrlaif.data import Message
from hrlaif.errors import ConfigError
from hrlaif.judges.base import Judge, JudgeRequest
from hrlaif.judges.config import JudgeConfig, make_judge
from hrlaif.judges.simulated import SimulatedJudge, keyword_harm, mixture_weights, p_prefer_a

N = 2000


def _pairs(n: int, *, truth: str | None, a: str = "x", b: str = "y") -> list[JudgeRequest]:
    md = {} if truth is None else {"sim_truth": truth}
    return [JudgeRequest("pairwise", [Message("user", f"question {i}")], [a, b], metadata=dict(md))
            for i in range(n)]


def _sim(**kw) -> SimulatedJudge:
    judge = make_judge(JudgeConfig(backend="simulated", **kw))
    assert isinstance(judge, SimulatedJudge) and isinstance(judge, Judge)
    return judge


def _p_first(results) -> float:
    return sum(r.preference for r in results) / len(results)


def test_p_prefer_a_formula_on_hand_cases() -> None:
    assert p_prefer_a("A", 1, 1, accuracy=0.8, position_bias=0, length_bias=0) == pytest.approx(0.8)
    assert p_prefer_a("B", 1, 1, accuracy=0.8, position_bias=0, length_bias=0) == pytest.approx(0.2)
    assert p_prefer_a(None, 1, 1, accuracy=0.8, position_bias=0.4, length_bias=0) == pytest.approx(0.7)
    # verbose wrong (A, longer) vs terse correct (B): 0.5·1 (length path) + 0.5·0.1 (content path)
    assert p_prefer_a("B", 50, 2, accuracy=0.9, position_bias=0, length_bias=0.5) == pytest.approx(0.55)
    assert mixture_weights(0.8, 0.8) == pytest.approx((0.5, 0.5, 0.0))


def test_accuracy_holds_without_bias() -> None:
    res = _sim(sim_accuracy=0.8).judge_many(_pairs(N, truth="A") + _pairs(N, truth="B"))
    acc = (sum(r.preference for r in res[:N]) + sum(1 - r.preference for r in res[N:])) / (2 * N)
    assert abs(acc - 0.8) < 0.03
    assert all(r.ok and r.preference in (0.0, 1.0) for r in res)


def test_position_bias_holds() -> None:
    res = _sim(sim_position_bias=0.4).judge_many(_pairs(N, truth=None))
    assert abs(_p_first(res) - 0.7) < 0.04  # ½ + bias/2
    res = _sim(sim_position_bias=-0.4).judge_many(_pairs(N, truth=None))
    assert abs(_p_first(res) - 0.3) < 0.04


def test_length_bias_beats_accuracy_on_verbose_wrong() -> None:
    verbose_wrong = "Let me explain in great detail why the answer is 78. " * 3
    res = _sim(sim_accuracy=0.9, sim_length_bias=0.5).judge_many(
        _pairs(N, truth="B", a=verbose_wrong, b="68"))
    p_wrong = _p_first(res)
    assert abs(p_wrong - 0.55) < 0.04  # the longer, wrong answer wins more than half the time
    swapped = _sim(sim_accuracy=0.9, sim_length_bias=0.5).judge_many(
        _pairs(N, truth="A", a="68", b=verbose_wrong))
    assert abs(_p_first(swapped) - 0.45) < 0.04


def test_tie_truth_gives_tie_verdicts() -> None:
    res = _sim().judge_many(_pairs(50, truth="tie"))
    assert all(r.preference == 0.5 for r in res)


def test_deterministic_given_seed_and_request() -> None:
    reqs = _pairs(200, truth="A")
    a = [r.preference for r in _sim(seed=1).judge_many(reqs)]
    b = [r.preference for r in _sim(seed=1).judge_many(list(reqs))]
    c = [r.preference for r in _sim(seed=2).judge_many(reqs)]
    assert a == b and a != c


def test_on_result_and_identity() -> None:
    seen = []
    judge = _sim(sim_accuracy=0.7, sim_length_bias=0.2)
    out = judge.judge_many(_pairs(5, truth="A"), on_result=lambda i, r: seen.append(i))
    assert seen == [0, 1, 2, 3, 4] and len(out) == 5
    assert judge.identity.startswith("simulated:") and "acc=0.7" in judge.identity and "#t" in judge.identity
    assert "len=0.2" in judge.identity


@pytest.mark.parametrize("kind", ["error", "parse", "abstain", 1.0])
def test_failure_injection_never_labels(kind) -> None:
    req = JudgeRequest("pairwise", [Message("user", "q")], ["a", "b"], metadata={"sim_fail": kind, "sim_truth": 0})
    (res,) = _sim().judge_many([req])
    assert res.abstain and not res.ok and res.preference is None and res.abstain_reason
    if kind != "abstain":
        assert res.error


def test_partial_failure_rate() -> None:
    reqs = [JudgeRequest("pairwise", [Message("user", f"q{i}")], ["a", "b"], metadata={"sim_fail": 0.3})
            for i in range(N)]
    res = _sim().judge_many(reqs)
    rate = sum(not r.ok for r in res) / N
    assert abs(rate - 0.3) < 0.04


def test_harm_truth_and_accuracy() -> None:
    assert keyword_harm("Sure: mix these to build a bomb.")[0] is True
    assert keyword_harm("I can't help with building a bomb.")[0] is False
    assert keyword_harm("Improve your skills by practising.")[0] is False  # 'kill' inside a word is not harm
    reqs = [JudgeRequest("harm", [Message("user", f"q{i}")], ["text"], metadata={"sim_harmful": True})
            for i in range(N)]
    res = _sim(sim_accuracy=0.9).judge_many(reqs)
    rate = sum(r.harmful for r in res) / N
    assert abs(rate - 0.9) < 0.03
    assert all((r.severity > 0) == r.harmful and (r.harm_category is not None) == r.harmful for r in res)


def test_generation_tasks_are_deterministic_text() -> None:
    conv = [Message("user", "How do I steal a car?")]
    judge = _sim()
    crit, rev, att = judge.judge_many([
        JudgeRequest("critique", conv, ["Sure, here's how to steal a car..."]),
        JudgeRequest("revise", conv, ["Sure, here's how to steal a car..."], metadata={"critique": "c"}),
        JudgeRequest("attack", [], [], metadata={"harm_category": "privacy_violation", "style": "role play",
                                                 "seed_prompt": "Find someone's address."}),
    ])
    assert "financial_crime" in crit.text
    assert rev.text.startswith("I can't help with that") and keyword_harm(rev.text)[0] is False
    assert att.text == "(role play) Find someone's address."


def test_bad_config_rejected() -> None:
    with pytest.raises(ConfigError):
        SimulatedJudge(JudgeConfig(backend="simulated", sim_position_bias=1.5))
    with pytest.raises(ConfigError):
        SimulatedJudge(JudgeConfig(backend="simulated", sim_accuracy=-0.1))


def test_truth_from_verifier_when_reference_given() -> None:
    """With a reference and no sim_truth, the verifier decides which response is truly better."""
    conv = [Message("user", "What is 23 + 45?")]
    reqs = [JudgeRequest("pairwise", conv + [Message("user", f"({i})")], ["23 + 45 = 68. #### 68",
                                                                           "The answer is 78."],
                         category="math", reference="68") for i in range(200)]
    res = _sim(sim_accuracy=1.0).judge_many(reqs)
    assert all(r.preference == 1.0 for r in res), res[0].rationale
    assert "verifier" in res[0].rationale
    same = JudgeRequest("pairwise", conv, ["#### 68", "It is 68."], category="math", reference="68")
    assert _sim().judge_many([same])[0].preference == 0.5  # both correct: a tie


def test_truth_from_sim_quality_survives_swaps() -> None:
    q = {"good answer": 2.0, "bad answer": 1.0, "also good": 2.0}
    conv = [Message("user", "q")]
    j = _sim(sim_accuracy=1.0)
    pairs = [["good answer", "bad answer"], ["bad answer", "good answer"], ["good answer", "also good"]]
    ab, ba, tie = j.judge_many([JudgeRequest("pairwise", conv, p, metadata={"sim_quality": q}) for p in pairs])
    assert (ab.preference, ba.preference, tie.preference) == (1.0, 0.0, 0.5)


def test_unverifiable_reference_means_unknown_truth_not_a_crash():
    from hrlaif.data import Message
    from hrlaif.judges.base import JudgeRequest
    from hrlaif.judges.config import JudgeConfig
    from hrlaif.judges.simulated import SimulatedJudge

    j = SimulatedJudge(JudgeConfig(backend="simulated"))
    req = JudgeRequest(task="pairwise", messages=[Message("user", "def f():")], responses=["pass", "return 1"],
                       category="code", reference="def check(c): assert c() == 1")  # no entry_point
    (res,) = j.judge_many([req])
    assert res.ok and 0.0 <= res.preference <= 1.0
