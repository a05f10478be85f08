"""The dispatcher the label and eval stages call: verify_response / verify_many on Prompt records."""

from __future__ import annotations

import pytest

from hrlaif.data import Prompt
from hrlaif.errors import VerifierError
from hrlaif.verify import code_prompt, verify_many, verify_response

ADD = 'def add(a, b):\n    """Return a + b."""\n'
TESTS = "def check(candidate):\n    assert candidate(2, 3) == 5\n"


def _prompts() -> list[Prompt]:
    return [
        Prompt.simple("m", "math", "What is 23+45?", reference="68"),
        Prompt.simple("c", "multiple_choice", "Capital of France?", reference="A", choices=["Paris", "Rome"]),
        Prompt.simple("k", "code", f"Complete the function:\n```python\n{ADD}```", reference=TESTS,
                      entry_point="add"),
        Prompt.simple("o", "open_ended", "Write a haiku about rain."),
    ]


def test_verify_response_dispatches_by_category():
    m, c, k, o = _prompts()
    v = verify_response(m, "23 + 45 = 78")  # SmolLM2's real answer to this prompt
    assert v.correct is False and v.extracted == "78" and v.detail["steps"]["n_wrong"] == 1
    assert verify_response(m, "23 + 45 = 68").correct is True
    assert verify_response(c, "The answer is (A)").correct is True
    assert code_prompt(k) == ADD
    assert verify_response(k, "    return a + b\n").correct is True
    assert verify_response(o, "Rain on the roof") is None  # no verifier: the judge decides
    nothing = verify_response(Prompt.simple("n", "math", "2+2?"), "4")
    assert nothing.correct is None and "no reference" in nothing.reason


def test_verify_many_keeps_order_and_runs_code_in_parallel():
    m, c, k, o = _prompts()
    items = [(k, "    return a - b\n"), (m, "#### 68"), (o, "x"), (k, "    return a + b\n"), (c, "Rome")]
    seen: list[int] = []
    got = verify_many(items, workers=2, on_done=lambda i, v: seen.append(i))
    assert [v.correct if v else None for v in got] == [False, True, None, True, False]
    assert sorted(seen) == list(range(len(items)))


def test_code_prompt_without_entry_point_is_an_error():
    bad = Prompt.simple("k", "code", ADD, reference=TESTS)
    with pytest.raises(VerifierError, match="entry_point"):
        verify_response(bad, "    return a + b\n")
    with pytest.raises(VerifierError, match="entry_point"):
        verify_many([(bad, "    return a + b\n")])
