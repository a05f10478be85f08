"""Rollout bookkeeping: masks, reused log-probs/values equal a fresh forward, the RM token path."""

from __future__ import annotations

import pytest
import torch

from hrlaif.ppo.rollout import Rollout, response_mask_from_ids


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on a busy shared CPU two OpenMP threads spin-wait and run ~10x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_response_mask_stops_after_first_eos():
    resp = torch.tensor([[5, 6, 2, 7, 2], [5, 5, 5, 5, 5], [2, 9, 9, 9, 9]])
    mask, has_eos = response_mask_from_ids(resp, eos_id=2)
    assert mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert has_eos.tolist() == [True, False, True]


@pytest.mark.parametrize("arch", ["tiny_llama", "tiny_gpt2"])
@pytest.mark.parametrize("layout", ["shared", "separate"])
def test_rollout_logprobs_and_values_match_a_fresh_forward(arch, layout, request):
    """The optimisation 'no recomputation' is only valid if the sampling forward's log-probs (and
    hidden-state values) equal what the training forward computes on the same tokens."""
    from hrlaif.models import chat_prompt, load_causal_lm, load_tokenizer
    from hrlaif.ppo.critic import ActorCritic
    from hrlaif.ppo.rollout import generate_rollout

    path = str(request.getfixturevalue(arch))
    tok, lm = load_tokenizer(path), load_causal_lm(path)
    torch.manual_seed(0)
    ac = ActorCritic(lm, layout=layout)
    torch.nn.init.normal_(ac.value_head.weight, std=0.5)  # non-zero values so the check means something
    ac.temperature = 0.7
    queries = [chat_prompt(tok, [{"role": "user", "content": q}]) for q in ["What is 2+2?", "Hi", "Name a colour now"]]
    ro = generate_rollout(lm, tok, queries, max_new_tokens=12, temperature=0.7,
                          value_fn=ac.values_from_hidden if layout == "shared" else None)
    assert ro.input_ids.shape == (3, ro.attention_mask.shape[1])
    with torch.no_grad():
        logp, ent, values = ac(ro.input_ids, ro.attention_mask, ro.n_resp)
    m = ro.response_mask.bool()
    assert torch.allclose(ro.logprobs[m], logp[m], atol=1e-4)
    assert (ent[m] > 0).all()
    if layout == "shared":
        assert torch.allclose(ro.values[m], values[m], atol=1e-4)
        assert values[m].abs().max() > 1e-3
    assert len(ro.texts) == 3


def _rollout_from_texts(tok, messages, responses):
    from hrlaif.models import chat_prompt

    q = tok([chat_prompt(tok, m) for m in messages], return_tensors="pt", padding=True, add_special_tokens=False)
    bodies = [tok(r, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for r in responses]
    R = max(map(len, bodies))
    resp = torch.full((len(bodies), R), tok.pad_token_id)
    rmask = torch.zeros(len(bodies), R)
    for i, b in enumerate(bodies):
        resp[i, :len(b)] = torch.tensor(b)
        rmask[i, :len(b)] = 1
    return Rollout(torch.cat([q["input_ids"], resp], 1), torch.cat([q["attention_mask"], rmask.long()], 1),
                   q["attention_mask"], rmask, None, None, torch.ones(len(bodies), dtype=torch.bool), list(responses))


def test_rm_reward_token_path_equals_text_path(tiny_llama):
    from hrlaif.models import load_tokenizer
    from hrlaif.ppo.rollout import RMReward
    from hrlaif.rm.model import init_reward_model

    torch.manual_seed(0)
    rm = init_reward_model(str(tiny_llama), clip=0.05)
    rm.eval()
    torch.nn.init.normal_(rm.backbone.score.weight, std=1.0)
    tok = load_tokenizer(str(tiny_llama), padding_side="left")
    messages = [[{"role": "user", "content": "What is 2+2?"}], [{"role": "user", "content": "Say hi"}]]
    responses = ["The answer is 4.", "Hello there, friend"]
    fast = RMReward(rm, tok)
    assert fast.same_tokenizer
    ro = _rollout_from_texts(tok, messages, responses)
    s_tok = fast(messages, responses, ro)
    s_text = RMReward(rm, tok, reuse_tokens=False)(messages, responses, ro)
    assert torch.allclose(s_tok, s_text, atol=1e-5)
    assert s_tok.abs().max() <= 0.05 + 1e-6  # the RM's clip holds
