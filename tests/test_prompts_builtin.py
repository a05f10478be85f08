"""The built-in sets that need no data folder: generated ``arith`` and ``easymc`` (disjoint splits,
determinism, references recomputed here from the stored structure, balanced keys) and the
hand-written ``harmless`` red-teaming set."""

from __future__ import annotations

import collections
import operator
import re

import pytest

from hrlaif.data import CATEGORIES
from hrlaif.prompts import LETTERS, format_multiple_choice, load_prompt_set
from hrlaif.synthetic import arith_prompts, easymc_prompts

OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@pytest.fixture(scope="module")
def arith():
    return {s: load_prompt_set("arith", split=s) for s in ("train", "test")}


@pytest.fixture(scope="module")
def easymc():
    return {s: load_prompt_set("easymc", split=s) for s in ("train", "test")}


def test_arith_sizes_splits_and_default_split(arith):
    assert len(arith["train"]) == 2000 and len(arith["test"]) == 500
    assert [p.id for p in load_prompt_set("arith", limit=5)] == [p.id for p in
                                                                  load_prompt_set("arith", split="train", limit=5)]
    for split, ps in arith.items():
        assert len({p.id for p in ps}) == len(ps) and all(p.id.startswith(f"arith/{split}/") for p in ps)
        assert len({p.text for p in ps}) == len(ps)  # no duplicate question within a split
    assert not {p.text for p in arith["train"]} & {p.text for p in arith["test"]}


def test_arith_references_recomputed_from_the_structure(arith):
    kinds = collections.Counter()
    for p in arith["train"] + arith["test"]:
        assert p.category == "math" and CATEGORIES[p.category].verifier == "math"
        m = p.metadata
        nums, ops = m["operands"], m["ops"]
        assert len(nums) == len(ops) + 1 and len(ops) == (2 if m["kind"] == "word2" else 1)
        acc = nums[0]
        for op, b in zip(ops, nums[1:]):
            acc = OPS[op](acc, b)
            assert acc == int(acc) and acc >= 0, p.text  # every intermediate is a whole number >= 0
        assert p.reference == str(int(acc)) and 0 <= int(acc) < 200, p.text
        # the numbers the answer is computed from are the ones the question states, in order
        assert [int(x) for x in re.findall(r"\d+", p.text)] == nums, p.text
        kinds[m["kind"]] += 1
    assert set(kinds) == {"plain", "word1", "word2"} and min(kinds.values()) > 100


def test_generated_sets_are_deterministic_and_seeded():
    assert [p.text for p in arith_prompts("test", 50)] == [p.text for p in arith_prompts("test", 50)]
    other = arith_prompts("test", 50, seed=1)
    assert [p.text for p in other] != [p.text for p in arith_prompts("test", 50)]
    # whatever the seed, a question's split is fixed: seed 1's test items never appear in seed 0's train
    assert not {p.text for p in other} & {p.text for p in arith_prompts("train")}
    assert [p.text for p in easymc_prompts("train", 40)] == [p.text for p in easymc_prompts("train", 40)]


def test_easymc_splits_keys_and_formatting(easymc):
    assert len(easymc["train"]) == 1200 and len(easymc["test"]) == 400
    for split, ps in easymc.items():
        keys = collections.Counter(p.reference for p in ps)
        assert set(keys) == set(LETTERS) and len(set(keys.values())) == 1, keys  # each letter equally often
        for p in ps:
            assert p.category == "multiple_choice" and len(p.choices) == 4 and len(set(p.choices)) == 4
            assert p.text == format_multiple_choice(p.metadata["question"], p.choices)
            assert p.choices[LETTERS.index(p.reference)] == p.metadata["answer"]
    train, test = easymc["train"], easymc["test"]
    assert not {p.text for p in train} & {p.text for p in test}
    # a fact asked about is in one split only, whatever its distractors
    facts = lambda ps: {p.metadata["question"] for p in ps if p.metadata["kind"] in ("capital", "fact", "opposite",
                                                                                      "sum")}
    assert not facts(train) & facts(test)
    member = lambda ps: {(p.metadata["question"], p.metadata["answer"]) for p in ps if p.metadata["kind"] == "member"}
    assert not member(train) & member(test)
    assert {p.metadata["kind"] for p in test} == {"largest", "smallest", "sum", "member", "opposite", "capital",
                                                  "fact"}


def test_easymc_answers_recomputed(easymc):
    for p in easymc["train"] + easymc["test"]:
        m, ans = p.metadata, p.metadata["answer"]
        if m["kind"] in ("largest", "smallest"):
            nums = [int(c) for c in p.choices]
            assert sorted(nums) == sorted(m["numbers"])
            assert int(ans) == (max(nums) if m["kind"] == "largest" else min(nums))
        elif m["kind"] == "sum":
            a, b = m["operands"]
            assert int(ans) == a + b and f"{a} + {b}" in p.text
            assert sum(int(c) == a + b for c in p.choices) == 1
        elif m["kind"] == "capital":
            assert m["country"] in p.text
    by_country = {p.metadata["country"]: p.metadata["answer"] for p in easymc["train"] + easymc["test"]
                  if p.metadata["kind"] == "capital"}
    assert by_country.get("France", "Paris") == "Paris" and by_country.get("Japan", "Tokyo") == "Tokyo"


def test_harmless_set_for_red_teaming():
    from hrlaif.judges.templates import HARM_CATEGORIES

    ps = load_prompt_set("harmless")
    assert len(ps) >= 40 and len({p.id for p in ps}) == len(ps) and len({p.text for p in ps}) == len(ps)
    harmful = [p for p in ps if p.metadata["harmful"]]
    benign = [p for p in ps if p.metadata.get("benign_lookalike")]
    assert len(harmful) >= 30 and len(benign) >= 8 and len(harmful) + len(benign) == len(ps)
    for p in harmful:
        assert p.category == "harmlessness" and p.metadata["harm_category"] in HARM_CATEGORIES
    for p in benign:  # the red-team stage reads look-alikes by this flag (over-refusal)
        assert p.category == "open_ended" and p.metadata["harmful"] is False
        assert p.metadata["trigger_word"] in p.text.lower()
    assert len({p.metadata["harm_category"] for p in harmful}) == len(HARM_CATEGORIES)  # every category
    # no copy of the demo set's items
    assert not {p.text for p in ps} & {p.text for p in load_prompt_set("demo")}
