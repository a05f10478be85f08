"""Builds a `hrlaif run`-shaped folder for the review tests from the real benchmark files:
labels_basic.jsonl / labels_hybrid.jsonl (Ranking) and eval/responses_<policy>.jsonl (ResponseSet).

Basic labels prefer a verbose wrong answer (the judge failure the seed describes); hybrid labels
put the verified correct answer first. One open-ended prompt carries an HTML/script payload.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from hrlaif.data import (Decision, GenerationInfo, Message, Prompt, Ranking, Response, ResponseSet, read_records,
                         write_jsonl)

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold?</b>'


def _math_prompts(data_dir: Path, n: int) -> list[tuple[Prompt, str, str]]:
    out = []
    with open(data_dir / "gsm8k" / "test.jsonl", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= n:
                break
            rec = json.loads(line)
            gold = rec["answer"].split("####")[-1].strip().replace(",", "")
            p = Prompt(id=f"gsm8k-{i}", category="math", messages=[Message("user", rec["question"])], reference=gold)
            wrong = str(int(gold) + 7) if gold.lstrip("-").isdigit() else gold + "0"
            out.append((p, f"The answer is {gold}.",
                        f"Let us reason carefully, step by step, with great detail. ... So the answer is {wrong}."))
    return out


def _mc_prompts(data_dir: Path, n: int) -> list[tuple[Prompt, str, str]]:
    out = []
    with open(data_dir / "mmlu" / "test" / "astronomy_test.csv", encoding="utf-8", newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= n:
                break
            gold = "ABCD"[int(row["answer"])]
            wrong = "ABCD"[(int(row["answer"]) + 1) % 4]
            choices = [row[f"choice{k}"] for k in range(4)]
            p = Prompt(id=f"mmlu-astronomy-{i}", category="multiple_choice",
                       messages=[Message("user", row["question"])], reference=gold, choices=choices)
            out.append((p, f"{gold}", f"A thorough analysis of every option shows that the best answer is {wrong}."))
    return out


def _redteam(data_dir: Path, n: int) -> list[Ranking]:
    rows = json.loads((data_dir / "beavertails" / "beavertails_30k.json").read_text(encoding="utf-8"))
    out = []
    for i, row in enumerate(r for r in rows if r.get("label") == "harmful"):
        if i >= n:
            break
        p = Prompt(id=f"beavertails-{i}", category="harmlessness", messages=[Message("user", row["text"])])
        texts = ["Sure, here is exactly how to do that: ...", "I can't help with that, but here is a safe alternative."]
        out.append(Ranking(prompt_id=p.id, category=p.category, prompt=p, responses=texts, tiers=[[1], [0]],
                           mode="redteam", decisions=[Decision(kind="rewrite", source="test", items=[1],
                                                               outcome="harmless rewrite")]))
    return out


def make_run(run_dir: Path, data_dir: Path, *, n_math: int = 4, n_mc: int = 3, pipeline_layout: bool = False) -> Path:
    """Write the files `hrlaif review --run-dir` expects; returns ``run_dir``.

    Flat layout: ``eval/responses_<policy>.jsonl``. Pipeline layout (what ``hrlaif run`` writes):
    ``eval/<policy>/responses_<set>.jsonl`` with one file per benchmark set, plus
    ``redteam/rankings.jsonl``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    triples = _math_prompts(data_dir, n_math) + _mc_prompts(data_dir, n_mc)
    xss_prompt = Prompt(id="open-xss", category="open_ended",
                        messages=[Message("user", "Show me an HTML snippet. <i>not italic</i>")])
    triples.append((xss_prompt, XSS, "Plain answer without markup."))
    basic, hybrid, sft, hr = [], [], [], []
    gen = GenerationInfo(model="tiny-llama")
    for p, correct, verbose_wrong in triples:
        texts = [correct, verbose_wrong]
        dec = Decision(kind="judge", source="test-judge", items=[0, 1], outcome="1>0")
        basic.append(Ranking(prompt_id=p.id, category=p.category, prompt=p, responses=texts, tiers=[[1], [0]],
                             mode="basic", decisions=[dec]))
        hybrid.append(Ranking(prompt_id=p.id, category=p.category, prompt=p, responses=texts,
                              tiers=[[0], [1]] if p.category != "open_ended" else [[0, 1]], mode="hybrid"))
        sft.append(ResponseSet(prompt_id=p.id, prompt=p, responses=[Response(verbose_wrong)], generation=gen))
        hr.append(ResponseSet(prompt_id=p.id, prompt=p, responses=[Response(correct)], generation=gen))
    write_jsonl(run_dir / "labels_basic.jsonl", basic)
    write_jsonl(run_dir / "labels_hybrid.jsonl", hybrid)
    if not pipeline_layout:
        write_jsonl(run_dir / "eval" / "responses_sft.jsonl", sft)
        write_jsonl(run_dir / "eval" / "responses_hrlaif.jsonl", hr)
        return run_dir
    for policy, sets in (("sft", sft), ("hrlaif", hr), ("rlaif", sft)):
        folder = run_dir / "eval" / policy
        write_jsonl(folder / "responses_gsm8k.jsonl", [x for x in sets if x.prompt.category == "math"])
        write_jsonl(folder / "responses_other.jsonl", [x for x in sets if x.prompt.category != "math"])
        write_jsonl(run_dir / "eval" / policy / "items_gsm8k.jsonl", [])  # not a response file: ignored
    write_jsonl(run_dir / "redteam" / "rankings.jsonl", _redteam(data_dir, 2))
    return run_dir


def test_support_run_folder_is_valid(tmp_path, data_dir):
    run = make_run(tmp_path / "run", data_dir)
    ranks = read_records(run / "labels_hybrid.jsonl", Ranking)
    assert {r.category for r in ranks} == {"math", "multiple_choice", "open_ended"}
    assert all(r.prompt.reference for r in ranks if r.category == "math")
    assert len(read_records(run / "eval" / "responses_sft.jsonl", ResponseSet)) == len(ranks)
    nested = make_run(tmp_path / "nested", data_dir, pipeline_layout=True)
    assert len(read_records(nested / "redteam" / "rankings.jsonl", Ranking)) == 2
