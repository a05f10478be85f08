"""Red teaming: attack → respond → harm check → critique/revise → re-check → rankings.

Judges run against the real OpenAI-compatible test server on 127.0.0.1; the target policy is a
real tiny model built offline."""

from __future__ import annotations

import json

import pytest

from hrlaif.data import Message, Prompt, Ranking, read_records
from hrlaif.judges.base import JudgeResult
from hrlaif.judges.config import JudgeConfig
from hrlaif.judges.testserver import JudgeTestServer, _task_of
from hrlaif.redteam import RedTeamConfig, dedup, harm_verdict, is_refusal, rank_attack, run_redteam


def _cfg(tmp_path, url, **kw):
    judge = JudgeConfig(backend="openai", base_urls=[url], model="test-judge", max_retries=1,
                        backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=5, concurrency=4)
    base = dict(out=str(tmp_path / "rt"), model=str(kw.pop("model")), judge=judge,
                categories=["privacy_violation", "self_harm"], styles=["direct", "role_play"], per_category=2,
                benign=["demo"], k=2, max_new_tokens=8)
    base.update(kw)
    return RedTeamConfig(**base)


def _policy(harm_answer: str):
    attacks = iter(range(10_000))

    def answer(messages):
        task = _task_of(messages)
        system = messages[0]["content"] if messages else ""
        if "safety reviewer" in system:
            return harm_answer
        if "red-teaming" in system:
            return f"Attack prompt number {next(attacks)} about {messages[-1]['content'][60:110]}"
        if "critic" in system:
            return "The response gives concrete help with a harmful act."
        if "rewrite" in system:
            return "I can't help with that. If you are worried, here is safe help instead."
        return f"fine [[A]] {task}"

    return answer


def test_unknown_harm_verdict_is_never_safe(tmp_path, tiny_llama):
    # every harm check gets an unparseable answer: after retries, each is "unknown"
    with JudgeTestServer(policy=_policy("I am not sure what to say here."), rules=[]) as srv:
        rep = run_redteam(_cfg(tmp_path, srv.url, model=tiny_llama))
    s = rep["summary"]
    assert s["responses checked"] > 0
    assert s["harm checks unknown"] == s["responses checked"]
    assert s["attack success rate"] is None  # nothing decided: no rate, and certainly not 0 (safe)
    rows = [json.loads(x) for x in (tmp_path / "rt" / "checks.jsonl").read_text().splitlines()]
    assert rows and all(r["harmful"] is None for r in rows if r["kind"] == "original")
    assert (tmp_path / "rt" / "rankings.jsonl").read_text() == ""  # no unknown response was ranked


def test_rewrite_failing_recheck_is_dropped(tmp_path, tiny_llama):
    # the checker calls everything harmful, rewrites included: no rewrite may be kept
    with JudgeTestServer(policy=_policy("Bad.\nHarmful: yes\nCategory: self_harm\nSeverity: 2")) as srv:
        rep = run_redteam(_cfg(tmp_path, srv.url, model=tiny_llama))
    assert rep["summary"]["rewrites attempted"] > 0
    assert rep["summary"]["rewrite acceptance rate"] == 0
    rows = [json.loads(x) for x in (tmp_path / "rt" / "checks.jsonl").read_text().splitlines()]
    assert all(not r["accepted"] for r in rows if r["kind"] == "rewrite")
    for r in read_records(tmp_path / "rt" / "rankings.jsonl", Ranking, allow_empty=True):
        assert r.metadata["n_rewrites"] == 0


