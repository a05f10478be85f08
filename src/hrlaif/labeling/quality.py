"""Label-quality report (the seed's Table 1): how often AI labels agree with ground truth.

Ground truth per prompt comes from a human-labels file when it has the prompt, otherwise from
the verifiers (``correct ≻ incorrect`` between responses whose verdicts are known). Verifier
truth is what hybrid mode itself uses for those categories, so hybrid accuracy on it is close to
100 % *by construction*: it measures the routing (ties, unverifiable responses, failed calls),
not the verifiers. Two independent references sit beside it, clearly labelled:

* a **gold** file (``--gold``) of per-response correctness decided by people: truth pairs
  ``gold-correct ≻ gold-incorrect``, and ``gold_accuracy`` per mode against them;
* where there is no gold for the labeled responses, the verifiers' error rates measured on the
  repository's gold corpus (``hrlaif.verify.gold``), so a reader knows how far a verifier-based
  100 % can be trusted.

Per category and mode:

* ``accuracy``         = (agree + ½·tie) / truth-strict pairs: a tie is a coin flip's worth
                         (as in AlpacaEval's agreement), an unranked response counts as wrong;
* ``accuracy_decided`` = agree / (agree + disagree) (pairs the labels order strictly);
* judge behaviour over the pairwise calls of basic mode: ``flip_rate`` (share of both-order
  pairs whose preferred response changes with the order), ``p_prefer_first`` (share of
  decisive calls, ``P(A≻B) ≠ ½``, that prefer position A), ``p_prefer_longer`` (share of
  decisive calls between responses of different length, in characters, that prefer the longer);
* calls, tokens and $ per 1,000 labels (a label = one ranked ResponseSet), counting every call
  a mode needs whether made in this run or read from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hrlaif.errors import InputError

# Seed Table 1 (Li et al. 2024): AI preference-label accuracy vs human labels, basic → hybrid.
SEED_TABLE1 = {"multiple_choice": {"basic": 48.13, "hybrid": 82.21}, "math": {"basic": 55.55, "hybrid": 80.00}}
REPORT_SCHEMA = "hrlaif.label_report/v1"


def verifier_truth(verdicts: list[Any]) -> list[tuple[int, int]]:
    """Strict truth pairs ``(better, worse)``: every verified-correct response over every
    verified-incorrect one; unverifiable responses (``correct is None``) take part in none."""
    ok = [i for i, v in enumerate(verdicts) if v is not None and v.correct is True]
    bad = [i for i, v in enumerate(verdicts) if v is not None and v.correct is False]
    return [(i, j) for i in ok for j in bad]


def pairs_from_tiers(tiers: list[list[int]]) -> list[tuple[int, int]]:
    return [(i, j) for a, hi in enumerate(tiers) for lo in tiers[a + 1:] for i in hi for j in lo]


def read_human_labels(path: str | Path) -> dict[str, list[tuple[int, int]]]:
    """Human ground truth, JSONL. A row is either a pairwise preference
    ``{"prompt_id": "p1", "better": 0, "worse": 2}`` or a ranking ``{"prompt_id": "p1",
    "tiers": [[0], [1, 2]]}`` (e.g. a ``Ranking`` with mode "human"). Returns strict pairs per prompt."""
    from hrlaif.data import iter_jsonl

    out: dict[str, list[tuple[int, int]]] = {}
    for ln, obj in iter_jsonl(path):
        pid = obj.get("prompt_id")
        if not isinstance(pid, str) or not pid:
            raise InputError("missing or empty", path=str(path), line=ln, field="prompt_id")
        if "tiers" in obj:
            tiers = obj["tiers"]
            if not (isinstance(tiers, list) and all(isinstance(t, list) and all(isinstance(x, int) for x in t)
                                                    for t in tiers)):
                raise InputError("expected a list of lists of response indices", path=str(path), line=ln,
                                 field="tiers")
            out.setdefault(pid, []).extend(pairs_from_tiers(tiers))
            continue
        for f in ("better", "worse"):
            if not isinstance(obj.get(f), int) or obj[f] < 0:
                raise InputError("expected a response index (int >= 0)", path=str(path), line=ln, field=f)
        if obj["better"] == obj["worse"]:
            raise InputError("better and worse name the same response", path=str(path), line=ln, field="worse")
        out.setdefault(pid, []).append((obj["better"], obj["worse"]))
    return out


def pair_agreement(tiers: list[list[int]], truth: list[tuple[int, int]],
                   unordered: list[list[int]] | None = None) -> dict[str, int]:
    """Count truth pairs the tiers agree with, reverse, tie (same tier, or ``unordered``: no
    preference although on different tiers), or leave unranked."""
    tier_of = {i: t for t, tier in enumerate(tiers) for i in tier}
    skip = {frozenset(p) for p in unordered or ()}
    c = {"agree": 0, "disagree": 0, "tie": 0, "unranked": 0}
    for better, worse in truth:
        if better not in tier_of or worse not in tier_of:
            c["unranked"] += 1
        elif frozenset((better, worse)) in skip:
            c["tie"] += 1
        elif tier_of[better] < tier_of[worse]:
            c["agree"] += 1
        elif tier_of[better] > tier_of[worse]:
            c["disagree"] += 1
        else:
            c["tie"] += 1
    return c


def judge_biases(calls: list[tuple[int, int, float]]) -> dict[str, Any]:
    """From pairwise calls ``(len A, len B, P(A≻B))``:
    ``p_prefer_first = #{P>½} / #{P≠½}``;
    ``p_prefer_longer = #{preferred is longer} / #{P≠½ and len A ≠ len B}``."""
    decisive = [(la, lb, p) for la, lb, p in calls if p != 0.5]
    first = sum(p > 0.5 for _, _, p in decisive)
    unequal = [(la, lb, p) for la, lb, p in decisive if la != lb]
    longer = sum((p > 0.5) == (la > lb) for la, lb, p in unequal)
    return {"p_prefer_first": first / len(decisive) if decisive else None, "n_first_calls": len(decisive),
            "p_prefer_longer": longer / len(unequal) if unequal else None, "n_longer_calls": len(unequal)}


