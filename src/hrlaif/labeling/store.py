"""SQLite label store: every judge result, persisted as it arrives.

A judge call is keyed by what determines its answer: the prompt id, a hash of the prompt and
all K responses, the judge's identity (backend, model, endpoint-independent, template
version), the task, the rubric and the order in which the responses were shown. A rerun (or
a resume after ``kill -9``) reads finished calls from here and makes no duplicate call.

Rows have a ``status``:

* ``ok``       a usable verdict;
* ``abstain``  the judge answered but declined to decide (kept; never a label);
* ``failed``   the call failed for good after the backend's retries (kept with its reason;
               retried on the next run, never turned into a label).

The database runs in WAL mode, so readers (a report, a second process) do not block the
writer; each result is committed on its own, so a killed process loses at most the call in
flight.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterable

from hrlaif.errors import InputError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL,
    set_hash TEXT NOT NULL,
    judge TEXT NOT NULL,
    task TEXT NOT NULL,
    items TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    result TEXT NOT NULL,
    n_tries INTEGER NOT NULL DEFAULT 1,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_prompt ON calls(prompt_id);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""
SCHEMA_VERSION = "1"


def sha(obj: Any) -> str:
    """SHA-256 (hex, first 32 chars) of a canonical JSON rendering of ``obj``."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def set_hash(messages: list[Any], responses: list[str]) -> str:
    """Hash of the conversation and all K responses (a changed response changes every key)."""
    msgs = [[getattr(m, "role", None), getattr(m, "content", None)] if not isinstance(m, dict)
            else [m.get("role"), m.get("content")] for m in messages]
    return sha({"messages": msgs, "responses": list(responses)})


def call_key(prompt_id: str, set_hash_: str, judge: str, task: str, rubric: str, items: Iterable[int],
             reference_shown: bool) -> str:
    return sha([prompt_id, set_hash_, judge, task, rubric, list(items), bool(reference_shown)])


def result_status(result: Any) -> tuple[str, str | None]:
    """(status, reason) of a ``JudgeResult``."""
    if result.error is not None:
        return "failed", str(result.error)
    if result.abstain:
        return "abstain", result.abstain_reason or "abstained"
    return "ok", None


class LabelStore:
    """Thread-safe (one connection, one lock) store; ``on_result`` callbacks may come from any thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
            self._db.execute("PRAGMA busy_timeout=60000")
            self._db.executescript(SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        except sqlite3.DatabaseError as e:
            raise InputError(f"not a usable label store (SQLite): {e}", path=str(self.path)) from None
        self._lock = threading.Lock()
        self.n_written = 0

    # ------------------------------------------------------------------ judge calls
    def get_calls(self, keys: Iterable[str]) -> dict[str, dict]:
        keys = list(dict.fromkeys(keys))
        out: dict[str, dict] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                q = f"SELECT key, status, reason, result, n_tries FROM calls WHERE key IN ({','.join('?' * len(chunk))})"
                for key, status, reason, result, n in self._db.execute(q, chunk):
                    out[key] = {"status": status, "reason": reason, "result": json.loads(result), "n_tries": n}
        return out

    def put_call(self, key: str, *, prompt_id: str, set_hash_: str, judge: str, task: str,
                 items: Iterable[int], result: Any) -> str:
        """Persist one judge result (committed immediately). Returns its status."""
        status, reason = result_status(result)
        payload = json.dumps(result.to_dict(), ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT INTO calls(key, prompt_id, set_hash, judge, task, items, status, reason, result, n_tries, "
                "updated) VALUES (?,?,?,?,?,?,?,?,?,1,?) ON CONFLICT(key) DO UPDATE SET status=excluded.status, "
                "reason=excluded.reason, result=excluded.result, n_tries=calls.n_tries+1, updated=excluded.updated",
                (key, prompt_id, set_hash_, judge, task, json.dumps(list(items)), status, reason, payload, time.time()))
            self.n_written += 1
        return status

    def failures(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT key, prompt_id, task, items, reason, n_tries FROM calls "
                                    "WHERE status='failed' ORDER BY prompt_id, key").fetchall()
        return [{"key": k, "prompt_id": p, "task": t, "items": json.loads(i), "reason": r, "n_tries": n}
                for k, p, t, i, r, n in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM calls GROUP BY status").fetchall()
        return {s: n for s, n in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "LabelStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def result_from_dict(d: dict) -> Any:
    """Rebuild a ``JudgeResult`` from its stored dict (unknown keys from other versions ignored)."""
    from hrlaif.judges.base import JudgeResult

    names = {f.name for f in fields(JudgeResult)}
    return JudgeResult(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class StoredCall:
    """One judge call as the store files it: its key, the request, and the row's provenance."""

    key: str
    request: Any  # JudgeRequest
    prompt_id: str
    set_hash: str
    shown: tuple[int, ...] = ()


def run_calls(store: LabelStore, judge: Any, calls: Iterable[StoredCall], *, what: str,
              chunk_size: int = 0) -> tuple[dict[str, Any], int, int]:
    """Run judge calls through the store, the one path every stage's judge calls take.

    A stored result that did not fail is reused; a missing or failed call is (re)run, and each
    new result is committed the moment the judge reports it (``on_result``), so an interrupted
    run loses at most the calls in flight and a rerun makes no duplicate call. Calls with the
    same key run once. ``chunk_size`` > 0 hands the judge that many requests at a time.

    Returns ``(results by key, calls made now, calls reused from the store)``; the results
    include stored failures that were retried, replaced by their new outcome.
    """
    from hrlaif.ui import progress

    uniq = {c.key: c for c in calls}
    stored = store.get_calls(uniq)
    results = {k: result_from_dict(row["result"]) for k, row in stored.items()}
    todo = [c for k, c in uniq.items() if k not in stored or stored[k]["status"] == "failed"]
    if not todo:
        return results, 0, len(uniq)
    log.info("%s: %d judge calls (%d from the store)", what, len(todo), len(uniq) - len(todo))
    size = chunk_size if chunk_size > 0 else len(todo)
    with progress(len(todo), what, unit="calls") as bar:
        for start in range(0, len(todo), size):
            chunk = todo[start:start + size]
            written: set[int] = set()

            def on_result(idx: int, res: Any, chunk: list[StoredCall] = chunk, written: set = written) -> None:
                c = chunk[idx]
                store.put_call(c.key, prompt_id=c.prompt_id, set_hash_=c.set_hash, judge=judge.identity,
                               task=c.request.task, items=c.shown, result=res)
                results[c.key] = res
                written.add(idx)
                bar.advance()

            out = judge.judge_many([c.request for c in chunk], on_result=on_result)
            for idx, res in enumerate(out):  # a backend that skipped on_result loses nothing
                if idx not in written:
                    on_result(idx, res)
    return results, len(todo), len(uniq) - len(todo)
