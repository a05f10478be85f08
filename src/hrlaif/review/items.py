"""What reviewers see: label spot-check pairs and satisfaction items, sampled from stage outputs.

* A **label item** is one pair of responses to one prompt, taken from the ``Ranking`` files of one
  or more labelling runs (e.g. ``basic`` and ``hybrid``). Rankings of the same prompt over the same
  response texts are grouped, so a human judges a pair once and that judgement is compared with
  every source's AI label. The AI label of pair (i, j), i < j, is ``first`` (i ranked above j),
  ``second`` or ``tie`` (same tier); pairs with an unranked response get no label from that source.
* A **satisfaction item** is one policy's response (the first of its ``ResponseSet``) to one
  prompt; only prompts every policy answered are sampled, so the policies are compared on the same
  prompts.

Sampling is seeded and deterministic: the same inputs and seed give the same items, so importing
them again (a restart) adds nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from hrlaif.data import Prompt, Ranking, ResponseSet, read_records
from hrlaif.errors import ConfigError, InputError

log = logging.getLogger(__name__)

LABELS = ("first", "second", "tie")


@dataclass
class LabelItem:
    key: str
    category: str
    prompt_id: str
    prompt: str
    reference: str | None
    choices: list[str] | None
    first: str
    second: str
    first_index: int
    second_index: int
    ai_labels: dict[str, str] = field(default_factory=dict)  # source → first | second | tie


@dataclass
class SatItem:
    key: str
    category: str
    prompt_id: str
    prompt: str
    reference: str | None
    choices: list[str] | None
    policy: str
    response: str


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:20]


def ai_label(ranking: Ranking, i: int, j: int) -> str | None:
    """The AI's verdict on responses i and j from the ranking's tiers (``None`` if either is unranked)."""
    tier = ranking.tier_of()
    if i not in tier or j not in tier:
        return None
    if tier[i] == tier[j]:
        return "tie"
    return "first" if tier[i] < tier[j] else "second"


def parse_named(specs: list[str], what: str) -> dict[str, str]:
    """``["sft=a.jsonl", "b.jsonl"]`` → ``{"sft": "a.jsonl", "b": "b.jsonl"}`` (name from the file stem)."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            path, name = spec, Path(spec).name.split(".")[0]
            for prefix in ("labels_", "responses_"):
                name = name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else name
        name, path = name.strip(), path.strip()
        if not name or not path:
            raise ConfigError(f"{what}: expected NAME=PATH or PATH, got {spec!r}")
        if name in out:
            raise ConfigError(f"{what}: name {name!r} given twice")
        out[name] = path
    return out


