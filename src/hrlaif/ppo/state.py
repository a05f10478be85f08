"""Checkpoints, resume, policy export, and the run's metrics file and plot.

``output/checkpoint/state.pt`` holds what training changed (trainable weights: LoRA adapters or
the full policy, the value head), the optimizer, the KL controller, the update count, the
metrics so far and every RNG state; ``rng_<rank>.pt`` holds the other ranks' RNG states. Both
are written atomically, so a crash (or a NaN) leaves the last good checkpoint in place.
"""

from __future__ import annotations

import json
import logging
import random
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from hrlaif.data import atomic_write_text, atomic_writer
from hrlaif.errors import ConfigError

log = logging.getLogger(__name__)

CKPT_DIR = "checkpoint"
STATE_FILE = "state.pt"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "ppo_curves.png"
POLICY_DIR = "policy"


def rng_state() -> dict:
    import numpy as np

    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(s: dict) -> None:
    import numpy as np

    torch.set_rng_state(s["torch"])
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    if s.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def _torch_save_atomic(obj: Any, path: Path) -> None:
    with atomic_writer(path, "wb") as f:
        torch.save(obj, f)


def save_checkpoint(out: Path, *, rank: int, update: int, trainable: dict | None, optimizer: Any,
                    kl_ctl: Any, metrics: list[dict], fingerprint: dict) -> Path:
    """Rank 0 writes ``state.pt``; every rank writes its own RNG state."""
    d = out / CKPT_DIR
    d.mkdir(parents=True, exist_ok=True)
    _torch_save_atomic({"rng": rng_state(), "update": update}, d / f"rng_{rank}.pt")
    if rank == 0:
        _torch_save_atomic({"update": update, "trainable": trainable, "optimizer": optimizer.state_dict(),
                            "kl_ctl": kl_ctl.state_dict(), "metrics": metrics, "fingerprint": fingerprint},
                           d / STATE_FILE)
    return d


def load_checkpoint(out: Path, *, rank: int, fingerprint: dict) -> dict | None:
    """The saved state, or ``None`` when there is none. Refuses a checkpoint made with other
    settings that change what is trained (model, critic layout, LoRA, ...)."""
    p = out / CKPT_DIR / STATE_FILE
    if not p.exists():
        return None
    state = torch.load(p, map_location="cpu", weights_only=False)
    saved = state.get("fingerprint", {})
    diff = {k: (saved.get(k), v) for k, v in fingerprint.items() if saved.get(k) != v}
    if diff:
        raise ConfigError(f"{p}: checkpoint was made with different settings "
                          + ", ".join(f"{k}={a!r} (now {b!r})" for k, (a, b) in diff.items())
                          + "; use another --output or --no-resume")
    rp = out / CKPT_DIR / f"rng_{rank}.pt"
    if rp.exists():
        r = torch.load(rp, map_location="cpu", weights_only=False)
        if r["update"] == state["update"]:
            state["rng"] = r["rng"]
    return state


def export_policy(policy: Any, tokenizer: Any, folder: Path) -> Path:
    """Save the trained policy as a plain Hugging Face folder (LoRA merged) + tokenizer."""
    from hrlaif.models import _plain_copy

    model = policy
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    if getattr(model.config, "quantization_config", None) is not None:  # GGUF-loaded: rebuild plain
        model = _plain_copy(model)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def peak_memory_mb(device: Any) -> float:
    """Peak resident memory of this process (CPU: VmHWM, else ru_maxrss) or peak CUDA memory
    allocated. VmHWM is this program's own high-water mark; Linux's ru_maxrss also keeps the
    RSS of whatever process forked it before ``exec``."""
    if getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def write_metrics(out: Path, metrics: list[dict]) -> Path:
    p = out / METRICS_FILE
    atomic_write_text(p, "".join(json.dumps(m) + "\n" for m in metrics))
    return p


def plot_metrics(out: Path, metrics: list[dict]) -> Path | None:
    """Reward and KL curves (plus entropy and explained variance) as one PNG."""
    if not metrics:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [m["update"] for m in metrics]
    panels = [("reward_mean", "RM reward (mean ± std)"), ("kl", "KL(π‖π_ref) per response"),
              ("entropy", "entropy per token"), ("explained_variance", "explained variance")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (key, title) in zip(axes, panels):
        y = [m.get(key, float("nan")) for m in metrics]
        ax.plot(x, y, marker="o", ms=3)
        if key == "reward_mean":
            s = [m.get("reward_std", 0.0) for m in metrics]
            ax.fill_between(x, [a - b for a, b in zip(y, s)], [a + b for a, b in zip(y, s)], alpha=0.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    p = out / PLOT_FILE
    with atomic_writer(p, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return p
