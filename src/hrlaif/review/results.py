"""Review results: AI-vs-human label agreement, satisfaction rates, inter-reviewer agreement, exports.

``review_results(db_path)`` returns a JSON-safe dict (schema ``hrlaif.review.results/1``)::

    {
      "schema": "hrlaif.review.results/1",
      "db": "<path>",
      "reviewers": {"<name>": {"labels": int, "satisfaction": int}},   # latest judgements, skips included
      "labels": {
        "items": int, "judged_items": int,                 # judged = at least one non-skip judgement
        "by_source": {"<source>": {                         # e.g. "basic", "hybrid"
          "overall": AGREE, "categories": {"<category>": AGREE}}},
        "inter_reviewer": INTER},
      "satisfaction": {
        "items": int,
        "by_policy": {"<policy>": {"overall": SAT, "categories": {"<category>": SAT}}},
        "vs_baseline": {"baseline": "<policy>"|null, "policies": {"<policy>": DELTA}},
        "inter_reviewer": INTER}
    }
    AGREE = {"n": items with a human majority and an AI label, "agree": int, "agreement": float|null,
             "agreement_ci": [lo, hi]|null (Wilson 95 %), "kappa": float|null (Cohen, labels first/second/tie),
             "kappa_ci": [lo, hi]|null (bootstrap 95 %), "human_ties": int, "no_majority": int}
    SAT   = {"n": items rated, "ratings": int, "satisfied": float (sum of item scores), "rate": float|null,
             "ci": [lo, hi]|null}
    DELTA = {"n": prompts rated for both, "delta": float|null (mean paired score difference, policy − baseline),
             "ci": [lo, hi]|null (bootstrap 95 % over prompts)}
    INTER = {"reviewers": int, "items_multi": items with >= 2 reviewers, "fleiss_kappa": float|null,
             "mean_pairwise_kappa": float|null, "pairs": [{"a", "b", "n", "agreement", "kappa"}]}

The human label of a pair is the majority of its reviewers' latest non-skip labels (an even split
has no majority and is left out, counted in ``no_majority``). An item's satisfaction score is the
share of its reviewers who were satisfied; a policy's rate is the mean item score p̂ over its n
items, with the Wilson interval of (k = Σ scores, n). With one rating per item that is the exact
binomial setting; with several, an item score lies in [0, 1] so its variance is at most p(1 − p)
and the interval is conservative (items, not ratings, are the unit: ratings of one item are not
independent). The baseline is ``sft`` when there is such a policy (else none); each other policy's
``delta`` is the mean over shared prompts of (its item score − the baseline's), as the seed's
Table 3 reports HRLAIF and RLAIF against M_SFT.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hrlaif.review import stats
from hrlaif.review.store import Store

SCHEMA = "hrlaif.review.results/1"
N_BOOT = 1000


def review_results(db: str | Path | Store) -> dict:
    """All review numbers from a review database (see the module docstring for the schema)."""
    if isinstance(db, Store):
        return _results(db)
    if not Path(db).is_file():
        from hrlaif.errors import InputError

        raise InputError("review database not found", path=str(db))
    with Store(db) as store:
        return _results(store)


def _results(store: Store) -> dict:
    lab = store.label_judgements()
    sat = store.sat_judgements()
    reviewers: dict[str, dict[str, int]] = {}
    for r in lab:
        reviewers.setdefault(r["reviewer"], {"labels": 0, "satisfaction": 0})["labels"] += 1
    for r in sat:
        reviewers.setdefault(r["reviewer"], {"labels": 0, "satisfaction": 0})["satisfaction"] += 1
    return {"schema": SCHEMA, "db": str(store.path), "reviewers": dict(sorted(reviewers.items())),
            "labels": _label_results(store.label_items(), lab),
            "satisfaction": _sat_results(store.sat_items(), sat)}


def _label_results(items: list[dict], judgements: list[dict]) -> dict:
    human: dict[int, list[str]] = {}
    by_rater: dict[str, dict[int, str]] = {}
    for j in judgements:
        if j["label"] != "skip":
            human.setdefault(j["item_id"], []).append(j["label"])
            by_rater.setdefault(j["reviewer"], {})[j["item_id"]] = j["label"]
    sources = sorted({s for it in items for s in it["ai_labels"]})
    by_source = {}
    for src in sources:
        per_cat: dict[str, list[tuple[str, str | None]]] = {}
        for it in items:
            if src in it["ai_labels"] and it["id"] in human:
                per_cat.setdefault(it["category"], []).append((it["ai_labels"][src], stats.majority(human[it["id"]])))
        cats = {c: _agreement(v) for c, v in sorted(per_cat.items())}
        by_source[src] = {"overall": _agreement([p for v in per_cat.values() for p in v]), "categories": cats}
    return {"items": len(items), "judged_items": len(human), "by_source": by_source,
            "inter_reviewer": _inter(by_rater, human)}


def _agreement(pairs: list[tuple[str, str | None]]) -> dict:
    decided = [(ai, h) for ai, h in pairs if h is not None]
    ai = [a for a, _ in decided]
    hu = [h for _, h in decided]
    n = len(decided)
    agree = sum(a == h for a, h in decided)

    def kappa(sample: list[tuple[str, str]]) -> float | None:
        return stats.cohen_kappa([a for a, _ in sample], [h for _, h in sample])

    return {"n": n, "agree": agree, "agreement": stats.agreement_rate(ai, hu),
            "agreement_ci": _pair(stats.wilson_interval(agree, n)), "kappa": stats.cohen_kappa(ai, hu),
            "kappa_ci": _pair(stats.bootstrap_ci(decided, kappa, n_boot=N_BOOT)) if n >= 2 else None,
            "human_ties": sum(h == "tie" for h in hu), "no_majority": len(pairs) - n}


def _sat_results(items: list[dict], judgements: list[dict]) -> dict:
    ratings: dict[int, list[bool]] = {}
    by_rater: dict[str, dict[int, bool]] = {}
    for j in judgements:
        if j["satisfied"] is not None:
            ratings.setdefault(j["item_id"], []).append(j["satisfied"])
            by_rater.setdefault(j["reviewer"], {})[j["item_id"]] = j["satisfied"]
    by_policy: dict[str, dict] = {}
    for pol in sorted({it["policy"] for it in items}):
        per_cat: dict[str, list[list[bool]]] = {}
        for it in items:
            if it["policy"] == pol and it["id"] in ratings:
                per_cat.setdefault(it["category"], []).append(ratings[it["id"]])
        by_policy[pol] = {"overall": _rate([r for v in per_cat.values() for r in v]),
                          "categories": {c: _rate(v) for c, v in sorted(per_cat.items())}}
    return {"items": len(items), "by_policy": by_policy, "vs_baseline": _vs_baseline(items, ratings),
            "inter_reviewer": _inter(by_rater, ratings)}


BASELINE = "sft"


def _vs_baseline(items: list[dict], ratings: dict[int, list[bool]]) -> dict:
    score: dict[str, dict[str, float]] = {}
    for it in items:
        if it["id"] in ratings:
            r = ratings[it["id"]]
            score.setdefault(it["policy"], {})[it["prompt_id"]] = sum(r) / len(r)
    policies = sorted({it["policy"] for it in items})
    if BASELINE not in policies:
        return {"baseline": None, "policies": {}}
    base = score.get(BASELINE, {})
    out = {}
    for pol in policies:
        if pol == BASELINE:
            continue
        diffs = [s - base[pid] for pid, s in sorted(score.get(pol, {}).items()) if pid in base]
        out[pol] = {"n": len(diffs), "delta": sum(diffs) / len(diffs) if diffs else None,
                    "ci": _pair(stats.bootstrap_ci(diffs, lambda d: sum(d) / len(d), n_boot=N_BOOT))
                    if len(diffs) >= 2 else None}
    return {"baseline": BASELINE, "policies": out}


def _rate(item_ratings: list[list[bool]]) -> dict:
    scores = [sum(r) / len(r) for r in item_ratings]
    n = len(scores)
    total = sum(scores)
    return {"n": n, "ratings": sum(len(r) for r in item_ratings), "satisfied": total,
            "rate": total / n if n else None, "ci": _pair(stats.wilson_interval(total, n))}


def _inter(by_rater: dict[str, dict[int, Any]], per_item: dict[int, list[Any]]) -> dict:
    pairs = stats.pairwise_kappas(by_rater)
    return {"reviewers": len(by_rater), "items_multi": sum(len(v) >= 2 for v in per_item.values()),
            "fleiss_kappa": stats.fleiss_kappa(list(per_item.values())),
            "mean_pairwise_kappa": stats.mean_pairwise_kappa(pairs), "pairs": pairs}


def _pair(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [ci[0], ci[1]]


# ---------------------------------------------------------------------------- tables


def results_tables(res: dict) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The results as ``(title, columns, rows)`` tables, for the CLI and the ``hrlaif run`` report."""
    agree_rows = []
    for src, block in res["labels"]["by_source"].items():
        for cat, a in [*block["categories"].items(), ("(all)", block["overall"])]:
            agree_rows.append([src, cat, a["n"], _pct(a["agreement"]), _ci(a["agreement_ci"]), _num(a["kappa"]),
                               _ci(a["kappa_ci"], pct=False), a["human_ties"], a["no_majority"]])
    sat_rows = []
    for pol, block in res["satisfaction"]["by_policy"].items():
        for cat, s in [*block["categories"].items(), ("(all)", block["overall"])]:
            sat_rows.append([pol, cat, s["n"], s["ratings"], _pct(s["rate"]), _ci(s["ci"])])
    vs = res["satisfaction"].get("vs_baseline", {})
    delta_rows = [[pol, vs["baseline"], d["n"], _pp(d["delta"]), _ci_pp(d["ci"])]
                  for pol, d in vs.get("policies", {}).items()]
    inter_rows = []
    for kind in ("labels", "satisfaction"):
        i = res[kind]["inter_reviewer"]
        inter_rows.append([kind, i["reviewers"], i["items_multi"], _num(i["fleiss_kappa"]),
                           _num(i["mean_pairwise_kappa"])])
    return [
        ("AI-vs-human label agreement", ["source", "category", "n", "agreement", "95% CI", "kappa", "kappa 95% CI",
                                         "human ties", "no majority"], agree_rows),
        ("Satisfaction rate", ["policy", "category", "items", "ratings", "rate", "95% CI"], sat_rows),
        ("Satisfaction vs baseline (paired by prompt)", ["policy", "baseline", "prompts", "delta", "95% CI"],
         delta_rows),
        ("Inter-reviewer agreement", ["kind", "reviewers", "items with >=2", "Fleiss kappa", "mean pairwise kappa"],
         inter_rows),
    ]


