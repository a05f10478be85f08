"""Rankings → RM examples: validation messages, held-out split, encoding, batching."""

from __future__ import annotations

import json

import pytest

from hrlaif.data import write_records
from hrlaif.errors import InputError
from hrlaif.rm.data import LoadStats, collate, encode_rankings, load_rankings, split_heldout
from hrlaif.rm.synthetic import synthetic_rankings
from tests.conftest import run_cli


def _raw(**kw):
    obj = {"prompt_id": "p1", "category": "math",
           "prompt": {"id": "p1", "category": "math", "messages": [{"role": "user", "content": "1+1?"}]},
           "responses": ["2", "3", "I don't know."], "tiers": [[0], [1], [2]]}
    obj.update(kw)
    return obj


def _write(path, *objs):
    path.write_text("".join(json.dumps(o) + "\n" for o in objs))
    return path


def test_preferences_become_tiers_and_cycles_are_named(tmp_path):
    good = _raw(tiers=None, preferences=[[0, 1], [1, 2], [0, 2]])
    del good["tiers"]
    [r] = load_rankings([_write(tmp_path / "ok.jsonl", good)])
    assert r.tiers == [[0], [1], [2]]
    cyc = _raw(preferences=[[0, 1], [1, 2], [2, 0]])
    del cyc["tiers"]
    p = _write(tmp_path / "cyc.jsonl", _raw(prompt_id="p0", prompt={**_raw()["prompt"], "id": "p0"}), cyc)
    with pytest.raises(InputError) as e:
        load_rankings([p])
    assert e.value.line == 2 and e.value.field == "preferences"
    assert "cycle" in str(e.value) and str(p) in str(e.value)


@pytest.mark.parametrize("bad,field", [(dict(responses=["only one"], tiers=[[0]]), "responses"),
                                       (dict(responses=["2", "  ", "3"]), "responses[1]")])
def test_k_below_two_and_empty_responses(tmp_path, bad, field):
    p = _write(tmp_path / "bad.jsonl", _raw(), _raw(**bad))
    with pytest.raises(InputError) as e:
        load_rankings([p])
    assert (e.value.line, e.value.field) == (2, field)
    stats = LoadStats()
    assert len(load_rankings([p], skip_invalid=True, stats=stats)) == 1
    assert sum(stats.skipped.values()) == 1


def test_all_tied_rankings_are_counted_not_trained(tmp_path):
    p = _write(tmp_path / "t.jsonl", _raw(), _raw(prompt_id="p2", prompt={**_raw()["prompt"], "id": "p2"},
                                                   tiers=[[0, 1, 2]]))
    stats = LoadStats()
    assert [r.prompt_id for r in load_rankings([p], stats=stats)] == ["p1"]
    assert stats.no_pairs == 1
    with pytest.raises(InputError, match="no usable rankings"):
        load_rankings([_write(tmp_path / "t2.jsonl", _raw(tiers=[[0, 1, 2]]))])


def test_cli_reports_a_cycle_with_exit_code_2(tmp_path):
    cyc = _raw(preferences=[[0, 1], [1, 0]])
    del cyc["tiers"]
    p = _write(tmp_path / "cyc.jsonl", cyc)
    proc = run_cli("train-rm", "--in", str(p), "--out", str(tmp_path / "rm"), timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "cyc.jsonl:1" in proc.stderr and "preferences" in proc.stderr and "cycle" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_split_is_by_prompt_and_deterministic(data_dir):
    rs = synthetic_rankings(data_dir, n=20, k=4)
    rs = rs + rs[:3]  # a prompt ranked twice stays on one side
    tr, ev = split_heldout(rs, 0.25, seed=0)
    assert {r.prompt_id for r in tr}.isdisjoint({r.prompt_id for r in ev})
    assert len({r.prompt_id for r in ev}) == 5
    assert [r.prompt_id for r in split_heldout(rs, 0.25, seed=0)[1]] == [r.prompt_id for r in ev]
    assert split_heldout(rs, 0.25, seed=1)[1] != ev


def test_synthetic_rankings_and_collate(data_dir, tiny_llama, tmp_path):
    from hrlaif.models import load_tokenizer

    rs = synthetic_rankings(data_dir, n=8, k=8, mmlu_share=0.25)
    assert {r.category for r in rs} == {"math", "multiple_choice"}
    assert all(len(r.responses) == 8 and len(r.ranked) == 8 for r in rs)
    write_records(tmp_path / "r.parquet", rs)
    assert len(load_rankings([tmp_path / "r.parquet"])) == 8  # Parquet reads too

    tok = load_tokenizer(str(tiny_llama), padding_side="right")
    ex = encode_rankings(rs[:2], tok, max_length=64)
    assert sum(e.n_truncated for e in ex) > 0  # GSM8K solutions exceed 64 tokens
    assert all(len(s) <= 64 and s[-1] == tok.eos_token_id for e in ex for s in e.input_ids)
    b = collate(ex, tok.pad_token_id)
    assert b["input_ids"].shape[0] == 16  # K forwards per prompt
    assert b["tiers"][1][0][0] >= 8  # second prompt's indices are offset
    bp = collate(ex, tok.pad_token_id, expand_pairs=True)
    assert bp["input_ids"].shape[0] == 2 * sum(e.n_pairs for e in ex)  # 2 forwards per strict pair
