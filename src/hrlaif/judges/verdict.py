"""Read a pairwise judge's free text back into a typed verdict: ``parse_verdict(text)``.

Real judges (GPT-4o, Claude, Llama-3, Qwen2.5, DeepSeek, SmolLM2) write their verdict in many
ways. The reader finds every *candidate* verdict in the text, ranks the candidates by how
explicit their form is, and keeps the LAST candidate of the most explicit rank (rationale
comes first, the verdict last; a judge that corrects itself ends with its final word):

    rank 30  explicit: ``[[A]]`` / ``[[B]]`` / ``[[tie]]`` (``[[C]]`` = tie, ``[[A>B]]``),
             JSON (``{"winner": "B"}``, keys winner/verdict/better/preferred/choice/...),
             a verdict line (``Verdict: A``, ``Final verdict: **B**``, ``Winner: Response A``,
             ``Better response: B``, ``最终裁决：A``, ``更好的回答是B``)
    rank 20  prose: ``Response A is better``, ``Assistant B's answer is superior``, ``Response B is
             correct and better``, ``I prefer Response B``, ``I would choose A``, ``Going with
             Response B``, ``Response A is the one I'd choose``, ``A it is``, ``Response A, because
             ...``, negated comparisons (``Response A is not as good as Response B`` → B, ``A falls
             short of B`` → B, ``Not B — ...`` → A; ``A is not better than B`` only together with its
             converse, → tie), per-response scores (``Response A: 6/10, Response B: 9/10`` → B,
             equal → tie), tie phrases (``It's a tie``, ``both are equally good``, ``neither is
             better``, ``they're equivalent``), Chinese (``回答A更好``, ``A 更优``, ``选A``,
             ``选择回答B``, ``两者相当``), a line that is only a label, a bare letter as the whole
             output
    rank 15  a correctness contrast (``Response A is correct ... Response B is wrong``)
    rank 10  weak: ``\\boxed{A}``, a ``[[A]]`` inside quotes (“…”, 「…」, 『…』, "…", '…') or after
             "output"/"wrote" in the rationale (an injection the judge reports, not its verdict;
             ``Verdict: "[[A]]"``, where only a verdict label precedes the quote, stays explicit)

Labels: ``A``/``B`` (upper case when bare; ``(a)`` and ``Response a`` are fine), ``Response
1``/``2``, ``the first``/``second response``, ``the former``/``latter``, ``回答A``, ``第一个回答``.
In an output written all in lower case (every sentence starts lower case) a lone ``b``, and a
lone ``a`` that no noun follows (``verdict: a``, ``a > b``, ``going with a because``), are the
letters; elsewhere a lower-case ``a`` stays the article.

Never a verdict: letters about the underlying question (``the answer is B``, ``its answer is
B``, ``Response A's answer: B``, ``picks option C``, ``the correct option``), the English article
(``A better response would ...``; but ``A clear winner here: Response A`` names A), a comparison
on one aspect (``better formatted``, ``better written``, ``more detailed but wrong``), and the
template's instructions echoed back (``"[[A]]" if assistant A is better, ... "[[C]]" for a tie``,
``如果A更好，输出[[A]]``). Hypotheticals and negations (``if A is better``, ``I don't think A is
better``, ``no clear winner: ...``) are skipped.

Abstain (``winner`` None, ``reason`` set): no candidate; the judge says it cannot decide after
its last candidate (``I can't determine which is better``); the two last candidates of the top
rank contradict each other with nothing but punctuation or ``or`` between them (``[[A]] [[B]]``,
``Verdict: A or B``); the chosen A/B verdict contradicts the A/B verdict just before it (any
rank from 20 up) with no word of correction between them or in the chosen sentence (``wait``,
``actually``, ``on reflection``, ``however``, ``but``, ``overall``, ``updated``/``corrected``/
``final verdict``, ``considering``, ``更正``, ``修正``, ``重新考虑``, ...; a labelled verdict line
such as ``Verdict: [[B]]`` also overrides earlier prose, and a sentence that weighs both, ``B is
more accurate, while A is more helpful``, is no contradiction): ``Response A is better because
X.\\nResponse B is better because X.``, ``In conclusion, Response A is better. [[B]]``; the output
is cut off (an unclosed code fence or JSON object, or a long last line with no end) after a prose
verdict that was followed by more reasoning.

``span`` is the character range in ``text`` of the token that decided (the letter in ``[[A]]``,
``Response A`` or ``{"winner": "A"}``, the word ``tie``, the winning score), so log-prob soft
labels can be read at exactly that generated token (``openai_compat.soft_from_verdict``).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Literal

Winner = Literal["A", "B", "tie"]

__all__ = ["PairVerdict", "parse_verdict"]


@dataclass(frozen=True)
class PairVerdict:
    """A pairwise verdict read from judge text, or an explicit abstain.

    ``winner``: "A", "B", "tie", or None (abstain; ``reason`` says why). ``form``: which form
    decided ("json", "bracket", "verdict-line", "is-better", "worse", "prefer", "because",
    "scores", "tie-phrase", "line", "bare", "zh", "zh-line", "correctness", "boxed", "quoted")
    or "none". ``span``: character range in the text of the deciding token. ``rationale``: the
    judge's reasoning (the text before the verdict statement, or a JSON rationale field)."""

    winner: Winner | None
    form: str = "none"
    span: tuple[int, int] | None = None
    rationale: str = ""
    reason: str = ""

    @property
    def preference(self) -> float | None:
        """P(A ≻ B) as a hard label: A → 1, B → 0, tie → ½, abstain → None."""
        return None if self.winner is None else {"A": 1.0, "B": 0.0, "tie": 0.5}[self.winner]


@dataclass
class _Cand:
    winner: str | None  # None: an ambiguous verdict ("A or B") that makes the reader abstain
    form: str
    rank: int
    span: tuple[int, int]
    start: int  # where the statement begins (the rationale ends here)
    end: int
    rationale: str | None = None


# --------------------------------------------------------------------------- building blocks

_I = re.IGNORECASE
_NOUN = (r"(?:response|answer|output|assistant|candidate|completion|reply|model|generation|submission|"
         r"summary|system|chatbot|bot|agent)")
_ZH_NOUN = r"(?:回答|答案|回复|响应|输出|助手|模型)"
# One response label. No named groups inside, so it can be embedded several times in one regex.
REF = (r"(?:" + _NOUN + r"\s*#?\s*(?:\(\s*[ab12]\s*\)|\[\s*[ab12]\s*\]|[ab12](?![A-Za-z0-9]))"
       r"|(?:the\s+)?(?:first|second)\s+(?:response|answer|one|output|reply|assistant|candidate|completion)"
       r"|the\s+(?:first|second|former|latter)(?![A-Za-z])"
       r"|" + _ZH_NOUN + r"\s*[ab12一二甲乙](?![A-Za-z0-9])"
       r"|第[一二](?:个|份|条)?" + _ZH_NOUN + r"|第[一二](?:个|份|条)|前者|后者"
       r"|\(\s*[ab]\s*\)"
       r"|(?-i:(?<![A-Za-z0-9])[AB](?![A-Za-z0-9])))")
_POSS = (r"(?:\s*(?:'s|’s)(?:\s+(?:answer|response|output|reply|explanation|solution|version|one|work|attempt|"
         r"reasoning|completion))?)?")
_VERB = (r"(?:\s+(?:is|was|seems(?:\s+to\s+be)?|appears(?:\s+to\s+be)?|looks|remains|would\s+be|should\s+be|"
         r"must\s+be|will\s+be|has\s+to\s+be|proves(?:\s+to\s+be)?|comes\s+across\s+as|stands\s+out\s+as)"
         r"|\s*(?:'s|’s))")
_ADV = (r"(?:\s+(?:clearly|slightly|much|far|significantly|definitely|overall|therefore|thus|hence|so|somewhat|"
        r"marginally|considerably|noticeably|substantially|obviously|certainly|still|indeed|also|actually|simply|"
        r"way|just|generally|arguably|ultimately|undoubtedly|quite|evidently|likely|probably|a\s+bit|a\s+little|"
        r"a\s+lot|by\s+far|all\s+around|all\s+round))*")
_PRAISE = (r"\s+(?:better|superior|preferable|preferred|stronger|safer|more\s+(?:helpful|accurate|correct|useful|"
           r"appropriate|harmless|suitable|reliable|truthful|faithful|responsive)"
           r"|the\s+(?:clear\s+|obvious\s+|overall\s+)?(?:better|stronger|superior|preferred|preferable|best|winning|"
           r"more\s+(?:helpful|accurate|appropriate|useful|correct))(?:\s+(?:response|answer|one|choice|output|reply|"
           r"pick|option|of\s+the\s+two))?"
           r"|the\s+(?:clear\s+|obvious\s+|overall\s+)?winner|best|my\s+(?:pick|choice|preference))(?![A-Za-z])")
