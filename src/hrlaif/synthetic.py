"""Generated prompt sets that a small model can move on: ``arith`` and ``easymc``.

Both are pure functions of a seed (no data folder), with a reference for every item and
**disjoint splits by construction**: an item's split is decided by a hash of its *identity key*
(``split_of``), never by the position at which the generator drew it, so no question can land
in both splits, whatever the seed or the sizes. The generator draws items from one
``random.Random(seed)``, drops duplicates (same key), and fills each split up to its size.

* ``arith`` (category ``math``): plain arithmetic ("What is 37 + 48?"), one-step word problems
  and two-step word problems with small non-negative integer answers (< 200). The identity key is
  the question text. ``metadata`` holds the structure (``operands``, ``ops``, applied left to
  right), so a test recomputes the reference independently.
* ``easymc`` (category ``multiple_choice``): four-option questions a 135M model gets above chance:
  largest / smallest number, one-digit sums, "which of these is an animal", opposites, capitals of
  famous countries, everyday facts. The split key is the *fact* asked about (the question for
  sums, opposites, capitals and facts; question + answer for "which of these is a ..."; question +
  the four numbers for largest / smallest), so "the capital of France" sits in one split only,
  whatever its distractors; a key appears with at most ``MC_VARIANTS`` option sets. Keys are
  balanced: the n-th item of a split has its correct option at ``"ABCD"[n % 4]``.
"""

from __future__ import annotations

import hashlib
import random
from typing import Callable

from hrlaif.data import Prompt

SPLIT_SIZES = {"arith": {"train": 2000, "test": 500}, "easymc": {"train": 1200, "test": 400}}
TEST_SHARE = 0.2  # fraction of keys that hash to the test split
MC_VARIANTS = 4  # easymc: at most this many option sets per question key
SEED = 0  # the seed of the registered sets; `arith_prompts(..., seed=...)` draws other sets


def split_of(key: str, test_share: float = TEST_SHARE) -> str:
    """``"test"`` for a ``test_share`` fraction of keys (sha256 of the key), else ``"train"``."""
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return "test" if h / 2**64 < test_share else "train"


def _fill(draw: Callable[[random.Random], tuple[str, str, object]], split: str, n: int, seed: int, *,
          per_key: int = 1, max_draws: int = 200_000) -> list:
    """The first ``n`` items that ``draw`` yields whose split key hashes to ``split``.

    ``draw(rng) -> (split key, item key, item)``: items with an item key already taken are
    dropped, and at most ``per_key`` distinct items share one split key."""
    rng, seen, per, out = random.Random(seed), set(), {}, []
    for _ in range(max_draws):
        skey, ikey, item = draw(rng)
        if ikey in seen or per.get(skey, 0) >= per_key:
            continue
        seen.add(ikey)
        if split_of(skey) == split:
            per[skey] = per.get(skey, 0) + 1
            out.append(item)
            if len(out) == n:
                return out
    raise RuntimeError(f"only {len(out)} distinct {split} items after {max_draws} draws (asked for {n})")


# --------------------------------------------------------------------------- arith

_NAMES = [("Tom", "he"), ("Maya", "she"), ("Sam", "he"), ("Lena", "she"), ("Ravi", "he"), ("Aiko", "she"),
          ("Omar", "he"), ("Grace", "she"), ("Leo", "he"), ("Nina", "she"), ("Ben", "he"), ("Sofia", "she"),
          ("Jack", "he"), ("Amara", "she"), ("Diego", "he"), ("Hana", "she"), ("Felix", "he"), ("Zoe", "she"),
          ("Ivan", "he"), ("Chloe", "she"), ("Kofi", "he"), ("Mia", "she"), ("Noah", "he"), ("Elif", "she")]
_OBJECTS = ["apples", "marbles", "stickers", "books", "pencils", "cookies", "stamps", "shells", "cards",
            "balloons", "crayons", "coins", "oranges", "toy cars", "beads", "cupcakes", "flowers", "buttons",
            "candies", "blocks"]
_GAIN = ["buys", "finds", "gets", "is given", "picks up", "wins"]
_LOSE = ["gives away", "eats", "loses", "sells", "gives his friend", "uses"]
_CONTAINERS = ["bags", "boxes", "jars", "packs", "baskets", "rows"]


def _apply(a: int, op: str, b: int) -> int:
    return {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]


