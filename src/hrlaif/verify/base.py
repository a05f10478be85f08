"""Typed verifier results. Verifiers are pure functions: (response, reference, ...) → Verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["correct", "incorrect", "hedged", "undecided"]


@dataclass
class Verdict:
    """What a verifier decided about one response.

    ``correct`` is True/False when the verifier could decide, None when it could not
    (no answer found, a crash or timeout of the checker, sandbox unavailable); ``reason`` always
    says why. ``hedged`` marks a response that names several answers without committing to one
    (``correct`` is then None): a distinct outcome that labeling ranks with incorrect answers.
    """

    correct: bool | None
    extracted: str | None
    reason: str
    verifier: str  # "math", "multiple_choice", "code", "steps"
    detail: dict[str, Any] = field(default_factory=dict)
    hedged: bool = False

    @property
    def outcome(self) -> Outcome:
        """``"correct"``, ``"incorrect"``, ``"hedged"`` or ``"undecided"``."""
        if self.correct is True:
            return "correct"
        if self.correct is False:
            return "incorrect"
        return "hedged" if self.hedged else "undecided"


@dataclass
class StepReport:
    """Reasoning-step check for math: each ``a op b = c`` found in the response, recomputed."""

    n_steps: int
    n_wrong: int
    wrong: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool | None:
        return None if self.n_steps == 0 else self.n_wrong == 0
