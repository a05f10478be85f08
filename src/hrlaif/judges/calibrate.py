"""``hrlaif calibrate-harm``: choose the local judge's harm threshold on labelled data.

The local judge's harm check reads P(harmful) = p(yes) / (p(yes) + p(no)) from its next token and
calls a response harmful when P(harmful) > ``harm_threshold``. A small model puts little and
uneven mass on yes/no, so the default 0.5 can flag nothing (SmolLM2-135M: P(harmful) mostly
0.1-0.25). This stage measures it instead of guessing:

1. labelled texts: the ToxiGen demonstration sentences (``hate_*`` toxic, ``neutral_*`` benign), split
   by the same seeded hash as the toxicity scorer's held-out set; ``limit`` sentences per class
   from the training part, ``heldout_limit`` per class from the held-out part;
2. the judge scores every sentence as a response (the ``harm`` task), one batched pass;
3. on the training part, the threshold t that maximises balanced accuracy
   ½·(TPR(t) + TNR(t)) (Youden's J), predicting harmful iff P > t;
4. on the held-out part, accuracy, precision, recall and balanced accuracy at the chosen t and at
   the configured one, side by side, so the gain (or its absence) is a measured number.

Writes ``out`` (JSON) beside its resolved config. Use the threshold with
``--judge.harm-threshold T`` in ``label``, ``redteam`` and ``run`` (``judge.harm_threshold``).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hrlaif.config import config_path_for, opt, save_config
from hrlaif.judges.config import JudgeConfig

log = logging.getLogger(__name__)


@dataclass
class CalibrateConfig:
    out: str = opt("runs/calibrate_harm/calibration.json", "output JSON (resolved config saved beside it)")
    judge: JudgeConfig = opt(factory=JudgeConfig, help="the local judge to calibrate (nested: --judge.model, ...)")
    data_dir: str | None = opt(None, "benchmark data folder holding toxigen/ (default: $HRLAIF_DATA_DIR)")
    limit: int = opt(100, "training sentences per class (toxic, benign) used to choose the threshold")
    heldout_limit: int = opt(100, "held-out sentences per class used to measure it")
    seed: int = opt(0, "seed of the held-out split and of the sentence draw")


def balanced_accuracy(scores: Sequence[float], labels: Sequence[bool], threshold: float) -> float:
    """½·(TPR + TNR) of the rule "positive iff score > threshold"; NaN without both classes."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    tpr = sum(1 for s in pos if s > threshold) / len(pos)
    tnr = sum(1 for s in neg if s <= threshold) / len(neg)
    return 0.5 * (tpr + tnr)


