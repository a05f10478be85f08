"""Math verifier: find the final answer a response commits to and compare it with the reference.

**Where the final answer is** (``find_final_answer``), strongest evidence first; within a level
the *last* occurrence in the text wins, because models reason first and answer last:

1. ``\\boxed{...}`` / ``\\fbox{...}`` (balanced braces);
2. ``#### X`` (GSM8K);
3. an answer statement: "the (final / correct) answer is X", "Answer: X", "**Final answer:** X",
   "答案是 X", "最终答案：X", "所以答案为 X";
4. no statement: the concluding sentence (the last one holding a number or a formula). There the
   right-hand side of its last ``=`` is the answer; otherwise, when the question is known, the
   numbers the question already gives are set aside ("After 3 hours the car has gone 180 km"
   → 180), else the last number (lm-eval's flexible rule).

A self-correction after the chosen statement ("Wait, that is wrong ... so she has 40") moves the
answer to what follows it. A DeepSeek-style ``<think>…</think>`` block is skipped when an answer
follows it. Two different candidate values joined by "or" ("12 or 13 depending on ...",
"either 5 or 6") are a **hedge**: ``correct`` is None and ``hedged`` is True.

**Reading the answer**: a plain number is read by hrlaif (sign, currency ``$29.00`` → 29,
thousands separators, decimals, fractions ``3/4``, mixed numbers ``3 1/2`` → 7/2, percent,
scientific notation ``3.2 × 10^5``, number words "twelve"); anything else (LaTeX such as
``\\frac{\\sqrt{2}}{2}``, roots, π, tuples, expressions) is read and compared by math-verify
(``parse`` with its LaTeX and expression extraction configs, then ``verify``). Two plain numbers
are equal when ``|a − b| ≤ 1e-6`` (integers exactly), or when the reference is written with
decimals and the answer rounds to it; ``p%`` also matches ``p/100``.

A crash or timeout of the checker is **undecided** (``correct`` None), never "wrong".
math-verify's ``parse`` arms ``signal.alarm`` and fails outside the main thread, so from other
threads it runs in a worker process (its main thread) with our own timeout.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

from hrlaif.verify.base import Verdict

log = logging.getLogger(__name__)

_MATH_TIMEOUT_S = 5.0

# --------------------------------------------------------------------------- numbers

_INT = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
_SUP = "⁰¹²³⁴⁵⁶⁷⁸⁹⁻"
_NUM_RE = re.compile(
    r"(?<![A-Za-z0-9_.])(?P<sign>-)?[ \t]?(?:\$|€|£|¥|USD[ \t]?|RMB[ \t]?)?[ \t]?"
    r"(?:(?P<whole>\d+)[ \t](?=\d+[ \t]*/[ \t]*\d))?"  # mixed number 3 1/2
    rf"(?P<num>{_INT}(?:\.\d+)?|\.\d+)"
    rf"(?:[ \t]*/[ \t]*(?P<den>{_INT})(?!\d|\.\d))?"
    r"(?:(?:[ \t]*(?:\\times|\\cdot|×|·|\*|x)[ \t]*10[ \t]*(?:\^[ \t]*\{?[ \t]*(?P<exp>[-+]?\d+)[ \t]*\}?"
    rf"|(?P<supexp>[{_SUP}]+)))|(?:[eE](?P<eexp>[-+]?\d+)(?![A-Za-z])))?"
    r"(?P<pct>[ \t]?(?:%|percent\b|per[ \t]cent\b))?(?P<cents>[ \t]?(?:cents?\b|¢))?")

_WORD_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_WORD_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
              if w != "_"}
_WORD_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_WORD_RE = re.compile(r"(?<![A-Za-z])(?:" + "|".join(sorted(
    list(_WORD_UNITS) + list(_WORD_TENS) + list(_WORD_SCALES) + ["a dozen", "dozen", "half", "and"],
    key=len, reverse=True)) + r")(?:[\s-]+(?:" + "|".join(
    list(_WORD_UNITS) + list(_WORD_TENS) + list(_WORD_SCALES) + ["and"]) + r"))*(?![A-Za-z])", re.I)


def _words_value(phrase: str) -> Fraction | None:
    """'twenty-five' → 25, 'one hundred and two' → 102, 'a dozen' → 12; None if not a number."""
    words = [w for w in re.split(r"[\s-]+", phrase.lower()) if w and w != "and"]
    if words == ["a", "dozen"] or words == ["dozen"]:
        return Fraction(12)
    if words == ["half"]:
        return None  # "half of them" is an operation, not an answer
    total = current = 0
    seen = False
    for w in words:
        if w in _WORD_UNITS:
            current += _WORD_UNITS[w]
        elif w in _WORD_TENS:
            current += _WORD_TENS[w]
        elif w in _WORD_SCALES:
            current = max(current, 1) * _WORD_SCALES[w]
            if _WORD_SCALES[w] >= 1000:
                total, current = total + current, 0
        else:
            return None
        seen = True
    return Fraction(total + current) if seen else None


@dataclass(frozen=True)
class _Num:
    value: Fraction
    text: str  # normalised: "29", "-3.5", "3/4", "50%"
    pct: bool
    start: int
    end: int
    cents: bool = False  # "5 cents" is also 0.05 (dollars)
    alts: tuple[Fraction, ...] = ()  # the same quantity in another unit ("3 hours and 20 minutes" = 200 min)


def _num_from_match(m: re.Match) -> _Num | None:
    num = m.group("num").replace(",", "")
    den = m.group("den").replace(",", "") if m.group("den") else ""
    try:
        v = Fraction(num)
        if den:
            if int(den) == 0:
                return None
            v = v / int(den)
            if m.group("whole"):
                v += int(m.group("whole"))
        exp = m.group("exp") or m.group("eexp")
        if m.group("supexp"):
            exp = m.group("supexp").translate(str.maketrans(_SUP, "0123456789-"))
        if exp is not None:
            if abs(int(exp)) > 400:
                return None
            v = v * Fraction(10) ** int(exp)
    except (ValueError, ZeroDivisionError):
        return None
    if m.group("sign"):
        v = -v
    pct = bool(m.group("pct"))
    if m.group("cents"):
        return _Num(v, _show(v), False, m.start(), m.end(), cents=True)
    shown = f"{v.numerator}/{v.denominator}" if den and v.denominator != 1 else _show(v)
    return _Num(v, shown + ("%" if pct else ""), pct, m.start(), m.end())


def _show(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:  # a terminating decimal
        s = f"{float(v):.12f}".rstrip("0").rstrip(".")
        if Fraction(s) == v:
            return s
    return f"{v.numerator}/{v.denominator}"


def _numbers(text: str) -> list[_Num]:
    durations = _durations(text) if re.search(r"\d\s*(?:h|min)", text, re.I) else []
    out = list(durations)
    for m in _NUM_RE.finditer(text):
        n = _num_from_match(m)
        if n is not None and not any(d.start <= n.start < d.end for d in durations):
            out.append(n)
    return sorted(out, key=lambda n: n.start)


def _word_numbers(text: str) -> list[_Num]:
    out = []
    for m in _WORD_RE.finditer(text):
        v = _words_value(m.group(0))
        if v == 1 and re.search(r"\b(?:this|that|the|each|any|every|no|some|which|what|another|only|one|a)\s+$",
                                text[max(0, m.start() - 12):m.start()], re.I):
            continue  # "this one", "which one": a pronoun, not the number 1
        if v is not None:
            out.append(_Num(v, _show(v), False, m.start(), m.end()))
    return out


def _values(n: _Num) -> list[Fraction]:
    return ([n.value, n.value / 100] if n.pct or n.cents else [n.value]) + list(n.alts)


_DURATION_RE = re.compile(
    r"(?<![\d.])(?P<a>\d+)\s*(?P<u>hours?|hrs?|h|minutes?|mins?|min)\s*(?:and\s+|,\s*)?(?P<b>\d+)\s*"
    r"(?P<v>minutes?|mins?|min|m|seconds?|secs?|sec|s)\b", re.I)


def _durations(text: str) -> list[_Num]:
    """"3 hours and 20 minutes" → 10/3 (hours), also 200 (minutes); "4 min 30 s" → 9/2, also 270."""
    out = []
    for m in _DURATION_RE.finditer(text):
        big = m.group("u").lower().startswith("h")
        small_is_sec = m.group("v").lower().startswith("s")
        if big == small_is_sec:
            continue  # "3 hours 20 seconds", "4 min 30 m": not a compound duration
        a, b = int(m.group("a")), int(m.group("b"))
        v = Fraction(a) + Fraction(b, 60)
        out.append(_Num(v, _show(v), False, m.start(), m.end(), alts=(Fraction(60 * a + b),)))
    return out


# --------------------------------------------------------------------------- text preparation

_DASHES = str.maketrans({"−": "-", "﹣": "-", "－": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " "})


def _prepare(text: str) -> str:
    """NFKC (full-width digits and colons), one kind of minus, no markdown emphasis, LaTeX
    spacing and escapes that only decorate a number (``\\$``, ``\\%``, ``{,}``, ``\\!``)."""
    t = re.sub(f"[{_SUP}]+", lambda m: "^{" + m.group(0).translate(str.maketrans(_SUP, "0123456789-")) + "}", text)
    t = unicodedata.normalize("NFKC", t).translate(_DASHES)
    t = re.sub(r"√\s*\(([^()]*)\)|√\s*(\d+(?:\.\d+)?|[a-z])", lambda m: "\\sqrt{" + (m.group(1) or m.group(2)) + "}", t)
    t = t.replace("π", "\\pi ").replace("×", "\\times ").replace("÷", "/").replace("·", "\\cdot ")
    t = re.sub(r"(?<=\s)–(?=\d)|^–(?=\d)", "-", t)
    t = t.replace("**", "").replace("__", "").replace("`", "")
    t = re.sub(r"<<[^<>]{0,200}>>", "", t)  # GSM8K calculator annotations
    t = re.sub(r"\\[,;:! ]|\\quad|\\qquad", " ", t)
    t = t.replace("{,}", ",").replace("\\$", "$").replace("\\%", "%")
    t = re.sub(r"\\(?:text|mathrm|textbf|mathbf|operatorname)\s*\{([^{}]*)\}", r"\1", t)
    t = re.sub(r"\\(?:dfrac|tfrac)", r"\\frac", t)
    t = re.sub(r"\\frac\s*\{\s*(-?\d+(?:\.\d+)?)\s*\}\s*\{\s*(\d+(?:\.\d+)?)\s*\}", r"\1/\2", t)  # \frac{3}{4} → 3/4
    t = re.sub(r"\\frac\s*(\d)(\d)(?!\d)", r"\1/\2", t)  # \frac34
    t = re.sub(r"\\left|\\right", "", t)
    return t


_THINK_END = re.compile(r"</think>", re.I)


def _after_thinking(text: str) -> str:
    parts = _THINK_END.split(text)
    if len(parts) > 1 and re.search(r"\d|\\boxed", parts[-1]):
        return parts[-1]
    return text


# --------------------------------------------------------------------------- where the answer is

_ANCHOR_RE = re.compile(
    r"(?:"
    r"(?:the\s+)?(?:final|correct|right|actual|true)\s+(?:numerical\s+)?answer(?:\s+to\s+[^.:\n]{1,60}?)?"
    r"\s*(?:is|was|would\s+be|will\s+be|should\s+be|comes\s+out\s+to|=|:)"
    r"|(?<![A-Za-z])(?<!intuitive\s)(?<!tempting\s)(?<!obvious\s)(?<!naive\s)(?<!common\s)(?<!wrong\s)"
    r"(?<!incorrect\s)(?<!expected\s)(?<!typical\s)(?<!quick\s)(?<!first\s)(?<!initial\s)(?<!naïve\s)"
    r"answer(?:\s+to\s+[^.:\n]{1,60}?)?\s*(?:is|was|would\s+be|will\s+be|should\s+be|=|:)"
    r"|(?<![A-Za-z])ans\s*[:=]"
    r"|最终答案\s*(?:是|为|：|:)?|正确答案\s*(?:是|为|：|:)?|答案\s*(?:应该是|应为|是|为|：|:)|答[：:]"
    r")\s*:?\s*", re.I)
# A retraction says the answer before it was wrong: what follows decides (an anchored answer, or
# the concluding sentence). A second look ("wait, let me double-check") moves the answer only when
# a new answer statement follows it.
_RETRACT_RE = re.compile(
    r"(?:\bI\s+made\s+(?:a|an)\s+(?:mistake|error)|\b(?:that|this)(?:'s|\s+is|\s+was)\s+(?:wrong|incorrect|"
    r"not\s+right|a\s+mistake)|\bcorrection\b|\bI\s+miscalculated|\bno,?\s+wait\b|\bwait,?\s+no\b|"
    r"\bactually,?\s+(?:no\b|it'?s\s+not|that'?s\s+not)|\bmistake\b|不对|错了|更正)", re.I)
_RECHECK_RE = re.compile(r"(?:\bwait\b|\boops\b|\bhmm\b|\bactually\b|\blet\s+me\s+(?:re-?calculate|redo|recompute|"
                         r"re-?check|double[-\s]check|verify)|重新计算|再检查)", re.I)
# ``$x$`` is TeX only when its content neither starts nor ends with a space and no digit follows
# the closing ``$`` ("$400 + $60" and "$840+$756" are money)
_MATH_ENV_RE = re.compile(r"\$\$(.+?)\$\$|\$(?!\s)([^$]*?[^\s$])\$(?!\d)|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_LATEX_RE = re.compile(r"\\(?:frac|sqrt|pi|infty|cdot|times|boxed|ln|log|sin|cos|tan|binom|pm|mp)|\^|_\{|\{")
_SENT_SPLIT = re.compile(r"(?<=[.!?。！？])(?<!\bMr\.)(?<!\bMrs\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bvs\.)"
                         r"(?<!\bNo\.)(?<!\be\.g\.)(?<!\bi\.e\.)\s+(?=[A-Z\u4e00-\u9fff(\\$*])|\n+")


def _last_boxed(text: str) -> tuple[str, int, int] | None:
    """(content, start, end) of the last non-empty ``\\boxed{…}`` / ``\\fbox{…}``."""
    for m in reversed(list(re.finditer(r"\\(?:boxed|fbox)\s*\{", text))):
        depth, i = 0, m.end() - 1
        for j in range(i, len(text)):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    content = text[i + 1:j]
                    if content.strip():
                        return content, m.start(), j + 1
                    break
    return None


@dataclass
class FinalAnswer:
    """Where a response's final answer is, and what it is."""

    text: str  # the answer as written (a segment of the response)
    source: str  # "boxed", "####", "answer-is", "conclusion"
    number: _Num | None = None  # the value when it is a plain number
    hedge: list[str] | None = None  # two or more different candidates, not committed
    values: list[_Num] | None = None  # a tuple or solution set, when the reference is one


