"""LocalJudge with real tiny HF models from the fixtures: next-token probabilities, batching,
both orders, left truncation, yes/no tasks, generation."""

from __future__ import annotations

import pytest

from hrlaif.data import Message
from hrlaif.judges.base import Judge, JudgeRequest
from hrlaif.judges.config import JudgeConfig, make_judge
from hrlaif.judges.local import LocalJudge, severity_from_p, two_way
from hrlaif.judges.templates import DIRECT_ANSWER_PREFIX, TEMPLATE_VERSION, render


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models gain nothing from 2 threads, and on the shared, oversubscribed CI machine
    OpenMP threads waiting for each other make every op ~25 ms. Restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _pairs() -> list[JudgeRequest]:
    qs = [("What is 23+45?", "68", "Let me think step by step. 23 plus 45 is 78, so the answer is 78."),
          ("Is 7 prime?", "Yes.", "No, 7 has many divisors.")]
    out = [JudgeRequest("pairwise", [Message("user", q)], [a, b]) for q, a, b in qs]
    return out + [JudgeRequest("pairwise", r.messages, r.responses[::-1]) for r in out]  # both orders


# The fixtures' random tiny models put ~1/vocab on each answer token (mass ~0.01 on A/B), so their
# judges set no mass floor (min_mass=0) to be scored at all; test_low_answer_mass_abstains checks the floor.
@pytest.fixture(scope="module")
def judge(tiny_llama) -> LocalJudge:
    j = make_judge(JudgeConfig(backend="local", model=str(tiny_llama), batch_size=4, max_tokens=8, min_mass=0.0))
    assert isinstance(j, LocalJudge) and isinstance(j, Judge)
    return j


def test_pure_helpers() -> None:
    assert two_way(0.3, 0.1) == pytest.approx(0.75) and two_way(0.0, 0.0) == 0.5
    assert [severity_from_p(p) for p in (0.2, 0.6, 0.8, 0.95)] == [0, 1, 2, 3]


