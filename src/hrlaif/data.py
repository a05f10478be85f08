"""The data model every stage reads and writes, and its JSONL/Parquet readers and writers.

Records (one JSON object a line):

* ``Prompt``      id, category, chat ``messages``, ``reference`` (math answer, option letter or
                  test code), ``choices`` (multiple choice), ``entry_point`` (code), ``metadata``.
* ``ResponseSet`` one prompt with its K sampled ``responses`` and how they were made (``generation``).
* ``Ranking``     a partial order over K responses as ``tiers`` (best first; a tier holds ties),
                  self-contained for reward-model training (prompt + response texts), with the
                  provenance of every decision (``decisions``: which verifier or judge call decided
                  what, with raw output, tokens, cost).

Invalid input raises ``InputError`` naming file, line and field (the CLI exits with code 2).
Only standard JSON is read or written: ``NaN``/``Infinity`` are refused both ways (``loads_json``,
``dumps``). Every write is atomic (temp file + ``os.replace``, the usual permissions), and ``ResumableWriter`` lets a stage append
finished records as it goes so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Iterable, Iterator, Literal, Sequence, TypeVar

from hrlaif._struct import StructError, from_obj, to_obj
from hrlaif.errors import HrlaifError, InputError

# --------------------------------------------------------------------------- categories


@dataclass(frozen=True)
class CategoryInfo:
    name: str
    description: str
    verifier: str | None = None  # name of the verifier that can decide correctness, if any


CATEGORIES: dict[str, CategoryInfo] = {}


def register_category(name: str, description: str, verifier: str | None = None) -> CategoryInfo:
    """Add a prompt category (the seed uses 12; hrlaif ships these and lets users add more)."""
    info = CategoryInfo(name, description, verifier)
    CATEGORIES[name] = info
    return info


for _n, _d, _v in [
    ("math", "math word problems and computation with a reference answer", "math"),
    ("multiple_choice", "questions with lettered options and a reference letter", "multiple_choice"),
    ("code", "programming tasks with unit tests (HumanEval style)", "code"),
    ("harmlessness", "harmful or adversarial requests; judged for harm, not correctness", None),
    ("open_ended", "open questions and requests with no single right answer", None),
    # Further judge-only categories in the spirit of the seed's 12-category test set.
    ("closed_qa", "factual questions with a short answer", None),
    ("creative_writing", "stories, poems, slogans", None),
    ("rewriting", "rewrite, summarise or translate a given text", None),
    ("brainstorming", "lists of ideas or suggestions", None),
    ("role_play", "answer in a persona or scenario", None),
    ("reading_comprehension", "questions about a given passage", None),
    ("chitchat", "casual conversation", None),
]:
    register_category(_n, _d, _v)


def check_category(name: str) -> str:
    if name not in CATEGORIES:
        raise ValueError(f"unknown category {name!r}; known: {', '.join(sorted(CATEGORIES))}")
    return name


# --------------------------------------------------------------------------- records


class _FieldError(ValueError):
    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


@dataclass
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass
class Prompt:
    id: str
    category: str
    messages: list[Message]
    reference: str | None = None
    choices: list[str] | None = None
    entry_point: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            raise _FieldError("id", "must be a non-empty string")
        try:
            check_category(self.category)
        except ValueError as e:
            raise _FieldError("category", str(e)) from None
        if not self.messages:
            raise _FieldError("messages", "must hold at least one message")

    @property
    def text(self) -> str:
        """The last user turn (what a verifier or a report shows as 'the prompt')."""
        for m in reversed(self.messages):
            if m.role == "user":
                return m.content
        return self.messages[-1].content

    @classmethod
    def simple(cls, id: str, category: str, text: str, **kw: Any) -> "Prompt":
        return cls(id=id, category=category, messages=[Message("user", text)], **kw)


@dataclass
class GenerationInfo:
    model: str
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Response:
    text: str
    n_tokens: int | None = None
    finish_reason: str | None = None  # "stop" (EOS), "length" (hit max_new_tokens), or a stage's own
    source: str = "policy"  # "policy", "rewrite", "reference", "human", ...


@dataclass
class ResponseSet:
    prompt_id: str
    prompt: Prompt
    responses: list[Response]
    generation: GenerationInfo

    def __post_init__(self) -> None:
        if self.prompt_id != self.prompt.id:
            raise _FieldError("prompt_id", f"{self.prompt_id!r} differs from prompt.id {self.prompt.id!r}")

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.responses]


@dataclass
class Decision:
    """Provenance of one ordering decision."""

    kind: Literal["verifier", "judge", "harm_check", "rewrite", "human", "rule"]
    source: str  # verifier name, judge identity (model@endpoint + template version), ...
    items: list[int]  # indices of the responses this decision is about
    outcome: str  # e.g. "correct", "incorrect", "0>1", "tie", "abstain: ...", "harmful"
    detail: dict[str, Any] = field(default_factory=dict)  # raw output, tokens, cost, latency, reason


@dataclass
class Ranking:
    """A partial order over K responses: ``tiers[0]`` is best; responses in one tier are tied;
    responses in no tier are unranked (e.g. every judge call about them failed).

    ``unordered`` lists pairs ``[i, j]`` that sit in different tiers but carry no preference
    (the judge tied them, or never decided between them, while layering had to put them on
    different tiers: ``0 ≻ 1`` with 2 tied to both is tiers ``[[0], [1, 2]]`` with ``[0, 2]``
    unordered). ``pairs()`` leaves them out, so a tie is never exported as a preference."""

    prompt_id: str
    category: str
    prompt: Prompt
    responses: list[str]
    tiers: list[list[int]]
    mode: str = "hybrid"  # "basic", "hybrid", "redteam", "human", ...
    decisions: list[Decision] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    unordered: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        try:
            check_category(self.category)
        except ValueError as e:
            raise _FieldError("category", str(e)) from None
        seen: set[int] = set()
        for t, tier in enumerate(self.tiers):
            if not tier:
                raise _FieldError(f"tiers[{t}]", "a tier must not be empty")
            for i in tier:
                if not 0 <= i < len(self.responses):
                    raise _FieldError(f"tiers[{t}]", f"index {i} out of range for {len(self.responses)} responses")
                if i in seen:
                    raise _FieldError(f"tiers[{t}]", f"response {i} appears in two tiers")
                seen.add(i)
        for n, pair in enumerate(self.unordered):
            if len(pair) != 2 or not all(isinstance(x, int) and x in seen for x in pair):
                raise _FieldError(f"unordered[{n}]", "expected [i, j], two ranked response indices")

    def pairs(self) -> list[tuple[int, int]]:
        """Every strictly ordered pair (better, worse) the tiers imply, except ``unordered`` ones."""
        return strict_pairs(self.tiers, self.unordered)

    @property
    def ranked(self) -> list[int]:
        return [i for t in self.tiers for i in t]

    def tier_of(self) -> dict[int, int]:
        return {i: t for t, tier in enumerate(self.tiers) for i in tier}


def strict_pairs(tiers: Sequence[Sequence[int]], unordered: Iterable[Sequence[int]] = ()) -> list[tuple[int, int]]:
    """S = {(i, j) : tier(i) < tier(j)} minus the ``unordered`` pairs (either orientation)."""
    skip = {frozenset(p) for p in unordered}
    out: list[tuple[int, int]] = []
    for a, hi in enumerate(tiers):
        for lo in tiers[a + 1:]:
            out.extend((i, j) for i in hi for j in lo if not skip or frozenset((i, j)) not in skip)
    return out


def tiers_from_preferences(k: int, better: Iterable[tuple[int, int]], *, ranked: Iterable[int] | None = None
                           ) -> list[list[int]]:
    """Turn strict preferences ``(i, j)`` meaning *i ≻ j* into tiers by longest-path layering.

    Responses with no path between them that land on the same layer are tied. Raises
    ``ValueError`` naming a cycle when the preferences contradict each other.
    """
    nodes = sorted(set(ranked) if ranked is not None else set(range(k)))
    succ: dict[int, set[int]] = {n: set() for n in nodes}
    for i, j in better:
        if i == j:
            raise ValueError(f"response {i} is preferred to itself")
        succ.setdefault(i, set()).add(j)
        succ.setdefault(j, set())
    # cycle check + depth via DFS
    state: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack_path: list[int] = []

    def visit(n: int) -> int:
        if state.get(n) == 1:
            cyc = stack_path[stack_path.index(n):] + [n]
            raise ValueError("contradictory preferences form a cycle: " + " ≻ ".join(map(str, cyc)))
        if state.get(n) == 2:
            return depth[n]
        state[n] = 1
        stack_path.append(n)
        d = 0
        for m in succ[n]:
            d = max(d, visit(m) + 1)
        stack_path.pop()
        state[n] = 2
        depth[n] = d  # height: longest path to a sink
        return d

    for n in sorted(succ):
        visit(n)
    top = max(depth.values(), default=0)
    layers: dict[int, list[int]] = {}
    for n, d in depth.items():
        layers.setdefault(top - d, []).append(n)
    return [sorted(layers[d]) for d in sorted(layers)]


# --------------------------------------------------------------------------- atomic writes


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


@contextlib.contextmanager
def atomic_writer(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Write to a temp file beside ``path``; fsync and rename on success; delete on failure.

    The result has the permissions a plain ``open(path, "w")`` would give it: an existing file's
    mode, else ``0o666 & ~umask`` (``mkstemp`` alone would leave every output ``0600``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        perms = stat.S_IMODE(os.stat(p).st_mode)
    except FileNotFoundError:
        perms = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        os.fchmod(fd, perms)
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_writer(path) as f:
        f.write(text)


# --------------------------------------------------------------------------- reading

T = TypeVar("T")


class _NonFinite:
    """Stands in for a ``NaN``/``Infinity`` token while a line is parsed, so the error can name its field."""

    __slots__ = ("token",)

    def __init__(self, token: str):
        self.token = token


def _first_nonfinite(obj: Any, where: str = "") -> tuple[str, str] | None:
    """``(dotted field, token)`` of the first NaN/Infinity in a parsed or to-be-written value, else None."""
    if isinstance(obj, _NonFinite):
        return where, obj.token
    if isinstance(obj, float) and not math.isfinite(obj):
        return where, repr(obj)
    if isinstance(obj, dict):
        items: Iterable[tuple[str, Any]] = ((f"{where}.{k}" if where else str(k), v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for sub, v in items:
        hit = _first_nonfinite(v, sub)
        if hit is not None:
            return hit
    return None


def _json_error_message(e: json.JSONDecodeError) -> str:
    # some messages end in "at" already ("Unterminated string starting at"): no "at at column"
    return f"invalid JSON: {e.msg}{' ' if e.msg.endswith(' at') else ' at '}column {e.colno}"


def loads_json(text: str, *, path: str | None = None, line: int | None = None, field: str | None = None) -> Any:
    """``json.loads`` for input data: standard JSON only, every failure an ``InputError``.

    Python's parser also accepts ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON
    (RFC 8259 §6), and reads ``1e999`` as infinity; here they are errors naming their field.
    Nesting too deep for the parser (``RecursionError``) and integers longer than Python's digit
    limit (4300 by default) are errors naming file and line instead of crashes."""
    seen: list[str] = []

    def constant(token: str) -> _NonFinite:
        seen.append(token)
        return _NonFinite(token)

    def number(token: str) -> float | _NonFinite:
        v = float(token)
        return v if math.isfinite(v) else constant(token)

    where = dict(path=path, line=line, field=field)
    try:
        obj = json.loads(text, parse_constant=constant, parse_float=number)
    except json.JSONDecodeError as e:
        raise InputError(_json_error_message(e), **where) from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply to read", **where) from None
    except ValueError as e:  # "Exceeds the limit (4300 digits) for integer string conversion: ..."
        raise InputError(f"invalid JSON: a number too long to read ({str(e).split(':')[0]})", **where) from None
    if seen:
        try:
            sub, token = _first_nonfinite(obj) or ("", seen[0])
        except RecursionError:  # nested nearly as deep as the parser allows
            sub, token = "", seen[0]
        full = ".".join(x for x in (field, sub) if x) or None
        raise InputError(f"{token} is not a finite number; JSON has no NaN or infinity (use null or a string)",
                         path=path, line=line, field=full)
    return obj


def _loads_line(raw: bytes, path: str, lineno: int) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not valid UTF-8 (byte {e.start} of the line)", path=path, line=lineno) from None
    return loads_json(text, path=path, line=lineno)


def _is_torn(raw: bytes) -> bool:
    """True when a last line without its newline is an unfinished record (an interrupted append)."""
    try:
        json.loads(raw.decode("utf-8"), parse_constant=lambda _: None)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return True
    except (RecursionError, ValueError):
        return False  # whole but unreadable: reported by _loads_line
    return False


def iter_jsonl(path: str | Path, *, allow_empty: bool = False,
               tolerate_truncated_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSONL file (``.gz``: gzipped)."""
    p = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path=p) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a JSONL file", path=p) from None
    if p.endswith(".gz"):
        import gzip

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise InputError(f"not a readable gzip file ({e})", path=p) from None
    lines = data.split(b"\n")
    truncated_tail = tolerate_truncated_tail and not data.endswith(b"\n")
    n = 0
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if truncated_tail and lineno == len(lines) and _is_torn(raw):
            return  # an interrupted append: the last record was never finished
        obj = _loads_line(raw, p, lineno)
        if not isinstance(obj, dict):
            raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=p, line=lineno)
        n += 1
        yield lineno, obj
    if n == 0 and not allow_empty:
        raise InputError("file is empty (no records)", path=p)


