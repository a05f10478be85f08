"""``OpenAIJudge``: a judge behind one or several OpenAI-compatible chat endpoints.

Requests are rendered with ``hrlaif.judges.templates`` (rationale first, verdict last), sent
asynchronously with httpx under a bound on requests in flight (``concurrency``) and a
requests-per-minute limit (``rpm``) and a tokens-per-minute limit (``tpm``), spread over ``base_urls`` (least-loaded first, round-robin
among equals). Each call has a timeout (``timeout_s``); 429, 5xx, timeouts, broken transfers,
garbage bodies and unparseable verdicts are retried up to ``max_retries`` times with
exponential backoff and jitter,

    delay_k = min(backoff_max_s, backoff_base_s · 2^k) · U(0.5, 1.5),

except that a ``Retry-After`` header (seconds or an HTTP date) sets the delay. Each retried
failure's reason is recorded in ``JudgeResult.retried``; a call that fails for good comes back
as an abstain with ``error`` set: never as a label. 4xx errors other than 408/409/429 are not
retried (the request itself is wrong).

Pairwise verdicts are read with ``hrlaif.judges.verdict.parse_verdict``. Soft labels: when the
endpoint returns token logprobs (``logprobs``), the preference is P(A) / (P(A) + P(B)) read from
the ``top_logprobs`` at the generated token that holds the verdict the reader chose (its
character span mapped onto the tokens; ``soft_from_verdict``), yes/no at the last yes/no token
for satisfaction; otherwise the hard verdict (1, 0 or ½). Tokens are summed over every attempt
that reported usage, and cost = prompt_tokens/1000 · price_prompt_per_1k +
completion_tokens/1000 · price_completion_per_1k.

The API key is read from the environment variable named by ``api_key_env`` when the judge is
built and only ever placed in the Authorization header: never in logs, results, the judge
identity or saved configs.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import os
import random
import threading
import time
from typing import Any
from urllib.parse import urlparse

from hrlaif.errors import ConfigError, JudgeError, JudgeParseError
from hrlaif.judges.base import JudgeRequest, JudgeResult, OnResult
from hrlaif.judges.config import JudgeConfig
from hrlaif.judges.templates import TEMPLATE_VERSION, parse, render
from hrlaif.judges.verdict import parse_verdict

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 429}
_LANE = 8  # requests in flight per HTTP connection pool


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random,
                  retry_after: float | None = None) -> float:
    """Delay before retry ``attempt`` (0-based): ``min(max_s, base_s·2^attempt)·U(0.5, 1.5)``;
    a server's Retry-After wins when given."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(max_s, base_s * (2 ** attempt)) * (0.5 + rng.random())


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None if absent/invalid."""
    if not value:
        return None
    v = value.strip()
    try:
        return max(0.0, float(v))
    except ValueError:
        pass
    try:
        dt = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError):
        return None
    if dt is None:
        return None
    return max(0.0, dt.timestamp() - (time.time() if now is None else now))


def soft_from_logprobs(content: list[dict] | None, winner: str, pos: tuple[str, ...], neg: tuple[str, ...]
                       ) -> float | None:
    """Soft label from OpenAI-style token logprobs: find the last generated token equal to
    ``winner`` (case-insensitively for yes/no) and return Σ P(pos) / (Σ P(pos) + Σ P(neg)) over its
    ``top_logprobs`` (tokens compared after stripping whitespace). None when not available."""
    if not content:
        return None
    norm = (lambda s: s.strip().lower()) if pos[0].islower() else (lambda s: s.strip())
    for entry in reversed(content):
        if not isinstance(entry, dict) or norm(str(entry.get("token", ""))) != winner:
            continue
        top = entry.get("top_logprobs") or [{"token": entry.get("token"), "logprob": entry.get("logprob")}]
        p_pos = p_neg = 0.0
        for t in top:
            try:
                tok, lp = norm(str(t["token"])), float(t["logprob"])
            except (KeyError, TypeError, ValueError):
                continue
            if tok in pos:
                p_pos += math.exp(lp)
            elif tok in neg:
                p_neg += math.exp(lp)
        if p_pos + p_neg <= 0:
            return None
        return p_pos / (p_pos + p_neg)
    return None


def token_at(content: list[dict] | None, text: str, offset: int) -> int | None:
    """Index of the generated token whose characters cover ``text[offset]``.

    Offsets come from accumulating the tokens of ``choice.logprobs.content``: their UTF-8 ``bytes``
    when every entry has them (a multi-byte character may be split over tokens), else their
    ``token`` strings. The tokens must spell ``text`` (leading/trailing whitespace aside); None
    when they do not, or when the offset falls outside them."""
    if not content or not all(isinstance(e, dict) for e in content):
        return None
    if all(isinstance(e.get("bytes"), list) for e in content):
        try:
            pieces = [bytes(e["bytes"]) for e in content]
            spelled = b"".join(pieces).decode("utf-8")
        except (TypeError, ValueError):
            pieces, spelled = [], None
        if spelled is not None:
            shift = _shift(spelled, text)
            if shift is None:
                return None
            target = len(spelled[:offset + shift].encode("utf-8"))
            return _cover([len(p) for p in pieces], target)
    toks = [str(e.get("token", "")) for e in content]
    shift = _shift("".join(toks), text)
    return None if shift is None else _cover([len(t) for t in toks], offset + shift)


def _shift(spelled: str, text: str) -> int | None:
    if spelled == text:
        return 0
    if not spelled.strip() or spelled.strip() != text.strip():
        return None
    return (len(spelled) - len(spelled.lstrip())) - (len(text) - len(text.lstrip()))


def _cover(lengths: list[int], target: int) -> int | None:
    pos = 0
    for i, n in enumerate(lengths):
        if pos <= target < pos + n:
            return i
        pos += n
    return None


_LABEL_PAIRS = (("a", "b"), ("1", "2"), ("first", "second"), ("former", "latter"), ("一", "二"), ("甲", "乙"),
                ("第一", "第二"))


def _starts_with_word(s: str, w: str) -> bool:
    return s.startswith(w) and (len(s) == len(w) or not s[len(w)].isalpha() or not w.isascii())


def soft_from_verdict(content: list[dict] | None, text: str, verdict: Any) -> float | None:
    """Soft P(A ≻ B) read at the token the verdict reader chose (``verdict.span``).

    The token covering the span's first character is found (``token_at``); over its
    ``top_logprobs``, each alternative is compared from the span's position on (so ``[[B`` vs
    ``[[A`` and ``B`` vs `` A`` both count), and P = Σ P(label of A) / (Σ P(label of A) + Σ P(label
    of B)), the labels being those of the verdict token (A/B, 1/2, first/second, ...). When the
    verdict token names the loser (``Response B is worse``) the ratio is taken for the response it
    names and flipped. None for ties, for a token that is not a response label (a score), or when
    no alternative is a label; when the span cannot be mapped onto the tokens, the older
    ``soft_from_logprobs`` rule (last token equal to the winner) is the fallback."""
    if not content or verdict is None or verdict.winner not in ("A", "B") or verdict.span is None:
        return None
    label = text[verdict.span[0]:verdict.span[1]].strip().lower()
    pair = next((p for p in _LABEL_PAIRS if label in p), None)
    if pair is None:
        return None
    i = token_at(content, text, verdict.span[0])
    if i is None:
        return soft_from_logprobs(content, verdict.winner, ("A",), ("B",))
    entry = content[i]
    tok = str(entry.get("token", ""))
    start = sum(len(str(e.get("token", ""))) for e in content[:i])
    shift = _shift("".join(str(e.get("token", "")) for e in content), text) or 0
    rel = max(0, min(len(tok), verdict.span[0] + shift - start))
    top = entry.get("top_logprobs") or [{"token": tok, "logprob": entry.get("logprob")}]
    p = {pair[0]: 0.0, pair[1]: 0.0}
    for t in top:
        try:
            alt, lp = str(t["token"]), float(t["logprob"])
        except (KeyError, TypeError, ValueError):
            continue
        rest = alt[rel:] if alt[:rel].strip() == tok[:rel].strip() and len(alt) >= rel else alt
        rest = rest.strip().lower()
        for k in pair:
            if _starts_with_word(rest, k):
                p[k] += math.exp(lp)
                break
    if p[pair[0]] + p[pair[1]] <= 0:
        return None
    q = p[pair[0]] / (p[pair[0]] + p[pair[1]])  # P(the verdict token names response A)
    flipped = ("A" if label == pair[0] else "B") != verdict.winner  # "Response B is worse" names the loser
    return 1.0 - q if flipped else q


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, raw: str = ""):
        super().__init__(reason)
        self.reason, self.retry_after, self.raw = reason, retry_after, raw


class _Fatal(Exception):
    pass


class _RateLimiter:
    """Even spacing of request starts: at most ``rpm`` per minute (0 = unlimited)."""

    def __init__(self, rpm: float):
        self.interval = 60.0 / rpm if rpm > 0 else 0.0
        self._next = 0.0
        self._lock: asyncio.Lock | None = None

    async def wait(self) -> None:
        if not self.interval:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


TPM_WINDOW_S = 60.0  # the rolling window of the tokens-per-minute limit


class _TokenLimiter:
    """At most ``tpm`` tokens (prompt + completion) in any rolling ``window`` seconds (0 = unlimited).

    A request reserves its estimate before it starts, est = ⌈prompt chars / 4⌉ + max_tokens (capped
    at ``tpm``, so one large request can still go through alone), and waits, first come first
    served, until the reservations of the last window leave room for it. When the response
    reports its usage the reservation becomes the real count; a failed attempt keeps its estimate
    (the endpoint may have counted it).
    """

    def __init__(self, tpm: float, window: float = 60.0):
        self.tpm, self.window = float(tpm), float(window)
        self._log: list[list[float]] = []  # [start time, tokens]
        self._lock: asyncio.Lock | None = None
        self._settled: asyncio.Event | None = None

    def used(self, now: float) -> float:
        self._log = [e for e in self._log if e[0] > now - self.window]
        return sum(e[1] for e in self._log)

    async def reserve(self, estimate: float) -> list[float] | None:
        if self.tpm <= 0:
            return None
        if self._lock is None:
            self._lock, self._settled = asyncio.Lock(), asyncio.Event()
        est = min(float(estimate), self.tpm)
        async with self._lock:
            while True:
                now = time.monotonic()
                if self.used(now) + est <= self.tpm:
                    entry = [now, est]
                    self._log.append(entry)
                    return entry
                # room appears when the oldest reservation leaves the window or one settles lower
                self._settled.clear()
                try:
                    await asyncio.wait_for(self._settled.wait(), max(1e-3, self._log[0][0] + self.window - now))
                except asyncio.TimeoutError:
                    pass

    def settle(self, entry: list[float] | None, tokens: int) -> None:
        if entry is not None and tokens > 0:
            entry[1] = float(tokens)
            if self._settled is not None:
                self._settled.set()


class OpenAIJudge:
    """Judge behind OpenAI-compatible ``/chat/completions`` endpoints. Implements ``Judge``."""

    def __init__(self, cfg: JudgeConfig):
        if not cfg.base_urls:
            raise ConfigError("judge.base_urls is empty: give at least one OpenAI-compatible base URL "
                              "(e.g. --judge.base_urls http://127.0.0.1:8000/v1)")
        for u in cfg.base_urls:
            p = urlparse(u)
            if p.scheme not in ("http", "https") or not p.netloc:
                raise ConfigError(f"judge.base_urls: not an http(s) URL: {u!r}")
        if cfg.concurrency < 1:
            raise ConfigError(f"judge.concurrency must be >= 1, got {cfg.concurrency}")
        if cfg.max_retries < 0 or cfg.timeout_s <= 0:
            raise ConfigError("judge.max_retries must be >= 0 and judge.timeout_s > 0")
        self.cfg = cfg
        self.base_urls = [u.rstrip("/") for u in cfg.base_urls]
        self.identity = f"openai:{cfg.model}{'+ref' if cfg.show_reference else ''}#{TEMPLATE_VERSION}"
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        if not key:
            log.debug("no API key in $%s; sending requests without an Authorization header", cfg.api_key_env)
        self.__key = key  # only ever used for the Authorization header
        self._rng = random.Random(cfg.seed)
        self._use_logprobs = cfg.logprobs
        self._load = {u: 0 for u in self.base_urls}
        self._rr = 0
        self.calls_per_url = {u: 0 for u in self.base_urls}

    def __repr__(self) -> str:
        return f"OpenAIJudge({self.identity!r}, base_urls={self.base_urls!r})"

    # ------------------------------------------------------------------ Judge protocol
    def judge_many(self, requests: list[JudgeRequest], *, on_result: OnResult | None = None) -> list[JudgeResult]:
        """Judge all requests concurrently; ``on_result(i, result)`` runs as each finishes.
        Results come back in input order. Safe to call from a thread with or without a running loop."""
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.ajudge_many(requests, on_result=on_result))
        box: dict[str, Any] = {}

        def runner() -> None:  # a loop is running in this thread: use a private one in another thread
            try:
                box["out"] = asyncio.run(self.ajudge_many(requests, on_result=on_result))
            except BaseException as e:  # re-raised in the caller's thread
                box["err"] = e

        t = threading.Thread(target=runner, name="openai-judge")
        t.start()
        t.join()
        if "err" in box:
            raise box["err"]
        return box["out"]

    def close(self) -> None:
        pass

    def __enter__(self) -> "OpenAIJudge":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ async core
    async def ajudge_many(self, requests: list[JudgeRequest], *, on_result: OnResult | None = None
                          ) -> list[JudgeResult]:
        import httpx

        limiter = _RateLimiter(self.cfg.rpm)
        tokens = _TokenLimiter(self.cfg.tpm, window=TPM_WINDOW_S)
        results: list[JudgeResult | None] = [None] * len(requests)
        # One small connection pool per lane of _LANE slots: httpcore scans its whole pool for every
        # queued request, so a single pool of 64+ connections costs O(n²) CPU per round.
        n_clients = -(-self.cfg.concurrency // _LANE)
        per = -(-self.cfg.concurrency // n_clients)
        limits = httpx.Limits(max_connections=per * len(self.base_urls) + 2,
                              max_keepalive_connections=per * len(self.base_urls))
        clients = [httpx.AsyncClient(limits=limits, timeout=self.cfg.timeout_s) for _ in range(n_clients)]
        lanes: asyncio.Queue[int] = asyncio.Queue()
        for k in range(self.cfg.concurrency):  # slot k uses client k % n_clients
            lanes.put_nowait(k)
        try:
            async def one(i: int, req: JudgeRequest) -> None:
                slot = await lanes.get()  # bounds requests in flight to cfg.concurrency
                try:
                    res = await self._judge_one(clients[slot % n_clients], limiter, tokens, req)
                finally:
                    lanes.put_nowait(slot)
                results[i] = res
                if on_result is not None:
                    on_result(i, res)

            await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
        finally:
            for c in clients:
                await c.aclose()
        return [r for r in results if r is not None]

    def _pick_url(self) -> str:
        low = min(self._load.values())
        cands = [u for u in self.base_urls if self._load[u] == low]
        self._rr += 1
        return cands[self._rr % len(cands)]

    def _scrub(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key else text

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.__key:
            h["Authorization"] = f"Bearer {self.__key}"
        return h

    def _body(self, req: JudgeRequest) -> dict[str, Any]:
        c = self.cfg
        body: dict[str, Any] = {"model": c.model, "messages": render(req, show_reference=c.show_reference),
                                "temperature": c.temperature, "max_tokens": c.max_tokens, "seed": c.seed}
        if self._use_logprobs and req.task in ("pairwise", "satisfaction"):
            body["logprobs"] = True
            body["top_logprobs"] = 5
        return body

    async def _judge_one(self, client: Any, limiter: _RateLimiter, tokens: _TokenLimiter,
                         req: JudgeRequest) -> JudgeResult:
        res = JudgeResult(judge=self.identity, task=req.task, attempts=0)
        t0 = time.perf_counter()
        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            res.attempts = attempt + 1
            await limiter.wait()
            body = self._body(req)
            used_before = res.prompt_tokens + res.completion_tokens
            reservation = None
            if tokens.tpm > 0:  # estimate: ⌈prompt chars / 4⌉ + max_tokens
                est = -(-sum(len(str(m["content"])) for m in body["messages"]) // 4) + self.cfg.max_tokens
                reservation = await tokens.reserve(est)
            try:
                await self._attempt(client, req, res, body)
                tokens.settle(reservation, res.prompt_tokens + res.completion_tokens - used_before)
                res.latency_s = time.perf_counter() - t0
                return res
            except _Retryable as e:
                last = e.reason
                if e.raw:
                    res.raw = e.raw
                if attempt == self.cfg.max_retries:
                    break
                res.retried.append(e.reason)
                delay = backoff_delay(attempt, self.cfg.backoff_base_s, self.cfg.backoff_max_s, self._rng,
                                      e.retry_after)
                log.debug("judge call failed (%s); retry %d in %.2fs", e.reason, attempt + 1, delay)
                await asyncio.sleep(delay)
            except _Fatal as e:
                last = str(e)
                break
        res.latency_s = time.perf_counter() - t0
        res.abstain = True
        res.error = f"failed after {res.attempts} attempt(s): {last}"
        res.abstain_reason = f"judge call failed: {last}"
        res.preference = res.harmful = res.text = res.harm_category = res.severity = None
        log.warning("judge call failed for good after %d attempt(s): %s", res.attempts, last)
        return res

    async def _attempt(self, client: Any, req: JudgeRequest, res: JudgeResult, body: dict[str, Any]) -> None:
        import httpx

        url = self._pick_url()
        self._load[url] += 1
        self.calls_per_url[url] += 1
        try:
            resp = await asyncio.wait_for(
                client.post(f"{url}/chat/completions", json=body, headers=self._headers()), self.cfg.timeout_s)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            raise _Retryable(f"timeout after {self.cfg.timeout_s:g}s ({url})") from None
        except httpx.TransportError as e:
            raise _Retryable(f"transport error ({type(e).__name__}) from {url}") from None
        finally:
            self._load[url] -= 1
        status = resp.status_code
        if status == 400 and body.get("logprobs") and self._use_logprobs:
            self._use_logprobs = False  # some servers reject logprobs: fall back to hard labels
            raise _Retryable("HTTP 400 with logprobs requested; retrying without logprobs", retry_after=0.0)
        if status in _RETRY_STATUS or status >= 500:
            ra = parse_retry_after(resp.headers.get("retry-after"))
            raise _Retryable(f"HTTP {status}" + (f" (Retry-After {ra:g}s)" if ra is not None else ""), ra)
        if status in (401, 403):  # error bodies may echo (part of) the key: never record them
            raise _Fatal(f"HTTP {status}: authentication failed (check the key in ${self.cfg.api_key_env})")
        if status >= 400:
            raise _Fatal(f"HTTP {status}: {self._scrub(resp.text[:200])!r}")
        try:
            data = resp.json()
            choice = data["choices"][0]
            text = choice["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise _Retryable(f"garbage body ({type(e).__name__}): {self._scrub(resp.text[:80])!r}") from None
        usage = data.get("usage") or {}
        res.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        res.completion_tokens += int(usage.get("completion_tokens") or 0)
        c = self.cfg
        res.cost_usd = (res.prompt_tokens / 1000 * c.price_prompt_per_1k
                        + res.completion_tokens / 1000 * c.price_completion_per_1k)
        res.raw = text
        lp = ((choice.get("logprobs") or {}).get("content")) if isinstance(choice.get("logprobs"), dict) else None
        if req.task == "pairwise":
            verdict = parse_verdict(text)
            if verdict.winner is None:
                raise _Retryable(f"unparseable verdict: {verdict.reason}", raw=text)
            res.preference, res.rationale = verdict.preference, verdict.rationale
            if lp:
                soft = soft_from_verdict(lp, text, verdict)
                if soft is not None:
                    res.preference = soft
            return
        try:
            fields = parse(req.task, text)
        except JudgeParseError as e:
            raise _Retryable(f"unparseable verdict: {e}", raw=text) from None
        for k, v in fields.items():
            setattr(res, k, v)
        if lp and req.task == "satisfaction":
            soft = soft_from_logprobs(lp, "yes" if res.preference == 1.0 else "no", ("yes",), ("no",))
            if soft is not None:
                res.preference = soft


def check_endpoint(cfg: JudgeConfig) -> dict[str, Any]:
    """GET ``/models`` on every base URL (a quick reachability check for the CLI); raises JudgeError."""
    import httpx

    out = {}
    key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    for u in cfg.base_urls:
        try:
            r = httpx.get(f"{u.rstrip('/')}/models", headers=headers, timeout=min(10.0, cfg.timeout_s))
            out[u] = r.status_code
        except httpx.HTTPError as e:
            raise JudgeError(f"judge endpoint {u} unreachable: {type(e).__name__}") from None
    return out
