"""Prompt sets: built-in sets (demo, harmless, generated arith/easymc) and loaders for the public
benchmarks, as ``Prompt`` records.

Every loader reads the files in place from a data folder laid out like ``../shared/data``
(``--data-dir`` or ``$HRLAIF_DATA_DIR``) and maps each item to a category and a reference:

===========  ================  ==========================================  ==========================
set          category          reference                                   metadata
===========  ================  ==========================================  ==========================
demo         mixed             math answer / option letter                 kind, benign_lookalike, ...
gsm8k        math              the number after ``####`` (commas removed)  solution
mmlu         multiple_choice   letter A-D (CSV answer index 0-3)           subject
ceval        multiple_choice   letter A-D                                  subject (+ explanation)
humaneval    code              test code (+ ``entry_point``)               task_id, code_prompt
toxigen      harmlessness      none                                        group, label (hate/neutral)
hh-rlhf      harmlessness      none                                        first human turn only
beavertails  harmlessness      none                                        label, categories
arith        math              the integer answer                          kind, operands, ops
easymc       multiple_choice   letter A-D (balanced)                       kind, question, answer
harmless     harmlessness      none (+ benign look-alikes, open_ended)     harm_category, harmful
===========  ================  ==========================================  ==========================

``demo``, ``harmless``, ``arith`` and ``easymc`` need no data folder; ``arith`` and ``easymc`` are
generated (``hrlaif.synthetic``) with disjoint ``train`` (default) and ``test`` splits.
Splits: gsm8k test|train, mmlu test|dev, ceval val|dev, toxigen hate|neutral (default both),
humaneval/hh-rlhf/beavertails test. ``limit`` picks a deterministic subsample: a seeded shuffle
of the whole set cut to ``limit`` items and put back in file order, so a larger limit with the
same seed contains every item of a smaller one. Ids are stable (they name the source item), so
outputs of runs with different limits can be joined.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import random
import re
from importlib import resources
from pathlib import Path
from typing import Callable

from hrlaif.data import Message, Prompt, iter_jsonl, parse_record, read_records
from hrlaif.errors import ConfigError, InputError

LETTERS = "ABCD"
DATA_ENV = "HRLAIF_DATA_DIR"


# --------------------------------------------------------------------------- helpers


def format_multiple_choice(question: str, choices: list[str], *, lang: str = "en") -> str:
    """``question`` + lettered options + an instruction to answer with the letter."""
    opts = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    tail = ("请只回答正确选项的字母（A、B、C 或 D）。" if lang == "zh"
            else "Answer with the letter of the correct option (A, B, C or D).")
    return f"{question.strip()}\n\n{opts}\n\n{tail}"


_NUM = re.compile(r"-?[\d,]*\.?\d+")


def gsm8k_answer(solution: str) -> str | None:
    """The final answer of a GSM8K solution: the number after the last ``####``, commas removed
    (``"... #### 1,080"`` → ``"1080"``). None if there is no ``####`` or no number after it."""
    if "####" not in solution:
        return None
    m = _NUM.search(solution.rsplit("####", 1)[1])
    return m.group(0).replace(",", "") if m else None