def results_markdown(res: dict) -> str:
    """The tables as Markdown (for a report)."""
    out = []
    for title, cols, rows in results_tables(res):
        out += [f"### {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        out += ["| " + " | ".join(str(v).replace("|", "\\|") for v in r) + " |" for r in rows]
        out.append("")
    return "\n".join(out)


def _pct(v: float | None) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def _pp(v: float | None) -> str:
    return "" if v is None else f"{100 * v:+.1f} pp"


def _ci_pp(ci: list[float] | None) -> str:
    return "" if ci is None else f"[{_pp(ci[0])}, {_pp(ci[1])}]"


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


def _ci(ci: list[float] | None, *, pct: bool = True) -> str:
    if ci is None:
        return ""
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]" if pct else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


# ---------------------------------------------------------------------------- export

LABEL_COLUMNS = ["kind", "judgement_id", "reviewer", "category", "prompt_id", "item_key", "first_index",
                 "second_index", "swapped", "choice", "human_label", "ai_labels", "created_at"]
SAT_COLUMNS = ["kind", "judgement_id", "reviewer", "category", "prompt_id", "item_key", "policy", "satisfied",
               "reason", "created_at"]


def judgement_records(store: Store, kind: str) -> list[dict]:
    """Each reviewer's latest judgement per item as flat records (``kind`` = labels or satisfaction)."""
    def ts(t: float) -> str:
        return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")

    if kind == "labels":
        return [{"kind": "label", "judgement_id": r["id"], "reviewer": r["reviewer"], "category": r["category"],
                 "prompt_id": r["prompt_id"], "item_key": r["key"], "first_index": r["first_index"],
                 "second_index": r["second_index"], "swapped": r["swapped"], "choice": r["choice"],
                 "human_label": r["label"], "ai_labels": r["ai_labels"], "created_at": ts(r["created_at"])}
                for r in store.label_judgements()]
    if kind == "satisfaction":
        return [{"kind": "satisfaction", "judgement_id": r["id"], "reviewer": r["reviewer"],
                 "category": r["category"], "prompt_id": r["prompt_id"], "item_key": r["key"], "policy": r["policy"],
                 "satisfied": r["satisfied"], "reason": r["reason"], "created_at": ts(r["created_at"])}
                for r in store.sat_judgements()]
    raise ValueError(f"unknown export kind {kind!r}")


def to_jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def to_csv(records: list[dict], columns: list[str]) -> str:
    """CSV; text cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading '."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({k: _cell(r.get(k)) for k in columns})
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if isinstance(v, dict):
        v = json.dumps(v, ensure_ascii=False, sort_keys=True)
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def export(store: Store, path: str | Path) -> dict[str, int]:
    """Write every latest judgement (labels and satisfaction) to ``path`` (.csv or .jsonl).
    Returns the number of records of each kind."""
    p = Path(path)
    lab, sat = judgement_records(store, "labels"), judgement_records(store, "satisfaction")
    if p.suffix == ".jsonl":
        text = to_jsonl(lab + sat)
    elif p.suffix == ".csv":
        cols = LABEL_COLUMNS + [c for c in SAT_COLUMNS if c not in LABEL_COLUMNS]
        text = to_csv(lab + sat, cols)
    else:
        from hrlaif.errors import ConfigError

        raise ConfigError(f"export {p}: use a .csv or .jsonl file name")
    from hrlaif.data import atomic_write_text

    atomic_write_text(p, text)
    return {"labels": len(lab), "satisfaction": len(sat)}