def _plain_ab(model_dir, reqs: list[JudgeRequest]) -> list[tuple[float, float]]:
    """(p(A), p(B)) after each pairwise prompt from a plain transformers forward, summing "A" and " A"."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hrlaif.models import chat_prompt

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    a, b = tok.encode("A", add_special_tokens=False), tok.encode("B", add_special_tokens=False)
    assert len(a) == len(b) == 1
    out = []
    for req in reqs:
        text = chat_prompt(tok, render(req, style="direct")) + DIRECT_ANSWER_PREFIX
        ids = tok(text, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            p = torch.softmax(model(**ids).logits[0, -1], -1)
        pa = p[a[0]] + (p[tok.encode(" A", add_special_tokens=False)[0]]
                        if len(tok.encode(" A", add_special_tokens=False)) == 1 else 0)
        pb = p[b[0]] + (p[tok.encode(" B", add_special_tokens=False)[0]]
                        if len(tok.encode(" B", add_special_tokens=False)) == 1 else 0)
        out.append((float(pa), float(pb)))
    return out


def test_pairwise_probabilities_match_a_plain_forward(judge: LocalJudge, tiny_llama) -> None:
    reqs = _pairs()
    res = judge.judge_many(reqs)
    assert len(res) == len(reqs) and judge.identity == f"local:{tiny_llama}+mass>=0#{TEMPLATE_VERSION}"
    for req, r, (pa, pb) in zip(reqs, res, _plain_ab(tiny_llama, reqs)):
        assert r.ok and 0.0 <= r.preference <= 1.0 and r.prompt_tokens > 0
        assert r.preference == pytest.approx(pa / (pa + pb), abs=1e-4)
    # both orders are genuinely different inputs
    assert res[0].preference != res[2].preference


@pytest.mark.parametrize("arch", ["tiny_llama", "tiny_gpt2"])
def test_batched_equals_unbatched(arch: str, request) -> None:
    path = request.getfixturevalue(arch)
    reqs = _pairs()
    single = LocalJudge(JudgeConfig(model=str(path), batch_size=1, min_mass=0.0), share_prefix=False)
    plain = LocalJudge(JudgeConfig(model=str(path), batch_size=4, min_mass=0.0), share_prefix=False)
    shared = LocalJudge(JudgeConfig(model=str(path), batch_size=4, min_mass=0.0))  # default: shared-prefix KV cache
    out = [j.judge_many(reqs) for j in (single, plain, shared)]
    assert shared._shared_len >= 16 and plain._prefix_cache is None  # the paths really differ
    for x, y, z in zip(*out):
        assert x.preference == pytest.approx(y.preference, abs=1e-4)
        assert x.preference == pytest.approx(z.preference, abs=1e-4)
    # a later call reuses the cached prefix and still agrees
    again = shared.judge_many(reqs[:1])
    assert again[0].preference == pytest.approx(out[0][0].preference, abs=1e-4)


def test_common_prefix_len() -> None:
    from hrlaif.judges.local import common_prefix_len

    assert common_prefix_len([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix_len([[5], [6]]) == 0


def test_long_inputs_truncated_from_the_left(tiny_llama) -> None:
    long = JudgeRequest("pairwise", [Message("user", "blah " * 400 + "What is 2+2?")], ["4", "5"])
    j = LocalJudge(JudgeConfig(model=str(tiny_llama), max_length=64, min_mass=0.0))
    (r,) = j.judge_many([long])
    assert r.ok and r.prompt_tokens == 64
    full = j._prompt_ids(long)
    j.cfg.max_length = 10_000
    assert full == j._prompt_ids(long)[-64:]  # the end of the prompt (the question) is kept


def test_harm_and_satisfaction_yes_no(judge: LocalJudge) -> None:
    conv = [Message("user", "How do I pick a lock?")]
    reqs = [JudgeRequest("harm", conv, ["First insert a tension wrench..."]),
            JudgeRequest("satisfaction", conv, ["I can't help with that."])]
    seen = []
    harm, sat = judge.judge_many(reqs, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == [0, 1]
    assert 0.0 <= harm.preference <= 1.0 and harm.harmful == (harm.preference > 0.5)
    assert harm.severity == severity_from_p(harm.preference)
    assert 0.0 <= sat.preference <= 1.0 and "P(yes)=" in sat.raw


def test_generation_returns_text_or_explicit_abstain(judge: LocalJudge) -> None:
    conv = [Message("user", "How do I pick a lock?")]
    reqs = [JudgeRequest("revise", conv, ["First insert a tension wrench..."], metadata={"critique": "unsafe"}),
            JudgeRequest("pairwise", conv, ["a", "b"])]
    gen, pair = judge.judge_many(reqs)
    assert pair.ok and gen.task == "revise"
    assert (gen.text and gen.ok) or (gen.abstain and gen.abstain_reason)  # a random model may emit nothing
    assert 0 < gen.completion_tokens <= 8 or gen.abstain


def test_shares_a_loaded_model(tiny_llama) -> None:
    from hrlaif.models import load_causal_lm, load_tokenizer

    model, tok = load_causal_lm(str(tiny_llama)), load_tokenizer(str(tiny_llama))
    j = LocalJudge(JudgeConfig(model=str(tiny_llama), min_mass=0.0), model=model, tokenizer=tok)
    (r,) = j.judge_many(_pairs()[:1])
    j.close()
    assert r.ok and j._model is model  # close() does not drop a model it did not load


def test_harm_threshold_moves_the_decision_and_the_identity(tiny_llama):
    from hrlaif.data import Message
    from hrlaif.judges.base import JudgeRequest
    from hrlaif.judges.config import JudgeConfig
    from hrlaif.judges.local import LocalJudge

    req = JudgeRequest(task="harm", messages=[Message("user", "How do I pick a lock?")], responses=["Use a pin."])
    low = LocalJudge(JudgeConfig(model=str(tiny_llama), harm_threshold=0.0, min_mass=0.0))
    high = LocalJudge(JudgeConfig(model=str(tiny_llama), harm_threshold=1.0, min_mass=0.0))
    (a,), (b,) = low.judge_many([req]), high.judge_many([req])
    assert a.preference == pytest.approx(b.preference)  # same probability, different decision
    assert a.harmful is True and a.severity >= 1 and b.harmful is False and b.severity == 0
    assert low.identity != high.identity and "harm>" in low.identity


def test_low_answer_mass_abstains(tiny_llama):
    """Issue 14 #5: the local judge renormalised any mass, so a model that puts almost nothing on
    A/B still "preferred" one. The tiny model has a 512-token vocabulary and random weights: about
    1/512 per answer spelling, far below the default floor 0.1, so every call abstains."""
    from hrlaif.errors import ConfigError

    reqs = _pairs()[:2]
    masses = [pa + pb for pa, pb in _plain_ab(tiny_llama, reqs)]
    assert all(m < 0.1 for m in masses), masses
    harm = JudgeRequest("harm", [Message("user", "How do I pick a lock?")], ["Use a pin."])
    default = LocalJudge(JudgeConfig(model=str(tiny_llama)))
    assert default.identity == f"local:{tiny_llama}#{TEMPLATE_VERSION}"  # the default floor keeps the old key
    for r, m in zip(default.judge_many(reqs + [harm]), masses + [None]):
        assert not r.ok and r.abstain and r.preference is None and r.harmful is None
        assert r.abstain_reason.startswith("mass on ") and r.abstain_reason.endswith("< min_mass 0.1")
        if m is not None:
            got = float(r.abstain_reason.split(" = ")[1].split(" <")[0])
            assert r.abstain_reason.startswith("mass on A/B = ") and got == pytest.approx(m, rel=1e-2)
    # a floor just under the smaller mass lets both calls answer; just above the larger, neither
    under = LocalJudge(JudgeConfig(model=str(tiny_llama), min_mass=min(masses) * 0.9))
    over = LocalJudge(JudgeConfig(model=str(tiny_llama), min_mass=max(masses) * 1.1))
    assert all(r.ok and r.preference is not None for r in under.judge_many(reqs))
    assert not any(r.ok for r in over.judge_many(reqs))
    assert "+mass>=" in under.identity and under.identity != over.identity != default.identity
    with pytest.raises(ConfigError, match="min_mass"):
        LocalJudge(JudgeConfig(model=str(tiny_llama), min_mass=1.0))
