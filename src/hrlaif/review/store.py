"""SQLite storage for review items and human judgements.

One database file per review (``<out>/review.sqlite``), in WAL mode with ``synchronous=FULL``:
every judgement is committed before the server answers, so a crash or restart loses nothing
that was acknowledged. Judgements are append-only (a reviewer who changes their mind adds a
row; the latest row per reviewer and item counts), so concurrent reviewers never overwrite each
other. One connection is shared behind a lock; other processes on the same file wait on
SQLite's busy timeout.

Tables: ``meta`` (seed, schema version), ``label_items``, ``label_judgements``, ``sat_items``,
``sat_judgements``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from hrlaif.errors import InputError
from hrlaif.review.items import LabelItem, SatItem

SCHEMA_VERSION = "1"
MAX_NAME = 64
MAX_REASON = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS label_items (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, category TEXT NOT NULL, prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL, reference TEXT, choices TEXT, first TEXT NOT NULL, second TEXT NOT NULL,
    first_index INTEGER NOT NULL, second_index INTEGER NOT NULL, ai_labels TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS label_judgements (
    id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES label_items(id), reviewer TEXT NOT NULL,
    swapped INTEGER NOT NULL, choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie', 'skip')),
    label TEXT NOT NULL CHECK (label IN ('first', 'second', 'tie', 'skip')), created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sat_items (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, category TEXT NOT NULL, prompt_id TEXT NOT NULL,
    prompt TEXT NOT NULL, reference TEXT, choices TEXT, policy TEXT NOT NULL, response TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sat_judgements (
    id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES sat_items(id), reviewer TEXT NOT NULL,
    satisfied INTEGER CHECK (satisfied IN (0, 1)), reason TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS label_j_item ON label_judgements(item_id, reviewer);
CREATE INDEX IF NOT EXISTS sat_j_item ON sat_judgements(item_id, reviewer);
"""


