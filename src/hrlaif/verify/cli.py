"""hrlaif verify: check math, multiple-choice and code answers against their references.

Input: JSONL rows ``{"id", "category", "response", "reference"}``, plus ``choices`` for
multiple_choice, and ``prompt`` + ``entry_point`` for code (the program is ``prompt + response``,
``reference`` is the test code defining ``check(candidate)``). Output: JSONL rows
``{"id", "category", "correct", "extracted", "reason", "verifier"}``, ``correct`` being
true/false/null (null: undecidable, e.g. no answer found or an ambiguous choice).

Example:  hrlaif verify --in cases.jsonl --out verdicts.jsonl
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from hrlaif.config import config_path_for, opt, save_config
from hrlaif.errors import ConfigError, InputError

log = logging.getLogger(__name__)


@dataclass
class VerifyConfig:
    input: str = opt("", "cases JSONL: id, category, response, reference (+ choices | prompt, entry_point)",
                     flags=("--in",))
    out: str = opt("verdicts.jsonl", "verdicts JSONL: id, category, correct, extracted, reason, verifier")
    timeout_s: float = opt(10.0, "code: wall-clock (and CPU) seconds per program")
    memory_mb: int = opt(1024, "code: address-space limit per program, MiB")
    max_procs: int = opt(32, "code: process/thread limit per program")
    max_file_mb: int = opt(16, "code: largest file a program may write, MiB")
    max_disk_mb: int = opt(64, "code: size of the program's temp dir (a tmpfs when isolated), MiB")
    workers: int = opt(0, "code: programs run in parallel (0 = one per CPU core)")
    allow_unisolated: bool = opt(False, "code: run without network/filesystem isolation when the OS lacks it")
    steps: bool = opt(True, "math: also recompute 'a op b = c' steps (reported as steps_wrong)")


def _row_error(path: str, line: int, field: str, msg: str) -> InputError:
    return InputError(msg, path=path, line=line, field=field)


def read_cases(path: str) -> list[tuple[int, Any]]:
    """Read and validate the cases file; returns ``(line, Prompt)`` with the response in
    ``metadata["response"]``. Bad rows raise ``InputError`` naming file, line and field."""
    from hrlaif.data import CATEGORIES, Message, Prompt, _FieldError, iter_jsonl

    out, seen = [], set()
    for ln, row in iter_jsonl(path):
        def need(field: str, kind: type | tuple = str, *, row=row, ln=ln) -> Any:
            if field not in row or row[field] is None:
                raise _row_error(path, ln, field, "missing")
            if not isinstance(row[field], kind) or isinstance(row[field], bool):
                raise _row_error(path, ln, field, f"expected {getattr(kind, '__name__', 'a string')}, "
                                                  f"got {type(row[field]).__name__}")
            return row[field]

        rid = need("id", (str, int))
        rid = str(rid)
        if rid in seen:
            raise _row_error(path, ln, "id", f"duplicate id {rid!r}")
        seen.add(rid)
        cat = need("category")
        info = CATEGORIES.get(cat)
        verifiable = sorted(c for c, i in CATEGORIES.items() if i.verifier)
        if info is None or info.verifier is None:
            raise _row_error(path, ln, "category", f"{cat!r} has no verifier; use one of {', '.join(verifiable)}")
        response = need("response")
        reference = need("reference", (str, int, float))
        choices = entry_point = None
        code_prompt = ""
        if info.verifier == "multiple_choice":
            choices = need("choices", list)
            if not choices or not all(isinstance(c, str) for c in choices):
                raise _row_error(path, ln, "choices", "expected a non-empty list of strings")
            from hrlaif.verify.choice import reference_letter

            try:
                reference_letter(reference, choices)
            except ValueError as e:
                raise _row_error(path, ln, "reference", str(e)) from None
        elif info.verifier == "code":
            entry_point = need("entry_point")
            if not entry_point.isidentifier():
                raise _row_error(path, ln, "entry_point", f"{entry_point!r} is not a Python identifier")
            code_prompt = row.get("prompt") or ""
            if not isinstance(code_prompt, str):
                raise _row_error(path, ln, "prompt", f"expected a string, got {type(code_prompt).__name__}")
        text = code_prompt or str(row.get("prompt") or "(verify)")
        try:
            p = Prompt(id=rid, category=cat, messages=[Message("user", text)], reference=str(reference),
                       choices=choices, entry_point=entry_point,
                       metadata={"code_prompt": code_prompt, "response": response})
        except _FieldError as e:  # Prompt's own checks (an empty id, ...), named like every other row error
            raise _row_error(path, ln, e.field, str(e)) from None
        out.append((ln, p))
    return out


def run_verify(cfg: VerifyConfig, *, show_progress: bool = True) -> list[dict]:
    """Verify every case of ``cfg.input`` and write ``cfg.out``; returns the output rows."""
    from hrlaif.data import atomic_writer, dumps
    from hrlaif.ui import progress
    from hrlaif.verify import verify_many

    if not cfg.input:
        raise ConfigError("--in is required (a cases JSONL file)")
    if (cfg.timeout_s <= 0 or cfg.memory_mb < 64 or cfg.max_procs < 1 or cfg.max_file_mb < 1
            or cfg.max_disk_mb < 1 or cfg.workers < 0):
        raise ConfigError("sandbox limits must be positive (timeout_s > 0, memory_mb >= 64, max_procs >= 1, "
                          "max_file_mb >= 1, max_disk_mb >= 1, workers >= 0)")
    cases = read_cases(cfg.input)
    sandbox = {"timeout_s": cfg.timeout_s, "memory_mb": cfg.memory_mb, "max_procs": cfg.max_procs,
               "max_file_mb": cfg.max_file_mb, "max_disk_mb": cfg.max_disk_mb,
               "allow_unisolated": cfg.allow_unisolated}
    with progress(len(cases), "verify", enabled=show_progress) as bar:
        verdicts = verify_many([(p, p.metadata["response"]) for _, p in cases], workers=cfg.workers or None,
                               on_done=lambda i, v: bar.advance(), steps=cfg.steps, **sandbox)
    rows = []
    for (_, p), v in zip(cases, verdicts):
        assert v is not None  # read_cases admits verifiable categories only
        row = {"id": p.id, "category": p.category, "correct": v.correct, "extracted": v.extracted,
               "reason": v.reason, "verifier": v.verifier}
        steps = v.detail.get("steps")
        if steps:
            row["steps_wrong"] = steps["n_wrong"] if steps["n_steps"] else None
        if v.verifier == "code":
            row["status"] = v.detail.get("status")
        rows.append(row)
    with atomic_writer(cfg.out) as f:
        for r in rows:
            f.write(dumps(r) + "\n")
    save_config(cfg, config_path_for(cfg.out), stage="verify")
    return rows


def cli(cfg: VerifyConfig) -> int:
    from hrlaif.ui import print_table
    from hrlaif.verify import sandbox_isolation

    rows = run_verify(cfg)
    by_cat: dict[str, list[int]] = {}
    for r in rows:
        c = by_cat.setdefault(r["category"], [0, 0, 0, 0])
        c[0] += 1
        c[1 if r["correct"] is True else 2 if r["correct"] is False else 3] += 1
    print_table(f"hrlaif verify → {cfg.out}", ["category", "cases", "correct", "incorrect", "undecided"],
                [[k, *v] for k, v in sorted(by_cat.items())])
    if "code" in by_cat:
        print("sandbox isolation: " + ", ".join(sandbox_isolation()))
    print(f"wrote {len(rows)} verdicts to {cfg.out} (config: {config_path_for(cfg.out)})")
    return 0