def _segment_after(text: str, pos: int) -> str:
    """The answer statement from ``pos``: to the end of its line or sentence (≤ 200 chars)."""
    seg = text[pos:pos + 240].split("\n", 1)[0]
    m = re.search(r"(?<![\d$])[.!?。！？;；](?=\s|$)(?!\d)|\.\s+(?=[A-Z])", seg)
    if m and not _inside_math(seg, m.start()):
        seg = seg[:m.start()]
    return seg[:200]


def _inside_math(seg: str, i: int) -> bool:
    return seg[:i].count("$") % 2 == 1 or seg[:i].count("\\(") > seg[:i].count("\\)")


def _rhs(seg: str) -> str:
    """The right-hand side of the last ``=`` (``5 + 3 = 8`` → ``8``), outside inequalities."""
    parts = re.split(r"(?<![<>!=])=(?!=)|≈|\\approx|\bequals\b|\bis\s+equal\s+to\b|等于", seg)
    if len(parts) > 1 and parts[-1].strip(" $\\)]*."):
        return parts[-1]
    return seg


@dataclass(frozen=True)
class _Want:
    """What the reference is, so extraction knows what to look for: a plain number, a list of
    values (a tuple or a solution set), or a formula for math-verify."""

    kind: str  # "number", "values", "formula"
    n_values: int = 0
    qv: frozenset[Fraction] | None = None  # numbers the question gives