_WORSE = (r"\s+(?:worse|inferior|weaker|less\s+(?:helpful|accurate|correct|useful|appropriate)"
          r"|the\s+(?:worse|weaker|inferior|worst|loser)(?:\s+(?:response|answer|one|of\s+the\s+two))?)(?![A-Za-z])")
_WINS = (r"\s+(?:clearly\s+|narrowly\s+|easily\s+|therefore\s+|thus\s+|decisively\s+|ultimately\s+)?"
         r"(?:wins|won|outperforms|outshines|beats|edges\s+out|prevails|comes\s+out\s+(?:ahead|on\s+top)|"
         r"takes\s+it|gets\s+(?:the\s+nod|the\s+edge|my\s+vote)|has\s+the\s+edge|"
         r"should\s+be\s+(?:preferred|chosen|selected|picked)|deserves\s+(?:the\s+win|to\s+win)|"
         r"(?:provides|gives|offers|delivers|writes)\s+the\s+(?:clearly\s+)?(?:better|stronger|superior|more\s+helpful|"
         r"more\s+accurate)\s+(?:answer|response|reply|solution))(?![A-Za-z])")

_TIEWORD = (r"(?:(?:it'?s\s+|it\s+is\s+)?an?\s+)?(?:tie|draw|toss-?up)(?![A-Za-z])|equal(?:ly\s+good)?(?![A-Za-z])"
            r"|neither(?![A-Za-z])|same(?![A-Za-z])|平局|打平|平手|两者相当|相当|持平|不相上下")


def _value(n: str) -> str:
    return (r"[ \t\[\(【（\"“'*]*(?:(?P<" + n + r"r1>" + REF + r")(?:\s*(?P<" + n + r"op>>>?|<<?|=|≻|≺)\s*(?P<" + n
            + r"r2>" + REF + r"))?|(?P<" + n + r"tie>" + _TIEWORD + r"))")


# what may follow a verdict value on a label line: the end, punctuation, or words that continue a verdict
_FOLLOW = (r"(?=[ \t\]\)】）*\"”']*(?:\Z|\n|[.,;:!?。，；：！？、\-–—(]|\s+(?:because|since|as|for|due|given|wins|"
           r"over|by|with|here|overall)\b|\s+(?:is|are|was)\s+(?:\w+\s+)?(?:better|superior|preferred|preferable|"
           r"stronger|the\s+better|the\s+winner|more\s+helpful)|\s*(?:更|胜|因为|由于|明显|略)))")

_BRACKET_RE = re.compile(
    r"(?:\[\[|【【?)\s*(?:(?P<brr1>" + REF + r"|[ab12])(?:\s*(?P<brop>>>?|<<?|=)\s*(?P<brr2>" + REF + r"|[ab12]))?"
    r"|(?P<brtie>tie|draw|equal|c|same|neither|both|平局))\s*(?:\]\]|】】?)", _I)
_LABEL_ANY_RE = re.compile(
    r"(?:(?:(?:final|overall|my|the|our|an?)\s+)?(?:(?:clear|obvious|definite|decisive|overall|final)\s+)?"
    r"(?:verdict|winner|judg(?:e)?ment)(?:\s+(?:here|overall|for\s+me|in\s+my\s+view|in\s+this\s+case))?"
    r"|(?:the\s+)?(?:(?:clear|overall|obvious)\s+)?(?:better|stronger|superior|preferred|preferable|best|winning|"
    r"more\s+helpful|more\s+accurate|more\s+harmless|safer)\s+(?:one|response|answer|output|reply|assistant|"
    r"completion|candidate|submission)(?:\s+overall)?)"
    r"(?:\s*[:：=]|\s+(?:is|would\s+be|will\s+be|remains|has\s+to\s+be|must\s+be|goes\s+to)(?:\s*[:：])?|\s*[-–—]+)"
    r"(?:\s+(?:clearly|definitely|therefore|thus|hence|so|still|obviously|undoubtedly|certainly|overall|probably|"
    r"likely|arguably|ultimately|for))*\s*" + _value("v") + _FOLLOW, _I)
_LABEL_LINE_RE = re.compile(
    r"(?:^|(?<=[.!?。！？] )|(?<=[.!?。！？]))[ \t>#\-•]*(?:\d+[.)]\s*)?(?:(?:final|overall|my)\s+)?"
    r"(?:decision|conclusion|preference|choice|result|pick|"
    r"selection|recommendation|outcome|better|preferred|best|summary|verdict|winner)[ \t]*[:：=\-–—][ \t]*"
    + _value("v") + _FOLLOW, _I | re.M)
_LABEL_HEAD_RE = re.compile(  # "### Verdict\n**B**"
    r"^[ \t>#]*(?:(?:final|overall|my)\s+)?(?:verdict|winner|decision|conclusion|judg(?:e)?ment|better\s+response|"
    r"preferred\s+response|最终裁决|裁决|结论)[ \t:：]*\n\s*" + _value("v") + r"[ \t.!]*$", _I | re.M)
_ANSWER_LINE_RE = re.compile(  # "Final answer: Response A" (a response named with its noun, never a bare letter)
    r"^[ \t>#\-•]*(?:(?:final|my)\s+)?answer[ \t]*[:：][ \t]*(?P<vr1>" + _NOUN + r"\s*#?\s*\(?[ab12]\)?(?![A-Za-z0-9]))"
    + _FOLLOW, _I | re.M)
_NO_LABEL_BEFORE_RE = re.compile(r"(?:(?<![A-Za-z])(?:no|not|any|without)|n't|n’t)\s+\Z", _I)  # "no clear winner: ..."
_ZH_LABEL_RE = re.compile(
    r"(?:最终裁决|最终判决|裁决结果|评判结果|裁决|胜者|获胜者|获胜方|胜出者|赢家|最终选择|我的选择|"
    r"(?:更好|更优|较好|更佳|较优)的(?:回答|答案|回复|一个|是)|最佳(?:回答|答案|回复))"
    r"\s*(?:是|为|应该是|应为)?\s*[:：]?\s*" + _value("v") + _FOLLOW, _I)
_ZH_LABEL_LINE_RE = re.compile(
    r"^[ \t>#\-•*]*(?:最终结论|最终判断|判断结果|结论|判断|结果|选择)\s*(?:是|为)?\s*[:：]\s*" + _value("v") + _FOLLOW,
    _I | re.M)

_SUBJ = r"(?P<s>" + REF + r")" + _POSS
# "Response B is correct and better", "B is accurate and therefore more helpful"
_AND_PRAISE = (r"(?:\s+(?:correct|accurate|right|complete|safe|clear|concise|clearer|more\s+concise|more\s+complete)"
               r"\s*,?\s+(?:and|&)(?:\s+(?:therefore|thus|hence|so|overall|also))?)?")
_IS_BETTER_RE = re.compile(_SUBJ + _VERB + _ADV + _AND_PRAISE + _PRAISE, _I)
_WINS_RE = re.compile(_SUBJ + _WINS, _I)
_GREATER_RE = re.compile(r"(?P<s>" + REF + r")\s*(?P<op>>>?|≻|<<?|≺)\s*(?P<o>" + REF + r")(?![A-Za-z0-9])", _I)
_IS_WORSE_RE = re.compile(_SUBJ + _VERB + _ADV + _WORSE, _I)
_PREFER_RE = re.compile(
    r"(?<![A-Za-z])(?-i:I|We|we)(?:\s*(?:'d|’d|'ll|’ll)|\s+(?:would|will|do|must|should|can|ultimately|therefore|thus|"
    r"hence|so|still|definitely|strongly|slightly|clearly|personally|honestly|overall|also|narrowly|marginally|"
    r"somewhat|have\s+to|would\s+have\s+to|am\s+going\s+to|'m\s+going\s+to))*\s+(?:prefer|choose|pick|select|"
    r"go\s+with|favou?r|recommend|vote\s+for|side\s+with|lean\s+(?:towards?|toward)|opt\s+for|"
    r"give\s+the\s+(?:edge|win|nod)\s+to|award\s+(?:the\s+win\s+)?to|declare)\s+(?:for\s+)?(?P<s>" + REF + r")", _I)
_MY_PICK_RE = re.compile(
    r"\b(?:my\s+(?:final\s+)?(?:vote|pick|choice|preference|selection|recommendation)\s+(?:goes\s+to|is|would\s+be|"
    r"will\s+be|:)|the\s+(?:edge|nod|win|victory)\s+goes\s+to)\s+(?:for\s+|with\s+)?(?P<s>" + REF + r")", _I)
_RANK_RE = re.compile(
    r"(?<![A-Za-z])(?-i:I|We|we)(?:\s*(?:'d|’d)|\s+(?:would|will))?\s+(?:rate|rank|score|place|put)\s+(?P<s>" + REF
    + r")\s+(?:higher|above|first|ahead|better|on\s+top|as\s+(?:the\s+)?(?:better|superior|stronger|winner))", _I)
