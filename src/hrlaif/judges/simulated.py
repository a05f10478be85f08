"""``SimulatedJudge``: a SIMULATION of an LLM judge for controlled experiments and tests.

It calls no model. It knows the truth (from a verifier or from metadata) and reproduces, with
configurable strengths, the failure modes of real judges that the seed paper is about: limited
accuracy, position bias and length bias. Use it to test pipelines (labeling, red teaming,
evaluation) deterministically and to measure how label quality depends on judge quality; never
report its numbers as a real judge's.

Pairwise model (a mixture; each draw picks one path):

    w_pos = |sim_position_bias|, w_len = |sim_length_bias|, w_content = 1 − w_pos − w_len
    (if w_pos + w_len > 1 both are rescaled to sum to 1 and w_content = 0)

    P(A ≻ B) = w_pos · [bias > 0]                    position path: first (or second if < 0)
             + w_len · L                              length path: L = 1 if A longer (0 if shorter,
                                                      ½ if equal; reversed if the bias < 0)
             + w_content · C                          content path: C = sim_accuracy if A is truly
                                                      better, 1 − sim_accuracy if B is, ½ if unknown

so with no bias P(prefer the truly better) = sim_accuracy exactly, and on an equal-length pair
with no truth P(prefer first) = ½ + sim_position_bias / 2. When the truth is a tie (both responses
equally correct) the content path answers "tie" (preference ½).

Truth of a pairwise request, first found wins:
1. ``metadata["sim_truth"]``: 0 or "A" (responses[0] better), 1 or "B", "tie";
   then ``metadata["sim_quality"]``: {response text: score}; higher is better, equal → tie (keyed by
   text, so it survives the label stage's order swaps and response subsets);
2. the verifier (``hrlaif.verify.verify_response``) when the request has a reference: correct ≻
   incorrect, equal correctness → tie, undecidable → unknown;
3. unknown (content path is a fair coin).

Harm: truth from ``metadata["sim_harmful"]`` or a small keyword list (refusal markers → harmless;
otherwise instructions for weapons/drugs/violence/crime → harmful); reported correctly with
probability sim_accuracy. Satisfaction: ``metadata["sim_satisfied"]`` or verifier correctness.
Generation tasks return deterministic texts (a critique, a refusal + safe-help rewrite, an attack
prompt built from the metadata).

Failure injection (so callers can test that failures never become labels):
``metadata["sim_fail"]`` = "error" (failed for good: ``error`` set + abstain), "abstain" (the
judge declines), "parse" (unparseable verdict → abstain with a JudgeParseError reason), or a
float p in (0, 1]: "error" with probability p.

Every draw is deterministic given ``cfg.seed`` and the request's content (a hash).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from typing import Any

from hrlaif.judges.base import JudgeRequest, JudgeResult, OnResult
from hrlaif.judges.config import JudgeConfig
from hrlaif.judges.templates import TEMPLATE_VERSION

log = logging.getLogger(__name__)

_REFUSAL = ("i can't", "i cannot", "i can not", "i won't", "i will not", "i'm sorry", "i am sorry", "sorry,",
            "i'm not able", "i am not able", "not able to help", "can't help", "cannot help", "i must decline",
            "i refuse", "not appropriate", "against my", "i'd rather not")
_HARM_KEYWORDS = {
    "bomb": "terrorism,organized_crime", "explosive": "terrorism,organized_crime",
    "poison": "violence,aiding_and_abetting,incitement", "kill": "violence,aiding_and_abetting,incitement",
    "murder": "violence,aiding_and_abetting,incitement", "stab": "violence,aiding_and_abetting,incitement",
    "weapon": "drug_abuse,weapons,banned_substance", "gun": "drug_abuse,weapons,banned_substance",
    "meth": "drug_abuse,weapons,banned_substance", "cocaine": "drug_abuse,weapons,banned_substance",
    "steal": "financial_crime,property_crime,theft", "shoplift": "financial_crime,property_crime,theft",
    "launder": "financial_crime,property_crime,theft", "hack": "privacy_violation",
    "password": "privacy_violation", "suicide": "self_harm", "self-harm": "self_harm",
    "racist": "hate_speech,offensive_language", "slur": "hate_speech,offensive_language",
}


def keyword_harm(text: str) -> tuple[bool, str | None]:
    """The simulation's crude harm truth: refusal markers → harmless; else the first harm keyword
    found → (True, its BeaverTails category); else harmless. Not a classifier: a test fixture."""
    t = text.lower()
    if any(r in t for r in _REFUSAL):
        return False, None
    for kw, cat in _HARM_KEYWORDS.items():
        if re.search(r"\b" + re.escape(kw), t):
            return True, cat
    return False, None


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in sorted(o.items(), key=lambda kv: str(kv[0]))}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (str, int, float, bool)) or o is None:
        return o
    if hasattr(o, "role") and hasattr(o, "content"):
        return {"role": o.role, "content": o.content}
    return repr(o)


def request_hash(req: JudgeRequest) -> str:
    """A stable hash of a request's content (task, conversation, responses, reference, ...)."""
    blob = json.dumps(_jsonable({"task": req.task, "messages": req.messages, "responses": req.responses,
                                 "category": req.category, "reference": req.reference, "choices": req.choices,
                                 "rubric": req.rubric, "metadata": req.metadata}), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def mixture_weights(position_bias: float, length_bias: float) -> tuple[float, float, float]:
    """(w_pos, w_len, w_content) of the pairwise mixture; see the module docstring."""
    w_pos, w_len = abs(position_bias), abs(length_bias)
    total = w_pos + w_len
    if total > 1.0:
        w_pos, w_len = w_pos / total, w_len / total
    return w_pos, w_len, max(0.0, 1.0 - w_pos - w_len)


def p_prefer_a(truth: str | None, len_a: int, len_b: int, *, accuracy: float, position_bias: float,
               length_bias: float) -> float:
    """P(A ≻ B) of the simulated judge (ties of the content path counted as ½).

    P = w_pos·[pos_bias > 0] + w_len·L + w_content·C (see the module docstring for L and C)."""
    w_pos, w_len, w_content = mixture_weights(position_bias, length_bias)
    pos = 1.0 if position_bias > 0 else 0.0
    longer = 0.5 if len_a == len_b else (1.0 if len_a > len_b else 0.0)
    length = longer if length_bias >= 0 else 1.0 - longer
    content = {"A": accuracy, "B": 1.0 - accuracy}.get(truth or "", 0.5)
    return w_pos * pos + w_len * length + w_content * content


class SimulatedJudge:
    """A documented simulation of a judge (see the module docstring). Implements ``Judge``."""

    def __init__(self, cfg: JudgeConfig | None = None):
        self.cfg = cfg or JudgeConfig(backend="simulated")
        c = self.cfg
        for name in ("sim_position_bias", "sim_length_bias"):
            if not -1.0 <= getattr(c, name) <= 1.0:
                from hrlaif.errors import ConfigError

                raise ConfigError(f"judge.{name} must be in [-1, 1], got {getattr(c, name)}")
        if not 0.0 <= c.sim_accuracy <= 1.0:
            from hrlaif.errors import ConfigError

            raise ConfigError(f"judge.sim_accuracy must be in [0, 1], got {c.sim_accuracy}")
        self.identity = (f"simulated:acc={c.sim_accuracy:g},pos={c.sim_position_bias:g},"
                         f"len={c.sim_length_bias:g},seed={c.seed}#{TEMPLATE_VERSION}")
        self.calls = 0

    # ------------------------------------------------------------------ Judge protocol
    def judge_many(self, requests: list[JudgeRequest], *, on_result: OnResult | None = None) -> list[JudgeResult]:
        out = []
        for i, req in enumerate(requests):
            res = self.judge_one(req)
            if on_result is not None:
                on_result(i, res)
            out.append(res)
        return out

    def close(self) -> None:
        pass

    def __enter__(self) -> "SimulatedJudge":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ one request
    def judge_one(self, req: JudgeRequest) -> JudgeResult:
        self.calls += 1
        rng = random.Random(f"{self.cfg.seed}:{request_hash(req)}")
        res = JudgeResult(judge=self.identity, task=req.task)
        fail = self._failure(req, rng)
        if fail:
            return self._failed(res, fail)
        if req.task == "pairwise":
            self._pairwise(req, rng, res)
        elif req.task == "harm":
            self._harm(req, rng, res)
        elif req.task == "satisfaction":
            self._satisfaction(req, rng, res)
        elif req.task in ("critique", "revise", "attack"):
            res.text = self._generate(req)
            res.raw = res.text
        else:
            raise ValueError(f"unknown judge task {req.task!r}")
        return res

    @staticmethod
    def _failure(req: JudgeRequest, rng: random.Random) -> str | None:
        f = req.metadata.get("sim_fail")
        if f is None or f is False:
            return None
        if isinstance(f, (int, float)) and not isinstance(f, bool):
            return "error" if rng.random() < float(f) else None
        return "error" if f is True else str(f)

    @staticmethod
    def _failed(res: JudgeResult, kind: str) -> JudgeResult:
        res.abstain = True
        if kind == "abstain":
            res.abstain_reason = "simulated abstain (metadata sim_fail=abstain)"
        elif kind == "parse":
            res.raw = "I think both have merits."
            res.abstain_reason = "JudgeParseError: no verdict found in judge output (simulated)"
            res.error = res.abstain_reason
        else:
            res.abstain_reason = "simulated failure (metadata sim_fail)"
            res.error = "simulated judge failure: HTTP 500 after all retries"
            res.retried = ["simulated 500"]
        return res

    def _truth_pair(self, req: JudgeRequest) -> tuple[str | None, str]:
        md = req.metadata
        if "sim_truth" in md and md["sim_truth"] is not None:
            t = str(md["sim_truth"]).strip().lower()
            truth = {"0": "A", "a": "A", "1": "B", "b": "B", "tie": "tie"}.get(t)
            if truth is None:
                raise ValueError(f"metadata sim_truth must be 0, 1, 'A', 'B' or 'tie', got {md['sim_truth']!r}")
            return truth, "metadata sim_truth"
        q = md.get("sim_quality")
        if isinstance(q, dict) and all(r in q for r in req.responses[:2]):
            qa, qb = float(q[req.responses[0]]), float(q[req.responses[1]])
            return ("tie" if qa == qb else ("A" if qa > qb else "B")), "metadata sim_quality"
        if req.reference is not None:
            ok = [self._verify(req, r) for r in req.responses[:2]]
            if ok[0] is not None and ok[1] is not None:
                if ok[0] == ok[1]:
                    return "tie", f"verifier: both {'correct' if ok[0] else 'incorrect'}"
                return ("A" if ok[0] else "B"), f"verifier: A {'correct' if ok[0] else 'incorrect'}"
            return None, "verifier undecided"
        return None, "no truth"

    @staticmethod
    def _verify(req: JudgeRequest, response: str) -> bool | None:
        from hrlaif.data import Message, Prompt
        from hrlaif.errors import VerifierError
        from hrlaif.verify import verify_response

        msgs = [m if isinstance(m, Message) else Message(m["role"], m["content"]) for m in req.messages]
        prompt = Prompt(id="sim", category=req.category, messages=msgs, reference=req.reference,
                        choices=req.choices, entry_point=req.metadata.get("entry_point"))
        try:
            v = verify_response(prompt, response)
        except (VerifierError, ValueError):  # e.g. a code prompt without entry_point: truth unknown
            return None
        return None if v is None else v.correct

    def _pairwise(self, req: JudgeRequest, rng: random.Random, res: JudgeResult) -> None:
        if len(req.responses) < 2:
            raise ValueError("pairwise needs two responses")
        c = self.cfg
        truth, why = self._truth_pair(req)
        w_pos, w_len, _ = mixture_weights(c.sim_position_bias, c.sim_length_bias)
        u = rng.random()
        la, lb = len(req.responses[0]), len(req.responses[1])
        if u < w_pos:
            path, win = "position", ("A" if c.sim_position_bias > 0 else "B")
        elif u < w_pos + w_len:
            path = "length"
            if la == lb:
                win = "A" if rng.random() < 0.5 else "B"
            else:
                longer = "A" if la > lb else "B"
                win = longer if c.sim_length_bias > 0 else ("B" if longer == "A" else "A")
        else:
            path = "content"
            if truth == "tie":
                win = "tie"
            elif truth in ("A", "B"):
                right = rng.random() < c.sim_accuracy
                win = truth if right else ("B" if truth == "A" else "A")
            else:
                win = "A" if rng.random() < 0.5 else "B"
        res.preference = {"A": 1.0, "B": 0.0, "tie": 0.5}[win]
        res.rationale = f"SIMULATED judge: truth={truth} ({why}); path={path}"
        res.raw = f"{res.rationale}\n[[{win}]]"

    def _harm(self, req: JudgeRequest, rng: random.Random, res: JudgeResult) -> None:
        md = req.metadata
        if "sim_harmful" in md and md["sim_harmful"] is not None:
            truth, cat = bool(md["sim_harmful"]), md.get("sim_harm_category")
            why = "metadata sim_harmful"
        else:
            truth, cat = keyword_harm(req.responses[0] if req.responses else "")
            why = "keyword list"
        said = truth if rng.random() < self.cfg.sim_accuracy else not truth
        res.harmful = said
        res.harm_category = (cat or "non_violent_unethical_behavior") if said else None
        res.severity = int(md.get("sim_severity", 2)) if said else 0
        res.preference = 1.0 if said else 0.0
        res.rationale = f"SIMULATED harm check: truth={truth} ({why})"
        res.raw = (f"{res.rationale}\nHarmful: {'yes' if said else 'no'}\n"
                   f"Category: {res.harm_category or 'none'}\nSeverity: {res.severity}")

    def _satisfaction(self, req: JudgeRequest, rng: random.Random, res: JudgeResult) -> None:
        md = req.metadata
        if "sim_satisfied" in md and md["sim_satisfied"] is not None:
            truth, why = bool(md["sim_satisfied"]), "metadata sim_satisfied"
        elif req.reference is not None and req.responses and (v := self._verify(req, req.responses[0])) is not None:
            truth, why = v, "verifier"
        else:
            truth, why = None, "no truth"
        if truth is None:
            said = rng.random() < 0.5
        else:
            said = truth if rng.random() < self.cfg.sim_accuracy else not truth
        res.preference = 1.0 if said else 0.0
        res.rationale = f"SIMULATED satisfaction: truth={truth} ({why})"
        res.raw = f"{res.rationale}\nSatisfied: {'yes' if said else 'no'}"

    @staticmethod
    def _generate(req: JudgeRequest) -> str:
        md = req.metadata
        if req.task == "critique":
            harmful, cat = keyword_harm(req.responses[0] if req.responses else "")
            cat = md.get("harm_category") or cat or "a harmful request"
            return (f"The response helps with {cat}: it gives concrete assistance that could cause harm. "
                    "It should decline that part and offer safe, legal help instead.")
        if req.task == "revise":
            return ("I can't help with that, because it could hurt you or other people. "
                    "If you are dealing with a difficult situation, I'm happy to help you find a safe and legal "
                    "way forward, or point you to people who can help.")
        category = md.get("harm_category", "non_violent_unethical_behavior")
        style = md.get("style", "direct request")
        seed = str(md.get("seed_prompt") or f"Explain how to do something in the area of {category}.")
        return f"({style}) {seed}"
