"""Every shipped config is valid: `hrlaif run` YAMLs resolve through ``pipeline.plan`` (every key of
every stage section exists and has the right type, nothing runs), and the accelerate configs load
with accelerate's own reader. A typo in any file under configs/ fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hrlaif.config import load_yaml, resolve_config
from hrlaif.errors import ConfigError
from hrlaif.pipeline import RunConfig, plan
from tests.conftest import REPO

RUN_CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
ACCEL_CONFIGS = sorted((REPO / "configs" / "accelerate").glob("*.yaml"))


def test_configs_are_found():
    names = {p.name for p in RUN_CONFIGS}
    assert {"demo.yaml", "tiny.yaml", "gpu_example.yaml"} <= names
    assert {p.name for p in ACCEL_CONFIGS} == {"ddp_cpu.yaml", "multi_gpu.yaml", "deepspeed_zero2.yaml"}


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_run_config_plans(path: Path):
    from hrlaif.generate import _check as check_generate
    from hrlaif.ppo.train import _check as check_ppo
    from hrlaif.rm.train import _check_config as check_rm

    sc = plan(resolve_config(RunConfig, yaml_path=path))
    raw = load_yaml(path)
    # what the YAML says reaches the stage configs (the sections are not silently dropped)
    for key, value in raw.get("rm", {}).items():
        assert getattr(sc.rm_hybrid, key) == value and getattr(sc.rm_basic, key) == value, key
    for key, value in raw.get("ppo", {}).items():
        assert getattr(sc.ppo_rlaif, key) == value and getattr(sc.ppo_hrlaif, key) == value, key
    for key, value in raw.get("generate", {}).items():
        assert getattr(sc.generate, key) == value, key
    assert (sc.redteam is not None) == raw.get("use_redteam", True)
    # the stages' own range checks (batch divisible by minibatches, k >= 1, ...), run without models
    check_generate(sc.generate)
    check_rm(sc.rm_basic)
    check_rm(sc.rm_hybrid)
    check_ppo(sc.ppo_rlaif)


def test_gpu_example_uses_gpu_settings():
    sc = plan(resolve_config(RunConfig, yaml_path=REPO / "configs" / "gpu_example.yaml"))
    assert sc.label.judge.backend == "openai" and sc.label.judge.base_urls
    assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", sc.label.judge.api_key_env)  # a variable's name, not a key
    assert sc.generate.dtype == "bfloat16" and sc.rm_hybrid.mixed_precision == "bf16"
    assert sc.rm_hybrid.lora and sc.ppo_hrlaif.lora_r > 0
    assert sc.rm_hybrid.clip == 10.0
    assert sc.eval.judge.base_urls == sc.label.judge.base_urls  # one judge for label, redteam and eval


@pytest.mark.parametrize("bad, match", [({"rm": {"mixed_precison": "bf16"}}, "mixed_precison"),
                                        ({"rm": {"mixed_precision": "bf17"}}, "mixed_precision"),
                                        ({"judge": {"base_url": "http://127.0.0.1:8000/v1"}}, "base_url")])
def test_a_typo_fails(tmp_path, bad, match):
    import yaml

    raw = load_yaml(REPO / "configs" / "gpu_example.yaml")
    for section, kv in bad.items():
        raw[section] = {**raw[section], **kv}
    p = tmp_path / "typo.yaml"
    p.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        plan(resolve_config(RunConfig, yaml_path=p))


@pytest.mark.parametrize("path", ACCEL_CONFIGS, ids=lambda p: p.name)
def test_accelerate_config_loads(path: Path):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    cfg = load_config_from_file(str(path))
    assert cfg.num_machines == 1 and cfg.num_processes >= 2
    if path.name == "ddp_cpu.yaml":
        # MULTI_GPU = N local processes via torch.distributed.run; hrlaif then picks gloo without CUDA
        assert cfg.distributed_type == DistributedType.MULTI_GPU and cfg.main_process_ip == "127.0.0.1"
        assert cfg.mixed_precision == "no"
    if path.name == "deepspeed_zero2.yaml":
        assert cfg.distributed_type == DistributedType.DEEPSPEED
        # accelerate refuses a config-file mixed_precision together with a deepspeed_config_file
        assert cfg.mixed_precision is None
        ds = json.loads((REPO / cfg.deepspeed_config["deepspeed_config_file"]).read_text())
        # no DataLoader is prepared, so DeepSpeed needs an explicit integer micro-batch size
        assert isinstance(ds["train_micro_batch_size_per_gpu"], int)
        assert ds["zero_optimization"]["stage"] == 2


def test_stage_configs_round_trip(tmp_path):
    """docs/scaling.md: stage configs dumped from plan() feed each stage's --config unchanged."""
    from hrlaif.config import config_to_dict, save_config

    sc = plan(resolve_config(RunConfig, yaml_path=REPO / "configs" / "gpu_example.yaml"))
    for name in ("generate", "label", "redteam", "rm_basic", "rm_hybrid", "ppo_rlaif", "ppo_hrlaif", "eval"):
        cfg = getattr(sc, name)
        back = resolve_config(type(cfg), yaml_path=save_config(cfg, tmp_path / f"{name}.yaml"))
        assert config_to_dict(back) == config_to_dict(cfg), name


def _doc_commands(path: Path) -> list[list[str]]:
    """`hrlaif STAGE ...` and `accelerate launch ... -m hrlaif.cli STAGE ...` lines of a doc's
    code blocks and inline code, as argument lists starting at the stage name."""
    import shlex

    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    chunks = re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S)
    lines = [ln for c in chunks for ln in c.splitlines()] + re.findall(r"`([^`\n]*hrlaif[^`\n]*)`", text)
    out = []
    for line in lines:
        line = line.split(" #")[0].strip()
        m = re.search(r"(?:^|\s|/)hrlaif(?:\.cli)? ([a-z-]+)\b(.*)", line)
        if not m or line.startswith(("python", "from ", "import ")):
            continue
        try:
            words = shlex.split(m.group(1) + m.group(2))
        except ValueError:
            continue
        if any("..." in w for w in words) or "--help" in words:  # an abbreviated command ("hrlaif label --in x ... --mode hybrid"), not runnable
            continue
        out.append(words)
    return out


DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_doc_commands_parse(doc: Path, monkeypatch):
    """Every hrlaif command the page shows has real flags with values of the right type."""
    from hrlaif.cli import COMMANDS, _stage_parser

    if not doc.exists():
        pytest.fail(f"{doc} is missing")
    cmds = [c for c in _doc_commands(doc) if c[0] in COMMANDS]
    if doc.name in ("scaling.md", "paper_map.md", "README.md"):
        assert len(cmds) >= 5, f"{doc.name}: found only {len(cmds)} commands"
    for words in cmds:
        name, rest = words[0], [w for w in words[1:] if w not in ("|", "&&")]
        parser, cfg_cls, _ = _stage_parser(name)
        monkeypatch.setattr(parser, "exit", lambda status=0, message=None: pytest.fail(
            f"{doc.name}: `hrlaif {' '.join(words)}`: {message}"))
        args = parser.parse_args(rest)
        if cfg_cls is None:
            continue
        yaml_path = getattr(args, "config", None) or getattr(args, "config_file", None)
        if yaml_path and not (REPO / yaml_path).exists():
            yaml_path = None  # a file the reader writes first (e.g. runs/.../stage_configs/x.yaml)
        for attr in ("config", "config_file"):
            if hasattr(args, attr):
                setattr(args, attr, None)
        resolve_config(cfg_cls, args, yaml_path=(REPO / yaml_path) if yaml_path else None)