_SO_RE = re.compile(
    r"(?:(?<![A-Za-z])(?-i:I|We|we)(?:'d|’d|\s+would)\s+say|(?<![A-Za-z])(?:thus|so|therefore|hence|overall|ultimately|"
    r"in\s+conclusion|in\s+summary|in\s+short|finally|in\s+the\s+end|all\s+in\s+all))[,:]?\s+(?:it(?:'s|’s|\s+is)\s+)?"
    r"(?P<s>" + REF + r")(?=[ \t]*[.!。](?:\s|\Z)|[ \t]*(?:\Z|\n))", _I)
# a choice without "I": "Going with Response B.", "Response A is the one I'd choose", "A it is", "Not B — ..."
_CLAUSE_START = r"(?:^|(?<=[.!?;:,。！？；：，—–]\s)|(?<=[.!?;:,。！？；：，—–])|(?<=\n))[ \t>\-•]*"
_GOING_WITH_RE = re.compile(
    r"(?:" + _CLAUSE_START + r"(?:(?:so|thus|therefore|hence|overall|ultimately|in\s+the\s+end|finally|then)[,\s]+)?"
    r"|(?<![A-Za-z])(?:(?-i:I)(?:'m|’m|\s+am)|we(?:'re|’re|\s+are))\s+)"
    r"(?:going|gonna\s+go|picking|choosing|selecting|voting\s+for|siding\s+with|opting\s+for)\s+(?:with\s+)?"
    r"(?P<s>" + REF + r")", _I | re.M)
_THE_ONE_RE = re.compile(
    r"(?P<s>" + REF + r")" + _POSS + r"\s+(?:is|would\s+be|will\s+be)\s+(?:clearly\s+|definitely\s+|still\s+)?"
    r"(?:the\s+(?:one|response|answer|output|option|reply)|what)\s+(?:that\s+)?(?-i:I|we)(?:\s*(?:'d|’d|'ll|’ll)|"
    r"\s+(?:would|will|do|must|should))?(?:\s+(?:ultimately|definitely|still|rather|actually))?\s+(?:choose|pick|"
    r"prefer|select|go\s+with|recommend|favou?r|vote\s+for|trust|use)(?![A-Za-z])", _I)
_THE_ONE_KEY_RE = re.compile(r"(?:the\s+(?:one|response|answer|output|option|reply)|what)\s+(?:that\s+)?(?-i:I|we)\b",
                             _I)
_IT_IS_RE = re.compile(r"(?:^|(?<=[\s(\[]))(?:(?:so|then|thus)[,\s]+)?(?P<s>" + REF + r")\s*,?\s+it\s+is"
                       r"(?=[ \t]*(?:[.!。]|\Z|\n))", _I | re.M)
_NOT_LABEL_RE = re.compile(_CLAUSE_START + r"(?:(?:definitely|certainly|clearly|so)\s+)?not\s+(?P<s>" + REF
                           + r")[ \t]*(?=[—–\-:;,.!]|\Z|\n)", _I | re.M)
# negated comparisons: "Response A is not as good as Response B" (B), "A falls short of B" (B), "A is not better
# than B" (only with its converse: neither is better)
_NEG = r"(?:\s+(?:is|was|does|did)(?:\s+not|n't|n’t)|\s*(?:'s|’s)\s+not)(?:\s+(?:quite|nearly|really|even))?"
_NEG_COMPARE_RE = re.compile(
    r"(?P<s>" + REF + r")" + _POSS + r"(?:" + _NEG
    + r"(?:(?P<as>(?:\s+(?:do|perform|hold\s+up|fare|work))?\s+(?:as|so)\s+"
    r"(?:good|helpful|accurate|strong|useful|clear|complete|correct|thorough|safe|reliable|relevant|effective|well|"
    r"appropriate|convincing|informative)(?:[- ]\w+)?\s+as)|(?P<nb>\s+(?:any\s+)?(?:better|worse|superior|inferior)\s+"
    r"than))|(?P<loses>\s+(?:clearly\s+|simply\s+|ultimately\s+)?(?:falls\s+short\s+of|pales\s+(?:in\s+comparison\s+)?"
    r"(?:to|next\s+to|beside)|lags\s+behind|loses\s+(?:out\s+)?to|is\s+(?:clearly\s+)?(?:outperformed|outclassed|"
    r"beaten|bettered)\s+by)))\s+(?P<o>" + REF + r")", _I)
_NEG_COMPARE_KEY_RE = re.compile(r"(?:not|n't|n’t)(?:\s+\w+){0,3}\s+(?:as|so|better|worse|superior|inferior)\s"
                                 r"|short\s+of|pales|lags|loses|outperformed|outclassed|beaten|bettered", _I)
_ZH_CHOOSE_RE = re.compile(  # "两害相权取其轻，选A", "所以选择回答B" (a clause that is only a choice)
    r"(?:^|(?<=[，,。.；;：:！!？?、\s）)]))(?:所以|因此|故|最终|那么|于是|综上|总之)?[，,\s]*(?:还是|就|应当|应该|只能)?"
    r"\s*(?:选择|选|推荐|投给|挑)\s*(?P<s>" + REF + r")(?!\s*(?:选项|项|的(?:人|用户|理由|话)))", _I | re.M)

_VERDICT_C_RE = re.compile(r"(?<![A-Za-z])(?:(?:final|my|the)\s+)?verdict\s*(?:is|[:：=])\s*\[?\s*(?P<c>(?-i:C))\s*\]?"
                           + _FOLLOW, _I)
_BECAUSE_RE = re.compile(
    r"(?:^|(?<=[.!?。！？:：]))[ \t>\-•]*(?P<s>" + REF + r")[ \t]*(?:[,:，—–-][ \t]*|\s+)(?:because|since|due\s+to|"
    r"given\s+that|as\s+it|as\s+its|因为|由于)(?![A-Za-z])", _I | re.M)
_ZH_BETTER_RE = re.compile(
    r"(?P<s>" + REF + r")\s*(?:的(?:回答|答案|回复|表现))?\s*(?:(?:明显|显然|更加|略微|略|稍微|稍|整体上?|总体上?|"
    r"相对|要|还是|确实|则|会|更为|无疑|显著|整体而言)\s*)*(?:更好|更优|更佳|较好|较优|更胜一筹|胜出|获胜|优于|好于|"
    r"更准确|更有帮助|更合适|更出色|更强|占优|为佳|最好|更正确|更可取|更值得推荐|更符合要求|更安全|更恰当|好一些|好得多|胜(?=[。！!，,\s]|$))", _I)
_ZH_COMPARE_RE = re.compile(
    r"(?P<s>" + REF + r")\s*比\s*(?P<o>" + REF + r")\s*(?:更|要|还|明显|略|稍)*\s*(?P<dir>好|优秀|出色|准确|有帮助|合适|"
    r"强|差|糟|弱)", _I)
_ZH_NOTAS_RE = re.compile(r"(?P<s>" + REF + r")\s*(?:不如|逊于|劣于)\s*(?P<o>" + REF + r")", _I)
_ZH_WORSE_RE = re.compile(r"(?P<s>" + REF + r")\s*(?:明显|显然|更加|略)?\s*(?:更差|较差|更糟|更弱|逊色)", _I)
_ZH_PREFER_RE = re.compile(
    r"(?:我\s*(?:会|更|最终|还是|个人)?\s*(?:倾向于|更倾向于)?\s*(?:选择|选|倾向于?|推荐|更喜欢|偏好|偏向|投票给|支持)"
    r"|(?:更)?倾向于)\s*(?P<s>" + REF + r")", _I)

_TIE_RES = [re.compile(p, _I) for p in (
    r"(?<![A-Za-z])(?:it(?:'s|’s|\s+is)|this\s+is|that(?:'s|’s|\s+is)|call\s+(?:it|this)|declare|result\s+is|ends\s+in|"
    r"i(?:'d|\s+would)\s+call\s+it|a\s+clear|going\s+with|go\s+with|opt\s+for)\s+(?:a\s+)?(?:tie|draw|toss-?up|wash)"
    r"(?![A-Za-z])",
    r"(?<![A-Za-z])call\s+it\s+even(?![A-Za-z])",
    r"(?:(?<=[.!?。] )|^)(?:(?:it(?:'s|’s|\s+is)\s+)?a\s+)?tie[.!]?(?=[ \t]*(?:\Z|\n))",
    r"(?<![A-Za-z])equally\s+(?:good|bad|helpful|unhelpful|harmless|harmful|strong|weak|valid|correct|incorrect|wrong|"
    r"accurate|acceptable|appropriate|useful|effective|poor|matched|safe|unsafe|satisfactory|fine|competent|solid|"
    r"well)(?![A-Za-z])",
    r"(?<![A-Za-z])neither\s+(?:response|answer|one|output|assistant|of\s+them|of\s+the\s+two)?\s*(?:is|was)\s+"
    r"(?:clearly\s+|significantly\s+|really\s+|meaningfully\s+|noticeably\s+|substantially\s+)?(?:better|superior|"
    r"preferable|stronger|worse)(?![A-Za-z])",
    r"(?<![A-Za-z])no\s+(?:clear\s+|real\s+)?(?:winner|preference)(?![A-Za-z])",
    r"(?<![A-Za-z])(?:(?:both|the\s+two)(?:\s+(?:responses|answers|outputs|replies))?\s+(?:are|were)|they(?:'re|’re|"
    r"\s+are|\s+were))\s+(?:essentially\s+|"
    r"virtually\s+|basically\s+|practically\s+|about\s+|roughly\s+|more\s+or\s+less\s+)?(?:identical|equivalent|equal|"
    r"the\s+same|on\s+par|comparable|of\s+(?:equal|similar|the\s+same)\s+quality)",
    r"(?<![A-Za-z])(?:on\s+par\s+with\s+each\s+other|evenly\s+matched|of\s+equal\s+quality)(?![A-Za-z])",
    r"(?:两者|二者|两个回答|两个答案|两份回答)?(?:质量|水平|表现)?(?:相当|差不多|不相上下|难分高下|难分伯仲|势均力敌|"
    r"旗鼓相当|一样好|同样好|半斤八两)|平局|打平|平手",
)]
_TIE_KEY_RE = re.compile(r"(?<![A-Za-z])(?:tie|draw|toss-?up|wash|even|equally|neither|identical|equivalent|equal|"
                         r"same|on\s+par|comparable|evenly|winner|preference)(?![A-Za-z])|相当|差不多|不相上下|"
                         r"难分高下|难分伯仲|势均力敌|旗鼓相当|一样好|同样好|半斤八两|平局|打平|平手", _I)