def find_run_inputs(run_dir: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """Inputs a ``hrlaif run`` folder holds by convention.

    Labels (Ranking): ``<run>/labels_<source>.jsonl`` (``basic``, ``hybrid``) and
    ``<run>/redteam/rankings.jsonl`` (source ``redteam``). Policies (ResponseSet):
    ``<run>/eval/<policy>/responses_*.jsonl`` (the pipeline's eval folders: every set of one policy)
    or ``<run>/eval/responses_<policy>.jsonl``.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"run_dir {run}: not a folder")

    def scan(folder: Path, prefix: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for ext in ("jsonl", "parquet"):
            for p in sorted(folder.glob(f"{prefix}*.{ext}")):
                name = p.name[len(prefix): -len(ext) - 1]
                if name and "." not in name:  # skips x.config.yaml-like and .partial leftovers
                    found.setdefault(name, str(p))
        return found

    labels = scan(run, "labels_")
    if (run / "redteam" / "rankings.jsonl").is_file():
        labels.setdefault("redteam", str(run / "redteam" / "rankings.jsonl"))
    policies: dict[str, str] = {}
    ev = run / "eval"
    if ev.is_dir():
        policies.update(scan(ev, "responses_"))
        for sub in sorted(p for p in ev.iterdir() if p.is_dir()):
            if _response_files(sub):
                policies.setdefault(sub.name, str(sub))
    return labels, policies


def _response_files(folder: Path) -> list[Path]:
    return sorted(p for ext in ("jsonl", "parquet") for p in folder.glob(f"responses_*.{ext}")
                  if "." not in p.name[len("responses_"): -len(ext) - 1])


def _reference(p: Prompt) -> tuple[str | None, list[str] | None]:
    return p.reference, list(p.choices) if p.choices else None


def load_label_sources(paths: dict[str, str]) -> dict[str, list[Ranking]]:
    return {name: read_records(path, Ranking) for name, path in paths.items()}


def load_policies(paths: dict[str, str]) -> dict[str, list[ResponseSet]]:
    """A policy is a ResponseSet file, or a folder (an ``hrlaif eval`` output) whose
    ``responses_*.jsonl`` files are read together."""
    out = {}
    for name, path in paths.items():
        p = Path(path)
        if p.is_dir():
            files = _response_files(p)
            if not files:
                raise InputError("folder holds no responses_*.jsonl (is it an hrlaif eval output?)", path=str(p))
            out[name] = [rs for f in files for rs in read_records(f, ResponseSet)]
        else:
            out[name] = read_records(p, ResponseSet)
    return out


def sample_label_items(sources: dict[str, list[Ranking]], *, per_category: int, seed: int) -> list[LabelItem]:
    """Up to ``per_category`` pairs per category, one pair per prompt, each with every source's AI label."""
    groups: dict[str, dict] = {}  # group key → {"rankings": {source: Ranking}, "category", "responses"}
    for source, rankings in sources.items():
        for r in rankings:
            gkey = _digest(r.prompt_id, *r.responses)
            g = groups.setdefault(gkey, {"rankings": {}, "category": r.category, "first": r})
            if g["category"] != r.category:
                log.warning("prompt %s is %s in one source and %s in %s; using %s", r.prompt_id,
                            g["category"], r.category, source, g["category"])
            g["rankings"].setdefault(source, r)
    by_cat: dict[str, list[str]] = {}
    for gkey in sorted(groups):
        by_cat.setdefault(groups[gkey]["category"], []).append(gkey)
    items: list[LabelItem] = []
    for cat in sorted(by_cat):
        rng = random.Random(f"{seed}:labels:{cat}")
        keys = by_cat[cat][:]
        rng.shuffle(keys)
        taken = 0
        for gkey in keys:
            if taken >= per_category:
                break
            g = groups[gkey]
            ranked_pairs = sorted({(i, j) for r in g["rankings"].values() for (i, j) in _ranked_pairs(r)})
            if not ranked_pairs:
                continue
            i, j = rng.choice(ranked_pairs)
            r0: Ranking = g["first"]
            labels = {s: lab for s, r in sorted(g["rankings"].items()) if (lab := ai_label(r, i, j)) is not None}
            ref, choices = _reference(r0.prompt)
            items.append(LabelItem(key=_digest("label", r0.prompt_id, r0.responses[i], r0.responses[j]),
                                   category=cat, prompt_id=r0.prompt_id, prompt=r0.prompt.text, reference=ref,
                                   choices=choices, first=r0.responses[i], second=r0.responses[j],
                                   first_index=i, second_index=j, ai_labels=labels))
            taken += 1
    return items


def _ranked_pairs(r: Ranking) -> list[tuple[int, int]]:
    ranked = sorted(r.ranked)
    return [(i, j) for a, i in enumerate(ranked) for j in ranked[a + 1:] if r.responses[i] != r.responses[j]]


def sample_sat_items(policies: dict[str, list[ResponseSet]], *, per_category: int, seed: int) -> list[SatItem]:
    """Up to ``per_category`` prompts per category that every policy answered; one item per policy each."""
    if not policies:
        return []
    by_policy = {name: {rs.prompt_id: rs for rs in sets if rs.responses} for name, sets in policies.items()}
    common = set.intersection(*(set(d) for d in by_policy.values()))
    if not common:
        raise InputError("the policies' response files share no prompt id; satisfaction needs the same prompts",
                         path=", ".join(f"{n}" for n in policies))
    first_policy = sorted(by_policy)[0]
    by_cat: dict[str, list[str]] = {}
    for pid in sorted(common):
        by_cat.setdefault(by_policy[first_policy][pid].prompt.category, []).append(pid)
    items: list[SatItem] = []
    for cat in sorted(by_cat):
        rng = random.Random(f"{seed}:satisfaction:{cat}")
        pids = by_cat[cat][:]
        rng.shuffle(pids)
        for pid in pids[:per_category]:
            for policy in sorted(by_policy):
                rs = by_policy[policy][pid]
                ref, choices = _reference(rs.prompt)
                text = rs.responses[0].text
                items.append(SatItem(key=_digest("sat", policy, pid, text), category=cat, prompt_id=pid,
                                     prompt=rs.prompt.text, reference=ref, choices=choices, policy=policy,
                                     response=text))
    return items