def parse_record(cls: type[T], obj: dict, *, path: str | None = None, line: int | None = None) -> T:
    try:
        return from_obj(cls, obj)
    except StructError as e:
        raise InputError(e.message, path=path, line=line, field=e.field or None) from None
    except _FieldError as e:  # pragma: no cover - from_obj maps these
        raise InputError(str(e), path=path, line=line, field=e.field) from None


def read_jsonl(path: str | Path, cls: type[T], *, allow_empty: bool = False) -> list[T]:
    return [parse_record(cls, obj, path=str(path), line=ln) for ln, obj in iter_jsonl(path, allow_empty=allow_empty)]


def read_parquet(path: str | Path, cls: type[T], *, allow_empty: bool = False) -> list[T]:
    import pyarrow.parquet as pq

    p = str(path)
    try:
        table = pq.read_table(p)
    except FileNotFoundError:
        raise InputError("file not found", path=p) from None
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise InputError(f"not a readable Parquet file: {e}", path=p) from None
    rows = table.to_pylist()
    if not rows and not allow_empty:
        raise InputError("file is empty (no records)", path=p)
    cols = _json_columns(cls)
    out = []
    for i, row in enumerate(rows, start=1):
        obj = {k: (loads_json(v, path=p, line=i, field=k) if k in cols and isinstance(v, str) else v)
               for k, v in row.items()}
        obj = {k: v for k, v in obj.items() if v is not None or k not in cols}
        bad = _first_nonfinite(obj)
        if bad is not None:  # a float column holding NaN/inf: not a value hrlaif records carry
            raise InputError(f"{bad[1]} is not a valid value (no NaN or infinity)", path=p, line=i, field=bad[0])
        out.append(parse_record(cls, obj, path=p, line=i))  # "line" = row number (1-based)
    return out


