"""Shared fixtures: real tiny models built offline, the shared benchmark data, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HRLAIF_QUIET", "1")
# One torch thread per process: the suite's models are tiny (a second thread buys nothing) and
# OpenMP threads that spin-wait stall badly whenever the other core is busy (measured: 10-20x).
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _data_dir() -> Path:
    env = os.environ.get("HRLAIF_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real benchmark files (../shared/data); read in place, never copied."""
    d = _data_dir()
    if not (d / "gsm8k" / "test.jsonl").exists():
        pytest.fail(f"benchmark data not found at {d} (set HRLAIF_DATA_DIR)")
    return d


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A tiny random Llama + locally trained BPE tokenizer, saved as an HF folder."""
    from hrlaif.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama", arch="llama")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    from hrlaif.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-gpt2", arch="gpt2")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real ``hrlaif`` CLI in a subprocess; returns the completed process (text mode)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "hrlaif.cli", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout, input=input)


@pytest.fixture
def cli():
    return run_cli
