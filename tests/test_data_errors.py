"""Every bad input from issue 2 through the real CLI (`hrlaif generate --prompts bad.jsonl`):
exit code 2 and a message naming file, line and field; plus atomic writes under interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hrlaif.data import ResponseSet, atomic_writer, iter_jsonl, parse_record, write_jsonl
from hrlaif.errors import InputError

GOOD = json.dumps({"id": "ok", "category": "math", "messages": [{"role": "user", "content": "1+1?"}],
                   "reference": "2"})

# name: (file bytes, what the message must contain besides the file name)
BAD = {
    "bad_json": (GOOD + '\n{"id": "b", "category": \n', [":2:", "invalid JSON"]),
    "missing_field": (GOOD + '\n{"id": "b", "category": "math"}\n', [":2:", "field 'messages'", "missing"]),
    "mistyped_field": (GOOD + '\n{"id": "b", "category": "math", "messages": "hello"}\n',
                       [":2:", "field 'messages'", "expected a list"]),
    "mistyped_nested": (GOOD + '\n\n{"id": "b", "category": "math", "messages": [{"role": "user", "content": 5}]}\n',
                        [":3:", "field 'messages[0].content'", "expected a string"]),
    "mistyped_id": ('{"id": 7, "category": "math", "messages": [{"role": "user", "content": "x"}]}\n',
                    [":1:", "field 'id'", "expected a string"]),
    "unknown_category": (GOOD + '\n{"id": "b", "category": "poetry", "messages": [{"role": "user", "content": "x"}]}\n',
                         [":2:", "field 'category'", "unknown category 'poetry'"]),
    "unknown_key": (GOOD[:-1] + ', "refrence": "3"}\n', [":1:", "field 'refrence'", "did you mean 'reference'"]),
    "bad_role": ('{"id": "b", "category": "math", "messages": [{"role": "robot", "content": "x"}]}\n',
                 [":1:", "field 'messages[0].role'"]),
    "empty_file": (b"", ["file is empty"]),
    "blank_lines_only": ("\n  \n\n", ["file is empty"]),
    "non_utf8": (GOOD.encode() + b'\n{"id": "\xff\xfe", "category": "math"}\n', [":2:", "not valid UTF-8"]),
    "not_an_object": (GOOD + "\n[1, 2]\n", [":2:", "expected a JSON object"]),
    "duplicate_id": (GOOD + "\n" + GOOD + "\n", [":2:", "field 'id'", "duplicate prompt id 'ok'"]),
    # issue 14 #11: Python's json reads these (NaN and 1e999 as floats) or crashes on them
    "nan_value": (GOOD + '\n' + GOOD[:-1].replace('"ok"', '"b"') + ', "metadata": {"difficulty": NaN}}\n',
                  [":2:", "field 'metadata.difficulty'", "NaN is not a finite number"]),
    "infinity_in_list": (GOOD[:-1] + ', "metadata": {"w": [1, -Infinity]}}\n',
                         [":1:", "field 'metadata.w[1]'", "-Infinity is not a finite number"]),
    "float_overflow": (GOOD[:-1] + ', "metadata": {"x": 1e999}}\n', [":1:", "field 'metadata.x'", "1e999"]),
    "nested_100000_deep": (GOOD + "\n" + "[" * 100_000 + "]" * 100_000 + "\n", [":2:", "nested too deeply"]),
    "integer_5000_digits": (GOOD[:-1] + ', "metadata": {"n": ' + "7" * 5000 + '}}\n',
                            [":1:", "a number too long to read", "4300 digits"]),
    # the string opens at the 25th character; the message says "starting at column 25", once
    "unterminated_string": ('{"id": "b", "category": "ma\n', [":1:", "Unterminated string starting at column 25"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_prompt_file_exits_2_naming_file_line_field(case, cli, tmp_path):
    content, expected = BAD[case]
    path = tmp_path / f"{case}.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out.jsonl"
    r = cli("generate", "--prompts", str(path), "--model", "tiny-llama", "--out", str(out))
    assert r.returncode == 2, r.stderr
    msg = r.stderr.strip().splitlines()[-1]
    assert msg.startswith("hrlaif generate: error: ") and str(path) in msg
    for part in expected:
        assert part in msg, (part, msg)
    assert "at at" not in msg
    assert "Traceback" not in r.stderr
    assert not out.exists() and not Path(str(out) + ".partial").exists()


def test_corrupt_parquet_and_missing_file_exit_2(cli, tmp_path):
    bad = tmp_path / "p.parquet"
    bad.write_text("not parquet")
    r = cli("generate", "--prompts", str(bad), "--out", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2 and str(bad) in r.stderr and "not a readable Parquet file" in r.stderr
    r = cli("generate", "--prompts", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2 and "nope.jsonl" in r.stderr and "not a prompt file" in r.stderr


def test_bad_prompt_in_parquet_names_the_row(cli, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": "a", "category": "math", "messages": json.dumps([{"role": "user", "content": "x"}])},
            {"id": "b", "category": "astrology", "messages": json.dumps([{"role": "user", "content": "y"}])}]
    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    r = cli("generate", "--prompts", str(path), "--out", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2 and f"{path}:2:" in r.stderr and "field 'category'" in r.stderr


def test_corrupt_resume_file_names_file_and_line(cli, tmp_path):
    """A damaged earlier output (not a torn tail) is an input error, not silently dropped."""
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(GOOD + "\n")
    out = tmp_path / "o.jsonl"
    out.write_text('{"prompt_id": "ok", "responses": []}\n')
    r = cli("generate", "--prompts", str(prompts), "--out", str(out))
    assert r.returncode == 2 and f"{out}:1:" in r.stderr and "field 'prompt'" in r.stderr


# --------------------------------------------------------------------------- atomic writes


def test_atomic_writer_keeps_the_old_file_when_interrupted(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old complete content\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_writer(path) as f:
            f.write("half of the new")
            raise KeyboardInterrupt
    assert path.read_text() == "old complete content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temp file left behind
    write_jsonl(path, [{"a": 1}])
    assert path.read_text() == '{"a": 1}\n'


def test_atomic_writes_get_the_permissions_a_plain_open_would(tmp_path):
    """mkstemp makes 0600 files; an output must follow the umask (new file) or keep its mode (existing)."""
    old = os.umask(0o022)
    try:
        write_jsonl(tmp_path / "a.jsonl", [{"a": 1}])
        os.umask(0o077)
        write_jsonl(tmp_path / "b.jsonl", [{"a": 1}])
        (tmp_path / "c.jsonl").write_text("old\n")
        os.chmod(tmp_path / "c.jsonl", 0o640)
        write_jsonl(tmp_path / "c.jsonl", [{"a": 1}])
    finally:
        os.umask(old)
    mode = {n: (tmp_path / n).stat().st_mode & 0o777 for n in ("a.jsonl", "b.jsonl", "c.jsonl")}
    assert mode == {"a.jsonl": 0o644, "b.jsonl": 0o600, "c.jsonl": 0o640}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_writers_refuse_nan_and_infinity(tmp_path, fmt):
    """Python's json.dumps writes NaN/Infinity, which no JSON reader accepts: refuse, naming the field."""
    from hrlaif.data import Prompt, write_records
    from hrlaif.errors import HrlaifError

    out = tmp_path / f"p.{fmt}"
    for bad in (float("nan"), float("inf")):
        p = Prompt.simple("a", "math", "1+1?", metadata={"difficulty": bad})
        with pytest.raises(HrlaifError, match=r"invalid JSON: Prompt field 'metadata.difficulty' is (nan|inf)"):
            write_records(out, [Prompt.simple("ok", "math", "2+2?"), p])
        assert not out.exists() and list(tmp_path.iterdir()) == []


