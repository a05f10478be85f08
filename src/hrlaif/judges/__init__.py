"""Judges: OpenAI-compatible endpoints, local HF models, and a documented simulation."""

from hrlaif.judges.base import Judge, JudgeRequest, JudgeResult

__all__ = ["Judge", "JudgeRequest", "JudgeResult"]
