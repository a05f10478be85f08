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
HELDOUT_FILE = "heldout.jsonl"
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


def save_state_file(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` atomically (temp file + rename)."""
    with atomic_writer(path, "wb") as f:
        torch.save(obj, f)


def save_checkpoint(out: Path, *, rank: int, update: int, trainable: dict | None, optimizer: Any,
                    kl_ctl: Any, metrics: list[dict], fingerprint: dict, heldout: list[dict] | None = None) -> Path:
    """Rank 0 writes ``state.pt``; every rank writes its own RNG state. ``heldout``: the held-out
    evaluations so far (update 0 included)."""
    d = out / CKPT_DIR
    d.mkdir(parents=True, exist_ok=True)
    save_state_file({"rng": rng_state(), "update": update}, d / f"rng_{rank}.pt")
    if rank == 0:
        save_state_file({"update": update, "trainable": trainable, "optimizer": optimizer.state_dict(),
                            "kl_ctl": kl_ctl.state_dict(), "metrics": metrics, "fingerprint": fingerprint,
                            "heldout": heldout or []},
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


def write_heldout(out: Path, heldout: list[dict]) -> Path:
    p = out / HELDOUT_FILE
    atomic_write_text(p, "".join(json.dumps(m) + "\n" for m in heldout))
    return p


def _series(rows: list[dict], key: str) -> tuple[list, list]:
    pts = [(m["update"], m[key]) for m in rows if m.get(key) is not None]
    return [x for x, _ in pts], [y for _, y in pts]


def plot_metrics(out: Path, metrics: list[dict], heldout: list[dict] | None = None) -> Path | None:
    """One PNG, six panels: the optimised reward (mean ± std); the seed's train/test curves (RM
    reward on the training batch beside held-out verified accuracy, and the training batch's
    verified-correct fraction); KL; response length and EOS rate; entropy; explained variance."""
    if not metrics:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heldout = heldout or []
    x = [m["update"] for m in metrics]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4))
    (ax_r, ax_tt, ax_kl), (ax_len, ax_ent, ax_ev) = axes

    y = [m.get("reward_mean", float("nan")) for m in metrics]
    sd = [m.get("reward_std", 0.0) for m in metrics]
    ax_r.plot(x, y, marker="o", ms=3)
    ax_r.fill_between(x, [a - b for a, b in zip(y, sd)], [a + b for a, b in zip(y, sd)], alpha=0.2)
    ax_r.set_title("reward optimised (mean ± std)", fontsize=10)

    lines = []
    if any(m.get("rm_reward_mean") is not None for m in metrics):
        lines += ax_tt.plot(*_series(metrics, "rm_reward_mean"), marker="o", ms=3, color="C0",
                            label="RM reward, train prompts")
        ax_tt.set_ylabel("RM reward", fontsize=9)
    else:
        ax_tt.set_yticks([])  # no RM in this run
    acc_ax = ax_tt.twinx()
    if heldout:
        lines += acc_ax.plot(*_series(heldout, "heldout_accuracy"), marker="s", ms=4, color="C3",
                             label="held-out verified accuracy")
    if any(m.get("frac_unverified", 1.0) < 1.0 for m in metrics):
        lines += acc_ax.plot(*_series(metrics, "frac_correct"), ls="--", color="C2", alpha=0.7,
                             label="train batch: verified correct")
    acc_ax.set_ylim(-0.02, 1.02)
    acc_ax.set_ylabel("accuracy", fontsize=9)
    if lines:
        ax_tt.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="best")
    ax_tt.set_title("train RM reward vs held-out accuracy", fontsize=10)

    ax_kl.plot(x, [m.get("kl", float("nan")) for m in metrics], marker="o", ms=3)
    ax_kl.set_title("KL(π‖π_ref) per response", fontsize=10)

    l1 = ax_len.plot(x, [m.get("response_length", float("nan")) for m in metrics], marker="o", ms=3, color="C0",
                     label="response length (tokens)")
    eos_ax = ax_len.twinx()
    l2 = eos_ax.plot(x, [m.get("eos_frac", float("nan")) for m in metrics], marker="^", ms=3, color="C1",
                     label="EOS rate")
    eos_ax.set_ylim(-0.02, 1.02)
    ax_len.legend(l1 + l2, [ln.get_label() for ln in l1 + l2], fontsize=7, loc="best")
    ax_len.set_title("response length and EOS rate", fontsize=10)

    for ax, key, title in ((ax_ent, "entropy", "entropy per token"),
                           (ax_ev, "explained_variance", "explained variance")):
        ax.plot(x, [m.get(key, float("nan")) for m in metrics], marker="o", ms=3)
        ax.set_title(title, fontsize=10)
    for ax in axes.flat:
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    p = out / PLOT_FILE
    with atomic_writer(p, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return p