_UNSURE_RE = re.compile(
    r"(?<![A-Za-z])(?:(?:can(?:'|’)?t|cannot|can\s+not|unable\s+to|not\s+able\s+to|couldn(?:'|’)?t|could\s+not)\s+"
    r"(?:really\s+|reliably\s+|confidently\s+)?(?:determine|decide|tell|say|judge|assess|conclude|pick|choose)"
    r"(?:\s+(?:which|who|whether|for\s+sure|between))"
    r"|(?:hard|difficult|impossible)\s+to\s+(?:say|tell|decide|determine|judge)"
    r"|not\s+sure\s+which|unclear\s+which|i(?:'m|\s+am)\s+(?:not\s+sure|unsure|uncertain)"
    r"|i\s+don(?:'|’)?t\s+know\s+which"
    r"|(?:insufficient|not\s+enough)\s+information)"
    r"|无法判断|难以判断|无法确定|难以确定|不确定|很难说|无法决定|难以抉择", _I)
_BOXED_RE = re.compile(r"\\boxed\{\s*(?:\\text(?:bf)?\{\s*)?(?P<s>" + REF + r"|[ab])\s*\}?\s*\}", _I)

# a comparison on one aspect is not a verdict: "better formatted", "better in terms of style", "... but wrong"
_ASPECT = (r"formatting|format|presentation|style|tone|readability|length|structure|wording|grammar|fluency|"
           r"organi[sz]ation|layout|appearance|detail|details|brevity|conciseness|verbosity|politeness|empathy")
_QUALIFIED_AFTER_RE = re.compile(
    r"\s*(?:(?:than\s+)?" + REF + r"\s*)?(?:formatted|written|structured|organi[sz]ed|presented|worded|phrased|styled|"
    r"laid\s+out|explained|looking|sounding|polished|detailed|\w+ly\s+(?:formatted|written|structured|organi[sz]ed|"
    r"presented)|in\s+(?:terms\s+of\s+)?(?:" + _ASPECT + r"|some\s+(?:ways|respects|aspects)|one\s+(?:way|respect|"
    r"aspect)|certain\s+(?:ways|respects|aspects)|that\s+(?:way|respect|regard)|this\s+(?:regard|respect))(?![A-Za-z])"
    r"|(?:at|for|on|regarding|with\s+respect\s+to|when\s+it\s+comes\s+to)\s+(?:" + _ASPECT + r")(?![A-Za-z])"
    r"|stylistically|visually|superficially|cosmetically|on\s+the\s+surface|at\s+first(?:\s+glance)?|on\s+paper"
    r"|,?\s+but\s+(?:less|worse|wrong|incorrect|inaccurate|not\b|lacks|misses|fails|contains|gets|arrives|reaches|"
    r"makes|has\s+(?:an?\s+)?(?:\w+\s+)?(?:error|mistake|flaw)|is\s+(?:wrong|incorrect|inaccurate|less|not|"
    r"factually)|gives\s+(?:the\s+|a\s+)?wrong|ultimately\s+wrong))", _I)
_QUALIFIED_BEFORE_RE = re.compile(
    r"(?:(?:in\s+terms\s+of|regarding|as\s+for|when\s+it\s+comes\s+to|with\s+respect\s+to|for|on)\s+(?:the\s+)?"
    r"(?:" + _ASPECT + r")(?![A-Za-z])|(?:formatting|style|presentation|stylistically)[-\s]wise|at\s+first\s+glance"
    r"|superficially|on\s+the\s+surface|在(?:格式|排版|结构|表述|文笔|风格|语言|篇幅|细节|语气)(?:方面|上))", _I)
_CONJ_RE = re.compile(r"(?<![A-Za-z])(?:but|so|however|therefore|thus|overall|while|whereas|yet|although|though|"
                      r"ultimately)(?![A-Za-z])|但|但是|不过|所以|因此|总体", _I)
_HYPOTHETICAL_RE = re.compile(
    r"(?<![A-Za-z])(?:if|whether|unless|not\s+sure|unsure|doubt|don(?:'|’)?t\s+think|do\s+not\s+think|"
    r"wouldn(?:'|’)?t\s+say|would\s+not\s+say|can(?:'|’)?t\s+say|cannot\s+say|hard\s+to\s+say|unclear|"
    r"might\s+think|may\s+think|could\s+argue|some\s+might|one\s+could|one\s+might|not\s+that|claims?|"
    r"says|said|argues|suggests?\s+that|asks?|question\s+is|pretends?|supposedly)(?![A-Za-z])"
    r"|不认为|不觉得|如果|假如|是否|不能说|很难说|并非|并不是|不是说", _I)
_IF_ANYTHING_RE = re.compile(r"if\s+anything", _I)
# a bare letter right after these words is an option of the question, not a response
_NOT_A_RESPONSE_RE = re.compile(
    r"(?:(?<![A-Za-z])(?:options?|choices?|answers?|letter|plan|type|vitamin|grade|class|part|group|blood|hepatitis|"
    r"section|step|item|case|point|figure|table|appendix|statement|claim|variant|version|scenario|column|row|"
    r"category|level|says|claims|states|argues|thinks|believes|answered|picks|picked|chooses|chose|chosen|selects|"
    r"selected|select|choose|pick|is|was|are|were)\s*(?:is|was|[:：=])?\s*[\(\[]?\s*|选项\s*|答案\s*(?:是|为)?\s*)$", _I)
_ANSWER_NOUN_BEFORE_RE = re.compile(r"(?<![A-Za-z])(?:its|the|their|his|her|correct|right|final|whose|an|this|that|"
                                    r"same|wrong|incorrect)\s+$", _I)
_ARTICLE_OK_NEXT = re.compile(
    r"\s+(?:over|and|or|because|since|as|for|here|instead|without|overall|then|due|given|is|was|which|with|by|in|on|"
    r"too|again|clearly|definitely|outright|easily|this|both|though|however|anyway|entirely|hands|any|than)\b", _I)

_INJECTION_RE = re.compile(r"(?:output|write|wrote|say|said|print|instruct|tell|told|ask|inject|includ|contain|"
                           r"insert|append|claim|demand|tries|trying|attempt|token|string)\w*\W*$", _I)

# the template's instruction repeated, not a verdict: '"[[A]]" if A is better', "如果A更好，输出[[A]]"
_ECHO_AFTER_RE = re.compile(r"[ \t\"'”’`*]*(?:(?:if|when|means|indicates|to\s+indicate|denotes|stands\s+for)\b|="
                            r"|for\s+(?:a\s+)?(?:tie|draw)\b|in\s+(?:the\s+)?case\s+of|表示|代表|意味着)", _I)
_ECHO_BEFORE_RE = re.compile(
    r"(?:(?<![A-Za-z])(?:if|when)|如果|若|假如|倘若|要是)[^。.;；\n]{0,60}?(?:[,，:：]|\sthen\s|则|就|那么)\s*"
    r"(?:then\s+|则|就|请|那么)?\s*"
    r"(?:output|write|print|answer\s+with|respond\s+with|reply\s+with|return|say|输出|写|回答|给出|返回)\s*"
    r"[\"'“‘「『]?\s*$", _I)
# quotation marks: a bracket verdict inside them is something the judge reports a response wrote
_QUOTES = {"“": "”", "「": "」", "『": "』", "‘": "’", "\"": "\"", "'": "'"}
_APOS_OPEN_RE = re.compile(r"(?<![A-Za-z0-9])'(?!\s)")
_APOS_CLOSE_RE = re.compile(r"(?<!\s)'(?![A-Za-z0-9])")

