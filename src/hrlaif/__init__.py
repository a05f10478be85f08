"""hrlaif — Hybrid RLAIF (Li et al., arXiv 2403.08309) on a laptop CPU and beyond.

Stages (each a module with a typed config and a Python entry point):
``generate`` → ``label`` (basic | hybrid, with ``verify``) and ``redteam`` → ``rm.train`` →
``ppo.train`` → ``evaluate``; ``pipeline`` runs them all, ``review`` asks humans.
Importing ``hrlaif`` is cheap: torch and transformers load only when a stage runs.
"""

__version__ = "0.1.0"

from hrlaif.errors import (  # noqa: E402
    ConfigError, HrlaifError, InputError, JudgeError, JudgeParseError, ModelError, NonFiniteError, SandboxError,
    TrainingError, VerifierError,
)

__all__ = [
    "__version__", "HrlaifError", "ConfigError", "InputError", "ModelError", "JudgeError", "JudgeParseError",
    "VerifierError", "SandboxError", "TrainingError", "NonFiniteError",
]
