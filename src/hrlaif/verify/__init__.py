"""Verifiers: decide correctness where it can be decided (math, multiple choice, code)."""

from hrlaif.verify.base import StepReport, Verdict

__all__ = ["Verdict", "StepReport"]
