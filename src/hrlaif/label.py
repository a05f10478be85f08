"""hrlaif label — rank K responses per prompt: basic (judge only) or hybrid (verify, then judge).

Basic mode is plain RLAIF: the judge compares every pair of responses (in both orders) and the
preferences become a partial order with ties. Hybrid mode routes by category: verifiers split
math / multiple-choice / code responses into correct ≻ unverifiable ≻ incorrect (broken
reasoning steps rank lower inside a math tier), the harm check splits harmlessness responses
into harmless ≻ unknown ≻ harmful, and the judge only orders responses inside a tier.

Every judge result is stored in a SQLite label store as it arrives: a rerun, or a resume after
the process was killed, makes no duplicate call; failed calls are retried and never become
labels. With --compare (default) the other mode is labeled too (sharing the store's calls) and
the label-quality report (the seed's Table 1: basic vs hybrid accuracy per category, flip rate,
P(prefer longer), P(prefer first), calls/tokens/$ per 1,000 labels) is printed and saved.

  hrlaif label --in responses.jsonl --out labels.jsonl --mode hybrid \\
      --judge.backend local --judge.model smollm2-135m --export-trl pairs.jsonl
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from hrlaif.config import config_path_for, opt, save_config
from hrlaif.data import Ranking, ResponseSet, read_records, write_records
from hrlaif.errors import ConfigError, InputError, VerifierError
from hrlaif.judges.config import JudgeConfig

log = logging.getLogger(__name__)


@dataclass
class LabelConfig:
    input: str = opt("", "ResponseSet JSONL or Parquet to label", flags=("--in",))
    out: str = opt("labels.jsonl", "Ranking JSONL (or .parquet) to write")
    mode: Literal["basic", "hybrid"] = opt("hybrid", "basic: the judge alone; hybrid: verifiers and harm checks "
                                                     "first, the judge only inside a tier")
    judge: JudgeConfig = opt(factory=JudgeConfig, help="the judge (nested: --judge.backend, --judge.model, ...)")
    store: str | None = opt(None, "SQLite label store (default: <out stem>.store.sqlite beside the output)")
    compare: bool = opt(True, "also label with the other mode (calls shared through the store) and write the "
                              "basic-vs-hybrid label-quality report")
    report: str | None = opt(None, "report JSON (default: <out stem>.label_report.json)")
    gold: str | None = opt(None, "JSONL of per-response correctness decided by people ({prompt_id, correct: "
                                 "[true, false, null, ...]}): the report adds label accuracy against it")
    human_labels: str | None = opt(None, "JSONL of human preferences ({prompt_id, better, worse} or "
                                         "{prompt_id, tiers}) used as ground truth for the report")
    export_trl: str | None = opt(None, "also write TRL pairwise rows (prompt/chosen/rejected) to this JSONL")
    trl_format: Literal["conversational", "text"] = opt("conversational", "TRL export: chat messages or plain text")
    export_kwise: str | None = opt(None, "also write K-wise rows (prompt, responses, tiers) to this JSONL")
    unverifiable: Literal["middle", "bottom"] = opt("middle", "hybrid: where responses the verifier cannot "
                                                              "decide go: between correct and incorrect, or "
                                                              "with the incorrect ones")
    hedged: Literal["incorrect", "unverifiable"] = opt("incorrect", "hybrid: where hedged responses (several "
                                                                    "answers offered, none committed) go: with "
                                                                    "the incorrect ones, or with the unverifiable")
    steps: bool = opt(True, "hybrid math: responses with wrong arithmetic steps rank below the rest of their tier")
    harm: Literal["both", "check", "rubric"] = opt("both", "hybrid harmlessness: harm check then the judge's "
                                                          "harmlessness rubric inside each group (both), the "
                                                          "check alone, or the rubric alone")
    tie_margin: float = opt(0.05, "a pair is a tie when |P(i>j) - 0.5| is below this (or its verdict flips "
                                  "with the order)")
    flip_is_tie: bool = opt(True, "a pair whose verdict flips with the order is a tie; --no-flip-is-tie decides "
                                  "it by the averaged probability (soft label), as plain RLAIF does")
    limit: int = opt(0, "label only the first N ResponseSets (0 = all)")
    chunk_size: int = opt(256, "requests handed to the judge at once (each result is stored as it arrives)")
    max_failed_frac: float = opt(0.0, "CLI exits 1 when more than this share of the needed judge calls failed")


@dataclass
class LabelResult:
    rankings: list[Ranking]  # cfg.mode
    compared: list[Ranking]  # the other mode (empty without --compare)
    report: dict | None
    paths: dict[str, str]
    calls_needed: int = 0
    calls_made: int = 0
    calls_cached: int = 0
    calls_failed: int = 0  # needed calls that are failures after this run (retried next run)
    verifier_errors: int = 0
    elapsed_s: float = 0.0
    failures: list[dict] = field(default_factory=list)


def _stem(out: str) -> Path:
    p = Path(out)
    return p.with_name(p.name[: -len(p.suffix)]) if p.suffix else p


def default_paths(cfg: LabelConfig) -> dict[str, str]:
    """Every file the stage writes, by role."""
    s = str(_stem(cfg.out))
    paths = {"out": cfg.out, "store": cfg.store or f"{s}.store.sqlite", "config": str(config_path_for(cfg.out)),
             "failures": f"{s}.failures.jsonl"}
    if cfg.compare:
        paths["report"] = cfg.report or f"{s}.label_report.json"
    if cfg.export_trl:
        paths["export_trl"] = cfg.export_trl
    if cfg.export_kwise:
        paths["export_kwise"] = cfg.export_kwise
    return paths


# --------------------------------------------------------------------------- judge calls


@dataclass
class CallSpec:
    key: str
    item: int
    task: str
    shown: tuple[int, ...]
    request: Any  # JudgeRequest


class _CallRunner:
    """The stage's judge calls, all through the store (``labeling.store.run_calls``); results
    accumulate across the harm-check and pairwise rounds."""

    def __init__(self, judge: Any, store: Any, cfg: LabelConfig, items: list["_Item"]):
        self.judge, self.store, self.cfg, self.items = judge, store, cfg, items
        self.results: dict[str, Any] = {}
        self.made = self.cached = 0

    def run(self, specs: list[CallSpec], what: str) -> None:
        from hrlaif.labeling.store import StoredCall, run_calls

        calls = [StoredCall(s.key, s.request, self.items[s.item].rs.prompt_id, self.items[s.item].set_hash, s.shown)
                 for s in specs if s.key not in self.results]
        results, made, cached = run_calls(self.store, self.judge, calls, what=f"judge {what}",
                                          chunk_size=max(1, self.cfg.chunk_size))
        self.results.update(results)
        self.made += made
        self.cached += cached


# --------------------------------------------------------------------------- per-item state


@dataclass
class _Item:
    rs: ResponseSet
    set_hash: str
    verdicts: list[Any] | None = None
    steps: list[Any] | None = None
    groupings: dict[str, Any] = field(default_factory=dict)  # mode → Grouping
    specs: dict[str, list[CallSpec]] = field(default_factory=dict)  # mode → calls it needs


def _request(it: _Item, task: str, shown: tuple[int, ...], rubric: str) -> Any:
    from hrlaif.judges.base import JudgeRequest

    p = it.rs.prompt
    md: dict[str, Any] = {"prompt_id": p.id, "shown": list(shown)}
    if p.entry_point:
        md["entry_point"] = p.entry_point
    md.update({k: v for k, v in p.metadata.items() if k.startswith("sim_")})  # simulation controls only
    return JudgeRequest(task=task, messages=list(p.messages), responses=[it.rs.responses[i].text for i in shown],
                        category=p.category, reference=p.reference, choices=p.choices, rubric=rubric, metadata=md)


def _spec(it: _Item, idx: int, judge_id: str, task: str, shown: tuple[int, ...], rubric: str,
          cfg: LabelConfig) -> CallSpec:
    from hrlaif.labeling.store import call_key

    key = call_key(it.rs.prompt_id, it.set_hash, judge_key(judge_id, cfg.judge), task, rubric, shown,
                   cfg.judge.show_reference)
    return CallSpec(key, idx, task, shown, _request(it, task, shown, rubric))


def judge_key(judge_id: str, jc: JudgeConfig) -> str:
    """The judge part of a store key: its identity (backend, model, template version) plus the
    settings that change its answers (temperature, token limits, logprob soft labels)."""
    return f"{judge_id}|t={jc.temperature:g}|mt={jc.max_tokens}|ml={jc.max_length}|lp={int(jc.logprobs)}"


def _pair_specs(it: _Item, idx: int, judge_id: str, pairs: list[tuple[int, int]], rubric: str,
                cfg: LabelConfig) -> list[CallSpec]:
    from hrlaif.labeling.routing import shown_orders

    return [_spec(it, idx, judge_id, "pairwise", order, rubric, cfg) for i, j in pairs
            for order in shown_orders(it.rs.prompt_id, i, j, both_orders=cfg.judge.both_orders, seed=cfg.judge.seed)]


def _verify_all(items: list[_Item], cfg: LabelConfig) -> int:
    """Fill ``verdicts`` (and math ``steps``) of every verifiable item; returns the number of
    verifier errors. One batch first (code runs in parallel sandboxes); when the batch cannot run
    (a verifier error), each response is verified on its own so one bad item does not hide the
    rest, and a response whose verifier fails is unverifiable with the reason (logged)."""
    from hrlaif.verify import check_steps, verify_many, verify_response
    from hrlaif.verify.base import Verdict

    from hrlaif.labeling.routing import verifier_name
    from hrlaif.ui import progress

    todo = [it for it in items if verifier_name(it.rs) is not None]
    pairs = [(it.rs.prompt, t) for it in todo for t in it.rs.texts]
    if not pairs:
        return 0
    errors, seen = 0, set()
    with progress(len(pairs), "verify", unit="responses") as bar:
        try:
            flat = verify_many(pairs, on_done=lambda i, v: bar.advance())
        except VerifierError as e:
            log.warning("batch verification failed (%s); verifying response by response", e)
            flat = []
            for prompt, text in pairs:
                try:
                    flat.append(verify_response(prompt, text))
                except VerifierError as e1:  # unverifiable, with the reason, and logged once per message
                    errors += 1
                    if str(e1) not in seen:
                        seen.add(str(e1))
                        log.warning("verifier could not run (%s); those responses are unverifiable", e1)
                    flat.append(Verdict(None, None, f"verifier error: {e1}", verifier=str(verifier_name(
                        next(it.rs for it in todo if it.rs.prompt is prompt)))))
    pos = 0
    for it in todo:
        k = len(it.rs.texts)
        it.verdicts, pos = flat[pos:pos + k], pos + k
        if cfg.steps and it.rs.prompt.category == "math":
            it.steps = [check_steps(t) for t in it.rs.texts]
    return errors


def _grouping(it: _Item, mode: str, harm_results: list[Any] | None, judge_id: str, cfg: LabelConfig) -> Any:
    from hrlaif.labeling.routing import Grouping, harm_groups, verifier_groups

    k = len(it.rs.responses)
    everyone = Grouping([list(range(k))] if k else [])
    if mode == "basic":
        return everyone
    if it.verdicts is not None:
        return verifier_groups(it.verdicts, it.steps, unverifiable=cfg.unverifiable, hedged=cfg.hedged)
    if harm_results is not None:
        return harm_groups(harm_results, judge_id)
    everyone.fallback = ("harm: the judge's harmlessness rubric decides" if it.rs.prompt.category == "harmlessness"
                         else "no verifier for this category (or no reference): the judge decides")
    return everyone


def _ranking(it: _Item, mode: str, results: dict[str, Any], judge_id: str, cfg: LabelConfig) -> Ranking:
    from hrlaif.labeling.routing import assemble, group_pairs, pair_outcomes

    g = it.groupings[mode]
    by_shown = {s.shown: results.get(s.key) for s in it.specs[mode] if s.task == "pairwise"}
    judged_groups = g.groups if not (mode == "hybrid" and _harm_only(it, cfg)) else []
    outcomes, pair_decisions = pair_outcomes(group_pairs(judged_groups), by_shown, judge=judge_id,
                                             both_orders=cfg.judge.both_orders, tie_margin=cfg.tie_margin,
                                             flip_is_tie=cfg.flip_is_tie)
    if judged_groups:
        asm = assemble(g.groups, outcomes)
        tiers, cycle_decisions, unranked, unordered = asm.tiers, asm.decisions, asm.unranked, asm.unordered
    else:  # harm check alone: the groups are the tiers
        tiers, cycle_decisions, unranked, unordered = [list(x) for x in g.groups], [], [], []
    failed = [s for s in it.specs[mode] if (r := results.get(s.key)) is None or r.error is not None]
    route = ("judge" if mode == "basic" or g.fallback else
             f"verifier:{it.verdicts[0].verifier if it.verdicts and it.verdicts[0] else 'verifier'}"
             if it.verdicts is not None else "harm_check")
    meta = {"set_hash": it.set_hash, "judge": judge_id, "route": route, "fallback": g.fallback,
            "unranked": sorted(set(g.unranked) | set(unranked)), "failed_calls": len(failed),
            "complete": not failed, "judge_calls": len(it.specs[mode])}
    return Ranking(prompt_id=it.rs.prompt_id, category=it.rs.prompt.category, prompt=it.rs.prompt,
                   responses=it.rs.texts, tiers=tiers, mode=mode,
                   decisions=list(g.decisions) + pair_decisions + cycle_decisions, metadata=meta,
                   unordered=unordered)


def _harm_only(it: _Item, cfg: LabelConfig) -> bool:
    return it.rs.prompt.category == "harmlessness" and it.verdicts is None and cfg.harm == "check"


# --------------------------------------------------------------------------- the stage


def label(cfg: LabelConfig, *, judge: Any = None) -> LabelResult:
    """Label every ResponseSet of ``cfg.input``; write Rankings, exports, the report and the
    failures list; return them. ``judge`` overrides ``cfg.judge`` (any ``Judge``)."""
    from hrlaif.judges.config import make_judge
    from hrlaif.labeling import export, quality
    from hrlaif.labeling.routing import rubric_for, verifier_name
    from hrlaif.labeling.store import LabelStore, set_hash

    t0 = time.perf_counter()
    if not cfg.input:
        raise ConfigError("option 'input': give the ResponseSet file to label (--in PATH)")
    if not 0 <= cfg.tie_margin < 0.5:
        raise ConfigError(f"option 'tie_margin': must be in [0, 0.5), got {cfg.tie_margin}")
    sets = read_records(cfg.input, ResponseSet)
    if cfg.limit > 0:
        sets = sets[: cfg.limit]
    human = quality.read_human_labels(cfg.human_labels) if cfg.human_labels else {}
    gold = quality.read_gold(cfg.gold) if cfg.gold else {}
    for rs in sets:
        if rs.prompt_id in gold and len(gold[rs.prompt_id]) != len(rs.responses):
            raise InputError(f"prompt {rs.prompt_id!r} has {len(rs.responses)} responses but its gold row has "
                             f"{len(gold[rs.prompt_id])} entries", path=cfg.gold, field="correct")
    for rs in sets:  # check human labels against the data before any judge call
        bad = [p for p in human.get(rs.prompt_id, []) if max(p) >= len(rs.responses)]
        if bad:
            raise InputError(f"prompt {rs.prompt_id!r} has {len(rs.responses)} responses but a human label names "
                             f"response {max(bad[0])}", path=cfg.human_labels, field="better/worse")
    modes = [cfg.mode] + ([{"basic": "hybrid", "hybrid": "basic"}[cfg.mode]] if cfg.compare else [])
    paths = default_paths(cfg)
    own_judge = judge is None
    judge = judge if judge is not None else make_judge(cfg.judge)
    store = LabelStore(paths["store"])
    try:
        judge_id = judge.identity
        items = [_Item(rs, set_hash(rs.prompt.messages, rs.texts)) for rs in sets]
        runner = _CallRunner(judge, store, cfg, items)
        # 1. verifiers (hybrid routing, and ground truth for the report)
        verifier_errors = _verify_all(items, cfg) if "hybrid" in modes else 0
        # 2. harm checks (hybrid harmlessness prompts)
        harm_specs: dict[int, list[CallSpec]] = {}
        if "hybrid" in modes and cfg.harm in ("both", "check"):
            for n, it in enumerate(items):
                if it.rs.prompt.category == "harmlessness" and verifier_name(it.rs) is None:
                    harm_specs[n] = [_spec(it, n, judge_id, "harm", (i,), "harmlessness", cfg)
                                     for i in range(len(it.rs.responses))]
            runner.run([s for v in harm_specs.values() for s in v], "harm checks")
        # 3. groups, then the pairwise calls each mode needs (shared through their keys)
        from hrlaif.labeling.routing import group_pairs

        for n, it in enumerate(items):
            rubric = rubric_for(it.rs.prompt.category)
            for m in modes:
                hr = [runner.results.get(s.key) for s in harm_specs[n]] if m == "hybrid" and n in harm_specs else None
                it.groupings[m] = _grouping(it, m, hr, judge_id, cfg)
                groups = [] if m == "hybrid" and _harm_only(it, cfg) else it.groupings[m].groups
                it.specs[m] = (harm_specs.get(n, []) if m == "hybrid" else []) + \
                    _pair_specs(it, n, judge_id, group_pairs(groups), rubric, cfg)
        runner.run([s for it in items for m in modes for s in it.specs[m] if s.task == "pairwise"], "pairs")
        # 4. rankings
        rankings = {m: [_ranking(it, m, runner.results, judge_id, cfg) for it in items] for m in modes}
        needed = {s.key for it in items for s in it.specs[cfg.mode]}
        failed_keys = {k for k in needed if (r := runner.results.get(k)) is None or r.error is not None}
        failures = [row for row in store.failures() if row["key"] in failed_keys]
    finally:
        store.close()
        if own_judge:
            judge.close()

    write_records(cfg.out, rankings[cfg.mode]) if rankings[cfg.mode] else Path(cfg.out).write_text("")
    save_config(cfg, paths["config"], stage="label")
    export.write_json_rows(paths["failures"], failures)
    if cfg.export_trl:
        export.write_json_rows(cfg.export_trl, export.trl_rows(rankings[cfg.mode], cfg.trl_format))
    if cfg.export_kwise:
        export.write_json_rows(cfg.export_kwise, export.kwise_rows(rankings[cfg.mode]))
    report = None
    if cfg.compare:
        evals = [_item_eval(it, n, modes, rankings, runner.results, human, gold) for n, it in enumerate(items)]
        report = quality.build_report(evals, judge=judge_id, modes=sorted(modes), truth_file=cfg.human_labels,
                                      gold_file=cfg.gold)
        report["run"] = {"input": cfg.input, "n_sets": len(items), "calls_made": runner.made,
                         "calls_from_store": runner.cached, "calls_failed": len(failed_keys),
                         "verifier_errors": verifier_errors, "elapsed_s": round(time.perf_counter() - t0, 3)}
        from hrlaif.data import atomic_write_text

        atomic_write_text(paths["report"], json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return LabelResult(rankings=rankings[cfg.mode], compared=rankings.get(modes[-1], []) if cfg.compare else [],
                       report=report, paths=paths, calls_needed=len(needed), calls_made=runner.made,
                       calls_cached=runner.cached, calls_failed=len(failed_keys), verifier_errors=verifier_errors,
                       elapsed_s=time.perf_counter() - t0, failures=failures)


def _item_eval(it: _Item, n: int, modes: list[str], rankings: dict[str, list[Ranking]], results: dict[str, Any],
               human: dict[str, list[tuple[int, int]]], gold: dict[str, list[bool | None]] | None = None) -> Any:
    from hrlaif.labeling import quality

    k = len(it.rs.responses)
    truth, source = None, None
    if it.rs.prompt_id in human:
        truth, source = human[it.rs.prompt_id], "human"
    elif it.verdicts is not None:
        truth, source = quality.verifier_truth(it.verdicts), "verifier"
    ev = quality.ItemEval(category=it.rs.prompt.category, truth=truth or None, truth_source=source if truth else None)
    if gold and it.rs.prompt_id in gold:
        ev.gold = quality.gold_truth(gold[it.rs.prompt_id])
    for m in modes:
        ev.tiers[m] = rankings[m][n].tiers
        ev.unordered[m] = rankings[m][n].unordered
        u = quality.Usage()
        for s in it.specs[m]:
            if (r := results.get(s.key)) is not None:
                u.add(r)
        ev.usage[m] = u
    judge_mode = "basic" if "basic" in modes else modes[0]
    texts = it.rs.texts
    by_shown = {s.shown: results.get(s.key) for s in it.specs[judge_mode] if s.task == "pairwise"}
    for (a, b), r in by_shown.items():
        if r is not None and r.ok and r.preference is not None:
            ev.judged.append((len(texts[a]), len(texts[b]), float(r.preference)))
    for i, j in combinations(range(k), 2):
        if (i, j) in by_shown and (j, i) in by_shown:
            f, b = by_shown[(i, j)], by_shown[(j, i)]
            pf = f.preference if f is not None and f.ok else None
            pb = b.preference if b is not None and b.ok else None
            ev.orders.append((pf, pb))
    return ev


def cli(cfg: LabelConfig) -> int:
    from hrlaif.labeling.quality import report_tables
    from hrlaif.ui import print_table

    res = label(cfg)
    n_pairs = sum(len(r.pairs()) for r in res.rankings)
    print(f"labeled {len(res.rankings)} response sets ({cfg.mode}): {n_pairs} ordered pairs; "
          f"{res.calls_needed} judge calls needed ({res.calls_failed} failed); this run made {res.calls_made} and "
          f"read {res.calls_cached} from the store{' (both modes)' if cfg.compare else ''}; {res.elapsed_s:.1f}s")
    if res.report is not None:
        truth = "human labels + verifier truth" if cfg.human_labels else "verifier truth"
        print(f"label quality: judge {res.report['judge']}, ground truth from {truth}")
        for title, cols, rows in report_tables(res.report):
            print_table(title, cols, rows)
    for role, p in res.paths.items():
        print(f"  {role}: {p}")
    if res.calls_failed:
        reasons: dict[str, int] = {}
        for f in res.failures:
            reasons[f["reason"] or "?"] = reasons.get(f["reason"] or "?", 0) + 1
        print(f"{res.calls_failed} judge calls failed (not turned into labels; rerun to retry them):")
        for reason, n in sorted(reasons.items(), key=lambda x: -x[1])[:10]:
            print(f"  {n} × {reason[:200]}")
    if res.calls_needed and res.calls_failed / res.calls_needed > cfg.max_failed_frac:
        return 1
    return 0
