"""Rankings with a known, learnable partial order, built from real benchmark items, for tests,
benchmarks and smoke runs of ``hrlaif train-rm`` (real RM training data comes from
``hrlaif label``).

Per GSM8K question (category ``math``) or MMLU question (``multiple_choice``), K responses in
three quality levels, best first: the reference solution (a correct answer), wrong answers
(the reference reasoning with a changed final number, or a terse wrong answer), and
non-answers. Responses of one level are tied. Response order is shuffled (seeded), so the
position carries no signal.
"""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

from hrlaif.data import Decision, Prompt, Ranking

_NON_ANSWERS = ["I don't know.", "Sorry, I cannot answer that.", "Maybe.", "Please ask someone else.",
                "That is a hard one.", "No idea, sorry."]


def _levels(k: int) -> list[int]:
    """How many responses of each level (correct, wrong, non-answer) a K-response set holds."""
    if k < 2:
        raise ValueError("K must be >= 2")
    n0 = max(1, k // 4)
    n2 = max(1, k // 4) if k >= 3 else 0
    return [n0, k - n0 - n2, n2]


def _gsm8k_items(data_dir: Path, n: int, rng: random.Random) -> list[tuple[Prompt, list[str], list[str]]]:
    items = []
    with open(data_dir / "gsm8k" / "test.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for _, line in zip(range(n), f)]
    for idx, row in enumerate(rows):
        sol, final = row["answer"].split("####")
        sol = re.sub(r"<<[^>]*>>", "", sol).strip()
        final = final.strip().replace(",", "")
        try:
            gold = int(float(final))
        except ValueError:
            continue
        good = [f"{sol}\nThe answer is {gold}.", f"{sol}\nSo the final answer is {gold}."]
        wrong = [f"{sol}\nThe answer is {gold + d}." for d in (rng.randint(1, 9), -rng.randint(1, 9))]
        wrong += [f"The answer is {gold + rng.randint(10, 99)}.", f"{gold * 2 + 1}"]
        p = Prompt.simple(f"gsm8k-test-{idx}", "math", row["question"], reference=str(gold))
        items.append((p, good, wrong))
    return items


def _mmlu_items(data_dir: Path, n: int, rng: random.Random) -> list[tuple[Prompt, list[str], list[str]]]:
    items = []
    for path in sorted((data_dir / "mmlu" / "dev").glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as f:
            for r, row in enumerate(csv.DictReader(f)):
                if len(items) >= n:
                    return items
                choices = [row[f"choice{i}"] for i in range(4)]
                ans = int(row["answer"])
                letters = "ABCD"
                q = row["question"] + "\n" + "\n".join(f"({letters[i]}) {c}" for i, c in enumerate(choices))
                good = [f"The correct option is ({letters[ans]}) {choices[ans]}, because it satisfies the question.",
                        f"({letters[ans]}) {choices[ans]} is the right choice here, after checking each option."]
                others = [i for i in range(4) if i != ans]
                wrong = [f"({letters[i]})" for i in others] + [f"{choices[others[0]]}?"]
                p = Prompt(id=f"mmlu-{path.stem}-{r}", category="multiple_choice",
                           messages=Prompt.simple("x", "multiple_choice", q).messages, reference=letters[ans],
                           choices=choices)
                items.append((p, good, wrong))
    return items


def synthetic_rankings(data_dir: str | Path, *, n: int = 40, k: int = 4, seed: int = 0,
                       mmlu_share: float = 0.25) -> list[Ranking]:
    """``n`` rankings of ``k`` responses each (see the module docstring)."""
    rng = random.Random(seed)
    d = Path(data_dir)
    n_mc = int(round(n * mmlu_share))
    items = _gsm8k_items(d, n - n_mc + 5, rng)[: n - n_mc] + (_mmlu_items(d, n_mc, rng) if n_mc else [])
    counts = _levels(k)
    out = []
    for p, good, wrong in items:
        texts = [good[i % len(good)] for i in range(counts[0])]
        texts += [wrong[i % len(wrong)] for i in range(counts[1])]
        texts += rng.sample(_NON_ANSWERS, counts[2]) if counts[2] <= len(_NON_ANSWERS) else \
            [rng.choice(_NON_ANSWERS) for _ in range(counts[2])]
        level = [0] * counts[0] + [1] * counts[1] + [2] * counts[2]
        perm = list(range(k))
        rng.shuffle(perm)
        responses = [texts[i] for i in perm]
        lv = [level[i] for i in perm]
        tiers = [[i for i in range(k) if lv[i] == t] for t in range(3)]
        tiers = [t for t in tiers if t]
        out.append(Ranking(prompt_id=p.id, category=p.category, prompt=p, responses=responses, tiers=tiers,
                           mode="synthetic", decisions=[Decision("rule", "hrlaif.rm.synthetic", list(range(k)),
                                                                 "levels: correct > wrong > non-answer")]))
    return out
