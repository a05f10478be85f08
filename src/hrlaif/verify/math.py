"""Math verifier: extract the final answer of a response and compare it with the reference.

Extraction order (the first that applies wins; within each, the *last* occurrence in the text):

1. ``\\boxed{...}`` / ``\\fbox{...}`` (balanced braces);
2. ``#### X`` (GSM8K);
3. "the (final) answer is X", "answer: X", "答案是 X";
4. the last number in the text.

A number is read with its sign, currency (``$29.00`` → ``29``), thousands separators
(``1,234`` → ``1234``), decimals, a fraction ``3/4``, a mixed number ``3 1/2`` (→ ``7/2``) and a
percent sign; trailing units are
dropped. Two plain numbers are equal when ``|a − b| ≤ 1e-6`` (so ``0.333333`` matches ``1/3``,
and integers match exactly); a percent ``p%`` also matches ``p/100``. Anything else (LaTeX such as
``\\frac{1}{2}``, ``\\sqrt{2}``, sets) goes to math-verify. math-verify's ``parse`` arms
``signal.alarm`` and fails outside the main thread, so from other threads it runs in a worker
process (its main thread) with our own timeout.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
from fractions import Fraction

from hrlaif.verify.base import Verdict

log = logging.getLogger(__name__)

_INT = r"(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+)"
_NUM_RE = re.compile(
    r"(?<![\w.])(?P<sign>[-−–])?\s?(?:\\?\$|€|£|¥)?\s?"
    r"(?:(?P<whole>\d+)[ \u00a0](?=\d+\s*/\s*\d))?"  # mixed number 3 1/2
    rf"(?P<num>{_INT}(?:\.\d+)?|\.\d+)"
    rf"(?:\s*/\s*(?P<den>{_INT}))?"
    r"(?P<pct>\s?\\?%)?")
_ANSWER_IS = re.compile(
    r"(?:the\s+)?(?:final\s+)?answer\s*(?:is|=|:|would\s+be|will\s+be)\s*:?|答案(?:是|为|：|:)", re.I)
_LATEX_HINT = re.compile(r"\\(?:d?frac|sqrt|pi|infty|cdot|times|left|right|mathrm|text)|\^|[a-zA-Z]\s*=|\\{|[{}]")
_MATH_TIMEOUT_S = 5.0


def _last_boxed(text: str) -> str | None:
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None


def _final_segment(text: str) -> tuple[str, str] | None:
    """(segment holding the final answer, where it came from)."""
    boxed = _last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed, "boxed"
    hashes = text.rfind("####")
    if hashes >= 0:
        seg = text[hashes + 4:].split("\n", 1)[0]
        if seg.strip():
            return seg, "####"
    matches = list(_ANSWER_IS.finditer(text))
    for m in reversed(matches):
        seg = text[m.end():].lstrip()
        seg = seg.split("\n", 1)[0][:120]
        if _NUM_RE.search(seg) or _LATEX_HINT.search(seg):
            return seg, "answer-is"
    return None


def _format_number(m: re.Match) -> str:
    num = m.group("num").replace(",", "")
    if "." in num:
        num = num.rstrip("0").rstrip(".") or "0"
        if num.startswith("."):
            num = "0" + num
    num = re.sub(r"^0+(?=\d)", "", num)
    den = m.group("den").replace(",", "") if m.group("den") else ""
    if m.group("whole") and den and "." not in num and int(den):
        v = int(m.group("whole")) * int(den) + int(num)  # 3 1/2 → 7/2
        num = str(v)
    out = ("-" if m.group("sign") else "") + num
    if den:
        out += "/" + den
    if m.group("pct"):
        out += "%"
    return "0" if out in ("-0",) else out


def _clean_latex(seg: str) -> str:
    s = seg.strip().strip("$").strip()
    s = re.sub(r"\\text\{[^}]*\}|\\mathrm\{[^}]*\}", "", s)
    s = s.replace("\\$", "").replace("\\!", "").replace("\\,", "").replace("\\%", "%")
    s = re.sub(r"^\\\(|\\\)$|^\\\[|\\\]$", "", s).strip()
    return s.rstrip(".").strip()


def extract_math_answer(text: str) -> str | None:
    """The final answer of ``text`` as a normalised string (``"29"``, ``"-3.5"``, ``"3/4"``,
    ``"50%"``, or cleaned LaTeX such as ``"\\frac{1}{2}"``), or None if there is none."""
    if not text:
        return None
    found = _final_segment(text)
    if found is not None:
        seg, source = found
        only_number = _NUM_RE.fullmatch(_clean_latex(seg))
        if only_number:
            return _format_number(only_number)
        if source == "boxed" or (_LATEX_HINT.search(seg) and not re.match(r"\s*[-−]?\\?\$?\d", seg)):
            cleaned = _clean_latex(seg)
            if cleaned:
                return cleaned
        m = _NUM_RE.search(seg)
        if m:
            return _format_number(m)
    nums = list(_NUM_RE.finditer(text))
    return _format_number(nums[-1]) if nums else None


def _numeric_values(s: str) -> list[Fraction] | None:
    """Candidate values of a normalised answer; a percent is both p and p/100. None if not a number."""
    s = s.strip()
    pct = s.endswith("%")
    body = s[:-1] if pct else s
    if not re.fullmatch(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+)?", body):
        return None
    num, _, den = body.partition("/")
    if den and int(den) == 0:
        return None
    v = Fraction(num) / (Fraction(den) if den else 1)
    return [v, v / 100] if pct else [v]


def _reference_answer(reference: str) -> str:
    ref = str(reference).strip()
    direct = _NUM_RE.fullmatch(_clean_latex(ref))
    if direct:
        return _format_number(direct)
    if "####" in ref or "\\boxed" in ref or _ANSWER_IS.search(ref):
        got = extract_math_answer(ref)
        if got is not None:
            return got
    return _clean_latex(ref)


def _close(a: Fraction, b: Fraction) -> bool:
    return abs(a - b) <= Fraction(1, 10**6)


# --------------------------------------------------------------------------- math-verify, thread-safe


def _math_verify_here(gold: str, pred: str) -> bool | None:
    """math-verify in *this* thread (must be a main thread: it arms ``signal.alarm``).
    None when the reference cannot be parsed."""
    from math_verify import parse, verify

    g = parse(gold if "$" in gold else f"${gold}$")
    if not g:
        return None
    p = parse(pred if "$" in pred else f"${pred}$")
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


def verify_math(response: str, reference: str) -> Verdict:
    """Is the final answer of ``response`` equal to ``reference`` (a number, LaTeX, or a full
    solution ending in ``#### X``)? Numbers are compared with an absolute tolerance of 1e-6,
    other forms with math-verify."""
    gold = _reference_answer(reference)
    if not gold:
        return Verdict(None, None, "reference answer is empty", "math")
    pred = extract_math_answer(response)
    if pred is None:
        return Verdict(None, None, "no final answer found in the response", "math", {"reference": gold})
    seg = _final_segment(response)
    detail = {"reference": gold, "source": seg[1] if seg else "last-number"}
    gv, pv = _numeric_values(gold), _numeric_values(pred)
    if gv is not None and pv is not None:
        ok = any(_close(p, g) for p in pv for g in gv)
        return Verdict(ok, pred, f"{pred} {'=' if ok else '≠'} reference {gold}", "math",
                       {**detail, "method": "numeric"})
    if gv is None and seg is not None:  # a non-number reference ("(5, 6)", "12:30"): compare the whole answer
        whole = _clean_latex(seg[0]).strip(" *")
        pred = whole or pred
    try:
        ok = _math_verify_safe(gold, pred)
    except TimeoutError:
        return Verdict(None, pred, "equivalence check timed out", "math", {**detail, "method": "math-verify"})
    except Exception as e:  # math-verify/sympy raise many types on odd input
        log.debug("math-verify failed on %r vs %r: %s", pred, gold, e)
        ok = None
    if ok is None:  # unparseable reference: fall back to comparing normalised strings
        ok = re.sub(r"\s+", "", pred) == re.sub(r"\s+", "", gold)
        return Verdict(ok, pred, f"{pred} {'=' if ok else '≠'} reference {gold} (string match)", "math",
                       {**detail, "method": "string"})
    return Verdict(ok, pred, f"{pred} {'≡' if ok else '≢'} reference {gold}", "math",
                   {**detail, "method": "math-verify"})
