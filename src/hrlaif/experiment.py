"""What a run says about its arms: per-arm results, paired differences, and RM_basic vs RM_hybrid.

Every number here is recomputed from the files the stages wrote (``eval/<arm>/items_*.jsonl``,
``responses.jsonl``, the reward-model folders), so a reader can redo it by hand:

* ``arm_results``: per arm and benchmark, accuracy with its n and interval (from ``eval.json``),
  mean response length in tokens, win ratio against SFT, toxicity, and the PPO run's last KL,
  length and EOS rate;
* ``paired_results``: for every pair of arms (a later arm ``a`` against an earlier ``b`` in
  SFT, RLAIF, HRLAIF, HRLAIF+V order) and every verified benchmark, ``delta`` = acc(a) − acc(b)
  on the same held-out items with a paired-bootstrap 95 % interval
  (``hrlaif.evaluation.metrics.paired_difference``);
* ``rm_comparison``: both reward models scored on the same held-out correctness pairs (a
  verified-correct response ≻ a verified-incorrect or hedged one, on prompts neither RM trained
  on), overall and on the RM-Bench-style subset where the correct response is the shorter.
"""

from __future__ import annotations

import json
import logging
from itertools import combinations
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ORDER = ("SFT", "RLAIF", "HRLAIF", "HRLAIF+V")


def _folder(arm: str) -> str:
    from hrlaif.pipeline import ARMS

    return ARMS[arm][0]


def _read_json(p: Path) -> Any:
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


def _items(p: Path) -> dict[str, Any]:
    if not p.exists():
        return {}
    out = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            it = json.loads(line)
            out[it["prompt_id"]] = it
    return out


def _mean_tokens(p: Path) -> float | None:
    if not p.exists():
        return None
    from hrlaif.data import ResponseSet, read_records

    n = [r.responses[0].n_tokens if r.responses[0].n_tokens is not None else len(r.responses[0].text.split())
         for r in read_records(p, ResponseSet, allow_empty=True) if r.responses]
    return sum(n) / len(n) if n else None


