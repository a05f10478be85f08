"""Log-likelihood multiple-choice scoring: a hand-built model whose answer is known, and the
real tiny Llama checked against a plain one-sequence computation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")

from hrlaif.evaluation.loglik import continuation_logprobs, pick, score_choices  # noqa: E402


class BigramLM(torch.nn.Module):
    """logits[b, t] = table[input_ids[b, t]]: the next token depends only on the current one."""

    def __init__(self, vocab: int):
        super().__init__()
        self.table = torch.nn.Parameter(torch.zeros(vocab, vocab))

    def forward(self, input_ids, attention_mask=None, position_ids=None):  # noqa: ANN001
        return SimpleNamespace(logits=self.table[input_ids])


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    from hrlaif.models import build_tiny_tokenizer

    return build_tiny_tokenizer(tmp_path_factory.mktemp("tok"))


def test_hand_built_model_picks_the_known_answer(tok):
    ctx = "Which option is correct? (A) yes (B) no (C) maybe Answer:"
    ids = {x: tok(f" {x}", add_special_tokens=False)["input_ids"] for x in "ABC"}
    last = tok(ctx, add_special_tokens=False)["input_ids"][-1]
    V = len(tok)
    model = BigramLM(V)
    # The tiny BPE has " A" as one token and " B", " C" as [space, letter]: build the paths.
    assert len(ids["A"]) == 1 and len(ids["B"]) == 2 and ids["B"][0] == ids["C"][0], ids
    space = ids["B"][0]
    with torch.no_grad():
        model.table[last, space] = 3.0             # after "Answer:" a space is likely
        model.table[space, ids["B"][1]] = 6.0      # and after the space, "B"
    out = score_choices(model, tok, [ctx], [["yes", "no", "maybe"]])[0]
    assert out["pred"] == "B" and out["index"] == 1
    z1 = math.log(math.exp(3) + V - 1)  # log-normaliser of the row after "Answer:"
    z2 = math.log(math.exp(6) + V - 1)  # … of the row after the space
    want = [0 - z1, (3 - z1) + (6 - z2), (3 - z1) + (0 - z2)]
    assert out["logprobs"] == pytest.approx(want, abs=1e-5)
    # move the mass after the space to "C": the prediction follows
    with torch.no_grad():
        model.table[space, ids["C"][1]] = 9.0
    assert score_choices(model, tok, [ctx], [["yes", "no", "maybe"]])[0]["pred"] == "C"


def test_pick_normalisation():
    # option 0: -3 over 3 tokens (mean -1); option 1: -2 over 1 token (mean -2)
    assert pick([(-3.0, 3), (-2.0, 1)], "sum") == 1
    assert pick([(-3.0, 3), (-2.0, 1)], "mean") == 0


@pytest.mark.parametrize("arch", ["tiny_llama", "tiny_gpt2"])
def test_tiny_models_match_single_sequence_and_ignore_padding(arch, request):
    from hrlaif.models import load_causal_lm, load_tokenizer

    folder = request.getfixturevalue(arch)
    tok = load_tokenizer(str(folder))
    model = load_causal_lm(str(folder))
    ctxs = ["The answer is", "Question: What is 2 + 3? The answer is"]
    conts = [" 42.", " 5"]
    batched = continuation_logprobs(model, tok, ctxs, conts, batch_size=2)  # padded together
    for (ctx, cont), (lp, n) in zip(zip(ctxs, conts), batched):
        c = tok(ctx, add_special_tokens=False)["input_ids"]
        y = tok(cont, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([c + y])).logits[0].float(), -1)
        want = sum(float(logp[len(c) + t - 1, y[t]]) for t in range(len(y)))
        assert n == len(y) and lp == pytest.approx(want, abs=1e-4)
        assert lp < 0
