"""The ``hrlaif run`` report: the seed's tables beside what this run measured.

Reads only files the stages wrote (label report JSON, RM ``train_summary.json``, PPO
``metrics.jsonl``, ``eval.json`` per policy, the red-team report, optionally a review store)
and writes ``report.html`` (self-contained, every value escaped) and ``report.md``.
Numbers are what the run measured, whatever they show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hrlaif.report import Figure, Section, Table, Text, bar_plot, line_plot, pct, write_report

# Seed Table 3 (Li et al. 2024): human evaluation on a 12-category test set.
SEED_TABLE3 = {"sft": {"satisfaction": 0.6292, "win_ratio": None},
               "rlaif": {"satisfaction": 0.5833, "win_ratio": 0.5813},
               "hrlaif": {"satisfaction": 0.6500, "win_ratio": 0.5687}}
POLICIES = ("sft", "rlaif", "hrlaif", "hrlaif_v")  # eval folders of the arms SFT, RLAIF, HRLAIF, HRLAIF+V
_ARM_NAME = {"sft": "SFT", "rlaif": "RLAIF", "hrlaif": "HRLAIF", "hrlaif_v": "HRLAIF+V"}


def _load(p: Path) -> Any:
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _jsonl(p: Path) -> list[dict]:
    try:
        return [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]
    except (OSError, json.JSONDecodeError):
        return []


def label_section(P: dict[str, Path], figs: Path) -> Section:
    from hrlaif.labeling.quality import report_tables

    rep = _load(P["label_report"])
    sec = Section("AI label accuracy, basic vs hybrid (the seed's Table 1)")
    if not rep:
        sec.items.append(Text("no label report found"))
        return sec
    for title, cols, rows in report_tables(rep):
        sec.items.append(Table(title, cols, rows))
    cats = [c for c, s in rep["categories"].items() if s.get("n_truth_pairs")]
    if cats:
        series = {m: [(rep["categories"][c]["modes"][m]["accuracy"] or 0) * 100 for c in cats] for m in rep["modes"]}
        for m in rep["modes"]:
            series[f"seed {m}"] = [((rep["categories"][c].get("seed_table1") or {}).get(m)) for c in cats]
        png = bar_plot(figs / "label_accuracy.png", "Label accuracy vs ground truth (%)", cats, series,
                       ylabel="%", ylim=(0, 100))
        sec.items.append(Figure("Label accuracy per category (ours vs seed)", png))
    sec.items.append(Text(f"Judge: {rep.get('judge')}. Ground truth: verifiers on prompts with references"
                          f"{' and human labels from ' + rep['truth_file'] if rep.get('truth_file') else ''}. "
                          "Seed numbers are human-label agreement with gpt-3.5 labels on the seed's test set; "
                          "ours are measured on this run's prompts and judge."))
    return sec


def rm_section(P: dict[str, Path]) -> Section:
    sec = Section("Reward models (K-wise partial-order loss, reward clipped inside the forward)")
    rows = []
    for tag in ("basic", "hybrid"):
        s = _load(P[f"rm_{tag}"] / "train_summary.json") or {}
        rows.append([f"RM_{tag}", s.get("train_prompts"), s.get("train_pairs"), s.get("eval_prompts"),
                     s.get("eval_pairs"), s.get("eval_accuracy"), s.get("final_loss"), s.get("truncated"),
                     s.get("wall_s")])
    sec.items.append(Table("Held-out pairwise accuracy", ["model", "train prompts", "train pairs", "held-out prompts",
                                                          "held-out pairs", "held-out acc", "final loss",
                                                          "truncated", "seconds"], rows,
                           note="Held-out pairs come from each RM's own labels (basic: judge labels; hybrid: "
                                "verified labels + red teaming), so the two accuracies are not on the same pairs."))
    return sec


def ppo_section(P: dict[str, Path], figs: Path) -> Section:
    sec = Section("PPO")
    curves: dict[str, tuple[list[float], list[float]]] = {}
    rows = []
    for name in ("rlaif", "hrlaif", "hrlaif_v"):
        if f"ppo_{name}" not in P:
            continue
        m = _jsonl(P[f"ppo_{name}"] / "metrics.jsonl")
        if not m:
            continue
        xs = [r.get("update", i + 1) for i, r in enumerate(m)]
        for key in ("reward_mean", "kl"):
            curves[f"{key}:{name}"] = (xs, [r.get(key) for r in m])
        last = m[-1]
        rows.append([name, len(m), m[0].get("reward_mean"), last.get("reward_mean"), last.get("kl"),
                     last.get("approx_kl"), last.get("clipfrac"), last.get("entropy"),
                     sum(r.get("step_time_s", r.get("step_time", 0)) or 0 for r in m) / len(m)])
    if rows:
        sec.items.append(Table("PPO updates", ["policy", "updates", "reward (first)", "reward (last)", "KL (last)",
                                               "approx_kl", "clipfrac", "entropy", "s / update"], rows))
        png = line_plot(figs / "ppo_curves.png", "PPO: RM reward and KL to the SFT policy", curves,
                        panels=["reward_mean", "kl"])
        sec.items.append(Figure("Reward and KL per update", png))
    else:
        sec.items.append(Text("no PPO metrics found"))
    return sec


def _bench_cell(b: dict | None) -> str:
    if not b or b.get("accuracy") is None:
        return "–"
    return pct(b["accuracy"], b.get("ci")) + f" (n={b.get('n')})"


def policy_section(P: dict[str, Path], figs: Path) -> tuple[Section, dict]:
    sec = Section("Policies: SFT vs RLAIF vs HRLAIF (the seed's Table 3 and benchmarks)")
    evals = {p: _load(P["eval"] / p / "eval.json") for p in POLICIES}
    evals = {k: v for k, v in evals.items() if v}
    if not evals:
        sec.items.append(Text("no evaluation found"))
        return sec, evals
    benches = sorted({b for e in evals.values() for b in e.get("benchmarks", {})})
    tox_sets = sorted({t for e in evals.values() for t in ((e.get("toxicity") or {}).get("sets") or {})})
    cols = ["policy", *benches, *[f"toxic ‰ {t}" for t in tox_sets], "win ratio vs SFT", "seed win ratio",
            "satisfaction proxy", "seed satisfaction"]
    rows = []
    for p, e in evals.items():
        row: list[Any] = [_ARM_NAME.get(p, p.upper())]
        row += [_bench_cell(e["benchmarks"].get(b)) for b in benches]
        for t in tox_sets:
            s = ((e.get("toxicity") or {}).get("sets") or {}).get(t)
            ci = s.get("ci") if s else None
            row.append("–" if not s or s.get("per_mille") is None else
                       f"{s['per_mille']:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci and ci[0] is not None else ""))
        wr = (e.get("win_ratio") or {}).get("overall")
        row.append(pct(wr["win_ratio"], wr.get("ci")) if wr else ("(baseline)" if p == "sft" else "–"))
        seed3 = SEED_TABLE3.get(p, {"satisfaction": None, "win_ratio": None})
        row.append(pct(seed3["win_ratio"]) if seed3["win_ratio"] else "–")
        sat = (e.get("satisfaction") or {}).get("overall")
        row.append(pct(sat["value"], sat.get("ci")) if sat else "–")
        row.append(pct(seed3["satisfaction"]) if seed3["satisfaction"] else "–")
        rows.append(row)
    tox = next((e["toxicity"] for e in evals.values() if e.get("toxicity")), None)
    note = "Brackets: 95% bootstrap/Wilson intervals. Seed columns: Li et al. 2024, Table 3 (human raters, 13B model)."
    if tox and tox.get("scorer_quality"):
        q = tox["scorer_quality"]
        note += f" Toxicity scorer: {tox['scorer']} (held-out accuracy {q.get('accuracy')} on n={q.get('n')})."
    sec.items.append(Table("Policy comparison", cols, rows, note=note))
    # per-category satisfaction and win ratio
    cats = sorted({c for e in evals.values() for c in ((e.get("satisfaction") or {}).get("per_category") or {})})
    if cats:
        srows = []
        for c in cats:
            r: list[Any] = [c]
            for p in evals:
                v = ((evals[p].get("satisfaction") or {}).get("per_category") or {}).get(c)
                r.append(pct(v["value"], v.get("ci")) if v else "–")
            for p in evals:
                v = ((evals[p].get("win_ratio") or {}).get("per_category") or {}).get(c)
                r.append(pct(v["win_ratio"], v.get("ci")) if v else "–")
            srows.append(r)
        sec.items.append(Table("Per category", ["category", *[f"satisfaction {p}" for p in evals],
                                                *[f"win ratio {p} vs SFT" for p in evals]], srows))
    groups = benches + (["satisfaction"] if cats else [])
    series = {}
    for p, e in evals.items():
        vals = [((e["benchmarks"].get(b) or {}).get("accuracy")) for b in benches]
        if cats:
            vals.append(((e.get("satisfaction") or {}).get("overall") or {}).get("value"))
        series[_ARM_NAME.get(p, p.upper())] = vals
    if groups:
        png = bar_plot(figs / "policy_comparison.png", "Accuracy and satisfaction proxy", groups, series,
                       ylim=(0, 1))
        sec.items.append(Figure("Policy comparison", png))
    return sec, evals


def redteam_section(P: dict[str, Path]) -> Section | None:
    rep = _load(P["redteam"] / "redteam_report.json")
    if not rep:
        return None
    sec = Section("AI red teaming")
    sec.items.append(Table("Summary", ["metric", "value"], [[k, v] for k, v in rep["summary"].items()]))
    sec.items.append(Table("Attack success rate by category", ["category", "harmful", "checked", "unknown", "ASR"],
                           [[k, v["harmful"], v["checked"], v["unknown"], v["asr"]]
                            for k, v in rep["by_category"].items()]))
    return sec


def review_section(db: str) -> Section:
    sec = Section("Human review (hrlaif review): AI-vs-human agreement and satisfaction")
    try:
        from hrlaif.review.results import results_tables, review_results

        res = review_results(db)
        for title, cols, rows in results_tables(res):
            sec.items.append(Table(title, cols, rows))
    except Exception as e:  # a missing or foreign file should not sink the whole report
        sec.items.append(Text(f"could not read review results from {db}: {e}"))
    return sec


def effect_section(summary: dict) -> Section | None:
    """The seed's question, answered with paired differences on the same held-out items."""
    paired = summary.get("paired") or []
    if not paired:
        return None
    sec = Section("Does hybrid labeling make a better policy? (paired, same held-out items)")
    rows = [[p["a"], p["b"], p["set"], p["n"], f"{100 * p['delta']:+.1f}",
             f"[{100 * p['ci'][0]:+.1f}, {100 * p['ci'][1]:+.1f}]", p["a_only"], p["b_only"]] for p in paired]
    sec.items.append(Table("Accuracy differences a − b (percentage points)",
                           ["a", "b", "set", "n", "Δ pp", "95% paired bootstrap", "a right only", "b right only"],
                           rows, note="Δ = acc(a) − acc(b) on the same items; the interval resamples items with "
                                      "both policies' answers together (hrlaif.evaluation.metrics.paired_difference)."))
    arms = summary.get("arms") or {}
    if arms:
        arow = []
        for a, r in arms.items():
            for name, b in r.get("benchmarks", {}).items():
                ppo = r.get("ppo") or {}
                arow.append([a, name, b["n"], pct(b["accuracy"], b.get("ci")),
                             None if b.get("mean_tokens") is None else round(b["mean_tokens"], 1),
                             ppo.get("kl"), ppo.get("eos_frac")])
        sec.items.append(Table("Arms: held-out accuracy and style drift", ["arm", "set", "n", "accuracy",
                                                                          "mean tokens", "KL (last update)",
                                                                          "EOS rate (last update)"], arow))
    rmc = summary.get("rm_compare")
    if rmc and rmc.get("pairs"):
        rrow = []
        for name in ("rm_basic", "rm_hybrid"):
            for subset, label in (("all", "correct ≻ incorrect"), ("shorter", "… correct is the shorter")):
                v = (rmc.get(name) or {}).get(subset) or {}
                rrow.append([name, label, v.get("n"), pct(v.get("accuracy"), v.get("wilson"))])
        sec.items.append(Table("Reward models on the same held-out correctness pairs", ["RM", "pairs", "n",
                                                                                        "accuracy"], rrow,
                               note=rmc.get("note", "")))
    return sec