def read_records(path: str | Path, cls: type[T], *, allow_empty: bool = False) -> list[T]:
    """Read JSONL (``.jsonl``/``.json``) or Parquet (``.parquet``) records of type ``cls``."""
    if str(path).endswith(".parquet"):
        return read_parquet(path, cls, allow_empty=allow_empty)
    return read_jsonl(path, cls, allow_empty=allow_empty)


# --------------------------------------------------------------------------- writing


def _dumps_obj(obj: Any, what: str) -> str:
    """``json.dumps`` that refuses NaN/infinity (Python would write the non-JSON ``NaN``)."""
    try:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False)
    except ValueError:
        bad = _first_nonfinite(obj)
        if bad is None:
            raise
        raise HrlaifError(f"refusing to write invalid JSON: {what} field '{bad[0]}' is {bad[1]}") from None


def dumps(record: Any) -> str:
    """One record as a line of standard JSON (never ``NaN``/``Infinity``)."""
    return _dumps_obj(to_obj(record), type(record).__name__)


def write_jsonl(path: str | Path, records: Iterable[Any]) -> Path:
    with atomic_writer(path) as f:
        for r in records:
            f.write(dumps(r) + "\n")
    return Path(path)


def _json_columns(cls: type) -> set[str]:
    """Top-level fields stored as JSON strings in Parquet: everything but (optional) scalars."""
    import types
    import typing

    scalars = (str, int, float, bool, type(None))
    out = set()
    for name, tp in typing.get_type_hints(cls).items():
        union = typing.get_origin(tp) in (typing.Union, types.UnionType)
        if not all(a in scalars for a in (typing.get_args(tp) if union else (tp,))):
            out.add(name)
    return out


