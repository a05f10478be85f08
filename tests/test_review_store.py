"""Review items, SQLite store and results: sampling, blindness, numbers by hand, concurrency, restart."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from hrlaif.errors import InputError
from hrlaif.review import items as it
from hrlaif.review import stats
from hrlaif.review.results import review_results
from hrlaif.review.server import ReviewConfig, prepare, serve
from hrlaif.review.store import Store
from test_review_support import XSS, make_run


@pytest.fixture
def run(tmp_path, data_dir):
    return make_run(tmp_path / "run", data_dir)


def _correct(text: str) -> bool:
    """The test data's correct answers: terse 'The answer is N.', a bare letter, or the open-ended XSS text."""
    return text.startswith("The answer is") or len(text) == 1 or text == XSS


def test_sampling_merges_sources_and_is_deterministic(run):
    labels, policies = it.find_run_inputs(run)
    assert set(labels) == {"basic", "hybrid"} and set(policies) == {"sft", "hrlaif"}
    sources = it.load_label_sources(labels)
    a = it.sample_label_items(sources, per_category=2, seed=1)
    b = it.sample_label_items(sources, per_category=2, seed=1)
    assert [x.key for x in a] == [x.key for x in b]
    by_cat = {}
    for x in a:
        by_cat.setdefault(x.category, []).append(x)
    assert {c: len(v) for c, v in by_cat.items()} == {"math": 2, "multiple_choice": 2, "open_ended": 1}
    for x in a:  # one pair, judged once, compared with both sources' labels
        assert set(x.ai_labels) == {"basic", "hybrid"}
        if x.category == "open_ended":
            assert x.ai_labels == {"basic": "second", "hybrid": "tie"}
        else:
            assert x.ai_labels == {"basic": "second", "hybrid": "first"}
            assert x.reference
    sat = it.sample_sat_items(it.load_policies(policies), per_category=3, seed=1)
    assert {(s.category, s.policy) for s in sat} >= {("math", "sft"), ("math", "hrlaif")}
    assert len(sat) == 2 * (3 + 3 + 1)


def test_parse_named_and_bad_specs():
    assert it.parse_named(["sft=a.jsonl", "runs/labels_hybrid.jsonl"], "x") == {"sft": "a.jsonl",
                                                                               "hybrid": "runs/labels_hybrid.jsonl"}
    from hrlaif.errors import ConfigError

    with pytest.raises(ConfigError, match="twice"):
        it.parse_named(["a=x", "a=y"], "labels")


def test_next_item_is_blind_and_order_is_per_reviewer(run, tmp_path):
    db, _ = prepare(ReviewConfig(run_dir=str(run)))
    with Store(db) as s:
        seen_swaps = set()
        for reviewer in ("ann", "bob", "cy"):
            item = s.next_item("label", reviewer)
            assert set(item) == {"id", "category", "prompt", "reference", "choices", "a", "b"}
            sat = s.next_item("satisfaction", reviewer)
            assert "policy" not in sat and set(sat) == {"id", "category", "prompt", "reference", "choices", "response"}
            for row in s.label_items():
                seen_swaps.add(s.swapped(reviewer, row["key"]))
        assert seen_swaps == {True, False}
        with pytest.raises(InputError, match="reviewer"):
            s.next_item("label", "  ")
        with pytest.raises(InputError, match="choice"):
            s.record_label("ann", 1, "maybe")
        with pytest.raises(InputError, match="no label item"):
            s.record_label("ann", 999, "a")


def _label_all(s: Store, reviewer: str, flip_first_math: bool = False) -> None:
    """Pick the correct response (a tie on open-ended prompts); optionally the wrong one on one math item."""
    flipped = False
    while (item := s.next_item("label", reviewer)) is not None:
        if item["category"] == "open_ended":
            choice = "tie"
        else:
            choice = "a" if _correct(item["a"]) else "b"
            if flip_first_math and item["category"] == "math" and not flipped:
                choice, flipped = {"a": "b", "b": "a"}[choice], True
        s.record_label(reviewer, item["id"], choice)


def test_results_match_hand_computation(run):
    db, new = prepare(ReviewConfig(run_dir=str(run)))
    assert new == {"label_items": 8, "sat_items": 16}
    with Store(db) as s:
        _label_all(s, "ann")
        res = review_results(s)
        hyb, bas = res["labels"]["by_source"]["hybrid"], res["labels"]["by_source"]["basic"]
        # hybrid put the verified answer first (a tie on open-ended): ann agrees everywhere → κ = 1
        assert hyb["overall"]["n"] == 8 and hyb["overall"]["agree"] == 8 and hyb["overall"]["kappa"] == 1.0
        assert hyb["categories"]["math"]["agreement"] == 1.0
        # basic preferred the verbose wrong answer: 0 agreement; AI uses only 'second', ann never → p_e = 0, κ = 0
        assert bas["overall"]["agree"] == 0 and bas["overall"]["kappa"] == 0.0
        assert bas["categories"]["multiple_choice"]["agreement_ci"] == list(stats.wilson_interval(0, 3))
        assert res["labels"]["by_source"]["hybrid"]["overall"]["human_ties"] == 1

        _label_all(s, "bob", flip_first_math=True)
        res = review_results(s)
        math_h = res["labels"]["by_source"]["hybrid"]["categories"]["math"]
        assert (math_h["n"], math_h["no_majority"]) == (3, 1)  # ann vs bob split on one pair: no majority
        inter = res["labels"]["inter_reviewer"]
        # ann: first×7 tie×1; bob: first×6 second×1 tie×1 → p_o 7/8, p_e 43/64 → κ = 13/21
        assert inter["reviewers"] == 2 and inter["items_multi"] == 8
        assert inter["mean_pairwise_kappa"] == pytest.approx(13 / 21)

        # satisfaction: ann satisfied with every correct response, bob with none of sft's
        while (item := s.next_item("satisfaction", "ann")) is not None:
            s.record_satisfaction("ann", item["id"], _correct(item["response"]), "")
        res = review_results(s)
        sat = res["satisfaction"]["by_policy"]
        assert sat["hrlaif"]["overall"]["rate"] == 1.0 and sat["sft"]["overall"]["rate"] == 0.0
        assert sat["sft"]["overall"]["ci"] == list(stats.wilson_interval(0, 8))
        assert sat["hrlaif"]["categories"]["math"]["n"] == 4
        vs = res["satisfaction"]["vs_baseline"]
        assert vs["baseline"] == "sft" and vs["policies"]["hrlaif"] == {"n": 8, "delta": 1.0, "ci": [1.0, 1.0]}