_VAR_GLUE = re.compile(r"\s*(?:\\pi|\\sqrt|\\cdot\s*[a-z]|\^|\\frac|!)|[a-z](?![a-z])", re.I)  # 3x, 4\pi
_UNWRAP = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|(?<!\\)\$")


def _unwrap(s: str) -> str:
    return _UNWRAP.sub(" ", s)


def _read_segment(seg: str, source: str, want: _Want) -> FinalAnswer | None:
    """The answer an answer statement / boxed content / concluding sentence commits to."""
    s = seg.strip()
    if not s:
        return None
    envs = [next(g for g in m.groups() if g is not None) for m in _MATH_ENV_RE.finditer(s)]
    if source in ("answer-is", "####") and envs and (want.kind == "formula"
                                                      or s.lstrip(" (:*").startswith(("$", "\\(", "\\["))):
        body = envs[0]  # "The answer is $\frac12$, because ..." → the formula
    else:
        body = _unwrap(s)
    if source == "conclusion":
        head = re.split(r",?\s+(?:since|because|as\s+(?=\d)|given\s+that)\s|因为", body)[0]  # a justification
        body = head if re.search(r"\d", head) else body
        bold = re.findall(r"\*\*([^*\n]+)\*\*", seg)
        if want.kind == "formula" and bold:
            body = _prepare(bold[-1])  # "approximately **78.54**, or exactly **25π cm²**"
        elif want.kind == "formula" and envs:
            body = envs[-1]  # "The circumference is $2\pi$." → the formula
    if want.kind == "values":
        assigned = [n for m in re.finditer(r"(?<![A-Za-z])[a-z]\s*=\s*", body) for n in _numbers(body[m.end():])[:1]
                    if n.start == 0 or not body[m.end():][:n.start].strip()]
        vals = assigned if len(assigned) >= want.n_values else _numbers(_rhs(body))
        if len(vals) >= want.n_values > 1:
            return FinalAnswer(", ".join(n.text for n in vals[-want.n_values:]), source, values=vals[-want.n_values:])
    equation = bool(re.search(r"=|\bequals\b|等于", body))
    body = _rhs(body) if source != "boxed" or "=" in body else body
    hedge = _hedge(body, want)
    if hedge:
        return FinalAnswer(body.strip(), source, hedge=hedge)
    if want.kind == "formula":
        tup = re.match(r"\s*[(\[{]\s*-?[\w.\\]+\s*(?:,\s*-?[\w.\\]+\s*)+[)\]}]", body)
        if tup:  # a tuple, interval or set: math-verify compares it whole
            return FinalAnswer(tup.group(0).strip(), source)
        f = body.strip(" .:,;。，")
        if f and re.search(r"\d|[a-z]|\\", f):
            return FinalAnswer(f, source)
        return None
    nums = _numbers(body)
    if nums and source == "conclusion" and not equation and not _LATEX_RE.search(body):
        words = [w for w in _word_numbers(body) if w.value > 1]  # "each one costs $5": not an answer
        nums = sorted(nums + words, key=lambda n: n.start)
    if nums:
        if source == "conclusion" and len(nums) > 1 and not equation:
            fresh = [n for n in nums if want.qv is not None and not any(v in want.qv for v in _values(n))]
            pick = fresh[-1] if fresh else nums[-1]
        else:
            pick = nums[0]
        glued = _VAR_GLUE.match(body, pick.end) and not re.match(r"\s*[a-z]{2,}", body[pick.end:], re.I)
        if glued or re.search(r"\\(?:sqrt|pi|frac|log|ln|sin|cos|tan|binom)", body[max(0, pick.start - 8):pick.end + 8]):
            return FinalAnswer(body.strip(" .:,;"), source)  # "5\sqrt{2}", "4\pi", "3x": part of a formula
        return FinalAnswer(pick.text, source, number=pick)
    words = _word_numbers(body)
    if words and not _LATEX_RE.search(body):
        w = words[0] if source != "conclusion" else words[-1]
        return FinalAnswer(w.text, source, number=w)
    if _LATEX_RE.search(body) or re.search(r"[a-z]\s*[+\-*/^]|\(.+,.+\)|\\pi|√", body):
        return FinalAnswer(body.strip(" .:"), source)
    return None


