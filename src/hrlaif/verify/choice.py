"""Multiple-choice verifier: which option does a response choose?

Evidence, strongest first; the first level that finds any letter decides, and it must find exactly
one distinct letter (two different letters at the same level → ambiguous → None):

1. the whole response is an option: ``B``, ``(B)``, ``B.``, ``**B**``, or the option's text;
2. an answer statement: "the answer is (B)", "answer: b", "correct option is B", "答案是 C",
   "答案：C", "选C", "选择 C";
3. a mention: "option b", "choice B", "(B)", a line starting with ``B.``/``B)``/``B:``;
4. the text of exactly one option appears in the response (whole words, case-insensitive).

Letters are A.. up to the number of choices (A–D when choices are not given). A lower-case letter
counts only where it cannot be the English article ("the answer is a number" chooses nothing).
"""

from __future__ import annotations

import re
import string

from hrlaif.verify.base import Verdict

_L = r"(?P<l>[A-Za-z])"
_END = r"(?![A-Za-z0-9])"
_ANSWER_STMT = [
    re.compile(r"(?:correct\s+|final\s+|best\s+)?(?:answer|option|choice)\s*(?:is|would\s+be|will\s+be|:|=)\s*"
               r":?\s*(?:(?:either|probably|likely|definitely|clearly|most\s+likely)\s+)?"
               r"(?:option\s+|choice\s+)?[(\[*]*" + _L + r"[)\]*]*" + _END, re.I),
    re.compile(r"(?:答案|正确答案|正确选项)\s*(?:是|为|应该是|应为|：|:)?\s*[(（]?" + _L + _END),
    re.compile(r"(?:选择?|选项)\s*[(（]?" + _L + _END),
    re.compile(r"\b(?:I\s+(?:choose|pick|select)|I'd\s+(?:choose|pick))\s+(?:option\s+)?[(]?" + _L + _END, re.I),
]
_MENTION = [
    re.compile(r"\b(?:option|choice)\s+[(]?" + _L + _END, re.I),
    re.compile(r"(?<![A-Za-z0-9])[(（]" + _L + r"[)）]"),
    re.compile(r"(?m)^\s*[*_]*" + _L + r"[*_]*\s*[.):：]"),
]


def _letters(choices: list[str] | None) -> str:
    n = len(choices) if choices else 4
    return string.ascii_uppercase[:max(1, min(n, 26))]


def _accept(m: re.Match, allowed: str) -> str | None:
    ch = m.group("l")
    if ch.upper() not in allowed:
        return None
    if ch.islower():
        rest = m.string[m.end():m.end() + 2]
        if re.match(r"\s+[A-Za-z]", rest):
            return None  # "the answer is a number"
    return ch.upper()


_ALSO = re.compile(r"\s*[)\]*]*\s*(?:,|/|、|\bor\b|\band\b|或|和|或者)\s*[(\[*]*(?P<l>[A-Z])(?![A-Za-z0-9])")


def _found(patterns: list[re.Pattern], text: str, allowed: str) -> set[str]:
    """Letters the patterns find; "A or C" after a match counts both."""
    out = set()
    for p in patterns:
        for m in p.finditer(text):
            x = _accept(m, allowed)
            if x:
                out.add(x)
                also = _ALSO.match(text, m.end())
                if also and also.group("l") in allowed:
                    out.add(also.group("l"))
    return out


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().casefold().rstrip(".")


def _option_text_hits(text: str, choices: list[str]) -> set[str]:
    t = _norm(text)
    hits = set()
    for letter, opt in zip(string.ascii_uppercase, choices):
        o = _norm(str(opt))
        if o and re.search(r"(?<!\w)" + re.escape(o) + r"(?!\w)", t):
            hits.add(letter)
    # an option contained in a longer hit option ("Paris" in "Paris, Texas") is not separate evidence
    norm = {L: _norm(str(choices[ord(L) - 65])) for L in hits}
    return {L for L in hits if not any(M != L and norm[L] in norm[M] for M in hits)}


def choose(text: str, choices: list[str] | None = None) -> tuple[str | None, str]:
    """(chosen letter or None, why)."""
    allowed = _letters(choices)
    stripped = re.sub(r"^[\s*_(（\[]+|[\s*_)）\].:：]+$", "", text or "")
    if len(stripped) == 1 and stripped.upper() in allowed:
        return stripped.upper(), "the response is the option letter"
    if choices:
        whole = [L for L, o in zip(allowed, choices) if _norm(str(o)) and _norm(text) == _norm(str(o))]
        if len(whole) == 1:
            return whole[0], "the response is the option's text"
    for level, patterns in (("answer statement", _ANSWER_STMT), ("option mention", _MENTION)):
        found = _found(patterns, text or "", allowed)
        if len(found) == 1:
            return found.pop(), f"{level} names it"
        if len(found) > 1:
            return None, f"ambiguous: {level}s name {', '.join(sorted(found))}"
    if choices:
        hits = _option_text_hits(text or "", choices)
        if len(hits) == 1:
            return hits.pop(), "the response quotes the option's text"
        if len(hits) > 1:
            return None, f"ambiguous: quotes options {', '.join(sorted(hits))}"
    return None, "no option chosen"


def extract_choice(text: str, choices: list[str] | None = None) -> str | None:
    """The option letter ``text`` chooses (``"A"``…), or None when it chooses none or is ambiguous."""
    return choose(text, choices)[0]


def reference_letter(reference: str | int, choices: list[str] | None = None) -> str:
    """Normalise a reference given as a letter, a 0-based index or the option's text to a letter."""
    allowed = _letters(choices)
    if isinstance(reference, int) and not isinstance(reference, bool):
        if 0 <= reference < len(allowed):
            return allowed[reference]
        raise ValueError(f"reference index {reference} out of range for {len(allowed)} choices")
    ref = str(reference).strip().strip("().").strip()
    if len(ref) == 1 and ref.upper() in allowed:
        return ref.upper()
    if choices:
        for L, opt in zip(allowed, choices):
            if _norm(str(opt)) == _norm(ref):
                return L
    raise ValueError(f"reference {reference!r} is not an option letter ({allowed[0]}-{allowed[-1]}) "
                     "or an option's text")


def verify_choice(response: str, reference_letter_: str | int, choices: list[str] | None = None) -> Verdict:
    """Did ``response`` choose the reference option? None when no single option is chosen."""
    gold = reference_letter(reference_letter_, choices)
    got, why = choose(response, choices)
    if got is None:
        return Verdict(None, None, why, "multiple_choice", {"reference": gold})
    ok = got == gold
    return Verdict(ok, got, f"chose {got} ({why}); reference {gold}", "multiple_choice", {"reference": gold})