def test_relabel_keeps_history_but_counts_latest(run):
    db, _ = prepare(ReviewConfig(run_dir=str(run)))
    with Store(db) as s:
        item = s.next_item("label", "ann")
        s.record_label("ann", item["id"], "a")
        s.record_label("ann", item["id"], "b")
        assert len(s.label_judgements(latest=False)) == 2
        latest = s.label_judgements()
        assert len(latest) == 1 and latest[0]["choice"] == "b"


def _post(origin: str, token: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(origin + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_concurrent_reviewers_lose_no_write_and_restart_keeps_all(run):
    cfg = ReviewConfig(run_dir=str(run))
    db, _ = prepare(cfg)
    with Store(db) as s:
        label_ids = [r["id"] for r in s.label_items()]
        sat_ids = [r["id"] for r in s.sat_items()]
    rounds, errors = 3, []
    second_store = Store(db)  # a second writer on the same file (as a second server process would be)

    def reviewer(name: str, via_http: bool) -> None:
        try:
            for r in range(rounds):
                for i in label_ids:
                    choice = ("a", "b", "tie")[(i + r) % 3]
                    if via_http:
                        _post(srv.origin, srv.token, "/api/label", {"reviewer": name, "item_id": i, "choice": choice})
                    else:
                        second_store.record_label(name, i, choice)
                for i in sat_ids:
                    if via_http:
                        _post(srv.origin, srv.token, "/api/satisfaction",
                              {"reviewer": name, "item_id": i, "satisfied": r % 2 == 0, "reason": f"round {r}"})
                    else:
                        second_store.record_satisfaction(name, i, r % 2 == 0, f"round {r}")
        except Exception as e:  # surfaced below
            errors.append(repr(e))

    with serve(db) as srv:
        threads = [threading.Thread(target=reviewer, args=(f"rev{k}", k % 3 != 0)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    second_store.close()
    assert errors == []
    with Store(db) as s:
        c = s.counts()
        assert c["label_judgements"] == 6 * rounds * len(label_ids)
        assert c["sat_judgements"] == 6 * rounds * len(sat_ids)
        before = review_results(s)
    # restart: import the same inputs again → nothing new, nothing lost
    db2, new = prepare(cfg)
    assert db2 == db and new == {"label_items": 0, "sat_items": 0}
    after = review_results(db)
    assert after == before
    with serve(db) as srv2:  # a restarted server sees every reviewer's progress
        req = urllib.request.Request(srv2.origin + "/api/state?reviewer=rev5",
                                     headers={"Authorization": f"Bearer {srv2.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            state = json.loads(r.read())
    assert sum(v["done"] for v in state["label"].values()) == len(label_ids)
    assert sum(v["done"] for v in state["satisfaction"].values()) == len(sat_ids)
    assert after["reviewers"]["rev0"] == {"labels": len(label_ids), "satisfaction": len(sat_ids)}
    assert after["satisfaction"]["by_policy"]["sft"]["overall"]["rate"] == 1.0  # last round (r=2) satisfied


def test_bad_database_file_is_an_input_error(tmp_path):
    bad = tmp_path / "review.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="review database"):
        Store(bad)
    with pytest.raises(InputError, match="not found"):
        review_results(tmp_path / "missing.sqlite")


def test_satisfaction_delta_is_paired_by_prompt():
    from hrlaif.review.results import _vs_baseline

    items = [{"id": 1, "policy": "sft", "prompt_id": "p1"}, {"id": 2, "policy": "sft", "prompt_id": "p2"},
             {"id": 3, "policy": "hrlaif", "prompt_id": "p1"}, {"id": 4, "policy": "hrlaif", "prompt_id": "p2"},
             {"id": 5, "policy": "hrlaif", "prompt_id": "p3"}]
    ratings = {1: [True, False], 2: [False], 3: [True], 4: [True, True], 5: [False]}
    d = _vs_baseline(items, ratings)["policies"]["hrlaif"]
    assert d["n"] == 2 and d["delta"] == pytest.approx(0.75)  # (1 − .5 + 1 − 0) / 2; p3 has no baseline
    assert 0.5 <= d["ci"][0] <= d["ci"][1] <= 1.0
    no_sft = [{**it, "policy": "rlaif"} if it["policy"] == "sft" else it for it in items]
    assert _vs_baseline(no_sft, ratings) == {"baseline": None, "policies": {}}