_HEDGE_CUE = re.compile(r"\b(?:either|could\s+(?:also\s+)?be|might\s+(?:also\s+)?be|may\s+(?:also\s+)?be|"
                        r"possibly|perhaps|maybe|not\s+(?:completely\s+|entirely\s+|totally\s+)?sure|"
                        r"depending\s+on|depends\s+on|unclear|ambiguous|or\s+(?:about|approximately|roughly|"
                        r"around|maybe|possibly|perhaps))\b|也可能|或者|还是|可能是|不确定|取决于|要看", re.I)
_OR = re.compile(r"\bor\b|或|也可能|还是|\bbut\s+it\s+(?:might|could|may)\b", re.I)


def _hedge(body: str, want: _Want) -> list[str] | None:
    """Two different candidate answers offered without a commitment: "12 or 13", "either 20% or
    about 16.7%", "It could be 16 ..., or 14 ...", "可能是54，也可能是55". Numbers the question
    set ("x = 2 or x = 3" when the reference lists two values) are not a hedge."""
    if want.kind == "values":
        return None
    nums = _numbers(body)
    distinct: list[_Num] = []
    for n in nums:
        if all(n.value != d.value for d in distinct):
            distinct.append(n)
    for a, b in zip(distinct, distinct[1:]):
        if _hedged_pair(body, a, b):
            return [a.text, b.text]
    return None


