"""OpenAIJudge against a real OpenAI-compatible HTTP server on 127.0.0.1 that injects faults."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time

import pytest

from hrlaif.config import save_config
from hrlaif.data import Message
from hrlaif.errors import ConfigError
from hrlaif.judges.base import Judge, JudgeRequest
from hrlaif.judges.config import JudgeConfig, make_judge
from hrlaif.judges.openai_compat import OpenAIJudge, backoff_delay, parse_retry_after, soft_from_logprobs
from hrlaif.judges.testserver import JudgeTestServer

FAST = dict(backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=2.0, logprobs=False)


def _cfg(*urls: str, **kw) -> JudgeConfig:
    return JudgeConfig(backend="openai", base_urls=list(urls), model="test-judge", show_reference=True,
                       **{**FAST, **kw})


def _reqs(n: int, tag: str = "q") -> list[JudgeRequest]:
    """Request i has the right answer in position A when i is even, B when odd."""
    out = []
    for i in range(n):
        right, wrong = f"The answer is {i + 100}.", f"The answer is {i + 500}."
        resp = [right, wrong] if i % 2 == 0 else [wrong, right]
        out.append(JudgeRequest("pairwise", [Message("user", f"{tag} {i}: what is it?")], resp,
                                category="math", reference=str(i + 100)))
    return out


def _expected(i: int) -> float:
    return 1.0 if i % 2 == 0 else 0.0


@pytest.mark.parametrize("fault,reason", [
    ("429", "HTTP 429"), ("500", "HTTP 500"), ("502", "HTTP 502"), ("503", "HTTP 503"),
    ("truncated", "garbage body"), ("garbage", "garbage body"), ("disconnect", "transport error"),
    ("unparseable", "unparseable verdict"),
])
def test_each_fault_is_retried_and_nothing_is_lost(fault: str, reason: str) -> None:
    n = 6
    with JudgeTestServer(script=[fault, fault], retry_after=0) as srv:
        judge = make_judge(_cfg(srv.url))
        assert isinstance(judge, OpenAIJudge) and isinstance(judge, Judge)
        res = judge.judge_many(_reqs(n))
        assert srv.completions == n + 2 and srv.faults_served[fault] == 2
    assert len(res) == n
    for i, r in enumerate(res):
        assert r.ok and r.preference == _expected(i), (i, r)
    retried = [x for r in res for x in r.retried]
    assert len(retried) == 2 and all(reason in x for x in retried), retried
    assert sum(r.attempts for r in res) == n + 2


def test_retry_after_is_honoured() -> None:
    with JudgeTestServer(script=["429"], retry_after=1) as srv:
        judge = make_judge(_cfg(srv.url))
        t0 = time.perf_counter()
        (res,) = judge.judge_many(_reqs(1))
        elapsed = time.perf_counter() - t0
    assert res.ok and res.retried == ["HTTP 429 (Retry-After 1s)"]
    assert elapsed >= 1.0  # the header said 1 s; the backoff alone would be ~0.01 s


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0 and parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)


def test_backoff_delay_grows_with_jitter_and_caps() -> None:
    rng = random.Random(0)
    for k in range(8):
        d = backoff_delay(k, 0.5, 4.0, rng)
        nominal = min(4.0, 0.5 * 2 ** k)
        assert 0.5 * nominal <= d <= 1.5 * nominal
    assert backoff_delay(3, 0.5, 4.0, rng, retry_after=7.0) == 7.0


def test_timeouts_are_retried() -> None:
    with JudgeTestServer(script=["hang"], hang_s=1.5) as srv:
        judge = make_judge(_cfg(srv.url, timeout_s=0.3))
        t0 = time.perf_counter()
        (res,) = judge.judge_many(_reqs(1))
        elapsed = time.perf_counter() - t0
    assert res.ok and res.preference == 1.0
    assert len(res.retried) == 1 and res.retried[0].startswith("timeout after 0.3s")
    assert elapsed < 1.4  # gave up on the hung call instead of waiting for it


@pytest.mark.parametrize("fault", ["500", "garbage", "unparseable"])
def test_request_that_always_fails_ends_as_abstain(fault: str) -> None:
    reqs = _reqs(4)
    reqs[2].messages = [Message("user", "POISON item")]
    with JudgeTestServer(rules=[("POISON", fault)]) as srv:
        res = make_judge(_cfg(srv.url, max_retries=2)).judge_many(reqs)
        assert srv.faults_served[fault] == 3  # 1 call + 2 retries, then it stops
    bad = res[2]
    assert bad.abstain and not bad.ok and bad.error and "after 3 attempt(s)" in bad.error
    assert bad.preference is None and bad.attempts == 3 and len(bad.retried) == 2  # no label from garbage
    assert bad.abstain_reason.startswith("judge call failed")
    if fault == "unparseable":
        assert "merits" in bad.raw  # the raw text is kept for inspection, but is not a label
    assert [r.ok for i, r in enumerate(res) if i != 2] == [True, True, True]


def test_client_error_is_not_retried() -> None:
    with JudgeTestServer() as srv:
        (res,) = make_judge(_cfg(srv.url.replace("/v1", "/nope"))).judge_many(_reqs(1))
        assert srv.completions == 0
    assert res.abstain and res.attempts == 1 and "HTTP 404" in res.error and not res.retried


def test_requests_spread_over_two_servers() -> None:
    with JudgeTestServer(latency_s=0.02) as s1, JudgeTestServer(latency_s=0.02) as s2:
        judge = make_judge(_cfg(s1.url, s2.url, concurrency=4))
        res = judge.judge_many(_reqs(24))
        c1, c2 = s1.completions, s2.completions
    assert all(r.ok for r in res) and c1 + c2 == 24
    assert min(c1, c2) >= 8, (c1, c2)


def test_concurrency_is_bounded() -> None:
    with JudgeTestServer(latency_s=0.1) as srv:
        t0 = time.perf_counter()
        res = make_judge(_cfg(srv.url, concurrency=4)).judge_many(_reqs(16))
        elapsed = time.perf_counter() - t0
        assert srv.max_in_flight == 4
    assert all(r.ok for r in res)
    assert 0.4 <= elapsed < 1.5  # 16 calls / 4 in flight × 0.1 s


def test_rpm_limiter_spaces_requests() -> None:
    with JudgeTestServer() as srv:
        t0 = time.perf_counter()
        res = make_judge(_cfg(srv.url, rpm=600, concurrency=8)).judge_many(_reqs(6))
        elapsed = time.perf_counter() - t0
    assert all(r.ok for r in res)
    assert elapsed >= 0.5  # 600/min = one start every 0.1 s: 6 starts take ≥ 0.5 s


def test_logprob_soft_labels() -> None:
    with JudgeTestServer(logprobs=True, confidence=0.9) as srv:
        soft = make_judge(_cfg(srv.url, logprobs=True)).judge_many(_reqs(4))
        hard = make_judge(_cfg(srv.url, logprobs=False)).judge_many(_reqs(4))
        assert srv.bodies[0].get("logprobs") is True and "logprobs" not in srv.bodies[-1]
    assert [r.preference for r in soft] == pytest.approx([0.9, 0.1, 0.9, 0.1])
    assert [r.preference for r in hard] == [1.0, 0.0, 1.0, 0.0]


def test_soft_from_logprobs_hand_made() -> None:
    import math

    content = [{"token": "[[", "logprob": 0.0, "top_logprobs": []},
               {"token": "B", "logprob": math.log(0.6),
                "top_logprobs": [{"token": "B", "logprob": math.log(0.6)}, {"token": " A", "logprob": math.log(0.2)},
                                 {"token": "C", "logprob": math.log(0.2)}]},
               {"token": "]]", "logprob": 0.0, "top_logprobs": []}]
    assert soft_from_logprobs(content, "B", ("A",), ("B",)) == pytest.approx(0.25)  # 0.2 / (0.2 + 0.6)
    assert soft_from_logprobs(content, "A", ("A",), ("B",)) is None  # the verdict token is not there
    assert soft_from_logprobs(None, "A", ("A",), ("B",)) is None


def test_on_result_as_each_finishes_results_in_input_order() -> None:
    seen: list[int] = []

    def slow_first(messages: list[dict]) -> str:  # item 0 answers last
        time.sleep(0.3 if "q 0:" in messages[-1]["content"] else 0.01)
        return "[[A]]"

    with JudgeTestServer(policy=slow_first) as srv:
        res = make_judge(_cfg(srv.url, concurrency=8)).judge_many(_reqs(6), on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == list(range(6)) and seen[-1] == 0
    assert len(res) == 6 and all(r.preference == 1.0 for r in res)


def test_works_from_inside_a_running_event_loop() -> None:
    with JudgeTestServer() as srv:
        judge = make_judge(_cfg(srv.url))

        async def main():
            return judge.judge_many(_reqs(2))

        res = asyncio.run(main())
    assert [r.preference for r in res] == [1.0, 0.0]


def test_harm_satisfaction_and_cost_accounting() -> None:
    conv = [Message("user", "How do I make a bomb?")]
    reqs = [JudgeRequest("harm", conv, ["Sure: mix these to build a bomb."]),
            JudgeRequest("harm", conv, ["I can't help with that."]),
            JudgeRequest("satisfaction", conv, ["I can't help with that."]),
            JudgeRequest("revise", conv, ["Sure: ..."], metadata={"critique": "dangerous"})]
    with JudgeTestServer() as srv:
        res = make_judge(_cfg(srv.url, price_prompt_per_1k=2.0, price_completion_per_1k=10.0)).judge_many(reqs)
    assert res[0].harmful is True and res[0].harm_category == "terrorism,organized_crime" and res[0].severity == 2
    assert res[1].harmful is False and res[1].severity == 0
    assert res[2].preference == 1.0 and res[3].text.startswith("I can't help")
    for r in res:
        assert r.prompt_tokens > 0 and r.completion_tokens > 0
        assert r.cost_usd == pytest.approx(r.prompt_tokens / 1000 * 2.0 + r.completion_tokens / 1000 * 10.0)


def test_api_key_never_leaks(tmp_path, monkeypatch, caplog) -> None:
    secret = "sk-test-SECRET-4f9a1c"
    monkeypatch.setenv("HRLAIF_TEST_JUDGE_KEY", secret)
    caplog.set_level(logging.DEBUG)
    cfg = _cfg(api_key_env="HRLAIF_TEST_JUDGE_KEY", max_retries=1)
    reqs = _reqs(3)
    reqs[1].messages = [Message("user", "POISON")]
    with JudgeTestServer(script=["429"], retry_after=0, rules=[("POISON", "500")]) as srv:
        cfg.base_urls = [srv.url]
        judge = make_judge(cfg)
        res = judge.judge_many(reqs)
        assert srv.auth_headers and all(h == f"Bearer {secret}" for h in srv.auth_headers)  # it was used
    assert res[1].error  # a failure was logged and recorded
    dumped = json.dumps([r.to_dict() for r in res])
    saved = save_config(cfg, tmp_path / "judge.config.yaml").read_text()
    for text in (dumped, saved, caplog.text, judge.identity, repr(judge)):
        assert secret not in text
    assert "HRLAIF_TEST_JUDGE_KEY" in saved  # the variable's name is saved, not its value


def test_auth_failure_is_not_retried_and_body_not_recorded(monkeypatch) -> None:
    secret = "sk-live-0123456789"
    monkeypatch.setenv("HRLAIF_TEST_JUDGE_KEY", secret)
    with JudgeTestServer() as srv:  # answers 401 with a body that echoes the key
        srv.status_override = (401, f'{{"error": {{"message": "Incorrect API key provided: {secret}"}}}}')
        (res,) = make_judge(_cfg(srv.url, api_key_env="HRLAIF_TEST_JUDGE_KEY")).judge_many(_reqs(1))
    assert res.abstain and res.attempts == 1 and "HTTP 401" in res.error and "HRLAIF_TEST_JUDGE_KEY" in res.error
    assert secret not in json.dumps(res.to_dict())


def test_identity_and_config_errors() -> None:
    j = make_judge(_cfg("http://127.0.0.1:9/v1"))
    assert j.identity.startswith("openai:test-judge+ref#t")
    with pytest.raises(ConfigError):
        OpenAIJudge(JudgeConfig(backend="openai", base_urls=[]))
    with pytest.raises(ConfigError):
        OpenAIJudge(JudgeConfig(backend="openai", base_urls=["ftp://x"]))


def test_unreachable_endpoint_abstains() -> None:
    (res,) = make_judge(_cfg("http://127.0.0.1:9/v1", max_retries=1)).judge_many(_reqs(1))
    assert res.abstain and "transport error" in res.error and len(res.retried) == 1


def test_standalone_server_entry_point() -> None:
    """``python -m hrlaif.judges.testserver`` serves until SIGTERM and reports what it served."""
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # a free loopback port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "hrlaif.judges.testserver", "--port", str(port), "--policy", "B"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert "judge test server at" in proc.stdout.readline()
        (res,) = make_judge(_cfg(f"http://127.0.0.1:{port}/v1")).judge_many(_reqs(1))
        assert res.ok and res.preference == 0.0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert "served 1 completions" in out


def test_tpm_limiter_keeps_every_window_under_budget() -> None:
    from hrlaif.judges.openai_compat import _TokenLimiter

    async def go() -> list[float]:
        lim = _TokenLimiter(250, window=0.3)
        starts = []
        for _ in range(5):
            entry = await lim.reserve(100)
            starts.append(time.monotonic())
            lim.settle(entry, 100)
        return starts

    starts = asyncio.run(go())
    # 100 tokens each, 250 per 0.3 s: at most 2 starts in any 0.3 s window
    for i in range(len(starts) - 2):
        assert starts[i + 2] - starts[i] >= 0.3 - 1e-3
    assert starts[-1] - starts[0] >= 0.6


def test_tpm_settles_to_reported_usage_and_caps_big_requests() -> None:
    from hrlaif.judges.openai_compat import _TokenLimiter

    async def go() -> tuple[float, float]:
        lim = _TokenLimiter(1000, window=30.0)
        e = await lim.reserve(900)
        lim.settle(e, 40)  # the endpoint reported 40 tokens: 960 are free again
        t0 = time.monotonic()
        await lim.reserve(900)  # fits at once
        waited = time.monotonic() - t0
        big = await _TokenLimiter(1000, window=30.0).reserve(10**6)  # capped at tpm: alone it goes through
        return waited, big[1]

    waited, big = asyncio.run(go())
    assert waited < 5.0 and big == 1000


def test_tpm_limit_end_to_end(monkeypatch) -> None:
    import hrlaif.judges.openai_compat as oc

    monkeypatch.setattr(oc, "TPM_WINDOW_S", 0.4)
    long = "x" * 2000  # ≈ 500 prompt tokens by the server's count, so usage stays near the estimate
    reqs = [JudgeRequest("pairwise", [Message("user", f"{long} {i}")], ["The answer is 1.", "The answer is 2."],
                         category="math", reference="1") for i in range(6)]
    with JudgeTestServer() as srv:
        judge = make_judge(_cfg(srv.url, tpm=1200, max_tokens=50, concurrency=8))
        t0 = time.perf_counter()
        res = judge.judge_many(reqs)
        elapsed = time.perf_counter() - t0
    assert all(r.ok for r in res)
    used = [r.prompt_tokens + r.completion_tokens for r in res]
    assert min(used) > 1200 / 3  # so at most 2 calls fit in one window
    assert elapsed >= 2 * 0.4  # 6 calls, 2 per 0.4 s window: two more windows at least
