"""Win ratio of a policy against a baseline (the SFT policy), judged pairwise in both orders.

For each prompt both policies answered, the judge sees (policy, baseline) and (baseline, policy);
``metrics.pair_outcome`` turns the two verdicts into win 1 / tie ½ / loss 0 (orders that disagree
are a tie; an order that abstained or failed leaves the prompt undecided, never decided by the
other order alone), and ``metrics.win_ratio`` gives WR = (W + ½T) / (W + T + L) overall and per category,
with a percentile-bootstrap interval over prompts.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from hrlaif.data import ResponseSet
from hrlaif.errors import InputError
from hrlaif.evaluation.metrics import bootstrap_ci, group_by, pair_outcome, win_ratio as _win_ratio

log = logging.getLogger(__name__)


def _request(rs: ResponseSet, first: str, second: str) -> Any:
    from hrlaif.judges.base import JudgeRequest

    p = rs.prompt
    md = {"entry_point": p.entry_point} if p.entry_point else {}
    return JudgeRequest(task="pairwise", messages=list(p.messages), responses=[first, second], category=p.category,
                        reference=p.reference, choices=p.choices,
                        rubric="harmlessness" if p.category == "harmlessness" else "helpfulness", metadata=md)


def pair_up(policy: Sequence[ResponseSet], baseline: Sequence[ResponseSet]) -> list[tuple[ResponseSet, ResponseSet]]:
    """Match the two sides by prompt id (first response of each); prompts only one side has are
    left out (and logged)."""
    base = {rs.prompt_id: rs for rs in baseline}
    pairs = [(rs, base[rs.prompt_id]) for rs in policy if rs.prompt_id in base and rs.responses
             and base[rs.prompt_id].responses]
    missing = len(policy) - len(pairs)
    if missing:
        log.warning("win ratio: %d of %d policy prompts have no baseline response; left out", missing, len(policy))
    return pairs


def win_ratio(policy_responses: Sequence[ResponseSet], baseline_responses: Sequence[ResponseSet], judge: Any, *,
              n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict:
    """Judge the policy against the baseline on every shared prompt, both orders.

    Returns ``{"overall": {win_ratio, wins, ties, losses, n, n_undecided, ci}, "per_category":
    {cat: {...}}, "judge": identity, "items": [{prompt_id, category, pref_forward, pref_swapped,
    outcome[, reason]}]}``. ``pref_forward`` = P(policy ≻ baseline) shown first; ``pref_swapped`` =
    P(baseline ≻ policy) with the baseline first; an abstained or failed call is None, its item is
    undecided (``outcome`` None, counted in ``n_undecided``) and ``reason`` says which order and why.
    """
    pairs = pair_up(policy_responses, baseline_responses)
    if not pairs:
        raise InputError("no prompt has both a policy and a baseline response (prompt ids differ?)")
    reqs = []
    for pol, base in pairs:
        a, b = pol.responses[0].text, base.responses[0].text
        reqs += [_request(pol, a, b), _request(pol, b, a)]
    results = judge.judge_many(reqs)
    items = []
    for n, (pol, _) in enumerate(pairs):
        fwd, swp = results[2 * n], results[2 * n + 1]
        pf = fwd.preference if fwd.ok else None
        ps = swp.preference if swp.ok else None
        item = {"prompt_id": pol.prompt_id, "category": pol.prompt.category, "pref_forward": pf,
                "pref_swapped": ps, "outcome": pair_outcome(pf, ps)}
        missing = [f"{name} order: {_why(res)}" for name, res, pref in (("forward", fwd, pf), ("swapped", swp, ps))
                   if pref is None]
        if missing:
            item["reason"] = "; ".join(missing)
        items.append(item)
    return {"judge": getattr(judge, "identity", type(judge).__name__),
            **summarize_outcomes(items, n_boot=n_boot, confidence=confidence, seed=seed), "items": items}


def _why(res: Any) -> str:
    if res.error is not None:
        return f"failed ({res.error})"
    if res.abstain:
        return f"abstained ({res.abstain_reason or 'no reason given'})"
    return "no preference"


def summarize_outcomes(items: Sequence[dict], *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict:
    """Overall and per-category win ratio (with bootstrap CI) from per-prompt ``outcome`` values."""
    def one(outs: list) -> dict:
        r = _win_ratio(outs)
        decided = [o for o in outs if o is not None]
        r["ci"] = list(bootstrap_ci(decided, n_boot=n_boot, confidence=confidence, seed=seed))
        return r

    by_cat = group_by([it["category"] for it in items], [it["outcome"] for it in items])
    return {"overall": one([it["outcome"] for it in items]),
            "per_category": {c: one(v) for c, v in sorted(by_cat.items())}}