def _hedged_pair(body: str, a: _Num, b: _Num) -> bool:
    between = body[a.end:b.start]
    direct = re.fullmatch(r"\s*(?:(?:[A-Za-z]{1,12}\s*){0,3}|[（()）\u4e00-\u9fff]{0,6})[,，]?\s*(?:(?<![A-Za-z])or\b|或者|或)\s*(?:about|approximately|roughly|"
                          r"around|maybe|possibly|perhaps)?\s*[~≈$]?\s*", between, re.I)
    return bool(direct or (_HEDGE_CUE.search(body) and _OR.search(between)))


_CHECK_LINE = re.compile(r"^\s*(?:[-*>#]\s*)?(?:check(?:ing)?|verif(?:y|ication)|let'?s\s+(?:check|verify)|"
                         r"double[-\s]check|sanity\s+check|检验|验证|验算)\b|[✓✔]", re.I)
_ELABORATION = re.compile(r"^\s*(?:in\s+other\s+words|note\s+that|i\s+hope|(?:that'?s|that\s+is)\s+(?:\$?[\d.,]+\s*%?\s*"
                          r"\w*\s+)?(?:less|more|fewer|greater|higher|lower)\s+than)\b", re.I)
_CONCLUDE = re.compile(r"\b(?:is|are|was|equals|gives|get|gets|makes)\s+\$?-?\d|\b(?:so|thus|therefore|hence|in\s+total|altogether|total|left|remain|remaining|answer|"
                       r"result|final|overall)\b|所以|因此|一共|共|总共|剩下|答案", re.I)


