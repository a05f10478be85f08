"""Held-out verified accuracy during PPO, and the checkpoint chosen by it (never by the RM).

Every ``eval_every`` updates (and before the first one) the policy answers ``eval_prompts``
greedily with the same ``Sampler`` and the same verifiers ``hrlaif eval`` uses. The accuracy is
correct / n: a hedged, undecided or unverifiable answer counts as not correct. Under several
processes each rank answers every world-th item and the counts are summed.

With ``select=best_heldout``, whenever an evaluation beats every earlier one (ties keep the
earlier update, nearer the reference) the trainable weights are saved to
``checkpoint/best_<update>.pt``. The exported ``policy/`` is then that state. Update 0 is the
initial policy, so a run that only got worse on held-out data exports the SFT policy. Older best
files are pruned when a regular checkpoint is written. A resumed run takes the best from the
evaluations its checkpoint holds, and drops best files from after that checkpoint.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch

if TYPE_CHECKING:
    from hrlaif.data import Prompt

log = logging.getLogger(__name__)

BEST_GLOB = "best_*.pt"
_BEST_RE = re.compile(r"best_(\d+)\.pt$")


def heldout_counts(policy: Any, tokenizer: Any, prompts: Sequence["Prompt"], *, max_new_tokens: int,
                   batch_size: int) -> dict[str, float]:
    """Greedy responses to ``prompts``, verified. Sums (so ranks can add them): ``n``, ``correct``,
    ``hedged``, ``undecided`` (no outcome or undecided), ``tokens`` (generated, incl. the stop
    token), ``eos`` (responses that stopped). Leaves every RNG as it found it."""
    from hrlaif.ppo.critic import base_lm
    from hrlaif.sampling import Sampler
    from hrlaif.verify import verify_many

    counts = dict.fromkeys(("n", "correct", "hedged", "undecided", "tokens", "eos"), 0.0)
    if not prompts:
        return counts
    device = next(policy.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        sampler = Sampler(base_lm(policy), tokenizer)  # LoRA: the wrapped model, adapters active
        out = sampler.sample([p.messages for p in prompts], 1, temperature=0.0, max_new_tokens=max_new_tokens,
                             batch_size=batch_size, keys=[p.id for p in prompts])
    responses = [r[0] for r in out]
    verdicts = verify_many([(p, r.text) for p, r in zip(prompts, responses)], steps=False)
    for r, v in zip(responses, verdicts):
        o = v.outcome if v is not None else None
        counts["n"] += 1
        counts["correct"] += o == "correct"
        counts["hedged"] += o == "hedged"
        counts["undecided"] += o in ("undecided", None)
        counts["tokens"] += r.n_tokens or 0
        counts["eos"] += r.finish_reason == "stop"
    return counts


def heldout_row(update: int, counts: dict[str, float], seconds: float) -> dict:
    """The ``heldout_*`` fields of one evaluation from the summed counts."""
    n = max(counts["n"], 1.0)
    return {"update": update, "heldout_accuracy": counts["correct"] / n, "heldout_n": int(counts["n"]),
            "heldout_correct": int(counts["correct"]), "heldout_frac_hedged": counts["hedged"] / n,
            "heldout_frac_undecided": counts["undecided"] / n, "heldout_response_length": counts["tokens"] / n,
            "heldout_eos_frac": counts["eos"] / n, "heldout_time_s": seconds}


def best_of(evals: Sequence[dict], up_to: int | None = None) -> dict | None:
    """The evaluation with the highest ``heldout_accuracy`` (earliest on ties), among updates ≤ ``up_to``."""
    best = None
    for e in evals:
        if up_to is not None and e["update"] > up_to:
            continue
        if best is None or e["heldout_accuracy"] > best["heldout_accuracy"]:
            best = e
    return best


class BestCheckpoint:
    """The trainable state of the best held-out evaluation so far, on disk (``checkpoint/best_<u>.pt``)."""

    def __init__(self, folder: Path, *, enabled: bool, is_main: bool):
        self.folder, self.enabled, self.is_main = folder, enabled, is_main
        self.best: dict | None = None

    def _files(self) -> dict[int, Path]:
        if not self.folder.is_dir():
            return {}
        return {int(m.group(1)): p for p in self.folder.glob(BEST_GLOB) if (m := _BEST_RE.search(p.name))}

    def path(self, update: int) -> Path:
        return self.folder / f"best_{update}.pt"

    def resume(self, evals: Sequence[dict], ckpt_update: int) -> None:
        """Take the best of the checkpoint's evaluations; drop best files written after it."""
        if not self.enabled:
            return
        self.best = best_of(evals, ckpt_update)
        if self.is_main:
            for u, p in self._files().items():
                if u > ckpt_update:
                    p.unlink(missing_ok=True)
        if self.best is not None and not self.path(self.best["update"]).exists():
            from hrlaif.errors import ConfigError

            raise ConfigError(f"{self.path(self.best['update'])} is missing: the best held-out state of this run "
                              f"(update {self.best['update']}); use another --output or --no-resume")

    def consider(self, row: dict, trainable: Any) -> bool:
        """Save ``trainable()`` when ``row`` beats the best so far; True when it did."""
        if not self.enabled or (self.best is not None and row["heldout_accuracy"] <= self.best["heldout_accuracy"]):
            return False
        self.best = row
        if self.is_main:
            from hrlaif.ppo.state import save_state_file

            self.folder.mkdir(parents=True, exist_ok=True)
            save_state_file({"update": row["update"], "heldout_accuracy": row["heldout_accuracy"],
                             "trainable": trainable()}, self.path(row["update"]))
        log.info("held-out accuracy %.3f at update %d: the best so far", row["heldout_accuracy"], row["update"])
        return True

    def prune(self) -> None:
        """Remove best files other than the current best (called when a checkpoint is written)."""
        if not (self.enabled and self.is_main and self.best is not None):
            return
        for u, p in self._files().items():
            if u != self.best["update"]:
                p.unlink(missing_ok=True)

    def load(self) -> dict:
        assert self.best is not None
        return torch.load(self.path(self.best["update"]), map_location="cpu", weights_only=False)["trainable"]


def write_selection(out: Path, select: str, update: int, heldout: list[dict]) -> Path:
    """``selection.json``: which update ``policy/`` holds and its held-out accuracy."""
    from hrlaif.data import atomic_write_text

    row = next((h for h in heldout if h["update"] == update), None)
    p = out / "selection.json"
    atomic_write_text(p, json.dumps({"select": select, "update": update,
                                     "heldout_accuracy": row["heldout_accuracy"] if row else None,
                                     "heldout_n": row["heldout_n"] if row else None}, indent=1) + "\n")
    return p