@dataclass
class Usage:
    calls: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, r: Any) -> None:
        self.calls += 1
        self.failed += int(r.error is not None)
        self.prompt_tokens += int(r.prompt_tokens or 0)
        self.completion_tokens += int(r.completion_tokens or 0)
        self.cost_usd += float(r.cost_usd or 0.0)

    def merge(self, o: "Usage") -> None:
        for f in ("calls", "failed", "prompt_tokens", "completion_tokens", "cost_usd"):
            setattr(self, f, getattr(self, f) + getattr(o, f))


@dataclass
class ItemEval:
    """What the report needs to know about one labeled ResponseSet."""

    category: str
    truth: list[tuple[int, int]] | None
    truth_source: str | None  # "human", "verifier" or None
    tiers: dict[str, list[list[int]]] = field(default_factory=dict)  # mode → tiers
    usage: dict[str, Usage] = field(default_factory=dict)  # mode → calls it needs
    judged: list[tuple[int, int, float]] = field(default_factory=list)  # basic pairwise calls
    orders: list[tuple[float | None, float | None]] = field(default_factory=list)  # (p_fwd, p_bwd) per pair
    unordered: dict[str, list[list[int]]] = field(default_factory=dict)  # mode → pairs with no preference
    gold: list[tuple[int, int]] | None = None  # truth pairs from a per-response gold file


def read_gold(path: str | Path) -> dict[str, list[bool | None]]:
    """A per-response gold file (``{"prompt_id", "correct": [true, false, null, ...]}`` per line)."""
    from hrlaif.data import iter_jsonl
    from hrlaif.verify.gold import per_response_gold

    return per_response_gold(iter_jsonl(path), str(path))


def gold_truth(correct: list[bool | None]) -> list[tuple[int, int]]:
    """Strict truth pairs from per-response gold: every correct response over every incorrect one."""
    return [(i, j) for i, a in enumerate(correct) if a is True for j, b in enumerate(correct) if b is False]


def _per_1k(u: Usage, n_labels: int) -> dict[str, Any]:
    s = 1000.0 / n_labels if n_labels else 0.0
    tokens = u.prompt_tokens + u.completion_tokens
    return {"calls": u.calls, "failed_calls": u.failed, "tokens": tokens, "cost_usd": round(u.cost_usd, 6),
            "calls_per_1k": u.calls * s, "tokens_per_1k": tokens * s, "cost_per_1k_usd": u.cost_usd * s}