def _conclusion(text: str, want: _Want) -> FinalAnswer | None:
    """The answer of the concluding sentence: the last one that holds a number or a formula,
    skipping check lines ("Check: 5·5 − 8 = 17 ✓"), elaborations after an answer ("That's $18
    less than ...") and, when the question is known, sentences that only repeat its numbers
    without concluding anything (a preamble is not an answer)."""
    sentences = [x for x in _SENT_SPLIT.split(text) if x and x.strip()]
    if _truncated(text) or any(_ASKS_BACK.search(x) for x in sentences[-2:]):
        return None  # cut off, or a question back to the user: no concluded answer
    for i in range(len(sentences) - 1, -1, -1):
        sent = sentences[i]
        if not (re.search(r"\d|\\frac|\\sqrt|\\pi", sent) or _word_numbers(sent)):
            continue
        if _CHECK_LINE.search(sent):
            continue
        if _ELABORATION.match(sent) and any(re.search(r"\d", x) for x in sentences[:i]):
            continue
        if want.qv is not None and want.kind == "number" and not re.search(r"=|\bequals\b|等于", sent):
            nums = _numbers(sent) + [w for w in _word_numbers(sent) if w.value > 1]
            if nums and all(any(v in want.qv for v in _values(n)) for n in nums) and not _CONCLUDE.search(sent):
                continue
        if want.kind == "number" and _UNFINISHED.search(_rhs(_unwrap(sent)).replace(",", "")):
            return None  # "c² = 36 + 64": the computation stops before its value
        got = _read_segment(sent, "conclusion", want)
        if got is not None:
            return got
    return None


_UNFINISHED = re.compile(r"\d\s*(?:[-+*^×]|\\times|\\cdot)\s*\(?\s*\d|\d\s+/\s+\d|\d\s*\^")  # 3/4 is a value
_ASKS_BACK = re.compile(r"(?:\b(?:do|would|should|shall)\s+you\b|\bwhich\s+(?:one|do)\b|请问|还是).*[?？]\s*$|"
                        r"确认后|\blet\s+me\s+know\b", re.I | re.S)


def _truncated(text: str) -> bool:
    """The response stops mid-thought: an unclosed ``<think>``, a trailing ellipsis, or a last
    line that ends on a word that cannot end a sentence ("5 + 8 is", "so", "=")."""
    t = text.rstrip()
    if not t:
        return False
    if re.search(r"<think>", t, re.I) and not re.search(r"</think>", t, re.I):
        return True
    if re.search(r"(?:…|\.\.\.)\s*$", t):
        return True
    return bool(re.search(r"(?:\b(?:is|are|was|be|so|and|but|or|the|a|of|to|gives|then|that|which|we|by|OK|we get)|[=+×*/:,(])\s*$",
                          t))


def _question_values(question: str | None) -> frozenset[Fraction] | None:
    if not question:
        return None
    return frozenset({v for n in _numbers(_prepare(question)) for v in _values(n)} | {
        n.value for n in _word_numbers(question)})


_DISOWNED = re.compile(r"(?:mistake|wrong|error|tempting|incorrect|naive|naïve|intuitive|misconception|trap|"
                       r"might\s+think|may\s+think|people\s+(?:think|say|assume))\b[^.!?\n]{0,30}$", re.I)
_ASIDE = re.compile(r"\s*(?:[*_>#\s]*)(?:note|tip|remember|caution|warning|p\.?s\.?|if|assuming|suppose|"
                    r"alternatively|注意|提示|如果|(?:it'?s\s+)?a\s+common\s+(?:mistake|error|trap))\b", re.I)
_BOLD_NUM = re.compile(r"\*\*\s*([^*\n]{1,40}?)\s*\*\*")


def _last_bold_number(raw: str, want: _Want) -> FinalAnswer | None:
    """GPT-style "Leo has **$32** left.": the bold number of the closing paragraph (with its unit)."""
    if want.kind != "number":
        return None
    found: list[_Num] = []
    for m in _BOLD_NUM.finditer(raw):
        inner = _prepare(m.group(1))
        nums = _numbers(inner)
        if len(nums) == 1 and not re.search(r"[=+*^]|\\|\s/\s", inner) and len(re.findall(r"[A-Za-z]+", inner)) <= 3:
            found.append(nums[0])
    if not found or len({n.value for n in found}) > 1:
        return None  # several bold numbers in the closing paragraph: no single answer stands out
    return FinalAnswer(found[-1].text, "bold", number=found[-1])