_JSON_KEYS = ("winner", "verdict", "final_verdict", "better", "better_response", "preferred", "preferred_response",
              "preference", "choice", "final_choice", "best", "best_response", "decision", "final_decision",
              "judgment", "judgement", "winning_response", "result", "selected", "selected_response")
_JSON_RATIONALE = ("rationale", "reason", "reasoning", "explanation", "justification", "analysis", "comment")


# --------------------------------------------------------------------------- helpers

def _mask(text: str) -> str:
    """Markdown emphasis and code marks → spaces (offsets unchanged): ``**Response A**`` reads as a label."""
    t = re.sub(r"[*`]", " ", text)
    t = re.sub(r"(?<![A-Za-z0-9])_+|_+(?![A-Za-z0-9])", lambda m: " " * len(m.group()), t)
    return _letters_up(t) if _lowercase_prose(t) else t


_SENTENCE_INITIAL_RE = re.compile(r"(?:\A|[.!?]\s+|\n)[^A-Za-z\n]*?([A-Za-z])")
# in all-lowercase prose a lone "b" is a letter (and a lone "i" the pronoun), and so is a lone "a" that no noun
# follows (an article never stands before a verb, a conjunction, a comparison sign or the end of a sentence)
_LOWER_LETTER_RE = re.compile(
    r"(?<![A-Za-z0-9'’])(?:b|i|a(?=[ \t]*(?:\Z|\n|[.,;:!?)\]】>]|[<>=≻≺]|(?:over|and|or|because|since|as|for|is|was|"
    r"wins|won|beats|outperforms|it|than|vs|versus|by|with|then|here|overall|instead)(?![A-Za-z]))))(?![A-Za-z0-9])")


def _lowercase_prose(t: str) -> bool:
    """Every sentence of the output starts with a lower-case letter (a judge writing all in lower case)."""
    firsts = _SENTENCE_INITIAL_RE.findall(t)
    return bool(firsts) and all(c.islower() for c in firsts)


def _letters_up(t: str) -> str:
    """``verdict: a``, ``a > b``, ``i'd go with b`` in lower-case prose: the letters (and "I") upper-cased, offsets
    unchanged."""
    return _LOWER_LETTER_RE.sub(lambda m: m.group().upper(), t)


_LETTER_RE = re.compile(r"(?<![A-Za-z])[AaBb](?![A-Za-z])")
_WORD_A = re.compile(r"first|former|第一|前者|[1一甲]", _I)
_WORD_B = re.compile(r"second|latter|第二|后者|[2二乙]", _I)


def _decode_ref(text: str, start: int, end: int) -> tuple[str, tuple[int, int]] | None:
    """The response a label names, and the span of the letter/word that names it."""
    s = text[start:end]
    hits = list(_LETTER_RE.finditer(s))
    if hits:
        h = hits[-1]
        return h.group().upper(), (start + h.start(), start + h.end())
    for rx, w in ((_WORD_A, "A"), (_WORD_B, "B")):
        h = rx.search(s)
        if h:
            return w, (start + h.start(), start + h.end())
    return None


def _sentence_start(text: str, pos: int) -> int:
    """Start of the sentence holding ``pos`` (looking back at most 400 characters)."""
    lo = max(0, pos - 400)
    i = max(text.rfind(c, lo, pos) for c in ".!?\n。！？")
    while i > lo and text[i] == "." and i + 1 < len(text) and text[i + 1].isdigit():  # 8.5
        i = max(text.rfind(c, lo, i) for c in ".!?\n。！？")
    return max(i + 1, lo)


def _sentence_end(text: str, pos: int) -> int:
    m = re.compile(r"[.!?](?=\s|$)|[\n。！？]").search(text, pos)
    return m.end() if m else len(text)


def _subject_ok(text: str, s: int, e: int) -> bool:
    """Reject a subject label that is an option of the question ("option B", "its answer B")."""
    label = text[s:e]
    before = text[max(0, s - 30):s]
    if re.fullmatch(r"\(?\s*[ABab]\s*\)?", label.strip()) and _NOT_A_RESPONSE_RE.search(before):
        return False
    if label.lower().startswith("answer") and _ANSWER_NOUN_BEFORE_RE.search(before):
        return False
    return True


def _object_ok(text: str, s: int, e: int) -> bool:
    """After a verb ("I would choose A ..."): the capital A must not be the article of a noun phrase."""
    label = text[s:e]
    if label.strip() in ("A", "a") or re.search(r"\sa$", label):
        after = text[e:e + 20]
        if re.match(r"\s+[a-z]", after) and not _ARTICLE_OK_NEXT.match(after):
            return False
    return True


def _hypothetical(text: str, s: int) -> bool:
    """An "if"/"whether"/"I don't think" in the clause before ``s`` (clauses end at , ; and sentence ends)."""
    start = max(_sentence_start(text, s), s - 60)
    clause = text[start:s]
    cut = max(clause.rfind(c) for c in ",;，；:：")
    return bool(_HYPOTHETICAL_RE.search(_IF_ANYTHING_RE.sub(" ", clause[cut + 1:])))


def _question(text: str, e: int) -> bool:
    end = _sentence_end(text, e)
    return text[end - 1:end] == "?" or text[end - 1:end] == "？"


def _other(w: str) -> str:
    return "B" if w == "A" else "A"


def _from_value(m: re.Match, text: str, n: str) -> tuple[str, tuple[int, int]] | None:
    if m.group(n + "tie"):
        return "tie", m.span(n + "tie")
    r1 = _decode_ref(text, *m.span(n + "r1"))
    if r1 is None:
        return None
    op = m.group(n + "op")
    if not op:
        return r1
    r2 = _decode_ref(text, *m.span(n + "r2"))
    if r2 is None or r1[0] == r2[0]:
        return None
    if op in (">", ">>", "≻"):
        return r1
    if op in ("<", "<<", "≺"):
        return r2
    return "tie", m.span(n + "op")


# --------------------------------------------------------------------------- forms

def _json_objects(text: str) -> list[tuple[int, int, dict]]:
    """Every top-level ``{...}`` in ``text`` that parses as a JSON (or Python-literal) object."""
    out: list[tuple[int, int, dict]] = []
    depth, start = 0, None
    for i, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                src = text[start:i + 1]
                obj = None
                try:
                    obj = json.loads(src)
                except ValueError:
                    if len(src) < 20000:
                        try:
                            obj = ast.literal_eval(src)
                        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                            obj = None
                if isinstance(obj, dict):
                    out.append((start, i + 1, obj))
    return out


def _norm_key(k: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(k).strip().lower())


def _json_value_winner(v: object) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return {1: "A", 2: "B"}.get(v)
    if not isinstance(v, str):
        return None
    s = v.strip().strip("\"'*.()[]【】 ").lower()
    s = re.sub(r"^(?:response|assistant|answer|output|model|candidate|回答|答案)[\s_\-]*", "", s)  # "model_b"
    if s in ("a", "1", "first"):
        return "A"
    if s in ("b", "2", "second"):
        return "B"
    if s in ("a>b", "a>>b", "b<a"):
        return "A"
    if s in ("b>a", "b>>a", "a<b"):
        return "B"
    if s in ("tie", "c", "draw", "equal", "both", "neither", "none", "same", "a=b", "平局", "相当"):
        return "tie"
    return None


def _json_cands(text: str) -> list[_Cand]:
    cands = []
    for s, e, obj in _json_objects(text):
        flat: list[tuple[str, object]] = []

        def walk(o: dict) -> None:
            for k, v in o.items():
                flat.append((_norm_key(k), v))
            for v in o.values():
                if isinstance(v, dict):
                    walk(v)

        walk(obj)
        hit = next(((k, v) for k, v in flat if k in _JSON_KEYS and _json_value_winner(v)), None)
        if hit is None:
            sc = _json_scores(flat)
            if sc is None:
                continue
            winner, form = sc, "scores"
            span = (s, e)
        else:
            winner, form = _json_value_winner(hit[1]), "json"
            span = _json_value_span(text, s, e, hit[0]) or (s, e)
        rat = next((str(v) for k, v in flat if k in _JSON_RATIONALE and isinstance(v, str) and v.strip()), None)
        cands.append(_Cand(winner, form, 30 if form == "json" else 20, span, s, e, rat))
    return cands


def _json_value_span(text: str, s: int, e: int, key: str) -> tuple[int, int] | None:
    key_rx = re.escape(key).replace("_", "[_\\s\\-]")
    hits = list(re.finditer(r"[\"']?" + key_rx + r"[\"']?\s*:\s*[\"']?(?P<v>[^\"',}\n]*)", text[s:e], _I))
    if not hits:
        return None
    vs, ve = hits[-1].span("v")
    d = _decode_ref(text, s + vs, s + ve)
    if d and re.search(r"[ABab12]|first|second", text[s + vs:s + ve]):
        return d[1]
    return (s + vs, s + ve) if ve > vs else None