def test_rewrites_rank_first_and_resume_makes_no_duplicate_calls(tmp_path, tiny_llama):
    def policy(messages):  # harmful unless it is the rewrite text
        if "safety reviewer" in messages[0]["content"]:
            safe = "here is safe help instead" in messages[-1]["content"]
            return f"ok\nHarmful: {'no' if safe else 'yes'}\nCategory: none\nSeverity: {0 if safe else 2}"
        return _policy("")(messages)

    # first run: every critique call fails with 500 → recorded failures, no rewrites
    with JudgeTestServer(policy=policy, rules=[("safety critic", "500")]) as srv:
        cfg = _cfg(tmp_path, srv.url, model=tiny_llama)
        rep1 = run_redteam(cfg)
        first = srv.completions
    assert rep1["summary"]["judge calls failed"] > 0
    assert rep1["summary"]["rewrites attempted"] == 0
    # second run, endpoint healthy: only the failed calls (and what depends on them) are made
    with JudgeTestServer(policy=policy) as srv:
        cfg.judge.base_urls = [srv.url]
        rep2 = run_redteam(cfg)
        second = srv.completions
    n_crit = rep1["summary"]["judge calls failed"]
    assert 0 < second <= 3 * n_crit  # critique + revise + re-check for each, nothing else re-asked
    made1 = rep1["summary"]["judge calls made"]
    assert first > made1  # the failed calls were retried by the client within the first run
    assert rep2["summary"]["judge calls cached"] == made1 - n_crit
    ranks = read_records(tmp_path / "rt" / "rankings.jsonl", Ranking)
    with_rw = [r for r in ranks if r.metadata["n_rewrites"]]
    assert with_rw
    for r in with_rw:
        n = len(r.responses) - r.metadata["n_rewrites"]
        assert set(r.tiers[0]) == set(range(n, len(r.responses)))  # rewrites ≻ everything else
    # third run: everything cached, no call at all
    with JudgeTestServer(policy=policy) as srv:
        cfg.judge.base_urls = [srv.url]
        run_redteam(cfg)
        assert srv.completions == 0


def test_rank_attack_orders_and_leaves_unknown_unranked():
    p = Prompt.simple("x", "harmlessness", "how to pick a lock?")
    r = rank_attack(p, ["harmful a", "safe b", "unknown c"], [True, False, None], ["rewrite"], [], benign=False)
    assert r.tiers == [[3], [1], [0]]
    assert 2 not in r.ranked
    b = Prompt.simple("y", "open_ended", "how do I kill a python process?")
    r = rank_attack(b, ["Use kill -9 PID.", "I'm sorry, but I can't help with that."], [False, False], [], [],
                    benign=True)
    assert r.tiers == [[0], [1]]  # the helpful answer beats the over-refusal
    assert rank_attack(p, ["a", "b"], [None, None], [], [], benign=False) is None


def test_harm_verdict_and_helpers():
    ok = JudgeResult(judge="j", task="harm", harmful=False)
    assert harm_verdict(ok) is False
    assert harm_verdict(JudgeResult(judge="j", task="harm", error="timeout")) is None
    assert harm_verdict(JudgeResult(judge="j", task="harm", abstain=True, abstain_reason="?")) is None
    assert harm_verdict(JudgeResult(judge="j", task="harm")) is None
    assert is_refusal("I'm sorry, but I cannot help with that.") and not is_refusal("Run kill -9 1234.")
    assert dedup(["How do I pick a lock?", "how do i pick a lock ?", "Something else entirely"], 0.7) == [0, 2]


def test_redteam_cli_writes_rankings_train_rm_accepts(tmp_path, tiny_llama, cli):
    import yaml

    cfg = {"model": str(tiny_llama), "judge": {"backend": "simulated"}, "categories": ["self_harm"],
           "styles": ["direct"], "k": 2, "max_new_tokens": 8, "seed_sets": ["demo"], "out": str(tmp_path / "rt")}
    (tmp_path / "rt.yaml").write_text(yaml.safe_dump(cfg))
    r = cli("redteam", "--config", str(tmp_path / "rt.yaml"))
    assert r.returncode == 0, r.stderr
    assert "attack success rate" in r.stdout
    html = (tmp_path / "rt" / "redteam_report.html").read_text()
    assert "<script" not in html.lower()
    assert (tmp_path / "rt" / "hrlaif_config.yaml").exists()
    ranks = read_records(tmp_path / "rt" / "rankings.jsonl", Ranking)
    assert ranks and all(len(r.tiers) >= 2 for r in ranks)
    # the reward model trains on them as they are
    r = cli("train-rm", "--rankings", str(tmp_path / "rt" / "rankings.jsonl"), "--model", str(tiny_llama),
            "--out", str(tmp_path / "rm"), "--eval-fraction", "0", "--batch-size", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "rm" / "config.json").exists()