def find_final_answer(response: str, question: str | None = None, *, want: _Want | None = None
                      ) -> FinalAnswer | None:
    """The final answer ``response`` commits to (see the module docstring), or None. ``want``
    says what the reference is (a number by default)."""
    if not response or not response.strip():
        return None
    want = want or _Want("number")
    if question and want.qv is None:
        want = _Want(want.kind, want.n_values, _question_values(question))
    if re.search(r"<think>", response, re.I) and not re.search(r"</think>", response, re.I):
        return None  # it stopped inside its thinking: whatever it considered there is not an answer
    raw = _after_thinking(response)
    return _find(_prepare(raw), want, depth=0, raw=raw)


def _find(text: str, want: _Want, depth: int, *, anchored_only: bool = False, raw: str = "") -> FinalAnswer | None:
    candidates: list[tuple[int, FinalAnswer]] = []  # (end position, answer)
    boxed = _last_boxed(text)
    if boxed is not None:
        got = _read_segment(boxed[0], "boxed", want)
        if got is not None:
            candidates.append((boxed[2], got))
    if not candidates:
        for m in reversed(list(re.finditer(r"####", text))):
            got = _read_segment(_segment_after(text, m.end()), "####", want)
            if got is not None:
                candidates.append((m.end(), got))
                break
    if not candidates:
        for m in reversed(list(_ANCHOR_RE.finditer(text))):
            if _DISOWNED.search(text[max(0, m.start() - 50):m.start()]):
                continue  # "It's a common mistake to think the answer is +5%"
            got = _read_segment(_segment_after(text, m.end()), "answer-is", want)
            if got is not None:
                candidates.append((m.end(), got))
                break
    if candidates:
        end, got = candidates[0]
        tail = text[end:]
        if depth < 3:
            r = _RETRACT_RE.search(tail)
            if r:
                later = _find(tail[r.end():], want, depth + 1)
                if later is not None:
                    return later
            w = _RECHECK_RE.search(tail)
            if w:
                later = _find(tail[w.end():], want, depth + 1, anchored_only=True)
                if later is not None:
                    return later
        return got
    if anchored_only:
        return None
    if raw:
        pars = [x for x in re.split(r"\n\s*\n", raw.strip()) if x.strip()]
        while len(pars) > 1 and _ASIDE.match(pars[-1]):
            pars.pop()  # "**Note:** If your sales tax is 8 %, ... **$24.30**": an aside, not the answer
        bold = _last_bold_number(pars[-1], want) if pars else None
        if bold is not None:
            return bold
    return _conclusion(text, want)


def extract_math_answer(text: str, question: str | None = None) -> str | None:
    """The final answer of ``text`` as a normalised string (``"29"``, ``"-3.5"``, ``"3/4"``,
    ``"50%"``, or the formula as written, e.g. ``"\\frac{1}{2}"``), or None if there is none."""
    got = find_final_answer(text, question)
    if got is None:
        return None
    if got.hedge:
        return " or ".join(got.hedge)
    return got.number.text if got.number is not None else got.text


# --------------------------------------------------------------------------- the reference


def _reference(reference: str) -> tuple[str, _Num | None]:
    """(reference as text, its value when it is a plain number)."""
    ref = _prepare(str(reference).strip())
    if "####" in ref or "\\boxed" in ref or _ANCHOR_RE.search(ref):
        got = find_final_answer(ref)
        if got is not None and not got.hedge:
            return (got.number.text if got.number else got.text), got.number
    bare = ref.strip().strip("$").strip()
    nums = _numbers(bare)
    if len(nums) == 1 and not _LATEX_RE.search(bare):
        rest = bare[:nums[0].start] + bare[nums[0].end:]
        if not re.search(r"[\d=+*/^(),]", rest):  # "18", "$18.00", "18 dollars", "50%"
            return nums[0].text, nums[0]
    return bare, None


def _decimals(text: str) -> int:
    m = re.search(r"\.(\d+)", text)
    return len(m.group(1)) if m else 0


def _numbers_equal(pred: _Num, gold: _Num, gold_text: str) -> bool:
    for p in _values(pred):
        for g in _values(gold):
            if abs(p - g) <= Fraction(1, 10**6):
                return True
    d = _decimals(gold_text)
    if d >= 2 and not gold.pct and "/" in pred.text:  # an exact 1/3 for a reference "0.333"
        return round(pred.value, d) == round(gold.value, d)
    return False


# --------------------------------------------------------------------------- math-verify, thread-safe


def _wrap(s: str) -> str:
    return s if "$" in s or "\\(" in s or "\\[" in s else f"${s}$"


