"""Reasoning-step checker for math: recompute every ``a op b = c`` a response writes.

When two responses reach the same final answer (both right or both wrong), the one whose
arithmetic holds should rank above the one with broken steps. ``check_steps`` tokenises the text
into numbers (``1,234``, ``3.5``, ``$18``, ``20%`` = 0.2), operators (``+ - − × ÷ * /`` and ``x``
between numbers) and ``=``; each run of such tokens is split at ``=`` and every two neighbouring
sides where at least one holds an operator form a step. A step ``lhs = rhs`` is right when

    value(lhs) = value(rhs)                          exactly, if rhs shows enough decimals, else
    |value(lhs) − value(rhs)| < ½ · 10^(−d)           where d = decimals shown (rounding allowed),

with ``× ÷`` binding tighter than ``+ −`` and parentheses honoured; values are exact fractions.
GSM8K's ``<<16-3-4=9>>`` calculator annotations are checked like any other step.
"""

from __future__ import annotations

import re
from fractions import Fraction

from hrlaif.verify.base import StepReport

_TOKEN = re.compile(
    r"(?P<num>(?<![\w.])(?:\d+[ \u00a0]\d+/\d+(?![\d./])"  # mixed number 3 1/2
    r"|\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d./,])"  # 350 000
    r"|\d+/\d+(?![\d./])"  # a fraction literal 1/2 binds tighter than a spaced " / "
    r"|(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+)(?:\.\d+)?)%?)"
    r"|(?P<op>[+\-−–×÷*/]|(?<=[\d\s])[xX](?=\s*[\d(]))"
    r"|(?P<eq>=)"
    r"|(?P<lp>\()|(?P<rp>\))"
    r"|(?P<skip>[ \t]+|\\?\$)"
    r"|(?P<other>.)", re.S)
