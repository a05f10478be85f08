"""One exception tree for the whole library.

    HrlaifError
    ├── ConfigError            unknown key, wrong type, bad value in a config file or flag
    ├── InputError             a data file is unreadable or invalid (names file, line, field)
    ├── ModelError             a model spec cannot be resolved or loaded
    ├── JudgeError             a judge failed for good (after its retries)
    │   └── JudgeParseError    the judge answered, but no verdict could be read
    ├── VerifierError          a verifier could not run (not: "the answer is wrong")
    │   └── SandboxError       the code sandbox is unavailable or refused to run
    └── TrainingError          training cannot go on
        └── NonFiniteError     NaN/inf in a loss, reward or gradient

The CLI maps every ``HrlaifError`` to a one-line message and exit code 2 (input and config)
or 1 (everything else). Third-party errors are wrapped at the boundary where they occur.
"""

from __future__ import annotations


class HrlaifError(Exception):
    """Base class of every error hrlaif raises on purpose."""

    exit_code = 1


class ConfigError(HrlaifError):
    exit_code = 2


class InputError(HrlaifError):
    """Invalid input data. ``str(err)`` reads ``file:line: field: message``."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None):
        self.path, self.line, self.field, self.message = path, line, field, message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        if field:
            where += f"field '{field}': "
        super().__init__(where + message)


class ModelError(HrlaifError):
    pass


class JudgeError(HrlaifError):
    pass


class JudgeParseError(JudgeError):
    pass


class VerifierError(HrlaifError):
    pass


class SandboxError(VerifierError):
    pass


class TrainingError(HrlaifError):
    pass


class NonFiniteError(TrainingError):
    pass