def _json_scores(flat: list[tuple[str, object]]) -> str | None:
    got: dict[str, float] = {}
    for k, v in flat:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        m = (re.fullmatch(r"(?:score|rating)_?(?:for_)?(?:response_|assistant_|output_)?([ab12])", k)
             or re.fullmatch(r"(?:response|assistant|output)?_?([ab12])_?(?:score|rating)", k))
        if m:
            got[{"1": "a", "2": "b"}.get(m.group(1), m.group(1))] = float(v)
    for k, v in flat:  # {"scores": {"A": 6, "B": 9}}
        if k in ("scores", "ratings", "score", "rating") and isinstance(v, dict):
            for kk, vv in v.items():
                kn = _json_value_winner(str(kk))
                if kn in ("A", "B") and isinstance(vv, (int, float)) and not isinstance(vv, bool):
                    got[kn.lower()] = float(vv)
    if "a" in got and "b" in got:
        return "tie" if got["a"] == got["b"] else ("A" if got["a"] > got["b"] else "B")
    return None


def _bracket_cands(text: str, masked: str) -> list[_Cand]:
    out = []
    for m in _BRACKET_RE.finditer(masked):
        dec: tuple[str, tuple[int, int]] | None
        if m.group("brtie"):
            dec = ("tie", m.span("brtie"))
        else:
            dec = _from_value(m, masked, "br")
        if dec is None:
            continue
        s, e = m.span()
        line_start = text.rfind("\n", 0, s) + 1
        before = text[line_start:s]
        if _ECHO_AFTER_RE.match(text, e) or _ECHO_BEFORE_RE.search(before[-80:]):
            continue  # the template's instruction repeated: "[[A]]" if A is better / 如果A更好，输出[[A]]
        q = _quote_open(text, line_start, s, e)
        weak = bool(_INJECTION_RE.search(before[-40:])) or (q is not None and not _LABEL_ONLY_RE.fullmatch(
            text[line_start:q]))
        out.append(_Cand(dec[0], "quoted" if weak else "bracket", 10 if weak else 30, dec[1], s, e))
    return _drop_echo_lists(text, out)


def _quote_open(text: str, line_start: int, s: int, e: int) -> int | None:
    """Where the quotation holding ``text[s:e]`` opens, if it lies inside quotes on its line (“…”, 「…」,
    『…』, "…", '…'): the judge reporting what a response wrote, not its own verdict."""
    line_end = text.find("\n", e)
    line_end = len(text) if line_end < 0 else line_end
    for o, c in _QUOTES.items():
        i = text.rfind(o, line_start, s)
        if i < 0:
            continue
        if o == "'":  # an apostrophe ("it's") neither opens nor closes a quotation
            opens = [m.start() for m in _APOS_OPEN_RE.finditer(text, line_start, s)]
            if not opens or _APOS_CLOSE_RE.search(text, opens[-1] + 1, s):
                continue
            i = opens[-1]
            close = _APOS_CLOSE_RE.search(text, e, line_end)
            j = close.start() if close else -1
        elif o == c:
            if text.count(o, line_start, s) % 2 == 0:
                continue
            j = text.find(c, e, line_end)
        else:
            if text.rfind(c, i, s) >= 0:
                continue
            j = text.find(c, e, line_end)
        if j >= 0:
            return i
    return None


def _drop_echo_lists(text: str, cands: list[_Cand]) -> list[_Cand]:
    """``[[A]], [[B]] or [[tie]]`` is the template's instruction repeated, not a verdict."""
    keep = [True] * len(cands)
    sep = re.compile(r"[\s`'\"*]*(?:,|or|and|/|\|)[\s,`'\"*]*(?:(?:or|and)\s+)?(?:verdict\s*[:：]\s*)?", _I)
    i = 0
    while i < len(cands):
        j = i
        while j + 1 < len(cands) and sep.fullmatch(text[cands[j].end:cands[j + 1].start]):
            j += 1
        if j > i and len({c.winner for c in cands[i:j + 1]}) > 1:
            for k in range(i, j + 1):
                keep[k] = False
        i = j + 1
    return [c for c, k in zip(cands, keep) if k]


def _label_cands(text: str, masked: str) -> list[_Cand]:
    out = []
    for rx, form in ((_LABEL_ANY_RE, "verdict-line"), (_LABEL_LINE_RE, "verdict-line"),
                     (_LABEL_HEAD_RE, "verdict-line"), (_ZH_LABEL_RE, "zh-line"), (_ZH_LABEL_LINE_RE, "zh-line")):
        for m in rx.finditer(masked):
            dec = _from_value(m, masked, "v")
            if dec is None or _NO_LABEL_BEFORE_RE.search(masked, max(0, m.start() - 12), m.start()):
                continue
            tail = masked[m.end():m.end() + 30]
            ambiguous = re.match(r"[ \t\]\)*]*(?:or|/|vs\.?|versus|或|或者)\s*[\[\(]*\s*(?:" + REF + r")", tail, _I)
            out.append(_Cand(None if ambiguous else dec[0], form, 30, dec[1], m.start(), m.end()))
    for m in _VERDICT_C_RE.finditer(masked):  # MT-Bench's "C" for a tie, on a verdict line only
        out.append(_Cand("tie", "verdict-line", 30, m.span("c"), m.start(), m.end()))
    for m in _ANSWER_LINE_RE.finditer(masked):
        dec = _decode_ref(masked, *m.span("vr1"))
        if dec:
            out.append(_Cand(dec[0], "verdict-line", 30, dec[1], m.start(), m.end()))
    return out


def _prose_cands(text: str, masked: str) -> list[_Cand]:
    out = []

    def add(m: re.Match, form: str, flip: bool = False, group: str = "s", subject: bool = True) -> None:
        s, e = m.span(group)
        if subject and not _subject_ok(masked, s, e):
            return
        if not subject and not _object_ok(masked, s, e):
            return
        if _hypothetical(masked, s) or _question(masked, m.end()):
            return
        if form in ("is-better", "worse", "zh"):
            sent = masked[_sentence_start(masked, s):s]
            q = None
            for q in _QUALIFIED_BEFORE_RE.finditer(sent):
                pass
            if q is not None and _CONJ_RE.search(sent[q.end():]):
                q = None
            if _QUALIFIED_AFTER_RE.match(masked, m.end()) or q is not None:
                return
        dec = _decode_ref(masked, s, e)
        if dec is None:
            return
        w = _other(dec[0]) if flip else dec[0]
        out.append(_Cand(w, form, 20, dec[1], min(s, m.start()), m.end()))

    for m in _IS_BETTER_RE.finditer(masked):
        add(m, "is-better")
    for m in _WINS_RE.finditer(masked):
        add(m, "is-better")
    for m in _GREATER_RE.finditer(masked):
        names = {(_decode_ref(masked, *m.span(g)) or ("",))[0] for g in ("s", "o")}
        if names == {"A", "B"}:
            add(m, "is-better", group="s" if m.group("op") in (">", ">>", "≻") else "o")
    for m in _IS_WORSE_RE.finditer(masked):
        add(m, "worse", flip=True)
    for rx in (_PREFER_RE, _MY_PICK_RE, _RANK_RE):
        for m in rx.finditer(masked):
            add(m, "prefer", subject=False)
    # the rarer choice forms run only where their key words occur (parse speed)
    low = masked.lower()
    if any(k in low for k in ("going", "gonna", "picking", "choosing", "selecting", "voting", "siding", "opting")):
        for m in _GOING_WITH_RE.finditer(masked):
            add(m, "prefer", subject=False)
    if _THE_ONE_KEY_RE.search(masked):
        for m in _THE_ONE_RE.finditer(masked):
            add(m, "prefer")
    if "it is" in low:
        for m in _IT_IS_RE.finditer(masked):
            add(m, "prefer")
    if "not" in low:
        for m in _NOT_LABEL_RE.finditer(masked):
            add(m, "worse", flip=True)
    not_better: dict[str, re.Match] = {}
    for m in (_NEG_COMPARE_RE.finditer(masked) if _NEG_COMPARE_KEY_RE.search(masked) else ()):
        names = [(_decode_ref(masked, *m.span(g)) or ("",))[0] for g in ("s", "o")]
        if set(names) != {"A", "B"}:
            continue
        if not m.group("nb"):
            add(m, "worse", flip=True)
        elif _subject_ok(masked, *m.span("s")) and not _hypothetical(masked, m.start()):
            not_better[names[0]] = m
    if len(not_better) == 2:  # "A is not better than B, and B is not better than A": neither is better
        m = max(not_better.values(), key=lambda x: x.end())
        out.append(_Cand("tie", "tie-phrase", 20, m.span("o"), min(x.start() for x in not_better.values()), m.end()))
    for m in _BECAUSE_RE.finditer(masked):
        add(m, "because")
    for m in _SO_RE.finditer(masked):
        add(m, "prefer", subject=False)
    for m in _ZH_BETTER_RE.finditer(masked):
        if not re.search(r"(?:比|较之|相比于?)\s*$", masked[max(0, m.start() - 4):m.start()]):  # "B比A更好": A is the object
            add(m, "zh")
    for m in _ZH_WORSE_RE.finditer(masked):
        add(m, "zh", flip=True)
    for m in _ZH_NOTAS_RE.finditer(masked):
        add(m, "zh", group="o")
    for m in _ZH_COMPARE_RE.finditer(masked):
        add(m, "zh", group="s" if m.group("dir") not in ("差", "糟", "弱") else "o")
    for rx in (_ZH_PREFER_RE, _ZH_CHOOSE_RE):
        for m in rx.finditer(masked):
            add(m, "zh", subject=False)
    for rx in _TIE_RES:
        for m in rx.finditer(masked):
            s = m.start()
            if re.search(r"(?:not|n't|n’t|不是|并非)\s*$", masked[max(0, s - 8):s], _I) or _hypothetical(masked, s):
                continue
            if _QUALIFIED_AFTER_RE.match(masked, m.end()):
                continue
            k = _TIE_KEY_RE.search(masked, m.start(), m.end())
            out.append(_Cand("tie", "tie-phrase", 20, k.span() if k else m.span(), s, m.end()))
    return out


