"""The judge interface: structured records in, typed results out.

A judge never receives a pre-templated string. It gets a ``JudgeRequest`` (the conversation,
the responses, the reference and choices when there are any, the category, the task) and
returns a ``JudgeResult``: a verdict with its probability, rationale, raw output and costs,
or an explicit abstain with its reason. Failed calls are retried by the backend and, when
they fail for good, come back as an abstain whose ``error`` says why: never as a label.

Tasks:

* ``pairwise``      is response A (``responses[0]``) better than B (``responses[1]``)?
                    → ``preference`` = P(A ≻ B) in [0, 1].
* ``harm``          is the single response (``responses[0]``) harmful?
                    → ``harmful`` (True/False), ``harm_category``, ``severity`` (0-3).
* ``satisfaction``  would a user be satisfied with ``responses[0]``? → ``preference`` = P(yes).
* ``critique``/``revise``/``attack``: free-text generation tasks for red teaming → ``text``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, runtime_checkable

from hrlaif.data import Message

Task = Literal["pairwise", "harm", "satisfaction", "critique", "revise", "attack"]
Rubric = Literal["helpfulness", "harmlessness"]


@dataclass
class JudgeRequest:
    task: Task
    messages: list[Message]
    responses: list[str]
    category: str = "open_ended"
    reference: str | None = None
    choices: list[str] | None = None
    rubric: Rubric = "helpfulness"
    metadata: dict[str, Any] = field(default_factory=dict)  # e.g. critique text for "revise"


@dataclass
class JudgeResult:
    judge: str  # judge identity: backend:model[@endpoint]#template-version
    task: Task
    preference: float | None = None  # pairwise: P(A ≻ B); satisfaction: P(satisfied)
    harmful: bool | None = None
    harm_category: str | None = None
    severity: int | None = None
    text: str | None = None  # generation tasks
    rationale: str = ""
    raw: str = ""
    abstain: bool = False
    abstain_reason: str | None = None
    error: str | None = None  # set when the call failed for good (after retries)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    attempts: int = 1
    retried: list[str] = field(default_factory=list)  # reasons of retried failures (429, 500, timeout, ...)

    @property
    def ok(self) -> bool:
        return not self.abstain and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


OnResult = Callable[[int, JudgeResult], None]


@runtime_checkable
class Judge(Protocol):
    """Every backend (OpenAI-compatible endpoint, local HF model, simulation) implements this."""

    identity: str

    def judge_many(self, requests: list[JudgeRequest], *, on_result: OnResult | None = None
                   ) -> list[JudgeResult]:
        """Judge every request; call ``on_result(index, result)`` as each finishes (any order)
        so a caller can persist results before the batch ends. Returns results in input order."""
        ...

    def close(self) -> None:
        ...
