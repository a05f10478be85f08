"""The reward model: clipping inside forward survives save/load; plain HF loading reads the same
(unclipped) reward; scores do not depend on the batch they are computed in."""

from __future__ import annotations

import json

import pytest
import torch

from hrlaif.data import Message
from hrlaif.rm.data import encode_response
from hrlaif.rm.model import _distinct_pad, init_reward_model, load_reward_model, pad_right

MSGS = [[Message("user", "What is 2+2?")], [Message("user", "Name a colour.")],
        [Message("system", "Be brief."), Message("user", "What is 23+45?")]] * 2
RESP = ["4", "Blue, like the sky on a clear day.", "23 + 45 = 68", "5", "Banana.", "The answer is 68."]


@pytest.fixture
def rm(tiny_llama):
    torch.manual_seed(0)
    m = init_reward_model(str(tiny_llama), clip=2.0, max_length=48)
    with torch.no_grad():  # make the head large so that some rewards exceed the clip
        m.backbone.score.weight.mul_(400.0)
    return m.eval()


def _batch(rm):
    seqs = [encode_response(rm.tokenizer, m, r, rm.max_length)[0] for m, r in zip(MSGS, RESP)]
    return pad_right(seqs, rm.tokenizer.pad_token_id)


def test_forward_is_clipped_and_round_trips(rm, tmp_path):
    ids, mask = _batch(rm)
    with torch.no_grad():
        raw = rm.raw_reward(ids, mask)
        c = round(float(raw.abs().median()), 3)  # a clip that cuts some rewards and not others
        rm.clip = c
        clipped = rm(ids, mask)
    assert (raw.abs() > c).any() and (raw.abs() < c).any(), raw
    assert torch.equal(clipped, raw.clamp(-c, c))
    assert clipped.abs().max() <= c

    rm.save(tmp_path / "rm")
    cfg = json.loads((tmp_path / "rm" / "config.json").read_text())
    assert cfg["hrlaif_reward_clip"] == c
    back = load_reward_model(str(tmp_path / "rm"))
    assert back.clip == c and back.max_length == 48
    with torch.no_grad():
        assert torch.equal(back(ids, mask), clipped)
    assert back.score(MSGS, RESP) == pytest.approx(clipped.tolist(), abs=1e-6)

    # A plain Hugging Face load gives the same reward, unclipped (the clip is hrlaif's loader's job).
    from transformers import AutoModelForSequenceClassification

    hf = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "rm"), num_labels=1).eval()
    with torch.no_grad():
        hf_r = hf(input_ids=ids, attention_mask=mask).logits.squeeze(-1)
    assert torch.allclose(hf_r, raw, atol=1e-4)


def test_clip_override_and_score_is_batch_independent(rm, tmp_path):
    rm.save(tmp_path / "rm")
    loose = load_reward_model(str(tmp_path / "rm"), clip=1e6)
    one = loose.score(MSGS, RESP, batch_size=1)
    many = loose.score(MSGS, RESP, batch_size=6)
    assert one == pytest.approx(many, abs=1e-4)
    assert max(abs(x) for x in one) > 10.0  # nothing clipped at ±1e6 (the head was scaled up)
    with pytest.raises(ValueError):
        loose.score(MSGS, RESP[:2])


def test_reward_read_at_the_last_token(rm):
    """Changing only the last response token changes the reward; padding after it does not."""
    seq = encode_response(rm.tokenizer, MSGS[0], "The answer is 4", rm.max_length)[0]
    ids, mask = pad_right([seq, seq + [], seq[:-1] + [rm.tokenizer.bos_token_id]], rm.tokenizer.pad_token_id)
    long_ids, long_mask = pad_right([seq, seq + [7] * 5], rm.tokenizer.pad_token_id)
    long_mask[1, len(seq):] = 0
    long_ids[1, len(seq):] = rm.tokenizer.pad_token_id
    with torch.no_grad():
        r = rm.raw_reward(ids, mask)
        r_long = rm.raw_reward(long_ids, long_mask)
    assert r[0] == pytest.approx(r[1].item())
    assert r[0].item() != pytest.approx(r[2].item(), abs=1e-6)
    assert r_long[0].item() == pytest.approx(r_long[1].item(), abs=1e-4)


def test_pad_made_distinct_from_eos(tiny_llama):
    from hrlaif.models import load_tokenizer

    tok = load_tokenizer(str(tiny_llama))
    tok.pad_token = tok.eos_token  # as SmolLM2 ships it
    _distinct_pad(tok)
    assert tok.pad_token_id != tok.eos_token_id


def test_truncation_keeps_eos_and_counts(rm):
    long = "word " * 200
    seq, cut = encode_response(rm.tokenizer, MSGS[0], long, 48)
    assert cut and len(seq) == 48 and seq[-1] == rm.tokenizer.eos_token_id
    prompt_ids = rm.tokenizer(rm.tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+2?"}], tokenize=False, add_generation_prompt=True),
        add_special_tokens=False)["input_ids"]
    assert seq[:len(prompt_ids)] == prompt_ids  # a short prompt is kept whole
    short, cut2 = encode_response(rm.tokenizer, MSGS[0], "4", 48)
    assert not cut2 and short[-1] == rm.tokenizer.eos_token_id
