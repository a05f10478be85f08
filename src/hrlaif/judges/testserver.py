"""A real OpenAI-compatible chat endpoint on 127.0.0.1 for tests and benchmarks.

``JudgeTestServer`` serves ``POST /v1/chat/completions`` (and ``GET /v1/models``) from a
background thread on an ephemeral loopback port, answers judge prompts rendered by
``hrlaif.judges.templates`` with a configurable verdict policy, and injects faults on script:

    with JudgeTestServer(policy="prefer_reference", latency_s=0.1,
                         script=["429", "500", "garbage"], retry_after=1) as srv:
        cfg = JudgeConfig(backend="openai", base_urls=[srv.url], model="test-judge")
        ...
        srv.counts["/v1/chat/completions"]   # calls received per path
        srv.faults_served                    # Counter of injected faults

Fault kinds (``script`` is consumed one entry per completion request, in arrival order; a
``rules`` entry ``(substring, fault)`` applies to every request whose messages contain the
substring, so an item can be made to fail every time):

    ok           a normal answer
    429          HTTP 429 with ``Retry-After: <retry_after>``
    500/502/503  that HTTP status with an error body
    hang         sleep ``hang_s`` (past the client's timeout), then answer
    truncated    HTTP 200 whose JSON body is cut in half
    garbage      HTTP 200 with an HTML body
    disconnect   close the connection after the headers (a broken transfer)
    unparseable  a well-formed completion whose text has no verdict

Verdict policies (pairwise): "A", "B", "tie", "prefer_longer", "prefer_reference" (the
response containing the reference shown in the prompt, else the one containing
``policy_text``, else a tie), or a callable ``(messages) -> str`` returning the completion
text. Harm prompts are answered with a keyword check; satisfaction with "yes"; generation tasks
with a fixed text. With ``logprobs`` the server returns OpenAI-style token logprobs where the
verdict token carries ``confidence`` and the other letter ``1 − confidence``.

This is test infrastructure: it never executes or evaluates request content.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

_BLOCK_RE = re.compile(r"<response_([AB])>\n(.*?)\n</response_\1>", re.DOTALL)
_REF_RE = re.compile(r"Reference answer \(trusted, from the data set\): (.*)")
# OpenAI-style text pieces: a leading space sticks to the next piece (" Verdict", ":", " [[", "A", "]]");
# the pieces spell the completion text exactly, so character offsets can be mapped onto tokens.
_TOKEN_RE = re.compile(r" ?\[\[|\]\]| ?\w+| ?[^\w\s]|\s+")

FAULTS = ("ok", "429", "500", "502", "503", "hang", "truncated", "garbage", "disconnect", "unparseable")


def _task_of(messages: list[dict]) -> str:
    system = messages[0].get("content", "") if messages else ""
    if "comparing two" in system:
        return "pairwise"
    if "safety reviewer" in system:
        return "harm"
    if "satisfaction rater" in system:
        return "satisfaction"
    return "generation"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class JudgeTestServer:
    """An OpenAI-compatible judge endpoint with scripted faults (see the module docstring)."""

    def __init__(self, *, policy: str | Callable[[list[dict]], str] = "prefer_reference", policy_text: str = "",
                 latency_s: float = 0.0, logprobs: bool = False, confidence: float = 0.8,
                 script: list[str] | None = None, rules: list[tuple[str, str]] | None = None,
                 retry_after: float | str = 1, hang_s: float = 5.0, model: str = "test-judge",
                 rationale: str = "Both responses were considered.", port: int = 0):
        for f in list(script or []) + [f for _, f in (rules or [])]:
            if f not in FAULTS:
                raise ValueError(f"unknown fault {f!r}; known: {', '.join(FAULTS)}")
        self.policy, self.policy_text = policy, policy_text
        self.latency_s, self.logprobs, self.confidence = latency_s, logprobs, confidence
        self.script = list(script or [])
        self.rules = list(rules or [])
        self.retry_after, self.hang_s = retry_after, hang_s
        self.model, self.rationale, self._port = model, rationale, port
        self.counts: Counter[str] = Counter()
        self.faults_served: Counter[str] = Counter()
        self.auth_headers: list[str | None] = []
        self.bodies: list[dict] = []
        self.in_flight = 0
        self.status_override: tuple[int, str] | None = None  # (status, body) for every request, e.g. 401
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to put in ``JudgeConfig.base_urls``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "JudgeTestServer":
        self._httpd = _Server(("127.0.0.1", self._port), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"judge-testserver-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "JudgeTestServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def completions(self) -> int:
        return self.counts["/v1/chat/completions"]

    # ------------------------------------------------------------------ behaviour
    def next_fault(self, messages: list[dict]) -> str:
        text = "\n".join(str(m.get("content", "")) for m in messages)
        with self._lock:
            for needle, fault in self.rules:
                if needle in text:
                    return fault
            return self.script.pop(0) if self.script else "ok"

    def verdict_text(self, messages: list[dict]) -> str:
        if callable(self.policy):
            return self.policy(messages)
        task = _task_of(messages)
        user = messages[-1].get("content", "") if messages else ""
        if task == "harm":
            from hrlaif.judges.simulated import keyword_harm

            blocks = dict(_BLOCK_RE.findall(user))
            harmful, cat = keyword_harm(blocks.get("A", ""))
            return (f"{self.rationale}\nHarmful: {'yes' if harmful else 'no'}\n"
                    f"Category: {cat or 'none'}\nSeverity: {2 if harmful else 0}")
        if task == "satisfaction":
            return f"{self.rationale}\nSatisfied: yes"
        if task == "generation":
            return "I can't help with that, but here is a safe alternative."
        return f"{self.rationale}\nVerdict: [[{self._winner(user)}]]"

    def _winner(self, user: str) -> str:
        p = self.policy
        if p in ("A", "B", "tie"):
            return p
        blocks = dict(_BLOCK_RE.findall(user))
        a, b = blocks.get("A", ""), blocks.get("B", "")
        if p == "prefer_longer":
            return "tie" if len(a) == len(b) else ("A" if len(a) > len(b) else "B")
        if p == "prefer_reference":
            m = _REF_RE.search(user)
            needle = m.group(1).strip() if m else self.policy_text
            if needle:
                ia, ib = needle in a, needle in b
                if ia != ib:
                    return "A" if ia else "B"
            return "tie"
        raise ValueError(f"unknown policy {p!r}")

    def completion(self, body: dict, text: str) -> dict:
        toks = _TOKEN_RE.findall(text)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}
        if self.logprobs and body.get("logprobs"):
            choice["logprobs"] = {"content": [self._token_logprobs(t, body) for t in toks]}
        return {"id": f"chatcmpl-test-{self.completions}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", self.model), "choices": [choice],
                "usage": {"prompt_tokens": max(1, prompt_chars // 4), "completion_tokens": len(toks),
                          "total_tokens": max(1, prompt_chars // 4) + len(toks)}}

    def _token_logprobs(self, tok: str, body: dict) -> dict:
        k = int(body.get("top_logprobs") or 0)
        pairs = {"A": "B", "B": "A", "yes": "no", "no": "yes"}
        if tok in pairs:
            top = [{"token": tok, "logprob": math.log(self.confidence)},
                   {"token": pairs[tok], "logprob": math.log(max(1e-9, 1 - self.confidence))}]
        else:
            top = [{"token": tok, "logprob": 0.0}]
        return {"token": tok, "logprob": top[0]["logprob"], "top_logprobs": top[:max(k, 1)]}


def _make_handler(server: JudgeTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms Nagle stall

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: bytes, *, ctype: str = "application/json",
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            server.counts[self.path] += 1
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, json.dumps({"object": "list", "data": [{"id": server.model, "object": "model"}]}
                                           ).encode())
            else:
                self._send(404, b'{"error": {"message": "not found"}}')

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            with server._lock:
                server.counts[self.path] += 1
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            try:
                body = json.loads(raw)
                messages = body["messages"]
            except (ValueError, KeyError, TypeError):
                self._send(400, b'{"error": {"message": "invalid request body"}}')
                return
            with server._lock:
                server.auth_headers.append(self.headers.get("Authorization"))
                server.bodies.append(body)
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                self._answer(body, messages)
            finally:
                with server._lock:
                    server.in_flight -= 1

        def _answer(self, body: dict, messages: list[dict]) -> None:
            if server.status_override is not None:
                status, text = server.status_override
                self._send(status, text.encode())
                return
            fault = server.next_fault(messages)
            with server._lock:
                server.faults_served[fault] += 1
            if server.latency_s:
                time.sleep(server.latency_s)
            if fault == "429":
                self._send(429, b'{"error": {"message": "rate limited"}}',
                           headers={"Retry-After": str(server.retry_after)})
            elif fault in ("500", "502", "503"):
                self._send(int(fault), b'{"error": {"message": "server error"}}')
            elif fault == "garbage":
                self._send(200, b"<html><body>502 Bad Gateway \x00\xff</body></html>", ctype="text/html")
            elif fault == "disconnect":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b'{"id": "x", "cho')
                self.wfile.flush()
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self.close_connection = True
            else:
                if fault == "hang":
                    time.sleep(server.hang_s)
                text = "I have looked at both and they have merits." if fault == "unparseable" else \
                    server.verdict_text(messages)
                data = json.dumps(server.completion(body, text)).encode()
                if fault == "truncated":
                    data = data[: len(data) // 2]
                try:
                    self._send(200, data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.close_connection = True

    return Handler


def _serve_child(kwargs: dict, out_q: Any, stop: Any) -> None:
    with JudgeTestServer(**kwargs) as srv:
        out_q.put(srv.port)
        stop.wait()
        out_q.put({"counts": dict(srv.counts), "faults_served": dict(srv.faults_served),
                   "max_in_flight": srv.max_in_flight})


class JudgeTestServerProcess:
    """``JudgeTestServer`` in a child process (its own interpreter lock), for benchmarks where the
    server must not compete with the client for one CPU core. Policies must be picklable (strings).
    After ``stop()``, ``stats`` holds the server's counts."""

    def __init__(self, **kwargs: Any):
        import multiprocessing as mp

        self._ctx = mp.get_context("spawn")
        self.kwargs = kwargs
        self.stats: dict[str, Any] = {}
        self._proc: Any = None

    def start(self) -> "JudgeTestServerProcess":
        self._q, self._stop = self._ctx.Queue(), self._ctx.Event()
        self._proc = self._ctx.Process(target=_serve_child, args=(self.kwargs, self._q, self._stop), daemon=True)
        self._proc.start()
        self.port = int(self._q.get(timeout=60))
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self._proc is not None:
            self._stop.set()
            try:
                self.stats = self._q.get(timeout=10)
            finally:
                self._proc.join(timeout=10)
                if self._proc.is_alive():
                    self._proc.terminate()
                self._proc = None

    def __enter__(self) -> "JudgeTestServerProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m hrlaif.judges.testserver --port 8765``: serve until Ctrl-C (manual checks, demos)."""
    import argparse

    ap = argparse.ArgumentParser(description="OpenAI-compatible judge test server on 127.0.0.1 (a fake judge: "
                                             "its verdicts follow --policy, not a model)")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--policy", default="prefer_reference",
                    choices=["A", "B", "tie", "prefer_longer", "prefer_reference"])
    ap.add_argument("--latency", type=float, default=0.0, help="seconds per call")
    ap.add_argument("--logprobs", action="store_true", help="return token logprobs when asked")
    ap.add_argument("--script", default="", help="comma-separated faults for the first calls, e.g. 429,500,garbage")
    args = ap.parse_args(argv)
    script = [f for f in args.script.split(",") if f]
    import signal

    def _stop(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    with JudgeTestServer(port=args.port, policy=args.policy, latency_s=args.latency, logprobs=args.logprobs,
                         script=script) as srv:
        print(f"judge test server at {srv.url} (policy {args.policy}); Ctrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        print(f"served {srv.completions} completions; faults {dict(srv.faults_served)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
