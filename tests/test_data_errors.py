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
