"""Exports of Rankings for trainers.

* **TRL pairwise** (``--export-trl``): one row per strictly ordered pair the tiers imply
  (ties are not pairs), ``{"prompt", "chosen", "rejected"}``.
  ``conversational``: ``prompt`` is the list of chat messages, ``chosen``/``rejected`` are
  one-message assistant lists (TRL's conversational preference format).
  ``text``: ``prompt`` is the chat rendered as plain text (the user text when there is a single
  user turn), ``chosen``/``rejected`` are the response strings.
* **K-wise** (``--export-kwise``): one row per prompt with all K responses and the tiers
  (best first; responses in no tier are unranked), for hrlaif's K-wise reward model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Literal

from hrlaif.data import Ranking, atomic_writer, dumps

TrlFormat = Literal["conversational", "text"]


def _messages(r: Ranking) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in r.prompt.messages]


def prompt_text(r: Ranking) -> str:
    msgs = r.prompt.messages
    if len(msgs) == 1 and msgs[0].role == "user":
        return msgs[0].content
    return "\n\n".join(f"{m.role}: {m.content}" for m in msgs)


def trl_rows(rankings: Iterable[Ranking], fmt: TrlFormat = "conversational") -> Iterable[dict[str, Any]]:
    for r in rankings:
        for better, worse in r.pairs():
            if fmt == "conversational":
                yield {"prompt": _messages(r), "chosen": [{"role": "assistant", "content": r.responses[better]}],
                       "rejected": [{"role": "assistant", "content": r.responses[worse]}]}
            else:
                yield {"prompt": prompt_text(r), "chosen": r.responses[better], "rejected": r.responses[worse]}


def kwise_rows(rankings: Iterable[Ranking]) -> Iterable[dict[str, Any]]:
    for r in rankings:
        yield {"prompt_id": r.prompt_id, "category": r.category, "prompt": _messages(r),
               "responses": list(r.responses), "tiers": [list(t) for t in r.tiers], "mode": r.mode}


def write_json_rows(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with atomic_writer(path) as f:
        for row in rows:
            f.write(dumps(row) + "\n")
            n += 1
    return n
