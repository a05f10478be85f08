"""Verifiers: decide correctness where it can be decided (math, multiple choice, code).

Each verifier is a pure function ``(response, reference, ...) -> Verdict`` with ``correct`` True,
False or None (undecidable: no answer found, ambiguous choice) and a ``reason``. The label and
eval stages call the dispatcher:

* ``verify_response(prompt, response)`` → ``Verdict``, or ``None`` when the prompt's category
  has no verifier (``CATEGORIES[cat].verifier`` in ``hrlaif.data``) so the judge decides;
* ``verify_many([(prompt, response), ...])`` → the same for a batch, code run in parallel;
* ``check_steps(text)`` → ``StepReport`` for math responses whose final answers tie.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable

from hrlaif.errors import VerifierError
from hrlaif.verify.base import StepReport, Verdict
from hrlaif.verify.choice import extract_choice, verify_choice
from hrlaif.verify.code import (SandboxResult, run_in_sandbox, run_many, sandbox_isolation, verify_code,
                                verify_code_many)
from hrlaif.verify.math import extract_math_answer, verify_math
from hrlaif.verify.steps import check_steps

if TYPE_CHECKING:
    from hrlaif.data import Prompt

__all__ = ["Verdict", "StepReport", "SandboxResult", "verify_response", "verify_many", "check_steps",
           "verify_math", "extract_math_answer", "verify_choice", "extract_choice", "verify_code",
           "verify_code_many", "run_in_sandbox", "run_many", "sandbox_isolation", "code_prompt", "VERIFIERS"]

_FENCED = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.S | re.I)


def code_prompt(prompt: "Prompt") -> str:
    """The code a completion continues: ``metadata["code_prompt"]`` if set (an empty string too:
    an MBPP-style case with no stub), else the first fenced code block of the prompt text, else the
    prompt text itself (HumanEval's ``prompt`` field)."""
    if isinstance(prompt.metadata.get("code_prompt"), str):
        return prompt.metadata["code_prompt"]
    m = _FENCED.search(prompt.text)
    return m.group(1) if m else prompt.text


def _math(prompt: "Prompt", response: str, *, steps: bool = True, **_: Any) -> Verdict:
    v = verify_math(response, prompt.reference or "", question=prompt.text)
    if steps:
        v.detail["steps"] = dataclasses.asdict(check_steps(response))
    return v


def _choice(prompt: "Prompt", response: str, **_: Any) -> Verdict:
    try:
        return verify_choice(response, prompt.reference or "", prompt.choices)
    except ValueError as e:
        raise VerifierError(f"prompt {prompt.id!r}: {e}") from None


def _code(prompt: "Prompt", response: str, *, steps: bool = True, **sandbox_opts: Any) -> Verdict:
    if not prompt.entry_point:
        raise VerifierError(f"prompt {prompt.id!r}: a code prompt needs 'entry_point'")
    return verify_code(code_prompt(prompt), response, prompt.reference or "", prompt.entry_point, **sandbox_opts)


# verifier name (CATEGORIES[cat].verifier) → function(prompt, response, **opts) -> Verdict
VERIFIERS: dict[str, Callable[..., Verdict]] = {"math": _math, "multiple_choice": _choice, "code": _code}


def _verifier_for(prompt: "Prompt") -> str | None:
    from hrlaif.data import CATEGORIES

    info = CATEGORIES.get(prompt.category)
    name = info.verifier if info else None
    if name is not None and name not in VERIFIERS:
        raise VerifierError(f"category {prompt.category!r} names verifier {name!r}, which is not registered")
    return name


def verify_response(prompt: "Prompt", response: str, **opts: Any) -> Verdict | None:
    """Verify one response to ``prompt``; None when its category has no verifier.
    A verifiable prompt without a reference gives ``Verdict(correct=None)``.
    ``opts``: ``steps`` (math: add the step check to ``detail``), and for code the sandbox options
    of ``run_in_sandbox`` (``timeout_s``, ``memory_mb``, ``allow_unisolated``, ...)."""
    name = _verifier_for(prompt)
    if name is None:
        return None
    if not prompt.reference:
        return Verdict(None, None, "the prompt has no reference to verify against", name)
    return VERIFIERS[name](prompt, response, **opts)


def verify_many(items: Iterable[tuple["Prompt", str]], *, workers: int | None = None,
                on_done: Callable[[int, Verdict | None], None] | None = None, **opts: Any) -> list[Verdict | None]:
    """``verify_response`` over ``(prompt, response)`` pairs, in input order. Code runs in
    parallel sandboxes (``workers``, default one per core); math and choice run in this thread."""
    items = list(items)
    out: list[Verdict | None] = [None] * len(items)
    code_idx = []
    for i, (p, r) in enumerate(items):
        name = _verifier_for(p)
        if name == "code" and p.reference and VERIFIERS["code"] is _code:
            if not p.entry_point:
                raise VerifierError(f"prompt {p.id!r}: a code prompt needs 'entry_point'")
            code_idx.append(i)
            continue
        out[i] = verify_response(p, r, **opts)
        if on_done:
            on_done(i, out[i])
    if code_idx:
        sandbox_opts = {k: v for k, v in opts.items() if k != "steps"}
        done = (lambda j, v: on_done(code_idx[j], v)) if on_done else None
        got = verify_code_many([(code_prompt(items[i][0]), items[i][1], items[i][0].reference or "",
                                 items[i][0].entry_point or "") for i in code_idx],
                               workers=workers, on_done=done, **sandbox_opts)
        for i, v in zip(code_idx, got):
            out[i] = v
    return out