_OPS = {"+": "+", "-": "-", "−": "-", "–": "-", "×": "*", "*": "*", "x": "*", "X": "*", "÷": "/", "/": "/"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "skip":
            continue
        if kind == "op":
            out.append(("op", _OPS[m.group()]))
        elif kind == "other":  # a break keeps its first and last character (what touches the runs)
            if out and out[-1][0] == "break":
                out[-1] = ("break", out[-1][1][0] + m.group())
            else:
                out.append(("break", m.group() * 2))
        else:
            out.append((kind, m.group()))  # type: ignore[arg-type]
    return out


def _number(s: str, pct_ratio: bool = True) -> tuple[Fraction, int]:
    pct = s.endswith("%") and pct_ratio
    s = s.rstrip("%").replace(",", "").replace("\u00a0", " ").replace("\u202f", " ")
    if " " in s:
        whole, _, rest = s.partition(" ")
        if "/" in rest:  # mixed number
            num, den = rest.split("/")
            v = int(whole) + Fraction(int(num), int(den))
            return (v / 100, 2) if pct else (v, 0)
        s = s.replace(" ", "")
    if "/" in s:
        num, den = s.split("/")
        if int(den) == 0:
            raise ValueError("division by zero")
        v = Fraction(int(num), int(den))
        return (v / 100, 2) if pct else (v, 0)
    d = len(s.split(".")[1]) if "." in s else 0
    v = Fraction(s)
    return (v / 100, d + 2) if pct else (v, d)


class _Parser:
    """Recursive descent over one side: expr := term (('+'|'-') term)*; term := unary (('*'|'/') unary)*."""

    def __init__(self, toks: list[tuple[str, str]], pct_ratio: bool = True):
        self.t, self.i, self.pct_ratio = toks, 0, pct_ratio

    def peek(self) -> tuple[str, str] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def parse(self) -> Fraction:
        v = self.expr()
        if self.i != len(self.t):
            raise ValueError("trailing tokens")
        return v

    def expr(self) -> Fraction:
        v = self.term()
        while (p := self.peek()) and p[0] == "op" and p[1] in "+-":
            self.i += 1
            w = self.term()
            v = v + w if p[1] == "+" else v - w
        return v

    def term(self) -> Fraction:
        v = self.unary()
        while (p := self.peek()) and (p[0] == "op" and p[1] in "*/" or p[0] == "lp"):
            if p[0] == "lp":  # implicit multiplication: 2(3), 1/2 (68)
                v = v * self.unary()
                continue
            self.i += 1
            w = self.unary()
            if p[1] == "/":
                if w == 0:
                    raise ValueError("division by zero")
                v = v / w
            else:
                v = v * w
        return v

    def unary(self) -> Fraction:
        p = self.peek()
        if p and p == ("op", "-"):
            self.i += 1
            return -self.unary()
        if p and p[0] == "lp":
            self.i += 1
            v = self.expr()
            if not self.peek() or self.peek()[0] != "rp":  # type: ignore[index]
                raise ValueError("unbalanced parenthesis")
            self.i += 1
            return v
        if p and p[0] == "num":
            self.i += 1
            return _number(p[1], self.pct_ratio)[0]
        raise ValueError("expected a number")


def _value(toks: list[tuple[str, str]], pct_ratio: bool = True) -> Fraction | None:
    if not toks:
        return None
    try:
        return _Parser(toks, pct_ratio).parse()
    except (ValueError, ZeroDivisionError):
        return None


def _show(toks: list[tuple[str, str]]) -> str:
    s = " ".join(t[1] for t in toks)
    return s.replace("( ", "(").replace(" )", ")")


def _step_ok(lhs: Fraction, rhs_toks: list[tuple[str, str]], rhs: Fraction) -> bool:
    if lhs == rhs:
        return True
    if len(rhs_toks) != 1:  # an expression on the right must match exactly
        return False
    if rhs_toks[0][0] != "num" or "/" in rhs_toks[0][1]:
        return False
    d = _number(rhs_toks[0][1])[1]
    if (lhs * 10**d).denominator == 1:  # the shown precision could hold lhs exactly: no rounding excuse
        return False
    return abs(lhs - rhs) < Fraction(1, 2 * 10**d)


def check_steps(text: str) -> StepReport:
    """Find and recompute every arithmetic step ``a op b [op c…] = c`` in ``text``.
    ``StepReport.sound`` is None when there is no step, else whether all steps hold."""
    toks = _tokens(text or "")
    runs: list[tuple[str, list[tuple[str, str]], str]] = [("\n", [], "")]  # (char before, run, char after)
    for t in toks:
        if t[0] == "break":
            runs[-1] = (runs[-1][0], runs[-1][1], t[1][0])
            runs.append((t[1][-1], [], ""))
        else:
            runs[-1][1].append(t)
    n, wrong = 0, []
    for before, run, after in runs:
        if not any(t[0] == "eq" for t in run):
            continue
        if run[0][0] == "op" and before not in ("\n", ":", ";", ""):
            continue  # "B - 10 = 45": the left side continues into words
        if run[-1][0] == "rp" and after[:1].isalpha():
            continue  # "(5/2)x": the right side continues into a variable
        sides: list[list[tuple[str, str]]] = [[]]
        for t in run:
            if t[0] == "eq":
                sides.append([])
            else:
                sides[-1].append(t)
        for a, b in zip(sides, sides[1:]):
            if not any(t[0] == "op" or "/" in t[1] for t in a + b):
                continue  # "x = 5": nothing to recompute
            va, vb = _value(a), _value(b)
            if va is None or vb is None:  # a side that is not a whole expression ("3x + 4"): skip
                continue
            n += 1
            ok = _step_ok(va, b, vb) or _step_ok(vb, a, va)
            if not ok and any(t[1].endswith("%") for t in a + b):  # "45 + 28 = 94%": % as a unit
                wa, wb = _value(a, False), _value(b, False)
                ok = wa is not None and wb is not None and (_step_ok(wa, b, wb) or _step_ok(wb, a, wa))
            if not ok:
                shown = float(va)
                wrong.append(f"{_show(a)} = {_show(b)} (left side is {shown:g})")
    return StepReport(n_steps=n, n_wrong=len(wrong), wrong=wrong)