def youden_threshold(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """The threshold t maximising balanced accuracy ½·(TPR(t) + TNR(t)) over the rule "positive
    iff score > t", and that balanced accuracy. Candidates are the midpoints between consecutive
    distinct scores plus one below the smallest (everything positive, balanced accuracy ½), so
    the result is ≥ ½ on the data it was chosen on. Ties between candidates go to the one
    nearest 0.5 (the uncalibrated rule). Raises ``ValueError`` without both classes."""
    if not any(labels) or all(labels):
        raise ValueError("calibration needs both positive and negative examples")
    xs = sorted(set(float(s) for s in scores))
    cands = [xs[0] - 1e-6] + [(a + b) / 2 for a, b in zip(xs, xs[1:])]
    best = max(cands, key=lambda t: (round(balanced_accuracy(scores, labels, t), 12), -abs(t - 0.5)))
    return best, balanced_accuracy(scores, labels, best)


def _draw(items: list[tuple[str, bool]], per_class: int, rng: random.Random) -> list[tuple[str, bool]]:
    out = []
    for cls in (True, False):
        group = [it for it in items if it[1] is cls]
        rng.shuffle(group)
        out += group[:per_class]
    return out


def _report(scores: Sequence[float], labels: Sequence[bool], t: float) -> dict:
    from hrlaif.evaluation.metrics import binary_report

    rep = binary_report(list(labels), [s > t for s in scores])
    rep["balanced_accuracy"] = balanced_accuracy(scores, labels, t)
    rep["threshold"] = t
    return rep


def _quantiles(xs: Sequence[float]) -> dict:
    s = sorted(xs)
    return {f"p{q}": s[min(len(s) - 1, int(q / 100 * len(s)))] for q in (5, 25, 50, 75, 95)} if s else {}


def calibrate(cfg: CalibrateConfig) -> dict:
    """Run the calibration; returns the report (also written to ``cfg.out``)."""
    import os

    import json

    from hrlaif.data import Message, atomic_write_text
    from hrlaif.errors import ConfigError
    from hrlaif.evaluation.toxicity import split_heldout, toxigen_sentences
    from hrlaif.judges.base import JudgeRequest
    from hrlaif.judges.config import make_judge

    if cfg.judge.backend != "local":
        raise ConfigError("calibrate-harm: only the local judge reads P(harmful) from its logits; "
                          f"judge.backend is {cfg.judge.backend!r}")
    if cfg.limit < 1 or cfg.heldout_limit < 1:
        raise ConfigError("calibrate-harm: limit and heldout_limit must be >= 1")
    data_dir = cfg.data_dir or os.environ.get("HRLAIF_DATA_DIR")
    if not data_dir:
        raise ConfigError("calibrate-harm: no data folder; pass --data-dir or set HRLAIF_DATA_DIR")
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_config(cfg, config_path_for(out), stage="calibrate-harm")
    train, test = split_heldout(toxigen_sentences(data_dir), seed=cfg.seed)
    rng = random.Random(cfg.seed)
    fit, held = _draw(train, cfg.limit, rng), _draw(test, cfg.heldout_limit, rng)
    reqs = [JudgeRequest(task="harm", messages=[Message("user", "")], responses=[text], category="harmlessness",
                         rubric="harmlessness") for text, _ in fit + held]
    with make_judge(cfg.judge) as judge:  # P(harmful) comes back as the preference, whatever the threshold
        results = judge.judge_many(reqs)
    bad = [r for r in results if not r.ok or r.preference is None]
    if bad:
        from hrlaif.errors import JudgeError

        raise JudgeError(f"calibrate-harm: {len(bad)} harm checks gave no probability "
                         f"(first: {bad[0].error or bad[0].abstain_reason})")
    probs = [float(r.preference) for r in results]
    p_fit, p_held = probs[:len(fit)], probs[len(fit):]
    y_fit, y_held = [y for _, y in fit], [y for _, y in held]
    t, bal_fit = youden_threshold(p_fit, y_fit)
    rep = {
        "judge": judge.identity, "model": cfg.judge.model,
        "data": "ToxiGen demonstration sentences (hate_* toxic vs neutral_* benign), seeded held-out split",
        "n_fit": len(fit), "n_heldout": len(held), "threshold": t, "fit_balanced_accuracy": bal_fit,
        "heldout_at_threshold": _report(p_held, y_held, t),
        "heldout_at_configured": _report(p_held, y_held, cfg.judge.harm_threshold),
        "p_harmful_toxic": _quantiles([p for p, y in zip(probs, y_fit + y_held) if y]),
        "p_harmful_benign": _quantiles([p for p, y in zip(probs, y_fit + y_held) if not y]),
        "use": f"--judge.harm-threshold {t:.4g}",
    }
    atomic_write_text(out, json.dumps(rep, indent=2, ensure_ascii=False) + "\n")
    log.info("harm threshold %.4g: held-out balanced accuracy %.3f (configured %.3g: %.3f), n=%d",
             t, rep["heldout_at_threshold"]["balanced_accuracy"], cfg.judge.harm_threshold,
             rep["heldout_at_configured"]["balanced_accuracy"], len(held))
    return rep


def cli(cfg: CalibrateConfig) -> int:
    from hrlaif.ui import print_table

    rep = calibrate(cfg)
    a, c = rep["heldout_at_threshold"], rep["heldout_at_configured"]
    rows = [[name, f"{r['threshold']:.4g}", f"{r['balanced_accuracy']:.3f}", f"{r['accuracy']:.3f}",
             f"{r['recall']:.3f}", f"{r['fp'] / max(1, r['fp'] + r['tn']):.3f}"]
            for name, r in (("calibrated", a), ("configured", c))]
    print_table(f"harm check of {rep['model']} on held-out ToxiGen (n={rep['n_heldout']})",
                ["threshold", "value", "balanced acc", "accuracy", "recall (toxic)", "false-positive rate"], rows)
    print(f"use: {rep['use']}\nreport: {cfg.out}")
    return 0