def subsample(items: list, limit: int | None, seed: int) -> list:
    """Deterministic subsample: shuffle indices with ``random.Random(seed)``, keep the first
    ``limit``, restore file order. Nested in ``limit`` for a fixed seed."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")
    idx = list(range(len(items)))
    random.Random(seed).shuffle(idx)
    return [items[i] for i in sorted(idx[:limit])]


def resolve_data_dir(data_dir: str | Path | None, set_name: str) -> Path:
    d = data_dir or os.environ.get(DATA_ENV)
    if not d:
        raise ConfigError(f"prompt set '{set_name}' reads benchmark files from a data folder: pass --data-dir DIR "
                          f"or set {DATA_ENV}=DIR, where DIR holds gsm8k/, mmlu/, ceval/, humaneval/, toxigen/, "
                          f"hh-rlhf/, beavertails/ (the layout of ../shared/data; see its README.md)")
    p = Path(d).expanduser()
    if not p.is_dir():
        raise ConfigError(f"data folder {p} does not exist (from --data-dir or ${DATA_ENV})")
    return p


def _need(path: Path) -> Path:
    if not path.exists():
        raise InputError("file not found (is the data folder laid out like ../shared/data?)", path=str(path))
    return path


def _check_split(name: str, split: str | None, allowed: tuple[str, ...]) -> str:
    split = split or allowed[0]
    if split not in allowed:
        raise ConfigError(f"prompt set '{name}' has splits {', '.join(allowed)}; got '{split}'")
    return split


def _read_csv(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) pairs of a UTF-8 CSV with a header (fields may hold newlines)."""
    try:
        with open(_need(path), encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            rows = []
            line = reader.line_num + 1
            for row in reader:
                rows.append((line, row))
                line = reader.line_num + 1
            return rows
    except UnicodeDecodeError as e:
        raise InputError(f"not valid UTF-8 ({e.reason})", path=str(path)) from None
    except csv.Error as e:
        raise InputError(f"invalid CSV: {e}", path=str(path)) from None


def _get(row: dict, key: str, path: Path, line: int) -> str:
    v = row.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        raise InputError("missing or empty", path=str(path), line=line, field=key)
    if not isinstance(v, str):
        raise InputError(f"expected a string, got {type(v).__name__}", path=str(path), line=line, field=key)
    return v


# --------------------------------------------------------------------------- loaders


def load_gsm8k(root: Path, split: str) -> list[Prompt]:
    path = _need(root / "gsm8k" / f"{split}.jsonl")
    out = []
    for n, (line, obj) in enumerate(iter_jsonl(path)):
        q, sol = _get(obj, "question", path, line), _get(obj, "answer", path, line)
        ref = gsm8k_answer(sol)
        if ref is None:
            raise InputError("no number after '####'", path=str(path), line=line, field="answer")
        out.append(Prompt.simple(f"gsm8k/{split}/{n}", "math", q.strip(), reference=ref,
                                 metadata={"source": "gsm8k", "solution": sol}))
    return out


def _subject_csvs(folder: Path, split: str) -> list[tuple[str, Path]]:
    """``(subject, file)`` for every ``<subject>_<split>.csv`` in a folder (MMLU and C-Eval layout)."""
    files = sorted(_need(folder).glob(f"*_{split}.csv"))
    if not files:
        raise InputError(f"no *_{split}.csv files", path=str(folder))
    return [(f.name[: -len(f"_{split}.csv")], f) for f in files]


def load_mmlu(root: Path, split: str) -> list[Prompt]:
    out = []
    for subject, path in _subject_csvs(root / "mmlu" / split, split):
        for n, (line, row) in enumerate(_read_csv(path)):
            q = _get(row, "question", path, line)
            choices = [row.get(f"choice{i}") for i in range(4)]
            if any(c is None for c in choices):
                raise InputError("missing column", path=str(path), line=line, field="choice0..choice3")
            ans = _get(row, "answer", path, line).strip()
            if ans not in ("0", "1", "2", "3"):
                raise InputError(f"expected an index 0-3, got {ans!r}", path=str(path), line=line, field="answer")
            out.append(Prompt.simple(f"mmlu/{subject}/{split}/{n}", "multiple_choice",
                                     format_multiple_choice(q, choices), reference=LETTERS[int(ans)],
                                     choices=choices, metadata={"source": "mmlu", "subject": subject,
                                                                "question": q}))
    return out


def load_ceval(root: Path, split: str) -> list[Prompt]:
    out = []
    for subject, path in _subject_csvs(root / "ceval" / split, split):
        for line, row in _read_csv(path):
            q = _get(row, "question", path, line)
            choices = [row.get(c) for c in LETTERS]
            if any(c is None for c in choices):
                raise InputError("missing column", path=str(path), line=line, field="A..D")
            ans = _get(row, "answer", path, line).strip()
            if ans not in LETTERS:
                raise InputError(f"expected a letter A-D, got {ans!r}", path=str(path), line=line, field="answer")
            meta = {"source": "ceval", "subject": subject, "question": q, "lang": "zh"}
            if row.get("explanation"):
                meta["explanation"] = row["explanation"]
            out.append(Prompt.simple(f"ceval/{subject}/{split}/{_get(row, 'id', path, line)}", "multiple_choice",
                                     format_multiple_choice(q, choices, lang="zh"), reference=ans,
                                     choices=choices, metadata=meta))
    return out


HUMANEVAL_INSTRUCTION = ("Complete the following Python function. Reply with the full function in a "
                         "```python code block.\n\n```python\n{code}```")


def load_humaneval(root: Path, split: str) -> list[Prompt]:
    path = _need(root / "humaneval" / "HumanEval.jsonl.gz")
    out = []
    for line, obj in iter_jsonl(path):
        code, test = _get(obj, "prompt", path, line), _get(obj, "test", path, line)
        entry, task = _get(obj, "entry_point", path, line), _get(obj, "task_id", path, line)
        out.append(Prompt.simple(task, "code", HUMANEVAL_INSTRUCTION.format(code=code), reference=test,
                                 entry_point=entry,
                                 metadata={"source": "humaneval", "task_id": task, "code_prompt": code,
                                           "canonical_solution": obj.get("canonical_solution")}))
    return out


def load_toxigen(root: Path, split: str | None) -> list[Prompt]:
    folder = _need(root / "toxigen" / "prompts")
    labels = ("hate", "neutral") if split in (None, "all") else (split,)
    files = sorted(p for p in folder.glob("*_1k.txt") if p.name.split("_", 1)[0] in labels)
    if not files:
        raise InputError(f"no {'/'.join(labels)}_*_1k.txt files", path=str(folder))
    out = []
    for path in files:
        label, group = path.name[: -len("_1k.txt")].split("_", 1)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise InputError(f"not valid UTF-8 ({e.reason})", path=str(path)) from None
        for line, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            # demonstrations are separated by a literal backslash-n; the line ends with "-" to continue
            text = raw.replace("\\n", "\n").strip()
            out.append(Prompt.simple(f"toxigen/{label}_{group}/{line}", "harmlessness", text,
                                     metadata={"source": "toxigen", "group": group, "label": label}))
    return out


def hh_first_turn(dialogue: str) -> str | None:
    """The first human turn of an hh-rlhf dialogue ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``."""
    head = dialogue.split("\n\nAssistant:", 1)[0]
    if "Human:" not in head:
        return None
    return head.split("Human:", 1)[1].strip() or None


def load_hh_rlhf(root: Path, split: str) -> list[Prompt]:
    path = _need(root / "hh-rlhf" / "harmless-base" / f"{split}.jsonl.gz")
    out, seen = [], set()
    for line, obj in iter_jsonl(path):
        text = hh_first_turn(_get(obj, "chosen", path, line))
        if text is None:
            raise InputError("no 'Human:' turn", path=str(path), line=line, field="chosen")
        if text in seen:  # several preference pairs share one first prompt
            continue
        seen.add(text)
        out.append(Prompt.simple(f"hh-rlhf/harmless-base/{split}/{line}", "harmlessness", text,
                                 metadata={"source": "hh-rlhf"}))
    return out


def load_beavertails(root: Path, split: str) -> list[Prompt]:
    """Unique prompts of BeaverTails 30k_test. Its labels rate a prompt *and a response* together,
    so a prompt seen several times gets ``label`` "harmful" if any of its pairs was unsafe, and
    the union of the flagged harm ``categories``."""
    path = _need(root / "beavertails" / "beavertails_30k.json")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"invalid JSON: {e}", path=str(path)) from None
    if not isinstance(rows, list):
        raise InputError("expected a JSON array of records", path=str(path))
    by_text: dict[str, Prompt] = {}
    for n, row in enumerate(rows):
        where = dict(path=str(path), line=None, field=f"[{n}]")
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise InputError("expected an object with a string 'text'", **where)
        try:
            cats = ast.literal_eval(row.get("category") or "{}")
        except (ValueError, SyntaxError):
            raise InputError("category is not a dict literal", **where) from None
        flagged = sorted(k for k, v in cats.items() if v)
        text = row["text"].strip()
        p = by_text.get(text)
        if p is None:
            p = by_text[text] = Prompt.simple(f"beavertails/30k_test/{n}", "harmlessness", text,
                                              metadata={"source": "beavertails", "label": "safe",
                                                        "categories": [], "n_annotations": 0})
        m = p.metadata
        m["n_annotations"] += 1
        if row.get("label") == "harmful":
            m["label"] = "harmful"
        m["categories"] = sorted(set(m["categories"]) | set(flagged))
    return list(by_text.values())