_LINE_ONLY_RE = re.compile(r"^[ \t>\-•]*[\[\(【]*\s*(?P<s>" + REF + r"|tie|draw|[ab])\s*[\]\)】]*\s*[.!。]?\s*$", _I)


def _line_cands(text: str, masked: str) -> list[_Cand]:
    """A line that is only a label, when it is the last line, or the first of a text with one such line;
    the whole output being a bare letter; a first sentence that is only a label ("B. Response A ...")."""
    lines, pos = [], 0
    for ln in masked.split("\n"):
        if ln.strip():
            lines.append((pos, ln))
        pos += len(ln) + 1
    if not lines:
        return []
    only = []
    for off, ln in lines:
        m = _LINE_ONLY_RE.match(ln)
        orig = text[off:off + len(ln)].lstrip()
        if m and not orig.startswith("#"):
            only.append((off, ln, m))
    out = []
    picks = [x for x in only if x[0] == lines[-1][0]]
    if not picks and len(only) == 1 and only[0][0] == lines[0][0]:
        picks = only
    for off, ln, m in picks:
        s, e = off + m.start("s"), off + m.end("s")
        lab = masked[s:e]
        if lab.lower() in ("tie", "draw"):
            out.append(_Cand("tie", "line", 20, (s, e), off, off + len(ln)))
            continue
        dec = _decode_ref(masked, s, e)
        if dec:
            out.append(_Cand(dec[0], "bare" if len(lines) == 1 else "line", 20, dec[1], off, off + len(ln)))
    first_off, first = lines[0]
    m = re.match(r"[ \t>\-•\[\(]*(?P<s>" + REF + r")[\]\)]*\s*[.!]\s+\S", first, _I)
    if m and len(lines[0][1]) > m.end() and not out:
        s, e = first_off + m.start("s"), first_off + m.end("s")
        dec = _decode_ref(masked, s, e)
        if dec:
            out.append(_Cand(dec[0], "line", 20, dec[1], first_off, first_off + m.end("s")))
    return out


_POS_RE = re.compile(r"(?P<s>" + REF + r")" + _POSS
                     + r"(?:\s+(?:is|was)\s+(?:(?:also|clearly|fully|entirely|completely|"
                     r"mathematically|factually)\s+)?(?:correct|right|accurate)(?![A-Za-z])|\s+(?:correctly|accurately)"
                     r"(?![A-Za-z])|\s+(?:gives|provides|has|gets|reaches|arrives\s+at|finds|states|identifies|picks|"
                     r"chooses|selects)\s+the\s+(?:correct|right)(?![A-Za-z]))", _I)
_NEG_RE = re.compile(r"(?P<s>" + REF + r")" + _POSS
                     + r"(?:\s+(?:is|was)\s+(?:(?:also|clearly|completely|factually)\s+)?"
                     r"(?:incorrect|wrong|inaccurate|mistaken|flawed|not\s+correct|not\s+right)(?![A-Za-z])"
                     r"|\s+(?:incorrectly|wrongly|mistakenly)(?![A-Za-z])|\s+(?:makes|made|contains|has)\s+(?:an?\s+)?"
                     r"(?:\w+\s+)?(?:error|mistake)s?(?![A-Za-z])|\s+(?:gives|provides|has|gets|reaches|arrives\s+at|"
                     r"picks|chooses|selects|states)\s+(?:the\s+|an?\s+)?(?:wrong|incorrect)(?![A-Za-z]))", _I)


def _correctness_cand(masked: str) -> list[_Cand]:
    """``Response A is correct ... Response B is wrong`` → A (named responses only, never a bare letter)."""
    pos: dict[str, re.Match] = {}
    neg: dict[str, re.Match] = {}
    for rx, box in ((_POS_RE, pos), (_NEG_RE, neg)):
        for m in rx.finditer(masked):
            s, e = m.span("s")
            if re.fullmatch(r"\(?\s*[ABab]\s*\)?", masked[s:e].strip()) or not _subject_ok(masked, s, e):
                continue
            if _hypothetical(masked, s):
                continue
            dec = _decode_ref(masked, s, e)
            if dec:
                box[dec[0]] = m
    for w in ("A", "B"):
        o = _other(w)
        if w in pos and o in neg and w not in neg and o not in pos:
            last = max(pos[w], neg[o], key=lambda m: m.end())
            first = min(pos[w], neg[o], key=lambda m: m.start())
            span = _decode_ref(masked, *pos[w].span("s"))
            return [_Cand(w, "correctness", 15, span[1] if span else pos[w].span("s"), first.start(), last.end())]
    return []


_NUM = r"(\d+(?:\.\d+)?)"
_DEN = r"(?:\s*/\s*(?P<d>\d+(?:\.\d+)?)|\s+out\s+of\s+(?P<d2>\d+(?:\.\d+)?)|\s*(?P<pts>points?|pts|分))?"
_SCORE_WORD = re.compile(r"scor|rating|rated|grade|points|得分|评分|分数|打分", _I)
_SCORE_RES = [re.compile(p, _I) for p in (
    r"(?P<s>" + REF + r")(?:\s*(?:'s|’s))?(?:\s*(?:score|rating|total|overall(?:\s+score)?|final\s+score|grade|得分|评分|"
    r"分数))?\s*(?:[:：=]|\s+(?:scores?|gets?|receives?|earns?|is\s+rated|rated|deserves|merits|is\s+given)|\s*[-–—]"
    r"|\s*\()\s*(?:an?\s+|a\s+score\s+of\s+|score\s+of\s+|only\s+an?\s+|(?:score|rating|grade)\s*[:：=]?\s*)?"
    r"[\[\(]?\s*(?P<n>\d+(?:\.\d+)?)" + _DEN,
    r"(?:score|rating|grade|得分|评分|分数)\s*(?:for|of)?\s*[\(\[]?\s*(?P<s>" + REF + r")\s*[\)\]]?\s*(?:[:：=]|is|-|–|—)\s*"
    r"(?P<n>\d+(?:\.\d+)?)" + _DEN,
    r"(?:give|rate|score|award|assign)\s+(?P<s>" + REF + r")\s+(?:an?\s+|a\s+score\s+of\s+)?"
    r"(?P<n>\d+(?:\.\d+)?)" + _DEN,
    r"(?:,|\band\b|\bwhile\b|\bwhereas\b)\s*(?:and\s+)?(?P<s>" + REF + r")\s+(?:an?\s+|only\s+an?\s+|just\s+an?\s+)?"
    r"(?P<n>\d+(?:\.\d+)?)(?:\s*/\s*(?P<d>\d+(?:\.\d+)?)|\s+out\s+of\s+(?P<d2>\d+(?:\.\d+)?))(?P<pts>)",
)]
_TOTAL_RE = re.compile(r"total|overall|final|sum|average|综合|总分|总体|合计|平均", _I)


def _score_cands(masked: str) -> list[_Cand]:
    mentions: dict[int, tuple[str, float, tuple[int, int], int, bool]] = {}
    for rx in _SCORE_RES:
        for m in rx.finditer(masked):
            s, e = m.span("s")
            if not _subject_ok(masked, s, e) and not re.match(r"(?:score|rating|grade|得分|评分|分数)", m.group(), _I):
                continue
            dec = _decode_ref(masked, s, e)
            if dec is None:
                continue
            n = float(m.group("n"))
            d = m.group("d") or m.group("d2")
            if re.match(r"\s*(?:[+*×^%]|-\s*\d)", masked[m.end("n"):m.end("n") + 4]) and not d:
                continue
            ls = masked.rfind("\n", 0, m.start()) + 1
            le = masked.find("\n", m.end())
            line = masked[ls:le if le >= 0 else len(masked)]
            prev_ls = masked.rfind("\n", 0, max(0, ls - 1)) + 1
            prev = masked[prev_ls:ls]
            ok = bool(d or m.group("pts") or _SCORE_WORD.search(line) or
                      (prev.rstrip().endswith((":", "：")) and _SCORE_WORD.search(prev)))
            if not ok:
                continue
            if d:
                if float(d) <= 0 or n > float(d):
                    continue
                n = n / float(d)
            mentions.setdefault(m.start("n"), (dec[0], n, m.span("n"), s, bool(_TOTAL_RE.search(line))))
    pairs: list[tuple[dict, bool]] = []
    pending: dict[str, tuple] = {}
    for _, mt in sorted(mentions.items()):
        pending[mt[0]] = mt
        if "A" in pending and "B" in pending:
            pairs.append((dict(pending), pending["A"][4] or pending["B"][4]))
            pending = {}
    if not pairs:
        return []
    totals = [p for p, t in pairs if t]
    if totals:
        chosen = [totals[-1]]
    elif len(pairs) == 1:
        chosen = [pairs[0][0]]
    else:
        chosen = [p for p, _ in pairs]
    a = sum(p["A"][1] for p in chosen)
    b = sum(p["B"][1] for p in chosen)
    last = chosen[-1]
    if abs(a - b) < 1e-9:
        w, span = "tie", max(last["A"][2], last["B"][2])
    else:
        w = "A" if a > b else "B"
        span = last[w][2]
    start = min(last["A"][3], last["B"][3])
    end = max(last["A"][2][1], last["B"][2][1])
    return [_Cand(w, "scores", 20, span, start, end)]