def _math_verify_here(gold: str, pred: str) -> bool | None:
    """math-verify in *this* thread (must be a main thread: it arms ``signal.alarm``).
    None when the reference cannot be parsed."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    configs = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    g = parse(_wrap(gold), extraction_config=configs)
    if not g:
        return None
    p = parse(_wrap(pred), extraction_config=configs)
    if not p:
        return False
    return bool(verify(g, p))


_pool = None
_pool_lock = threading.Lock()


def _math_verify_safe(gold: str, pred: str, timeout_s: float = _MATH_TIMEOUT_S) -> bool | None:
    if threading.current_thread() is threading.main_thread():
        return _math_verify_here(gold, pred)
    import concurrent.futures as cf
    import multiprocessing as mp

    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
            atexit.register(_pool.shutdown, wait=True, cancel_futures=True)
        pool = _pool
    fut = pool.submit(_math_verify_here, gold, pred)
    try:
        return fut.result(timeout=timeout_s + 20)  # + the worker's one-time sympy import
    except cf.TimeoutError:
        log.warning("math-verify timed out on %r vs %r; restarting its worker", pred[:60], gold[:60])
        with _pool_lock:
            for p in list(getattr(pool, "_processes", {}).values()):
                p.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            if _pool is pool:
                _pool = None
        raise TimeoutError("math-verify timed out") from None


# --------------------------------------------------------------------------- verdict


def _want_for(gold_text: str, gold_num: _Num | None) -> tuple[_Want, list[_Num] | None, bool]:
    """(what to extract, the reference's values when it is a list of numbers, whether order matters)."""
    if gold_num is not None:
        return _Want("number"), None, False
    body = gold_text.strip()
    m = re.fullmatch(r"([({\[]?)\s*(-?[\d.,/ ]+?(?:\s*[,;]\s*-?[\d./]+)+)\s*([)}\]]?)", body)
    if m:
        parts = [p for p in re.split(r"\s*[,;]\s*", m.group(2).strip()) if p]
        vals = [_numbers(p) for p in parts]
        if len(parts) >= 2 and all(len(v) == 1 for v in vals):
            return _Want("values", len(parts)), [v[0] for v in vals], m.group(1) == "("
    return _Want("formula"), None, False


def verify_math(response: str, reference: str, *, question: str | None = None) -> Verdict:
    """Is the final answer of ``response`` equal to ``reference`` (a number, a tuple or solution
    set, LaTeX, or a full solution ending in ``#### X``)? ``question``, when given, helps find the
    answer in a concluding sentence (numbers the question gives are not the answer). Numbers are
    compared exactly (1e-6), other forms with math-verify; a checker crash or timeout is undecided."""
    gold_text, gold_num = _reference(reference)
    if not gold_text:
        return Verdict(None, None, "reference answer is empty", "math")
    want, gold_vals, ordered = _want_for(gold_text, gold_num)
    got = find_final_answer(response, question, want=want)
    if got is None:
        return Verdict(None, None, "no final answer found in the response", "math",
                       {"reference": gold_text, "no_answer": True})
    detail = {"reference": gold_text, "source": got.source}
    if got.hedge:
        return Verdict(None, " or ".join(got.hedge), f"hedged between {' and '.join(got.hedge)}", "math",
                       {**detail, "candidates": got.hedge}, hedged=True)
    if got.values is not None and gold_vals is not None:
        pv, gv = [n.value for n in got.values], [n.value for n in gold_vals]
        ok = pv == gv if ordered else sorted(pv) == sorted(gv)
        return Verdict(ok, got.text, f"{got.text} {'=' if ok else '≠'} reference {gold_text}", "math",
                       {**detail, "method": "values"})
    if got.number is not None and gold_num is not None:
        ok = _numbers_equal(got.number, gold_num, gold_text)
        return Verdict(ok, got.number.text, f"{got.number.text} {'=' if ok else '≠'} reference {gold_text}",
                       "math", {**detail, "method": "numeric"})
    pred = got.number.text if got.number is not None else got.text
    try:
        ok = _math_verify_safe(gold_text, pred)
    except TimeoutError:
        return Verdict(None, pred, "equivalence check timed out", "math", {**detail, "method": "math-verify"})
    except Exception as e:  # math-verify/sympy raise many types on odd input: undecided, never wrong
        log.debug("math-verify failed on %r vs %r: %s", pred, gold_text, e)
        return Verdict(None, pred, f"equivalence check failed ({type(e).__name__})", "math",
                       {**detail, "method": "math-verify"})
    if ok is None:  # a reference math-verify cannot read: compare normalised strings
        same = re.sub(r"\s+", "", pred) == re.sub(r"\s+", "", gold_text)
        if same:
            return Verdict(True, pred, f"{pred} = reference {gold_text} (string match)", "math",
                           {**detail, "method": "string"})
        return Verdict(None, pred, f"cannot read the reference {gold_text!r} to compare", "math",
                       {**detail, "method": "string"})
    return Verdict(ok, pred, f"{pred} {'≡' if ok else '≢'} reference {gold_text}", "math",
                   {**detail, "method": "math-verify"})
