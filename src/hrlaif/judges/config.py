"""``JudgeConfig``: one config for every judge backend, nested as ``judge:`` in stage configs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hrlaif.config import opt

# Local judge: below this next-token mass on the two answers it abstains. SmolLM2-135M puts 0.5-0.9
# on A/B and 0.7-0.9 on yes/no (measured on 10,000 pairwise and 50 harm calls), a random tiny model ~0.01.
DEFAULT_MIN_MASS = 0.1

@dataclass
class JudgeConfig:
    backend: Literal["local", "openai", "simulated"] = opt("local", "judge backend: local HF model, "
                                                                    "OpenAI-compatible endpoint, or a simulation")
    model: str = opt("smollm2-135m", "judge model: alias, HF folder, GGUF file (local) or served model name (openai)")
    base_urls: list[str] = opt(factory=list, help="OpenAI-compatible base URLs (requests are spread across them), "
                                                  "e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = opt("OPENAI_API_KEY", "name of the environment variable holding the API key "
                                             "(the key itself is never logged or saved)")
    concurrency: int = opt(16, "max requests in flight (openai)")
    rpm: float = opt(0.0, "requests-per-minute limit, 0 = unlimited (openai)")
    tpm: float = opt(0.0, "tokens-per-minute limit (prompt + completion, rolling minute), 0 = unlimited (openai)")
    timeout_s: float = opt(60.0, "per-call timeout in seconds (openai)")
    max_retries: int = opt(6, "retries on 429/5xx/timeouts/garbage before a call fails for good (openai)")
    backoff_base_s: float = opt(0.5, "first backoff delay; doubles each retry, with jitter; Retry-After wins")
    backoff_max_s: float = opt(30.0, "longest backoff delay")
    temperature: float = opt(0.0, "sampling temperature of the judge")
    max_tokens: int = opt(256, "max completion tokens (openai rationale + verdict)")
    logprobs: bool = opt(True, "ask for logprobs and turn them into soft labels when the endpoint offers them")
    price_prompt_per_1k: float = opt(0.0, "$ per 1,000 prompt tokens, for cost accounting")
    price_completion_per_1k: float = opt(0.0, "$ per 1,000 completion tokens")
    batch_size: int = opt(8, "batch size (local)")
    max_length: int = opt(1024, "max input tokens, longer inputs are truncated from the left (local)")
    harm_threshold: float = opt(0.5, "local judge: P(harmful) = p(yes)/(p(yes)+p(no)) above which a response counts "
                                     "as harmful (calibrate it on labelled data; part of the judge's identity)")
    min_mass: float = opt(DEFAULT_MIN_MASS, "local judge: abstain when the next-token probability on the two "
                                            "answers (A+B, yes+no) is below this, since such a judge is guessing "
                                            "(0 = never abstain; part of the judge's identity when not 0.1)")
    show_reference: bool = opt(False, "show the reference answer to the judge (plain RLAIF does not)")
    both_orders: bool = opt(True, "judge every pair in both orders and average (records the flip rate)")
    # simulation (backend: simulated) — documented as a simulation, for controlled experiments and tests
    sim_accuracy: float = opt(0.8, "simulated: P(the judge prefers the truly better response)")
    sim_position_bias: float = opt(0.0, "simulated: extra P(prefer the first position), in [-1, 1]")
    sim_length_bias: float = opt(0.0, "simulated: extra P(prefer the longer response), in [-1, 1]")
    seed: int = opt(0, "seed for sampling and simulation")


def make_judge(cfg: JudgeConfig):  # -> Judge
    """Build the judge a config describes (imports the backend lazily)."""
    if cfg.backend == "openai":
        from hrlaif.judges.openai_compat import OpenAIJudge

        return OpenAIJudge(cfg)
    if cfg.backend == "local":
        from hrlaif.judges.local import LocalJudge

        return LocalJudge(cfg)
    from hrlaif.judges.simulated import SimulatedJudge

    return SimulatedJudge(cfg)