def _boxed_cands(masked: str) -> list[_Cand]:
    out = []
    for m in _BOXED_RE.finditer(masked):
        before = masked[max(0, m.start() - 40):m.start()]
        if re.search(r"(?:correct|right|its|their)\s+(?:answer|option|choice)|option|choice", before, _I):
            continue
        dec = _decode_ref(masked, *m.span("s"))
        if dec:
            out.append(_Cand(dec[0], "boxed", 10, dec[1], m.start(), m.end()))
    return out


def _looks_truncated(text: str) -> bool:
    t = text.rstrip()
    if not t:
        return False
    if t.count("```") % 2 == 1 or t.rfind("{") > t.rfind("}"):
        return True
    if t[-1] in ".!?。！？)]}\"'”’*`…>|":
        return False
    last = t.split("\n")[-1]
    if re.search(r"(?<![A-Za-z])(?:(?-i:[AB])|tie)$", t, _I):
        return False
    if re.search(r"[A-Za-z0-9,;:\-(\u4e00-\u9fff，、]$", t):
        return len(last.split()) >= 8 or len(re.findall(r"[\u4e00-\u9fff]", last)) >= 15
    return False


# --------------------------------------------------------------------------- the reader

_LABEL_ONLY_RE = re.compile(r"[\W_]*(?:(?:my\s+|the\s+)?(?:final\s+|overall\s+)?"
                            r"(?:verdict|winner|decision|judg(?:e)?ment|"
                            r"conclusion|answer|result)(?:\s+is)?|最终裁决|裁决|结论|最终结论)?[\W_]*", _I)
_GLUE_LABEL_RE = re.compile(r"(?:(?:my|the)\s+)?(?:final\s+)?(?:verdict|winner|answer|decision|judg(?:e)?ment)"
                            r"(?:\s+is)?|"
                            r"最终裁决|裁决|结论", _I)
_ONLY_GLUE_RE = re.compile(r"[\W_\s]*(?:(?:or|and|vs\.?|versus|或|或者|和|与)[\W_\s]*)?", _I)


# a word that tells a later verdict replaces an earlier, opposite one
_CORRECTION_RE = re.compile(
    r"(?<![A-Za-z])(?:wait|actually|on\s+(?:second|further|closer)\s+(?:thought|reflection|look|inspection|"
    r"consideration)|"
    r"(?:up)?on\s+reflection|reconsider\w*|re-?evaluat\w*|re-?examin\w*|re-?read\w*|re-?check\w*|looking\s+(?:again|"
    r"closer|more\s+closely)|however|but|though|that\s+said|having\s+said\s+that|nevertheless|nonetheless|yet|still|"
    r"after\s+(?:all|checking|closer|further|careful|looking|verifying|re-?\w+)|in\s+the\s+end|ultimately|overall|"
    r"on\s+balance|all\s+things\s+considered|in\s+conclusion|to\s+conclude|in\s+summary|updated|corrected|correction|"
    r"revised|final|finally|scratch\s+that|i\s+was\s+wrong|my\s+mistake|oops|considering|given|weighing|taking\s+"
    r"(?:\w+\s+){1,4}into\s+account|all\s+in\s+all|on\s+the\s+whole|to\s+sum\s+up|summing\s+up)(?![A-Za-z])"
    r"|更正|修正|纠正|重新|但是|但|不过|然而|其实|实际上|最终|总的来说|综合|总体|改为|综上", _I)


# a labelled verdict ("Verdict: [[B]]") is the judge's decision over an earlier prose remark
_VERDICT_LABEL_RE = re.compile(r"(?<![A-Za-z])(?:verdict|winner|decision|judg(?:e)?ment)(?:\s+is)?\s*[:：=]|裁决|结论", _I)


def _abstain(reason: str) -> PairVerdict:
    return PairVerdict(winner=None, form="none", span=None, rationale="", reason=reason)


def parse_verdict(text: str) -> PairVerdict:
    """Read a pairwise judge's output into a ``PairVerdict`` (see the module docstring for the forms,
    the last-explicit rule and when it abstains). Never raises on text."""
    if not isinstance(text, str) or not text.strip():
        return _abstain("empty judge output")
    masked = _mask(text)
    cands = (_json_cands(text) + _bracket_cands(text, masked) + _label_cands(text, masked)
             + _prose_cands(text, masked) + _line_cands(text, masked) + _correctness_cand(masked)
             + _score_cands(masked) + _boxed_cands(masked))
    whole = re.fullmatch(r"[\s*_`\[\(【]*(?P<s>[ABab])[\s*_`\]\)】.!]*", text)
    if whole and not cands:
        s = whole.start("s")
        cands.append(_Cand(text[s].upper(), "bare", 20, (s, s + 1), 0, len(text)))
    truncated = _looks_truncated(text)
    unsure = [m.start() for m in _UNSURE_RE.finditer(masked)]
    if not cands:
        if unsure:
            return _abstain(f"judge could not decide: {masked[unsure[-1]:unsure[-1] + 60].strip()!r}")
        if truncated:
            return _abstain("judge output is truncated before a verdict")
        return _abstain(f"no pairwise verdict found in judge output: {text[-200:]!r}")
    top = max(c.rank for c in cands)
    group = sorted((c for c in cands if c.rank == top), key=lambda c: (c.end, c.span[0]))
    chosen = group[-1]
    if chosen.winner is None:
        return _abstain(f"ambiguous verdict: {text[chosen.start:chosen.end + 20].strip()!r}")
    earlier = [c for c in group[:-1] if c.winner != chosen.winner and c.span != chosen.span]
    if earlier:  # two contradicting verdicts with nothing but punctuation or "or" between them
        prev = max(earlier, key=lambda c: c.end)
        between = text[prev.end:chosen.start]
        if prev.end > chosen.start or _ONLY_GLUE_RE.fullmatch(_GLUE_LABEL_RE.sub(" ", between)):
            return _abstain(f"contradictory verdicts at the end: {prev.winner} and {chosen.winner}")
    prev_ab = [c for c in cands if c.rank >= 20 and c.winner in ("A", "B") and c.end <= chosen.start]
    if chosen.winner in ("A", "B") and prev_ab:  # "A is better because X.\nB is better because X.": no word of change
        prev = max(prev_ab, key=lambda c: (c.end, c.rank))
        cue_end = min(_sentence_end(masked, chosen.end), chosen.end + 16)  # "... B is better overall."
        lo, hi = _sentence_start(masked, prev.start), _sentence_end(masked, prev.end)
        weighed = any(c.winner == chosen.winner and c.start >= lo and c.end <= hi for c in prev_ab)  # per aspect
        if (prev.winner != chosen.winner and not weighed and not _CORRECTION_RE.search(masked, prev.end, cue_end)
                and not (prev.rank < chosen.rank and _VERDICT_LABEL_RE.search(masked, prev.end, chosen.span[0]))):
            return _abstain(f"contradictory verdicts with no correction between: {prev.winner} and {chosen.winner}")
    if top < 30 and any(u > chosen.end for u in unsure):
        u = max(unsure)
        return _abstain(f"judge could not decide: {masked[u:u + 60].strip()!r}")
    if truncated and top < 30 and re.search(r"[.!?。！？\n]\s*\S", text[chosen.end:]):
        return _abstain("judge output is truncated after more reasoning than the verdict")
    if chosen.rationale is not None:
        rationale = chosen.rationale
    else:
        cut = chosen.start
        line_start = masked.rfind("\n", 0, cut) + 1
        if _LABEL_ONLY_RE.fullmatch(masked[line_start:cut]):
            cut = line_start
        rationale = re.sub(r"[\s*#>\-]+$", "", text[:cut]).strip()
        if not rationale:
            rationale = text[chosen.end:].strip() if chosen.rank == 30 else text.strip()
    return PairVerdict(winner=chosen.winner, form=chosen.form, span=chosen.span, rationale=rationale)