def test_nan_in_a_parquet_float_column_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hrlaif.data import GenerationInfo, read_parquet

    rows = [{"model": "m", "temperature": 0.7}, {"model": "m", "temperature": float("nan")}]
    path = tmp_path / "g.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(InputError, match=r"g.parquet:2: field 'temperature': nan"):
        read_parquet(path, GenerationInfo)


def test_torn_tail_is_still_dropped_but_a_whole_bad_tail_is_an_error(tmp_path):
    path = tmp_path / "x.jsonl.partial"
    path.write_text('{"a": 1}\n{"a": 2, "b": "unfini')
    assert [obj for _, obj in iter_jsonl(path, tolerate_truncated_tail=True)] == [{"a": 1}]
    path.write_text('{"a": 1}\n{"a": NaN}')
    with pytest.raises(InputError, match=r":2: field 'a': NaN"):
        list(iter_jsonl(path, tolerate_truncated_tail=True))


def test_killed_generate_leaves_no_half_written_output(tiny_llama, tmp_path):
    """kill -9 in the middle of a run: the output file does not exist, the .partial holds only
    whole records (a torn last line at most). test_generate.py checks the resume from such a state."""
    prompts = tmp_path / "p.jsonl"
    write_jsonl(prompts, [{"id": f"p{i}", "category": "open_ended",
                           "messages": [{"role": "user", "content": "count: " + "one two " * (i % 7)}]}
                          for i in range(1500)])
    out = tmp_path / "o.jsonl"
    partial = Path(str(out) + ".partial")
    args = ["generate", "-q", "--prompts", str(prompts), "--model", str(tiny_llama), "--k", "2",
            "--max-new-tokens", "8", "--batch-size", "8", "--threads", "1", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "hrlaif.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "HRLAIF_QUIET": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if partial.exists() and partial.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not out.exists()
    records = [parse_record(ResponseSet, obj) for _, obj in iter_jsonl(partial, tolerate_truncated_tail=True)]
    assert 3 <= len(records) < 1500 and all(len(r.responses) == 2 for r in records)