def _operand(rng: random.Random, acc: int, op: str) -> int | None:
    """A second operand for ``acc op b`` that keeps the result a small non-negative integer."""
    if op == "+":
        return rng.randint(1, 20) if acc < 170 else None
    if op == "-":
        return rng.randint(1, acc - 1) if acc > 2 else None
    if op == "*":
        hi = min(12, 199 // max(acc, 1))
        return rng.randint(2, hi) if acc >= 2 and hi >= 2 else None
    divisors = [d for d in range(2, 11) if acc % d == 0 and acc // d >= 2]
    return rng.choice(divisors) if divisors else None


def _lose_verb(verb: str, pron: str) -> str:
    return verb.replace("his", "her") if pron == "she" else verb


def _word_step(rng: random.Random, name: str, pron: str, obj: str, op: str, b: int, first: bool) -> str:
    """One sentence of a word problem applying ``op b`` to the running total."""
    who = name if first else rng.choice([pron.capitalize(), "Then " + pron, "After that, " + pron])
    if op == "+":
        return f"{who} {rng.choice(_GAIN)} {b} more."
    if op == "-":
        return f"{who} {_lose_verb(rng.choice(_LOSE), pron)} {b}."
    if op == "*":
        return f"{who} {rng.choice(['collects more until', 'keeps collecting until'])} {pron} has {b} times as many."
    return f"{who} {rng.choice(['splits', 'divides'])} them into {b} equal groups and keeps one group."


def _arith_item(rng: random.Random) -> tuple[str, dict, int]:
    """(question, metadata, answer): a plain sum/difference/product/quotient, or a word problem."""
    kind = rng.choices(["plain", "word1", "word2"], weights=[4, 5, 1])[0]
    while True:
        if kind == "plain":
            op = rng.choice("+-*/")
            if op == "+":
                a, b = rng.randint(1, 30), rng.randint(1, 30)
            elif op == "-":
                a = rng.randint(5, 40)
                b = rng.randint(1, a)
            elif op == "*":
                a, b = rng.randint(2, 12), rng.randint(2, 10)
            else:
                b = rng.randint(2, 10)
                a = b * rng.randint(2, 12)
            sym = {"+": rng.choice(["+", "plus"]), "-": rng.choice(["-", "minus"]),
                   "*": rng.choice(["×", "times"]), "/": rng.choice(["÷", "divided by"])}[op]
            q = rng.choice(["What is {a} {s} {b}?", "Calculate {a} {s} {b}.", "Compute {a} {s} {b}."]).format(
                a=a, s=sym, b=b)
            return q, {"kind": "plain", "operands": [a, b], "ops": [op]}, _apply(a, op, b)
        name, pron = rng.choice(_NAMES)
        obj = rng.choice(_OBJECTS)
        if kind == "word1" and rng.random() < 0.35:  # multiplication/division phrased with containers
            box = rng.choice(_CONTAINERS)
            if rng.random() < 0.5:
                a, b = rng.randint(2, 10), rng.randint(2, 10)
                q = (f"{name} has {a} {box} of {obj}. Each of the {box} holds {b} {obj}. "
                     f"How many {obj} does {name} have in total?")
                return q, {"kind": "word1", "operands": [a, b], "ops": ["*"]}, a * b
            b = rng.randint(2, 10)
            a = b * rng.randint(2, 15)
            q = (f"{name} has {a} {obj} and puts them equally into {b} {box}. "
                 f"How many {obj} are in each of the {box}?")
            return q, {"kind": "word1", "operands": [a, b], "ops": ["/"]}, a // b
        steps = 1 if kind == "word1" else 2
        acc = rng.randint(3, 30)
        operands, ops = [acc], []
        for _ in range(steps):
            op = rng.choices("+-*/", weights=[4, 4, 1, 1] if steps == 2 else [1, 1, 0, 0])[0]
            b = _operand(rng, acc, op)
            if b is None:
                break
            acc = _apply(acc, op, b)
            operands.append(b)
            ops.append(op)
        if len(ops) != steps or not 0 <= acc < 200:
            continue
        sents = [f"{name} has {operands[0]} {obj}."]
        sents += [_word_step(rng, name, pron, obj, op, b, first=False) for op, b in zip(ops, operands[1:])]
        ask = rng.choice([f"How many {obj} does {name} have now?", f"How many {obj} does {pron} have now?",
                          f"How many {obj} does {name} have in the end?"])
        return " ".join(sents + [ask]), {"kind": kind, "operands": operands, "ops": ops}, acc


def arith_prompts(split: str, n: int | None = None, seed: int = SEED) -> list[Prompt]:
    """``n`` (default: the registered size) arithmetic prompts of ``split`` ("train" | "test")."""
    n = SPLIT_SIZES["arith"][split] if n is None else n

    def draw(rng: random.Random) -> tuple[str, str, tuple[str, dict, int]]:
        q, meta, ans = _arith_item(rng)
        return q, q, (q, meta, ans)

    return [Prompt.simple(f"arith/{split}/{i}", "math", q, reference=str(ans),
                          metadata={"source": "arith", **meta})
            for i, (q, meta, ans) in enumerate(_fill(draw, split, n, seed))]


# --------------------------------------------------------------------------- easymc

_CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Germany": "Berlin", "Spain": "Madrid",
             "the United Kingdom": "London", "Russia": "Moscow", "China": "Beijing", "Egypt": "Cairo",
             "Greece": "Athens", "Canada": "Ottawa", "Australia": "Canberra", "Mexico": "Mexico City",
             "Ireland": "Dublin", "Portugal": "Lisbon", "Norway": "Oslo", "Austria": "Vienna",
             "South Korea": "Seoul", "Thailand": "Bangkok", "Argentina": "Buenos Aires"}
_KINDS = {"animal": ["dog", "cat", "horse", "lion", "rabbit", "elephant", "cow", "tiger", "sheep", "monkey"],
          "fruit": ["apple", "banana", "orange", "grape", "pear", "strawberry", "mango", "cherry", "peach", "lemon"],
          "color": ["red", "blue", "green", "yellow", "purple", "white", "black", "pink"],
          "vehicle": ["car", "bus", "bicycle", "train", "truck", "airplane", "boat", "motorcycle"],
          "musical instrument": ["piano", "guitar", "violin", "drum", "flute", "trumpet"],
          "piece of furniture": ["chair", "table", "sofa", "bed", "desk", "shelf"]}
_ARTICLE = {"animal": "an", "fruit": "a", "color": "a", "vehicle": "a", "musical instrument": "a",
            "piece of furniture": "a"}
_OPPOSITES = [("hot", "cold"), ("big", "small"), ("up", "down"), ("happy", "sad"), ("fast", "slow"),
              ("day", "night"), ("open", "closed"), ("wet", "dry"), ("old", "young"), ("light", "dark"),
              ("full", "empty"), ("early", "late"), ("hard", "soft"), ("loud", "quiet"), ("tall", "short"),
              ("in", "out"), ("win", "lose"), ("push", "pull"), ("rich", "poor"), ("left", "right")]
# (question, answer, distractors): everyday facts with more than three wrong options to draw from
_FACTS = [("What color is the sky on a clear day?", "Blue", ["Green", "Red", "Purple", "Brown", "Orange"]),
          ("How many legs does a dog have?", "4", ["2", "3", "6", "8", "5"]),
          ("How many days are in a week?", "7", ["5", "6", "8", "10", "12"]),
          ("What do bees make?", "Honey", ["Milk", "Bread", "Cheese", "Wool", "Glass"]),
          ("What color is grass?", "Green", ["Blue", "Red", "Purple", "Black", "White"]),
          ("Which animal says 'moo'?", "Cow", ["Cat", "Dog", "Duck", "Horse", "Sheep"]),
          ("What do you use to see?", "Eyes", ["Ears", "Nose", "Hands", "Feet", "Knees"]),
          ("What falls from clouds when it rains?", "Water", ["Sand", "Sugar", "Stones", "Leaves", "Milk"]),
          ("Which season is the coldest?", "Winter", ["Summer", "Spring", "Autumn"]),
          ("How many hours are in a day?", "24", ["12", "10", "30", "60", "48"]),
          ("What is frozen water called?", "Ice", ["Steam", "Sand", "Smoke", "Salt", "Juice"]),
          ("Where do fish live?", "In water", ["In trees", "In the desert", "In the sky", "Under sand"]),
          ("How many months are in a year?", "12", ["10", "7", "24", "11", "15"]),
          ("What color is a ripe banana?", "Yellow", ["Blue", "Black", "Purple", "Green and pink"]),
          ("What do cows drink?", "Water", ["Coffee", "Oil", "Juice", "Milkshake"]),
          ("Which of these is used to write?", "Pencil", ["Spoon", "Shoe", "Plate", "Pillow", "Cup"]),
          ("Which planet do we live on?", "Earth", ["Mars", "Jupiter", "Venus", "Saturn", "Neptune"]),
          ("What is the opposite of 'yes'?", "No", ["Maybe", "Always", "Again", "Please"]),
          ("How many wheels does a bicycle have?", "2", ["3", "4", "1", "6"]),
          ("What shines in the sky during the day?", "The Sun", ["The Moon", "A lamp", "A candle", "A star map"])]
_MC_KINDS = ["largest", "smallest", "sum", "member", "opposite", "capital", "fact"]


def _distinct(rng: random.Random, pool: list, k: int, exclude: object) -> list:
    return rng.sample([x for x in pool if x != exclude], k)


def _mc_item(rng: random.Random) -> tuple[str, str, str, list[str], dict]:
    """(identity key, question, answer, three distractors, metadata)."""
    kind = rng.choices(_MC_KINDS, weights=[3, 1, 1, 3, 2, 2, 2])[0]
    if kind in ("largest", "smallest"):
        nums = rng.sample(range(1, 100), 4)
        ans = max(nums) if kind == "largest" else min(nums)
        q = f"Which number is the {kind}?"
        wrong = [str(x) for x in nums if x != ans]
        return f"{q}|{sorted(nums)}", q, str(ans), wrong, {"kind": kind, "numbers": nums}
    if kind == "sum":
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        s = a + b
        near = [x for x in range(max(0, s - 4), s + 5) if x != s]
        wrong = [str(x) for x in rng.sample(near, 3)]
        q = f"What is {a} + {b}?"
        return q, q, str(s), wrong, {"kind": kind, "operands": [a, b]}
    if kind == "member":
        cat = rng.choice(list(_KINDS))
        ans = rng.choice(_KINDS[cat])
        others = [w for c, ws in _KINDS.items() if c != cat for w in ws]
        q = f"Which of these is {_ARTICLE[cat]} {cat}?"
        return f"{q}|{ans}", q, ans, rng.sample(others, 3), {"kind": kind, "class": cat}
    if kind == "opposite":
        word, ans = rng.choice(_OPPOSITES)
        if rng.random() < 0.5:
            word, ans = ans, word
        pool = [w for pair in _OPPOSITES for w in pair if w not in (word, ans)]
        q = f"What is the opposite of '{word}'?"
        return q, q, ans, rng.sample(pool, 3), {"kind": kind, "word": word}
    if kind == "capital":
        country = rng.choice(list(_CAPITALS))
        ans = _CAPITALS[country]
        q = f"What is the capital of {country}?"
        return q, q, ans, _distinct(rng, list(_CAPITALS.values()), 3, ans), {"kind": kind, "country": country}
    q, ans, pool = rng.choice(_FACTS)
    return q, q, ans, rng.sample(pool, 3), {"kind": kind}


def easymc_prompts(split: str, n: int | None = None, seed: int = SEED) -> list[Prompt]:
    """``n`` (default: the registered size) four-option prompts of ``split``; the correct option of
    the i-th item is ``"ABCD"[i % 4]`` (balanced keys)."""
    from hrlaif.prompts import LETTERS, format_multiple_choice

    n = SPLIT_SIZES["easymc"][split] if n is None else n

    def draw(rng: random.Random) -> tuple[str, str, tuple]:
        key, q, ans, wrong, meta = item = _mc_item(rng)
        return key, f"{key}|{sorted(wrong)}", item

    items = _fill(draw, split, n, seed, per_key=MC_VARIANTS)
    out = []
    order_rng = random.Random(f"{seed}/easymc/{split}/order")
    for i, (_key, q, ans, wrong, meta) in enumerate(items):
        wrong = list(wrong)
        order_rng.shuffle(wrong)
        pos = i % len(LETTERS)
        choices = wrong[:pos] + [ans] + wrong[pos:]
        out.append(Prompt.simple(f"easymc/{split}/{i}", "multiple_choice", format_multiple_choice(q, choices),
                                 reference=LETTERS[pos], choices=choices,
                                 metadata={"source": "easymc", "question": q, "answer": ans, **meta}))
    return out