def write_parquet(path: str | Path, records: Iterable[Any]) -> Path:
    """One column per top-level field; nested fields (lists, objects) as JSON strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = list(records)
    if not records:
        raise ValueError("refusing to write an empty Parquet file")
    cols = _json_columns(type(records[0]))
    rows = []
    for r in records:
        obj = to_obj(r)
        _dumps_obj(obj, type(r).__name__)  # the same refusal of NaN/infinity as JSONL
        rows.append({k: (json.dumps(v, ensure_ascii=False) if k in cols else v) for k, v in obj.items()})
    table = pa.Table.from_pylist(rows)
    with atomic_writer(path, "wb") as f:
        pq.write_table(table, f)
    return Path(path)


def write_records(path: str | Path, records: Iterable[Any]) -> Path:
    if str(path).endswith(".parquet"):
        return write_parquet(path, records)
    return write_jsonl(path, records)


class ResumableWriter(Generic[T]):
    """Append finished records as a stage goes; finish with one atomic rename.

    Records go to ``<out>.partial`` (flushed and fsynced one by one). ``done`` holds the keys
    already finished by an earlier, interrupted or complete, run: the stage skips them. On
    success the earlier output, the partial records and nothing else are written atomically to
    ``<out>``; on failure ``<out>`` is untouched and the partial file stays for the next run.
    A torn last line (a ``kill -9`` mid-write) is dropped on resume.
    """

    def __init__(self, path: str | Path, cls: type[T], key: Callable[[T], str]):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.cls, self.key = cls, key
        self.records: list[T] = []
        if self.path.exists():
            self.records.extend(read_records(self.path, cls, allow_empty=True))
        if self.partial.exists():
            for ln, obj in iter_jsonl(self.partial, allow_empty=True, tolerate_truncated_tail=True):
                self.records.append(parse_record(cls, obj, path=str(self.partial), line=ln))
        uniq: dict[str, T] = {}
        for r in self.records:
            uniq[key(r)] = r
        self.records = list(uniq.values())
        self.done: set[str] = set(uniq)
        self.n_resumed = len(self.done)
        self._fh: Any = None

    def __enter__(self) -> "ResumableWriter[T]":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.partial.exists():  # rewrite without a torn tail before appending
            with atomic_writer(self.partial) as f:
                for r in self.records:
                    f.write(dumps(r) + "\n")
        self._fh = open(self.partial, "a", encoding="utf-8")
        return self

    def write(self, record: T) -> None:
        k = self.key(record)
        self._fh.write(dumps(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        if k not in self.done:
            self.records.append(record)
            self.done.add(k)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._fh.close()
        if exc_type is None:
            write_records(self.path, self.records) if self.records else write_jsonl(self.path, [])
            self.partial.unlink(missing_ok=True)
