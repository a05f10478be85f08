"""Judges: OpenAI-compatible endpoints, local HF models, and a documented simulation."""

from hrlaif.judges.base import Judge, JudgeRequest, JudgeResult
from hrlaif.judges.verdict import PairVerdict, parse_verdict

__all__ = ["Judge", "JudgeRequest", "JudgeResult", "PairVerdict", "parse_verdict"]
