"""Multiple-choice verifier: which option does a response commit to?

Evidence, strongest first; the first level that finds a choice decides. Within a level the
*last* statement wins (models reason, eliminate and correct themselves before they conclude):

1. the whole response is an option: ``B``, ``(B)``, ``B.``, ``**B**``, ``C) Paris``, or the
   option's text alone;
2. a JSON answer: ``{"answer": "C", ...}`` (keys answer / choice / option / correct_answer);
3. an answer statement: "the answer is (B)", "**Answer: C**", "Final answer: D", "the correct
   one is C", "I'd go with B", "答案是 C", "答案：C", "故选 D", "应选 B", "正确答案是 C 选项";
   the statement may name the option by its text ("The correct choice is O-.");
4. a verdict on one option: "C is correct", "Option D is right", "Between B and D, D is right",
   "选项 B 正确";
5. a mention: "option B", "(B)", a line starting with ``B.``/``B)``, or, in the concluding
   sentence, the text of exactly one option.

A letter is evidence only where it can be an option: letters beyond the choices, the English
article ("the answer is a number"), and letters that belong to a name ("vitamin C", "type A
blood", "Plan B", "hepatitis B", "O-", "C-14", "Na") are not. A response that offers several
options as alternatives ("either A or C", "B or D, I'm not sure") without committing is
**hedged**: ``correct`` is None and ``hedged`` True. Several options named without any
commitment is undecided.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata

from hrlaif.verify.base import Verdict

_BRA = r"[(\[（【*_\"'“‘]*"
_KET = r"[)\]）】*_\"'”’]*"
_L = _BRA + r"(?P<l>[A-Za-z])" + _KET
_END = r"(?![A-Za-z0-9+\-']|\s*[-–]\s*\d)"  # not "Na", "C-14", "A+", "O-"
_NAMED = re.compile(r"(?:vitamin|vitamins|type|types|blood\s+group|group|plan|grade|hepatitis|class|team|part|"
                    r"section|column|row|rank|level|size|category|tier|exhibit|appendix|model|version|"
                    r"point|letter|apartment|room|gate|platform)\s*$", re.I)
_OPTION_WORD = (r"(?:(?:either|probably|likely|most\s+likely|definitely|clearly|certainly|indeed|still)\s+)?"
                r"(?:option|choice|answer|letter|选项)?\s*")

_STATEMENT = [
    re.compile(r"(?:final|correct|right|best|true|most\s+(?:likely|appropriate|accurate|correct))\s+"
               r"(?:answer|option|choice|one|response|selection)(?:\s+(?:here|overall))?\s*"
               r"(?:is|would\s+be|will\s+be|should\s+be|must\s+be|=|:)\s*:?\s*", re.I),
    re.compile(r"(?<![A-Za-z])(?:the\s+)?answer(?:\s+(?:to\s+(?:this|the)\s+question|here))?\s*"
               r"(?:is|would\s+be|will\s+be|should\s+be|must\s+be|=|:)\s*:?\s*", re.I),
    re.compile(r"(?<![A-Za-z])(?:I(?:'d|\s+would|\s+will|'ll)?\s+(?:choose|pick|select|go\s+with|answer)|"
               r"my\s+(?:final\s+)?(?:answer|choice|pick)\s+(?:is|would\s+be)|I\s+(?:believe|think)\s+the\s+answer\s+is|"
               r"(?:so|thus|therefore|hence),?\s+(?:the\s+)?(?:answer|choice)\s+is|select|choose)\s*:?\s*", re.I),
    re.compile(r"(?:最终答案|正确答案|正确选项|答案)\s*(?:应该是|应该选|应为|应选|可能是|也许是|是|为|选)?\s*[:：]?\s*"),
    re.compile(r"(?:change|changing|switch|switching|revise|revising|update|updating)\s+(?:my\s+)?(?:final\s+)?"
               r"(?:answer|choice|pick)\s+to\s*:?\s*", re.I),
    re.compile(r"(?:故|所以|因此|应|我)?(?:选择|选)\s*[:：]?\s*"),
]
_AFFIRM = re.compile(r"\s*(?:\)|\.)?\s*(?:is|would\s+be|must\s+be|seems)\s+(?:the\s+)?(?:most\s+)?"
                     r"(?:correct|right|true|best|accurate|valid|appropriate)(?![A-Za-z])"
                     r"|\s*(?:选项|项)?\s*(?:是)?(?:正确|对的)", re.I)
_NEGATED_AFFIRM = re.compile(r"\s*(?:\)|\.)?\s*(?:is|would\s+be)\s+(?:not|n't|never)", re.I)
_REJECT = re.compile(r"[\s*)\].:]*(?:is|are|seems|looks)\s+(?:clearly\s+|also\s+|definitely\s+)?"
                     r"(?:wrong|incorrect|false|not|out|inaccurate|eliminated|ruled\s+out|implausible|unlikely)"
                     r"|[\s*)\].:]*(?:can|could)\s+be\s+(?:eliminated|ruled\s+out)|[\s*)\]]*(?:错误|不对|不正确)", re.I)
_HEDGE = re.compile(r"(?<![A-Za-z])(?P<a>[A-Z])" + _END + r"\s*(?:[,，]\s*)?(?:or|or\s+maybe|or\s+possibly|也可能是|也可能|"
                    r"或者是|或者|或|还是)\s*"
                    r"(?:option\s+)?(?P<b>[A-Z])" + _END)
_MENTION = [
    re.compile(r"\b(?:option|choice)\s+" + _L + _END, re.I),
    re.compile(r"(?<![A-Za-z0-9])[(（]\s*(?P<l>[A-Za-z])\s*[)）]"),
    re.compile(r"(?m)^\s*[*_#>\-\s]*(?P<l>[A-Za-z])[*_]*\s*[.):：]"),
]
_ALT = re.compile(r"\s*(?:[,，]\s*)?(?:or|or\s+maybe|or\s+possibly|and|/|,|也可能是|也可能|或者是|或者|或|还是|和)\s*" + _OPTION_WORD + _L + _END, re.I)
_RETRACT = re.compile(r"\bwait\b|\boops\b|\bactually,?\s+(?:no|that|it)\b|\bI\s+made\s+(?:a|an)\s+(?:mistake|error)|"
                      r"\b(?:that|this)(?:'s|\s+is)\s+(?:wrong|incorrect)|\bon\s+(?:second\s+thought|reflection)|"
                      r"\bcorrection\b|不对|错了|更正", re.I)


def _letters(choices: list[str] | None) -> str:
    n = len(choices) if choices else 4
    return string.ascii_uppercase[:max(1, min(n, 26))]


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s)).strip().casefold().rstrip(".。")


def _prepare(text: str) -> str:
    t = unicodedata.normalize("NFKC", text or "")
    t = re.sub(r"\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}", r"\1", t)
    t = re.sub(r"\\boxed\s*\{\s*([^{}]*?)\s*\}", r"answer: \1", t)
    return t


def _letter_at(text: str, pos: int, allowed: str) -> tuple[str, int] | None:
    """An option letter starting at ``pos`` (after brackets/emphasis/'option'): (letter, end)."""
    m = re.compile(_OPTION_WORD + _L + _END, re.I).match(text, pos)
    if not m:
        return None
    ch = m.group("l")
    if ch.upper() not in allowed:
        return None
    after = text[m.end():m.end() + 12]
    if ch.islower():
        if re.match(r"\s+[A-Za-z]", after) and not re.match(r"\s*[)\].:]", text[m.start("l") + 1:]):
            return None  # "the answer is a number"
    if ch == "I" and re.match(r"\s+(?:think|believe|would|will|am|'m|guess|choose|pick)\b", after, re.I):
        return None  # the pronoun
    if ch == "A" and re.match(r"\s+[a-z]", after) and not re.match(r"\s*[)\].:]", text[m.start("l") + 1:]):
        return None  # "the answer is A little more complex" (the article)
    if _NAMED.search(text[max(0, m.start("l") - 30):m.start("l")]):
        return None
    return ch.upper(), m.end()


def _alternatives(text: str, end: int, first: str, allowed: str) -> set[str]:
    """Letters offered as alternatives right after a choice ("A or C", "B/D")."""
    out = set()
    pos = end
    while True:
        m = _ALT.match(text, pos)
        if not m:
            break
        L = m.group("l")
        if re.match(r"\s+(?:is|was|are|seems|looks|can|could|would|has|does)\b", text[m.end():], re.I):
            break  # "C, and D is wrong": a remark on another option, not an alternative
        if L.upper() in allowed and (L.isupper() or re.match(r"\s*[)\].]", text[m.end("l"):])):
            out.add(L.upper())
        pos = m.end()
    out.discard(first)
    return out


def _text_at(text: str, pos: int, choices: list[str] | None, allowed: str) -> str | None:
    """An option named by its text at ``pos`` ("The correct choice is O-." → the letter of "O-")."""
    if not choices:
        return None
    seg = _norm(text[pos:pos + 300])
    seg = re.sub(r"^[\s*_\"'“‘(\[]+", "", seg)
    best = None
    for L, opt in zip(allowed, choices):
        o = _norm(str(opt))
        if o and seg.startswith(o) and not re.match(r"[A-Za-z0-9]", seg[len(o):len(o) + 1]):
            if best is None or len(o) > len(_norm(str(choices[ord(best) - 65]))):
                best = L
    return best


def _statements(text: str, allowed: str, choices: list[str] | None) -> list[tuple[int, str, set[str]]]:
    """(position, letter, alternatives) of every answer statement, in text order."""
    out = []
    for rx in _STATEMENT:
        for m in rx.finditer(text):
            got = _letter_at(text, m.end(), allowed)
            if got:
                out.append((m.start(), got[0], _alternatives(text, got[1], got[0], allowed)))
                continue
            L = _text_at(text, m.end(), choices, allowed)
            if L:
                out.append((m.start(), L, set()))
    return sorted(out)


def _affirmations(text: str, allowed: str) -> list[tuple[int, str, set[str]]]:
    """'C is correct', 'Option D is right', '选项 B 正确'."""
    out = []
    for m in re.finditer(r"(?<![A-Za-z0-9])" + _OPTION_WORD + _L + r"(?![A-Za-z0-9])", text, re.I):
        ch = m.group("l")
        if ch.upper() not in allowed or not ch.isupper():
            continue
        if _NAMED.search(text[max(0, m.start("l") - 30):m.start("l")]):
            continue
        if ch == "I" and not text[m.start():m.end()].lower().startswith(("option", "choice")):
            continue
        tail = text[m.end():]
        tail = re.sub(r"^\s*[.)]?\s*[^,.;:\n]{0,40}?,\s*(?=(?:which|that)\s)", "", tail)  # "C, Paris, is correct"
        if _AFFIRM.match(tail) and not _NEGATED_AFFIRM.match(tail):
            out.append((m.start(), ch.upper(), set()))
    return out


def _json_answer(text: str, allowed: str, choices: list[str] | None) -> str | None:
    for m in reversed(list(re.finditer(r"\{[^{}]*\}", text))):
        try:
            obj = json.loads(m.group(0))
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        for k in ("answer", "final_answer", "choice", "option", "correct_answer", "correct_option", "selected"):
            v = obj.get(k)
            if isinstance(v, str):
                s = v.strip().strip("().").strip()
                if len(s) == 1 and s.upper() in allowed:
                    return s.upper()
                L = _text_at(v, 0, choices, allowed)
                if L:
                    return L
                got = _letter_at(s, 0, allowed)
                if got and re.fullmatch(r"[(\[]?[A-Za-z][)\].:]?(?:\s.*)?", s):
                    return got[0]
    return None


def _decide(found: list[tuple[int, str, set[str]]], level: str, text: str) -> tuple[str | None, str, bool] | None:
    """The last statement of a level decides; alternatives after it make it a hedge."""
    if not found:
        return None
    pos, L, alts = found[-1]
    if alts:
        return None, f"ambiguous: {level} hedges between {', '.join(sorted({L} | alts))}", True
    return L, f"{level} names it", False


def _mentions(text: str, allowed: str) -> list[tuple[int, str]]:
    out = []
    for rx in _MENTION:
        for m in rx.finditer(text):
            ch = m.group("l")
            if ch.upper() not in allowed:
                continue
            if ch.islower() and rx is _MENTION[0] and re.match(r"\s+[a-z]", text[m.end():]):
                continue  # "option a little better" is not a letter
            if rx is _MENTION[2] and ch.islower():
                continue
            if _NAMED.search(text[max(0, m.start("l") - 30):m.start("l")]):
                continue
            if _REJECT.match(text, m.end()):
                continue  # eliminated: "option A is wrong"
            out.append((m.start(), ch.upper()))
    return sorted(out)


def _option_text_hits(text: str, choices: list[str], allowed: str) -> set[str]:
    t = _norm(text)
    hits = set()
    for letter, opt in zip(allowed, choices):
        o = _norm(str(opt))
        if not o:
            continue
        for m in re.finditer(r"(?<!\w)" + re.escape(o) + r"(?!\w)", t):
            before = t[max(0, m.start() - 12):m.start()]
            if re.search(r"(?:\bnot|n't|\bno)\s+(?:the\s+)?$|不是$", before):
                continue  # "not Paris"
            hits.add(letter)
            break
    norm = {L: _norm(str(choices[ord(L) - 65])) for L in hits}
    return {L for L in hits if not any(M != L and norm[L] in norm[M] for M in hits)}


def choose_detail(text: str, choices: list[str] | None = None) -> tuple[str | None, str, bool]:
    """(chosen letter or None, why, hedged)."""
    allowed = _letters(choices)
    t = _prepare(text)
    stripped = re.sub(r"^[\s*_(（\[【\"'“]+|[\s*_)）\]】.:：\"'”。]+$", "", t)
    if len(stripped) == 1 and stripped.upper() in allowed:
        return stripped.upper(), "the response is the option letter", False
    if choices:
        whole = [L for L, o in zip(allowed, choices) if _norm(str(o)) and _norm(str(o)) in (_norm(stripped), _norm(t))]
        if len(whole) == 1:
            return whole[0], "the response is the option's text", False
        m = re.fullmatch(r"[(\[]?([A-Z])[)\].:]\s*(.+)", stripped, re.S)
        if m and m.group(1) in allowed and _norm(m.group(2)) == _norm(str(choices[ord(m.group(1)) - 65])):
            return m.group(1), "the response is the option", False
    if re.search(r"<think>", t, re.I) and not re.search(r"</think>", t, re.I):
        return None, "no option chosen: the response stops inside its thinking", False
    # a self-correction moves the decision to what follows it
    parts = [t]
    for r in _RETRACT.finditer(t):
        parts.append(t[r.end():])
    for part in reversed(parts):
        got = _choose_in(part, allowed, choices)
        if got is not None:
            return got
    return None, "no option chosen", False


_FINAL_LETTER = re.compile(r"(?:^|[.!?。！？:：\n]|\s-)\s*[*_(\[（【]*(?P<l>[A-Z])[*_)\]）】]*[.。!]?\s*$")


def _choose_in(t: str, allowed: str, choices: list[str] | None) -> tuple[str | None, str, bool] | None:
    js = _json_answer(t, allowed, choices)
    if js:
        return js, "its JSON answer names it", False
    m = _FINAL_LETTER.search(t)
    if m and m.group("l") in allowed and not _NAMED.search(t[max(0, m.start("l") - 30):m.start("l")]):
        return m.group("l"), "the response ends with the option letter", False
    for level, found in (("answer statement", _statements(t, allowed, choices)),
                         ("verdict on an option", _affirmations(t, allowed))):
        got = _decide(found, level, t)
        if got is not None:
            return got
    for m in reversed(list(_HEDGE.finditer(t))):
        a, b = m.group("a"), m.group("b")
        if a in allowed and b in allowed and a != b and not _NAMED.search(t[max(0, m.start() - 30):m.start()]):
            return None, f"ambiguous: hedges between {a} and {b}", True
    if _cut_off(t):
        return None  # stopped mid-thought: a mention or a quoted option is not a choice
    ment = _mentions(t, allowed)
    letters = {L for _, L in ment}
    if len(letters) == 1:
        return letters.pop(), "option mention names it", False
    if len(letters) > 1:
        hedged = bool(re.search(r"\b(?:either|or|could\s+be|might\s+be|not\s+sure|maybe)\b|或", t, re.I))
        return None, f"ambiguous: mentions name {', '.join(sorted(letters))}", hedged
    if choices:
        sentences = [s for s in re.split(r"(?<=[.!?。！？])\s+|\n+", t) if s.strip()]
        for sent in reversed(sentences):
            hits = _option_text_hits(sent, choices, allowed)
            if len(hits) == 1 and not _concludes(sent, choices[ord(next(iter(hits))) - 65]):
                continue  # "... in which Socrates is the main speaker": a mention, not a choice
            if len(hits) == 1:
                return hits.pop(), "the concluding sentence quotes the option's text", False
            if len(hits) > 1:
                hedged = bool(re.search(r"\b(?:either|or)\b|或", sent, re.I))
                return None, f"ambiguous: quotes options {', '.join(sorted(hits))}", hedged
    return None


def _cut_off(t: str) -> bool:
    t = t.rstrip()
    if re.search(r"<think>", t, re.I) and not re.search(r"</think>", t, re.I):
        return True
    return bool(re.search(r"(?:…|\.\.\.|[—–:,(-]|\b(?:so|and|but|or|is|the|a|of|to|then|which|because))\s*$", t))


def _concludes(sent: str, option: str) -> bool:
    """Does a sentence that quotes one option commit to it? A conclusion cue, a short sentence,
    or the option right after a copula at its end ("The capital is Berlin.")."""
    if re.search(r"\b(?:so|thus|therefore|hence|answer|correct|right\s+one|I\s+(?:think|believe|choose|pick))\b|"
                 r"所以|因此|答案|正确", sent, re.I):
        return True
    if len(re.findall(r"\w+", sent)) <= 8:
        return True
    o = re.escape(_norm(option))
    return bool(re.search(r"\b(?:is|was|are|were)\s+(?:the\s+)?" + o + r"\W*$", _norm(sent)))


def choose(text: str, choices: list[str] | None = None) -> tuple[str | None, str]:
    """(chosen letter or None, why)."""
    L, why, _ = choose_detail(text, choices)
    return L, why


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
    """Did ``response`` choose the reference option? None when no single option is chosen
    (``hedged`` when it offers several as alternatives)."""
    gold = reference_letter(reference_letter_, choices)
    got, why, hedged = choose_detail(response, choices)
    if got is None:
        return Verdict(None, None, why, "multiple_choice", {"reference": gold}, hedged=hedged)
    ok = got == gold
    return Verdict(ok, got, f"chose {got} ({why}); reference {gold}", "multiple_choice", {"reference": gold})