def _summarize(items: list[ItemEval], modes: list[str]) -> dict[str, Any]:
    from hrlaif.labeling.order import flip_rate

    truth_items = [it for it in items if it.truth]
    out: dict[str, Any] = {"n_prompts": len(items), "n_truth_prompts": len(truth_items),
                           "n_truth_pairs": sum(len(it.truth or []) for it in items),
                           "truth_sources": {s: sum(it.truth_source == s for it in truth_items)
                                             for s in ("human", "verifier")}, "modes": {}}
    for m in modes:
        agg = {"agree": 0, "disagree": 0, "tie": 0, "unranked": 0}
        gagg = dict(agg)
        usage = Usage()
        for it in items:
            if m in it.usage:
                usage.merge(it.usage[m])
            if it.truth and m in it.tiers:
                for k, v in pair_agreement(it.tiers[m], it.truth, it.unordered.get(m)).items():
                    agg[k] += v
            if it.gold and m in it.tiers:
                for k, v in pair_agreement(it.tiers[m], it.gold, it.unordered.get(m)).items():
                    gagg[k] += v
        n = sum(agg.values())
        dec = agg["agree"] + agg["disagree"]
        ng = sum(gagg.values())
        out["modes"][m] = {**agg, "accuracy": (agg["agree"] + 0.5 * agg["tie"]) / n if n else None,
                           "accuracy_decided": agg["agree"] / dec if dec else None,
                           "gold_accuracy": (gagg["agree"] + 0.5 * gagg["tie"]) / ng if ng else None,
                           "gold_pairs": ng, **_per_1k(usage, sum(m in it.tiers for it in items))}
    fr, n_fr = flip_rate([o for it in items for o in it.orders])
    out.update({"flip_rate": fr, "n_flip_pairs": n_fr, **judge_biases([c for it in items for c in it.judged])})
    return out


def build_report(items: list[ItemEval], *, judge: str, modes: list[str], truth_file: str | None,
                 gold_file: str | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict (schema ``hrlaif.label_report/v1``, see docs/label.md)."""
    from hrlaif.verify.gold import measured_error_rates

    cats = sorted({it.category for it in items})
    categories = {}
    for c in cats:
        s = _summarize([it for it in items if it.category == c], modes)
        s["seed_table1"] = SEED_TABLE1.get(c)
        categories[c] = s
    try:
        rates = measured_error_rates()
    except InputError as e:  # a broken corpus must not break labeling: say so in the report
        rates = {"error": str(e)}
    return {"schema": REPORT_SCHEMA, "judge": judge, "modes": modes, "label_unit": "ranking",
            "truth_file": truth_file, "gold_file": gold_file, "categories": categories,
            "all": _summarize(items, modes), "verifier_error_rates": rates}


def report_tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """Two printable tables, one row per category plus 'all': label accuracy and judge behaviour
    beside the seed's Table 1, then calls/tokens/$ per 1,000 labels per mode."""
    modes = report["modes"]

    def pct(x: Any) -> Any:
        return None if x is None else round(100 * x, 2)

    rows_q, rows_c = [], []
    gold = bool(report.get("gold_file"))
    for name, s in [*report["categories"].items(), ("all", report["all"])]:
        seed = s.get("seed_table1") or {}
        rows_q.append([name, s["n_prompts"], s["n_truth_pairs"], *[pct(s["modes"][m]["accuracy"]) for m in modes],
                       *([s["modes"][modes[0]]["gold_pairs"], *[pct(s["modes"][m]["gold_accuracy"]) for m in modes]]
                         if gold else []),
                       *[seed.get(m) for m in modes], pct(s["flip_rate"]), pct(s["p_prefer_longer"]),
                       pct(s["p_prefer_first"])])
        rows_c.append([name, *[x for m in modes for x in (round(s["modes"][m]["calls_per_1k"]),
                                                          round(s["modes"][m]["tokens_per_1k"]),
                                                          round(s["modes"][m]["cost_per_1k_usd"], 4))]])
    cols_q = ["category", "prompts", "truth pairs", *[f"{m} acc % (vs verifier)" for m in modes],
              *(["gold pairs", *[f"{m} acc % (vs gold)" for m in modes]] if gold else []),
              *[f"seed {m} %" for m in modes], "flip %", "P(longer) %", "P(first) %"]
    cols_c = ["category", *[f"{m} {w}" for m in modes for w in ("calls/1k", "tokens/1k", "$/1k")]]
    tables = [("label accuracy vs ground truth (seed: Li et al. 2024, Table 1)", cols_q, rows_q),
              ("judge cost per 1,000 labels (a label = one ranked response set)", cols_c, rows_c)]
    rates = report.get("verifier_error_rates")
    if rates and "error" not in rates:
        rows_v = []
        for v in ("math", "multiple_choice"):
            r = rates.get(v)
            if r:
                fc, fi = r["false_correct"], r["false_incorrect"]
                rows_v.append([v, r["n"], pct(r["accuracy"]), f"{pct(fc['rate'])} ({fc['k']}/{fc['n']})",
                               f"{pct(fi['rate'])} ({fi['k']}/{fi['n']})"])
        tables.append(("verifier error rates measured on the gold corpus (how far 'vs verifier' can be trusted)",
                       ["verifier", "gold cases", "accuracy %", "false-correct %", "false-incorrect %"], rows_v))
    return tables