def _load_asset(name: str) -> list[Prompt]:
    ref = resources.files("hrlaif") / "assets" / name
    with resources.as_file(ref) as path:
        return [parse_record(Prompt, obj, path=str(path), line=ln) for ln, obj in iter_jsonl(path)]


def load_demo(root: Path | None = None, split: str | None = None) -> list[Prompt]:
    """The built-in offline demo set (``hrlaif/assets/demo_prompts.jsonl``)."""
    return _load_asset("demo_prompts.jsonl")


def load_harmless(root: Path | None = None, split: str | None = None) -> list[Prompt]:
    """Built-in red-teaming prompts (``hrlaif/assets/harmless_prompts.jsonl``): harmful requests
    (category ``harmlessness``, ``metadata.harm_category`` a BeaverTails category name) and benign
    look-alikes (category ``open_ended``, ``metadata.benign_lookalike``)."""
    return _load_asset("harmless_prompts.jsonl")


def load_arith(root: Path | None, split: str) -> list[Prompt]:
    from hrlaif.synthetic import arith_prompts

    return arith_prompts(split)


def load_easymc(root: Path | None, split: str) -> list[Prompt]:
    from hrlaif.synthetic import easymc_prompts

    return easymc_prompts(split)


# name: (loader, splits (first = default), needs the data folder, description)
PROMPT_SETS: dict[str, tuple[Callable, tuple[str, ...], bool, str]] = {
    "demo": (load_demo, ("all",), False, "built-in mixed set: math, multiple choice, harmful, look-alikes, open"),
    "gsm8k": (load_gsm8k, ("test", "train"), True, "GSM8K math word problems (math)"),
    "mmlu": (load_mmlu, ("test", "dev"), True, "MMLU, 57 subjects (multiple_choice)"),
    "ceval": (load_ceval, ("val", "dev"), True, "C-Eval, Chinese, 52 subjects (multiple_choice)"),
    "humaneval": (load_humaneval, ("test",), True, "HumanEval Python functions with tests (code)"),
    "toxigen": (load_toxigen, ("all", "hate", "neutral"), True, "ToxiGen generation prompts (harmlessness)"),
    "hh-rlhf": (load_hh_rlhf, ("test",), True, "hh-rlhf harmless-base first human turns (harmlessness)"),
    "beavertails": (load_beavertails, ("test",), True, "BeaverTails 30k_test prompts (harmlessness)"),
    "harmless": (load_harmless, ("all",), False, "built-in red-teaming prompts: harmful requests and benign "
                                                 "look-alikes"),
    "arith": (load_arith, ("train", "test"), False, "generated one-/two-step arithmetic and word problems (math)"),
    "easymc": (load_easymc, ("train", "test"), False, "generated easy four-option questions (multiple_choice)"),
}


