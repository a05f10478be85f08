"""``hrlaif verify`` end to end through the real CLI: all of GSM8K test, all of HumanEval, bad input."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from hrlaif.verify import code as code_mod
from hrlaif.verify import sandbox_isolation


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _read(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _perturb(answer: str) -> str:
    v = float(answer.replace(",", ""))
    return str(int(v) + 1) if v == int(v) else str(v + 1)


def test_gsm8k_every_solution_correct_and_every_perturbed_answer_incorrect(tmp_path, data_dir, cli):
    rows = []
    for i, line in enumerate(open(data_dir / "gsm8k" / "test.jsonl", encoding="utf-8")):
        sol = json.loads(line)["answer"]
        head, answer = sol.rsplit("####", 1)
        answer = answer.strip()
        rows.append({"id": f"{i}", "category": "math", "response": sol, "reference": answer})
        rows.append({"id": f"{i}-bad", "category": "math", "response": f"{head}#### {_perturb(answer)}",
                     "reference": answer})
    assert len(rows) == 2 * 1319
    cases, out = _write(tmp_path / "cases.jsonl", rows), tmp_path / "verdicts.jsonl"
    p = cli("verify", "--in", str(cases), "--out", str(out))
    assert p.returncode == 0, p.stderr
    got = _read(out)
    assert len(got) == len(rows)
    wrong = [r for k, r in got.items() if r["correct"] is not (not k.endswith("-bad"))]
    assert not wrong, wrong[:5]
    assert set(got["0"]) >= {"id", "correct", "extracted", "reason"}
    assert got["0"]["extracted"] == "18" and got["0-bad"]["extracted"] == "19"
    # the summary table: cases, correct, incorrect, undecided
    assert re.search(r"math\W+2638\W+1319\W+1319\W+0\b", p.stdout), p.stdout
    assert (tmp_path / "verdicts.config.yaml").exists()


@pytest.mark.skipif(not all(k in sandbox_isolation() for k in code_mod.REQUIRED_ISOLATION),
                    reason="no sandbox isolation on this OS")
def test_humaneval_canonical_pass_and_broken_fail(tmp_path, data_dir, cli):
    problems = [json.loads(x) for x in gzip.open(data_dir / "humaneval" / "HumanEval.jsonl.gz", "rt")]
    assert len(problems) == 164
    rows = []
    for k, p in enumerate(problems):
        base = {"category": "code", "prompt": p["prompt"], "reference": p["test"], "entry_point": p["entry_point"]}
        rows.append({**base, "id": p["task_id"], "response": p["canonical_solution"]})
        if k % 8 == 0:  # a broken body for every 8th problem keeps the test fast
            rows.append({**base, "id": p["task_id"] + "/none", "response": "    return None\n"})
    loop = {"category": "code", "prompt": problems[0]["prompt"], "reference": problems[0]["test"],
            "entry_point": problems[0]["entry_point"]}
    rows.append({**loop, "id": "loop", "response": "    while True:\n        pass\n"})
    rows.append({**loop, "id": "membomb", "response": "    x = [0] * (10 ** 10)\n    return x\n"})
    cases, out = _write(tmp_path / "cases.jsonl", rows), tmp_path / "verdicts.jsonl"
    p = cli("verify", "--in", str(cases), "--out", str(out), "--timeout-s", "3", "--memory-mb", "512")
    assert p.returncode == 0, p.stderr
    got = _read(out)
    failed_canonical = [r for k, r in got.items() if k.startswith("HumanEval/") and "/none" not in k[10:]
                        and r["correct"] is not True]
    assert not failed_canonical, failed_canonical[:3]
    assert sum(k.startswith("HumanEval/") for k in got) == 164 + 21
    assert all(r["correct"] is False for k, r in got.items() if k.endswith("/none"))
    assert got["loop"]["correct"] is False and got["loop"]["status"] == "timeout"
    assert got["membomb"]["correct"] is False and got["membomb"]["status"] == "memory"
    assert "no-network" in p.stdout and "readonly-fs" in p.stdout  # isolation is reported


def test_multiple_choice_rows(tmp_path, cli):
    rows = [{"id": "a", "category": "multiple_choice", "response": "答案是 C", "reference": "C",
             "choices": ["1", "2", "3", "4"]},
            {"id": "b", "category": "multiple_choice", "response": "The answer is A or B", "reference": "A",
             "choices": ["x", "y"]}]
    out = tmp_path / "v.jsonl"
    p = cli("verify", "--in", str(_write(tmp_path / "c.jsonl", rows)), "--out", str(out))
    assert p.returncode == 0, p.stderr
    got = _read(out)
    assert got["a"]["correct"] is True and got["a"]["extracted"] == "C"
    assert got["b"]["correct"] is None and "ambiguous" in got["b"]["reason"]


def test_code_case_with_no_prompt_mbpp_style(tmp_path, cli):
    """Issue 14 #7: an empty prompt and a completion defining the entry point at column 0 must run
    (the program was "\n    pass\n\n" + code, or the placeholder prompt text "(verify)" + code)."""
    tests = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
    rows = [{"id": "ok", "category": "code", "response": "def add(a, b):\n    return a + b\n", "reference": tests,
             "entry_point": "add"},
            {"id": "empty", "category": "code", "prompt": "", "response": "def add(a, b):\n    return a * b\n",
             "reference": tests, "entry_point": "add"}]
    out = tmp_path / "v.jsonl"
    p = cli("verify", "--in", str(_write(tmp_path / "c.jsonl", rows)), "--out", str(out))
    assert p.returncode == 0, p.stderr
    got = _read(out)
    assert got["ok"]["correct"] is True, got["ok"]
    assert got["empty"]["correct"] is False and "AssertionError" in got["empty"]["reason"], got["empty"]


@pytest.mark.parametrize("row, field, message", [
    ({"id": "x", "category": "math", "reference": "3"}, "response", "missing"),
    ({"id": "x", "category": "poetry", "response": "r", "reference": "3"}, "category", "no verifier"),
    ({"id": "x", "category": "open_ended", "response": "r", "reference": "3"}, "category", "no verifier"),
    ({"id": "x", "category": "multiple_choice", "response": "A", "reference": "A"}, "choices", "missing"),
    ({"id": "x", "category": "multiple_choice", "response": "A", "reference": "Z", "choices": ["p", "q"]},
     "reference", "not an option"),
    ({"id": "x", "category": "code", "response": "pass", "reference": "t", "entry_point": "f()"},
     "entry_point", "identifier"),
    ({"id": "x", "category": "math", "response": 5, "reference": "3"}, "response", "expected"),
    # issue 14 #11: an empty id was a _FieldError traceback (exit 1); NaN was verified as "≢ reference nan"
    ({"id": "", "category": "math", "response": "r", "reference": "3"}, "id", "must be a non-empty string"),
    ({"id": "x", "category": "math", "response": "2", "reference": float("nan")}, "reference",
     "NaN is not a finite number"),
])
def test_bad_rows_exit_2_naming_file_line_field(tmp_path, cli, row, field, message):
    good = {"id": "ok", "category": "math", "response": "The answer is 3", "reference": "3"}
    cases = _write(tmp_path / "cases.jsonl", [good, row])
    p = cli("verify", "--in", str(cases), "--out", str(tmp_path / "v.jsonl"))
    assert p.returncode == 2, p.stderr
    assert f"{cases}:2: field '{field}'" in p.stderr and message in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "v.jsonl").exists()


def test_bad_json_and_missing_file(tmp_path, cli):
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": "a", "category": "math", "response": "1", "reference": "1"}\n{not json\n')
    p = cli("verify", "--in", str(cases), "--out", str(tmp_path / "v.jsonl"))
    assert p.returncode == 2 and f"{cases}:2:" in p.stderr
    p = cli("verify", "--in", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "v.jsonl"))
    assert p.returncode == 2 and "not found" in p.stderr
    p = cli("verify", "--out", str(tmp_path / "v.jsonl"))
    assert p.returncode == 2 and "--in" in p.stderr