def arm_results(P: dict[str, Path], arms: list[str], *, seed: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arm in arms:
        folder = P["eval"] / _folder(arm)
        ev = _read_json(folder / "eval.json")
        if not ev:
            continue
        res: dict[str, Any] = {"benchmarks": {}}
        for name, b in ev.get("benchmarks", {}).items():
            res["benchmarks"][name] = {"accuracy": b.get("accuracy"), "n": b.get("n"), "ci": b.get("ci"),
                                       "mean_tokens": _mean_tokens(folder / b.get("responses_file",
                                                                                  f"responses_{name}.jsonl"))}
        wr = (ev.get("win_ratio") or {}).get("overall")
        res["win_ratio_vs_sft"] = {"win_ratio": wr.get("win_ratio"), "ci": wr.get("ci"), "n": wr.get("n")} if wr else None
        tox = (ev.get("toxicity") or {}).get("sets") or {}
        res["toxicity"] = {k: {"per_mille": v.get("per_mille"), "ci": v.get("ci"), "n": v.get("n")}
                           for k, v in tox.items()}
        from hrlaif.pipeline import ARMS

        ppo = ARMS[arm][2]
        if ppo and (P[ppo] / "metrics.jsonl").exists():
            rows = [json.loads(x) for x in (P[ppo] / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
                    if x.strip()]
            if rows:
                last = rows[-1]
                res["ppo"] = {k: last.get(k) for k in ("update", "kl", "reward_mean", "rm_reward_mean",
                                                        "response_length", "eos_frac", "heldout_accuracy")}
                sel = _read_json(P[ppo] / "selection.json")
                if sel:
                    res["ppo"]["selection"] = sel
        out[arm] = res
    return out


def paired_results(P: dict[str, Path], arms: list[str], *, seed: int = 0, n_boot: int = 2000) -> list[dict]:
    """``[{"a", "b", "set", "n", "delta", "ci", "a_only", "b_only"}, ...]`` (see the module docstring)."""
    from hrlaif.evaluation.metrics import paired_difference

    ranked = [a for a in ORDER if a in arms]
    evals = {a: _read_json(P["eval"] / _folder(a) / "eval.json") for a in ranked}
    sets = sorted({s for e in evals.values() if e for s in e.get("benchmarks", {})})
    out = []
    for name in sets:
        per_arm = {}
        for a in ranked:
            e = evals.get(a)
            b = (e or {}).get("benchmarks", {}).get(name)
            if b:
                per_arm[a] = _items(P["eval"] / _folder(a) / b.get("items_file", f"items_{name}.jsonl"))
        for lo, hi in combinations([a for a in ranked if a in per_arm], 2):
            ids = sorted(set(per_arm[lo]) & set(per_arm[hi]))
            if not ids or "correct" not in per_arm[lo][ids[0]]:
                continue
            d = paired_difference([per_arm[hi][i].get("correct") for i in ids],
                                  [per_arm[lo][i].get("correct") for i in ids], n_boot=n_boot, seed=seed)
            out.append({"a": hi, "b": lo, "set": name, **d})
    return out


def _pair_hits(scores: dict[tuple[str, int], float], pairs: list[tuple[str, int, int]]) -> list[bool]:
    return [scores[(pid, i)] > scores[(pid, j)] for pid, i, j in pairs]


def rm_comparison(sc: Any, out_path: Path) -> dict[str, Any]:
    """RM_basic and RM_hybrid on the same held-out correctness pairs; written to ``out_path``."""
    from hrlaif.data import ResponseSet, atomic_write_text, read_records
    from hrlaif.evaluation.metrics import paired_difference, wilson_interval
    from hrlaif.rm.data import load_rankings, split_heldout
    from hrlaif.rm.model import load_reward_model
    from hrlaif.verify import verify_many

    held: set[str] | None = None
    for rmc in (sc.rm_basic, sc.rm_hybrid):
        rankings = load_rankings([p for p in rmc.rankings if Path(p).exists() and Path(p).stat().st_size])
        _, ev = split_heldout(rankings, rmc.eval_fraction, rmc.seed)
        ids = {r.prompt_id for r in ev}
        held = ids if held is None else held & ids
    sets = [rs for rs in read_records(sc.paths["responses"], ResponseSet) if rs.prompt_id in (held or set())]
    flat = verify_many([(rs.prompt, r.text) for rs in sets for r in rs.responses])
    pairs: list[tuple[str, int, int]] = []
    shorter: list[tuple[str, int, int]] = []
    pos = 0
    for rs in sets:
        vs = flat[pos:pos + len(rs.responses)]
        pos += len(rs.responses)
        good = [i for i, v in enumerate(vs) if v is not None and v.outcome == "correct"]
        bad = [i for i, v in enumerate(vs) if v is not None and v.outcome in ("incorrect", "hedged")]
        for i in good:
            for j in bad:
                pairs.append((rs.prompt_id, i, j))
                if len(rs.responses[i].text) < len(rs.responses[j].text):
                    shorter.append((rs.prompt_id, i, j))
    result: dict[str, Any] = {"heldout_prompts": len(sets), "pairs": len(pairs), "shorter_correct_pairs": len(shorter)}
    hits: dict[str, dict[str, list[bool]]] = {}
    for name, rmc in (("rm_basic", sc.rm_basic), ("rm_hybrid", sc.rm_hybrid)):
        rm = load_reward_model(rmc.out)
        scores: dict[tuple[str, int], float] = {}
        for rs in sets:
            got = rm.score([rs.prompt.messages] * len(rs.responses), [r.text for r in rs.responses])
            scores.update({(rs.prompt_id, i): s for i, s in enumerate(got)})
        del rm
        hits[name] = {"all": _pair_hits(scores, pairs), "shorter": _pair_hits(scores, shorter)}
        for subset, h in hits[name].items():
            k = sum(h)
            result.setdefault(name, {})[subset] = {"accuracy": k / len(h) if h else None, "n": len(h),
                                                   "wilson": list(wilson_interval(k, len(h))) if h else None}
    for subset in ("all", "shorter"):
        if hits["rm_hybrid"][subset]:
            result.setdefault("paired", {})[subset] = paired_difference(
                hits["rm_hybrid"][subset], hits["rm_basic"][subset])
    result["note"] = ("pairs: verified-correct ≻ verified-incorrect/hedged responses of prompts held out from both "
                      "reward models; accuracy = share with r(correct) > r(other); paired = RM_hybrid − RM_basic "
                      "(bootstrap over pairs)")
    atomic_write_text(out_path, json.dumps(result, indent=2) + "\n")
    return result