def load_prompt_set(name: str, data_dir: str | Path | None = None, *, split: str | None = None,
                    limit: int | None = None, seed: int = 0) -> list[Prompt]:
    """Load a named prompt set (see ``PROMPT_SETS``), optionally subsampled to ``limit`` items."""
    if name not in PROMPT_SETS:
        raise ConfigError(f"unknown prompt set '{name}'; known: {', '.join(PROMPT_SETS)}")
    loader, splits, needs_data, _ = PROMPT_SETS[name]
    split = _check_split(name, split, splits)
    root = resolve_data_dir(data_dir, name) if needs_data else None
    return subsample(loader(root, split), limit, seed)


def load_prompts(source: str, data_dir: str | Path | None = None, *, split: str | None = None,
                 limit: int | None = None, seed: int = 0) -> list[Prompt]:
    """A prompt set name (``arith``, or ``arith:test`` for a split), or a Prompt JSONL/Parquet file;
    ``limit`` subsamples either."""
    name, sep, sp = source.partition(":")
    if sep and name in PROMPT_SETS and not Path(source).exists():
        if split is not None and split != sp:
            raise ConfigError(f"prompt set {source!r} names split {sp!r} but split {split!r} was asked for")
        return load_prompt_set(name, data_dir, split=sp, limit=limit, seed=seed)
    if source in PROMPT_SETS:
        return load_prompt_set(source, data_dir, split=split, limit=limit, seed=seed)
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"not a prompt file, and not a prompt set name ({', '.join(PROMPT_SETS)})", path=source)
    if path.suffix == ".parquet":
        numbered = list(enumerate(read_records(path, Prompt), start=1))  # "line" = row number
    else:
        numbered = [(ln, parse_record(Prompt, obj, path=source, line=ln)) for ln, obj in iter_jsonl(path)]
    seen: dict[str, int] = {}
    for ln, p in numbered:
        if p.id in seen:
            raise InputError(f"duplicate prompt id {p.id!r} (first at line {seen[p.id]})", path=source,
                             line=ln, field="id")
        seen[p.id] = ln
    return subsample([p for _, p in numbered], limit, seed)


__all__ = ["PROMPT_SETS", "load_prompt_set", "load_prompts", "format_multiple_choice", "gsm8k_answer",
           "hh_first_turn", "subsample", "Message"]