def check_reviewer(name: Any) -> str:
    """A reviewer name: 1-64 printable characters (stored with every judgement)."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("reviewer name is required", field="reviewer")
    name = name.strip()
    if len(name) > MAX_NAME or not name.isprintable():
        raise InputError(f"reviewer name must be at most {MAX_NAME} printable characters", field="reviewer")
    return name


class Store:
    """The review database. Thread-safe; open one per process (``with Store(path) as s: ...``)."""

    def __init__(self, path: str | Path, *, seed: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False,
                                       isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._tx():
                for stmt in _statements():
                    self._db.execute(stmt)
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                if seed is not None:
                    self._db.execute("INSERT OR IGNORE INTO meta VALUES ('seed', ?)", (str(seed),))
        except sqlite3.DatabaseError as e:
            raise InputError(f"not a usable review database: {e}", path=str(self.path)) from None
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row["value"] != SCHEMA_VERSION:
            raise InputError(f"review database schema {row['value']}, expected {SCHEMA_VERSION}", path=str(self.path))
        seed_row = self._db.execute("SELECT value FROM meta WHERE key='seed'").fetchone()
        self.seed = int(seed_row["value"]) if seed_row else 0

    # ------------------------------------------------------------------ plumbing
    def _tx(self):  # noqa: ANN202 - a context manager: BEGIN IMMEDIATE … COMMIT under the lock
        store = self

        class _Tx:
            def __enter__(self) -> sqlite3.Connection:
                store._lock.acquire()
                store._db.execute("BEGIN IMMEDIATE")
                return store._db

            def __exit__(self, et: Any, e: Any, tb: Any) -> None:
                try:
                    store._db.execute("COMMIT" if et is None else "ROLLBACK")
                finally:
                    store._lock.release()

        return _Tx()

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _order(self, reviewer: str, key: str) -> str:
        """Each reviewer's own shuffled order of the items (blind, and no two reviewers in step)."""
        return hashlib.sha256(f"{self.seed}|order|{reviewer}|{key}".encode()).hexdigest()

    def swapped(self, reviewer: str, key: str) -> bool:
        """Whether this reviewer sees the pair as (second, first): random per reviewer and item, recorded."""
        return hashlib.sha256(f"{self.seed}|swap|{reviewer}|{key}".encode()).digest()[0] & 1 == 1

    # ------------------------------------------------------------------ items
    def add_label_items(self, items: Iterable[LabelItem]) -> int:
        """Insert new pairs; a pair already stored gets the AI labels of any new source. Returns #new."""
        new = 0
        with self._tx() as db:
            for it in items:
                row = db.execute("SELECT id, ai_labels FROM label_items WHERE key=?", (it.key,)).fetchone()
                if row is None:
                    db.execute("INSERT INTO label_items (key, category, prompt_id, prompt, reference, choices, first,"
                               " second, first_index, second_index, ai_labels) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                               (it.key, it.category, it.prompt_id, it.prompt, it.reference, _js(it.choices),
                                it.first, it.second, it.first_index, it.second_index, json.dumps(it.ai_labels)))
                    new += 1
                else:
                    merged = {**json.loads(row["ai_labels"]), **it.ai_labels}
                    db.execute("UPDATE label_items SET ai_labels=? WHERE id=?", (json.dumps(merged), row["id"]))
        return new

    def add_sat_items(self, items: Iterable[SatItem]) -> int:
        new = 0
        with self._tx() as db:
            for it in items:
                cur = db.execute("INSERT OR IGNORE INTO sat_items (key, category, prompt_id, prompt, reference,"
                                 " choices, policy, response) VALUES (?,?,?,?,?,?,?,?)",
                                 (it.key, it.category, it.prompt_id, it.prompt, it.reference, _js(it.choices),
                                  it.policy, it.response))
                new += cur.rowcount
        return new

    def counts(self) -> dict[str, int]:
        q = {t: f"SELECT COUNT(*) AS n FROM {t}" for t in
             ("label_items", "label_judgements", "sat_items", "sat_judgements")}
        return {t: self._query(sql)[0]["n"] for t, sql in q.items()}

    # ------------------------------------------------------------------ reviewing
    def progress(self, kind: str, reviewer: str | None) -> dict[str, dict[str, int]]:
        """Per category: ``items`` in the review and ``done`` by this reviewer (skips count as done)."""
        items_t, judg_t = _tables(kind)
        out = {r["category"]: {"items": r["n"], "done": 0} for r in
               self._query(f"SELECT category, COUNT(*) AS n FROM {items_t} GROUP BY category ORDER BY category")}
        if reviewer:
            for r in self._query(f"SELECT i.category, COUNT(DISTINCT j.item_id) AS n FROM {judg_t} j JOIN {items_t} i"
                                 f" ON i.id = j.item_id WHERE j.reviewer = ? GROUP BY i.category", (reviewer,)):
                out[r["category"]]["done"] = r["n"]
        return out

    def next_item(self, kind: str, reviewer: str, category: str | None = None) -> dict | None:
        """The reviewer's next unjudged item, blind: no AI label, no policy name, A/B order per reviewer."""
        reviewer = check_reviewer(reviewer)
        items_t, judg_t = _tables(kind)
        sql = (f"SELECT * FROM {items_t} i WHERE NOT EXISTS (SELECT 1 FROM {judg_t} j WHERE j.item_id = i.id"
               f" AND j.reviewer = ?)")
        args: list[Any] = [reviewer]
        if category:
            sql += " AND i.category = ?"
            args.append(category)
        rows = self._query(sql, args)
        if not rows:
            return None
        return self._payload(kind, reviewer, min(rows, key=lambda r: self._order(reviewer, r["key"])))

    def item(self, kind: str, reviewer: str, item_id: Any) -> dict:
        """One item as this reviewer sees it (to judge it again: 'undo')."""
        reviewer = check_reviewer(reviewer)
        items_t, _ = _tables(kind)
        rows = self._query(f"SELECT * FROM {items_t} WHERE id = ?", (_item_id(item_id),))
        if not rows:
            raise InputError(f"no {kind} item {item_id!r}", field="item_id")
        return self._payload(kind, reviewer, rows[0])

    def _payload(self, kind: str, reviewer: str, row: sqlite3.Row) -> dict:
        out = {"id": row["id"], "category": row["category"], "prompt": row["prompt"], "reference": row["reference"],
               "choices": json.loads(row["choices"]) if row["choices"] else None}
        if kind == "label":
            swap = self.swapped(reviewer, row["key"])
            out["a"], out["b"] = (row["second"], row["first"]) if swap else (row["first"], row["second"])
        else:
            out["response"] = row["response"]
        return out

    def record_label(self, reviewer: str, item_id: Any, choice: Any) -> dict:
        """Store a reviewer's pick (``a``/``b``/``tie``/``skip`` as shown) and its canonical label."""
        reviewer = check_reviewer(reviewer)
        if choice not in ("a", "b", "tie", "skip"):
            raise InputError("choice must be one of a, b, tie, skip", field="choice")
        with self._tx() as db:
            row = db.execute("SELECT id, key FROM label_items WHERE id=?", (_item_id(item_id),)).fetchone()
            if row is None:
                raise InputError(f"no label item {item_id!r}", field="item_id")
            swap = self.swapped(reviewer, row["key"])
            label = {"a": "second" if swap else "first", "b": "first" if swap else "second"}.get(choice, choice)
            cur = db.execute("INSERT INTO label_judgements (item_id, reviewer, swapped, choice, label, created_at)"
                             " VALUES (?,?,?,?,?,?)", (row["id"], reviewer, int(swap), choice, label, time.time()))
        return {"id": cur.lastrowid, "label": label}

    def record_satisfaction(self, reviewer: str, item_id: Any, satisfied: Any, reason: Any = "") -> dict:
        """Store satisfied (True), not satisfied (False) or skipped (None), with an optional reason."""
        reviewer = check_reviewer(reviewer)
        if satisfied is not None and not isinstance(satisfied, bool):
            raise InputError("satisfied must be true, false or null (skip)", field="satisfied")
        reason = "" if reason is None else reason
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise InputError(f"reason must be text of at most {MAX_REASON} characters", field="reason")
        with self._tx() as db:
            row = db.execute("SELECT id FROM sat_items WHERE id=?", (_item_id(item_id),)).fetchone()
            if row is None:
                raise InputError(f"no satisfaction item {item_id!r}", field="item_id")
            cur = db.execute("INSERT INTO sat_judgements (item_id, reviewer, satisfied, reason, created_at)"
                             " VALUES (?,?,?,?,?)", (row["id"], reviewer, None if satisfied is None else int(satisfied),
                                                     reason.strip(), time.time()))
        return {"id": cur.lastrowid}

    # ------------------------------------------------------------------ reading back
    def label_judgements(self, *, latest: bool = True) -> list[dict]:
        """Judgements joined with their items (AI labels included), oldest first; ``latest`` keeps
        only each reviewer's last word on each item."""
        rows = self._query("SELECT j.id, j.item_id, j.reviewer, j.swapped, j.choice, j.label, j.created_at,"
                           " i.key, i.category, i.prompt_id, i.first_index, i.second_index, i.ai_labels"
                           " FROM label_judgements j JOIN label_items i ON i.id = j.item_id ORDER BY j.id")
        out = [{**dict(r), "swapped": bool(r["swapped"]), "ai_labels": json.loads(r["ai_labels"])} for r in rows]
        return _latest(out) if latest else out

    def sat_judgements(self, *, latest: bool = True) -> list[dict]:
        rows = self._query("SELECT j.id, j.item_id, j.reviewer, j.satisfied, j.reason, j.created_at, i.key,"
                           " i.category, i.prompt_id, i.policy FROM sat_judgements j JOIN sat_items i"
                           " ON i.id = j.item_id ORDER BY j.id")
        out = [{**dict(r), "satisfied": None if r["satisfied"] is None else bool(r["satisfied"])} for r in rows]
        return _latest(out) if latest else out

    def label_items(self) -> list[dict]:
        return [{**dict(r), "ai_labels": json.loads(r["ai_labels"])} for r in
                self._query("SELECT id, key, category, prompt_id, ai_labels FROM label_items ORDER BY id")]

    def sat_items(self) -> list[dict]:
        return [dict(r) for r in self._query("SELECT id, key, category, prompt_id, policy FROM sat_items ORDER BY id")]


def _statements() -> list[str]:
    return [s.strip() for s in _SCHEMA.split(";") if s.strip()]


def _tables(kind: str) -> tuple[str, str]:
    if kind == "label":
        return "label_items", "label_judgements"
    if kind == "satisfaction":
        return "sat_items", "sat_judgements"
    raise InputError(f"unknown review kind {kind!r} (label or satisfaction)", field="kind")


def _item_id(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise InputError("item_id must be an integer", field="item_id")
    return v


def _js(v: Any) -> str | None:
    return None if v is None else json.dumps(v, ensure_ascii=False)


def _latest(rows: list[dict]) -> list[dict]:
    last: dict[tuple[int, str], dict] = {}
    for r in rows:
        last[(r["item_id"], r["reviewer"])] = r
    return sorted(last.values(), key=lambda r: r["id"])