def build_report(cfg: Any, sc: Any, summary: dict, *, review_db: str | None = None) -> tuple[Path, Path]:
    P = sc.paths
    out = Path(cfg.out_dir)
    figs = out / "figures"
    sections = [label_section(P, figs)]
    rt = redteam_section(P)
    if rt:
        sections.append(rt)
    sections += [rm_section(P), ppo_section(P, figs)]
    pol, _ = policy_section(P, figs)
    eff = effect_section(summary)
    if eff:
        sections.append(eff)
    sections.append(pol)
    if review_db is None and (out / "review" / "review.sqlite").exists():
        review_db = str(out / "review" / "review.sqlite")  # where `hrlaif review --run-dir` keeps it
    if review_db:
        sections.append(review_section(review_db))
    timing = [[k, v["seconds"], "cached" if v["cached"] else "ran"] for k, v in summary["stages"].items()]
    sections.append(Section("Stage timings", [Table("Stages", ["stage", "seconds (when it ran)", "this run"], timing),
                                              Text(f"wall time of this invocation: {summary.get('wall_s')} s")]))
    sub = (f"policy {cfg.policy} · judge {cfg.judge.backend}:{cfg.judge.model} · prompts {cfg.prompts} · "
           f"seed {cfg.seed} · run folder {out}")
    return write_report(out, "hrlaif run report", sections, subtitle=sub)
