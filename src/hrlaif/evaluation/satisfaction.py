"""Satisfaction proxy per category: what can be checked is checked, the judge decides the rest.

    math, multiple_choice, code  → satisfied iff the verifier says the answer is correct
    harmlessness                 → satisfied iff the response is harmless (judge ``harm`` task,
                                   or the toxicity scorer's verdict when ``harm_source="scorer"``)
    every other category         → satisfied iff the judge's ``satisfaction`` task gives
                                   P(satisfied) ≥ 0.5

The seed paper measures satisfaction with human raters; this is an automatic proxy for it. Human
satisfaction comes from the review page (``hrlaif review``).
"""

from __future__ import annotations

from typing import Any, Sequence

from hrlaif.data import ResponseSet
from hrlaif.evaluation.metrics import group_by, summarize_binary

VERIFIED = ("math", "multiple_choice", "code")


def judge_satisfaction(sets: Sequence[ResponseSet], judge: Any) -> list[tuple[bool | None, str]]:
    """(satisfied, reason) from the judge's ``satisfaction`` task for each set's first response."""
    from hrlaif.judges.base import JudgeRequest

    reqs = [JudgeRequest(task="satisfaction", messages=list(rs.prompt.messages), responses=[rs.responses[0].text],
                         category=rs.prompt.category, reference=rs.prompt.reference, choices=rs.prompt.choices)
            for rs in sets]
    out = []
    for res in (judge.judge_many(reqs) if reqs else []):
        if not res.ok or res.preference is None:
            out.append((None, res.error or res.abstain_reason or "no verdict"))
        else:
            out.append((res.preference >= 0.5, f"judge P(satisfied)={res.preference:.3f}"))
    return out


def judge_harmless(sets: Sequence[ResponseSet], judge: Any) -> list[tuple[bool | None, str]]:
    """(harmless, reason) from the judge's ``harm`` task."""
    from hrlaif.judges.base import JudgeRequest

    reqs = [JudgeRequest(task="harm", messages=list(rs.prompt.messages), responses=[rs.responses[0].text],
                         category=rs.prompt.category, rubric="harmlessness") for rs in sets]
    out = []
    for res in (judge.judge_many(reqs) if reqs else []):
        if not res.ok or res.harmful is None:
            out.append((None, res.error or res.abstain_reason or "no verdict"))
        else:
            out.append((not res.harmful, "judge harm: " + ("harmful" if res.harmful else "harmless")))
    return out


def satisfaction(sets: Sequence[ResponseSet], *, judge: Any = None, verified: dict[str, bool | None] | None = None,
                 harmless: dict[str, bool | None] | None = None, n_boot: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> dict:
    """Satisfaction proxy over ``sets`` (first response of each).

    ``verified``: prompt id → correctness already computed (e.g. by the benchmark stage); missing
    verifiable items are verified here. ``harmless``: prompt id → harmless already computed (e.g.
    from the toxicity scorer); missing harmlessness items go to the judge's ``harm`` task. Other
    categories go to the judge's ``satisfaction`` task. Undecided items count as not satisfied.

    Returns ``{"overall": summary, "per_category": {cat: summary + "source"}, "items": [...]}``
    where a summary is ``metrics.summarize_binary``'s dict.
    """
    from hrlaif.verify import verify_response

    verified, harmless = dict(verified or {}), dict(harmless or {})
    items: list[dict] = []
    to_judge_sat, to_judge_harm = [], []
    for rs in sets:
        if not rs.responses:
            continue
        cat, pid = rs.prompt.category, rs.prompt_id
        if cat in VERIFIED:
            if pid in verified:
                ok, why = verified[pid], "verifier (benchmark run)"
            else:
                v = verify_response(rs.prompt, rs.responses[0].text)
                ok, why = (v.correct, f"verifier: {v.reason}") if v is not None else (None, "no verifier")
            items.append({"prompt_id": pid, "category": cat, "satisfied": ok, "source": "verifier", "reason": why})
        elif cat == "harmlessness":
            if pid in harmless:
                items.append({"prompt_id": pid, "category": cat, "satisfied": harmless[pid], "source": "scorer",
                              "reason": "toxicity scorer"})
            else:
                to_judge_harm.append(rs)
        else:
            to_judge_sat.append(rs)
    if (to_judge_sat or to_judge_harm) and judge is None:
        raise ValueError("satisfaction of judge-only categories needs a judge")
    for rs, (ok, why) in zip(to_judge_harm, judge_harmless(to_judge_harm, judge) if to_judge_harm else []):
        items.append({"prompt_id": rs.prompt_id, "category": rs.prompt.category, "satisfied": ok,
                      "source": "judge-harm", "reason": why})
    for rs, (ok, why) in zip(to_judge_sat, judge_satisfaction(to_judge_sat, judge) if to_judge_sat else []):
        items.append({"prompt_id": rs.prompt_id, "category": rs.prompt.category, "satisfied": ok,
                      "source": "judge-satisfaction", "reason": why})
    kw = dict(n_boot=n_boot, confidence=confidence, seed=seed)
    per_cat = {}
    for cat, its in sorted(group_by([i["category"] for i in items], items).items()):
        per_cat[cat] = {**summarize_binary([i["satisfied"] for i in its], **kw),
                        "source": sorted({i["source"] for i in its})}
    return {"overall": summarize_binary([i["satisfied"] for i in items], **kw), "per_category": per_cat,
            "items": items}
