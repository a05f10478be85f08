"""The frame every stage stands on: CLI, configs, data model, atomic and resumable writes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hrlaif import ConfigError, InputError
from hrlaif.config import opt, resolve_config, save_config
from hrlaif.data import (Prompt, Ranking, ResponseSet, ResumableWriter, atomic_writer, read_records,
                         tiers_from_preferences, write_records)

from conftest import REPO, run_cli


def test_help_lists_every_stage_without_importing_torch():
    code = ("import sys; from hrlaif.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO_TORCH')\n"
            "print('TRANSFORMERS' if 'transformers' in sys.modules else 'NO_TRANSFORMERS')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO).stdout
    for stage in ("generate", "label", "verify", "redteam", "train-rm", "ppo", "eval", "run", "review", "env"):
        assert stage in out
    assert "NO_TORCH" in out and "NO_TRANSFORMERS" in out


@pytest.mark.parametrize("stage", ["generate", "label", "verify", "redteam", "train-rm", "ppo", "eval", "run",
                                   "review"])
def test_stage_help_is_light(stage):
    code = (f"import sys; from hrlaif.cli import main\n"
            f"try:\n    main(['{stage}', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            f"print('TORCH' if 'torch' in sys.modules else 'NO_TORCH')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "--config" in r.stdout
    assert "NO_TORCH" in r.stdout


def test_env_prints_versions():
    r = run_cli("env")
    assert r.returncode == 0, r.stderr
    for key in ("python", "torch", "transformers", "accelerate", "hrlaif", "device", "torch threads"):
        assert key in r.stdout


def test_unknown_stage_exits_2():
    assert run_cli("frobnicate").returncode == 2


@dataclasses.dataclass
class _Inner:
    model: str = opt("m", "model")
    retries: int = opt(3, "retries")


@dataclasses.dataclass
class _Cfg:
    out: str = opt("out.jsonl", "output")
    k: int = opt(4, "responses per prompt")
    temperature: float = opt(1.0, "temperature")
    greedy: bool = opt(False, "greedy")
    tags: list[str] = opt(factory=list, help="tags")
    inner: _Inner = opt(factory=_Inner, help="nested")


def _parse(argv):
    import argparse

    from hrlaif.config import add_config_arguments

    p = argparse.ArgumentParser()
    add_config_arguments(p, _Cfg)
    return p.parse_args(argv)


def test_config_yaml_then_flags_override(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("k: 8\ninner:\n  model: judge\n  retries: 5\ntags: [a, b]\n")
    cfg = resolve_config(_Cfg, _parse(["--config", str(y), "--k", "2", "--inner.retries", "1", "--greedy"]))
    assert (cfg.k, cfg.inner.model, cfg.inner.retries, cfg.greedy, cfg.tags) == (2, "judge", 1, True, ["a", "b"])
    assert cfg.temperature == 1.0


def test_config_rejects_unknown_key_by_name(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("k: 8\ninner:\n  modle: judge\n")
    with pytest.raises(ConfigError) as e:
        resolve_config(_Cfg, _parse(["--config", str(y)]))
    assert "inner.modle" in str(e.value) and "did you mean 'model'" in str(e.value) and "c.yaml" in str(e.value)


def test_config_rejects_wrong_type(tmp_path):
    with pytest.raises(ConfigError) as e:
        resolve_config(_Cfg, _parse(["--k", "many"]))
    assert "'k'" in str(e.value) and "integer" in str(e.value)


def test_config_saved_resolved_and_reloads(tmp_path):
    cfg = resolve_config(_Cfg, _parse(["--k", "3", "--tags", "x,y"]))
    p = save_config(cfg, tmp_path / "out.config.yaml")
    again = resolve_config(_Cfg, yaml_path=p) if "stage" not in p.read_text() else None
    assert again is None or again == cfg
    import yaml

    tree = yaml.safe_load(p.read_text())
    assert tree["k"] == 3 and tree["tags"] == ["x", "y"] and tree["inner"]["retries"] == 3


def test_cli_config_error_exit_code(tmp_path):
    y = tmp_path / "bad.yaml"
    y.write_text("no_such_option: 1\n")
    r = run_cli("verify", "--config", str(y))
    assert r.returncode == 2
    assert "no_such_option" in r.stderr and "bad.yaml" in r.stderr


def _prompt(i: int, cat: str = "math") -> Prompt:
    return Prompt.simple(f"p{i}", cat, f"What is {i}+{i}?", reference=str(2 * i))


def test_jsonl_and_parquet_round_trip(tmp_path):
    recs = [ResponseSet(prompt_id=p.id, prompt=p, responses=[], generation=dict_gen())
            for p in (_prompt(i) for i in range(3))]
    for ext in ("jsonl", "parquet"):
        path = write_records(tmp_path / f"r.{ext}", recs)
        assert read_records(path, ResponseSet) == recs


def dict_gen():
    from hrlaif.data import GenerationInfo

    return GenerationInfo(model="tiny", seed=1)


@pytest.mark.parametrize("content, needle", [
    (b'{"id": "a", "category": "math", "messages": [{"role": "user", "content": "x"}]}\n{bad json\n', ":2: invalid JSON"),
    (b'{"id": "a", "messages": [{"role": "user", "content": "x"}]}\n', "field 'category': missing"),
    (b'{"id": "a", "category": "math", "messages": [{"role": "user", "content": 3}]}\n', "field 'messages[0].content'"),
    (b'{"id": "a", "category": "poetry", "messages": [{"role": "user", "content": "x"}]}\n', "field 'category': unknown category"),
    (b"", "file is empty"),
    (b'{"id": "a\xff", "category": "math", "messages": []}\n', ":1: not valid UTF-8"),
])
def test_bad_input_names_file_line_field(tmp_path, content, needle):
    p = tmp_path / "prompts.jsonl"
    p.write_bytes(content)
    with pytest.raises(InputError) as e:
        read_records(p, Prompt)
    assert str(p) in str(e.value) and needle in str(e.value)


def test_ranking_validation_and_pairs():
    p = _prompt(1)
    r = Ranking(prompt_id="p1", category="math", prompt=p, responses=["a", "b", "c", "d"], tiers=[[0], [1, 2]])
    assert sorted(r.pairs()) == [(0, 1), (0, 2)]
    with pytest.raises(ValueError):
        Ranking(prompt_id="p1", category="math", prompt=p, responses=["a", "b"], tiers=[[0], [0]])
    with pytest.raises(ValueError):
        Ranking(prompt_id="p1", category="math", prompt=p, responses=["a", "b"], tiers=[[0], [5]])


def test_tiers_from_preferences_and_cycles():
    assert tiers_from_preferences(3, [(0, 1), (1, 2)]) == [[0], [1], [2]]
    assert tiers_from_preferences(3, [(0, 1), (0, 2)]) == [[0], [1, 2]]
    with pytest.raises(ValueError, match="cycle"):
        tiers_from_preferences(3, [(0, 1), (1, 2), (2, 0)])


def test_atomic_writer_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_writer(p) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert p.read_text() == "old\n"
    assert [x.name for x in tmp_path.iterdir()] == ["out.jsonl"]


def test_resumable_writer_resumes_and_drops_torn_tail(tmp_path):
    out = tmp_path / "prompts.jsonl"
    with pytest.raises(RuntimeError):
        with ResumableWriter(out, Prompt, key=lambda p: p.id) as w:
            w.write(_prompt(0))
            w.write(_prompt(1))
            raise RuntimeError("interrupted")
    assert not out.exists()
    partial = out.with_name(out.name + ".partial")
    with open(partial, "a") as f:  # a kill -9 in the middle of a line
        f.write('{"id": "p2", "categ')
    with ResumableWriter(out, Prompt, key=lambda p: p.id) as w:
        assert w.done == {"p0", "p1"}
        for i in range(4):
            if f"p{i}" not in w.done:
                w.write(_prompt(i))
    assert [p.id for p in read_records(out, Prompt)] == ["p0", "p1", "p2", "p3"]
    assert not partial.exists()


def test_list_flags_take_several_values_commas_or_yaml():
    assert resolve_config(_Cfg, _parse(["--tags", "a", "b"])).tags == ["a", "b"]
    assert resolve_config(_Cfg, _parse(["--tags", "a,b"])).tags == ["a", "b"]
    assert resolve_config(_Cfg, _parse(["--tags", '["x,y", "z"]'])).tags == ["x,y", "z"]


def _list_fields():
    import importlib

    from hrlaif._struct import walk_fields
    from hrlaif.cli import COMMANDS

    for stage, (module, cfg_name, _) in COMMANDS.items():
        if cfg_name is None:
            continue
        cls = getattr(importlib.import_module(module), cfg_name)
        for dotted, tp, _f in walk_fields(cls):
            if getattr(tp, "__origin__", None) is list:
                yield stage, dotted


def test_every_list_flag_takes_none_for_the_empty_list():
    """Issue 14 #10: `--toxicity-sets` alone is an argparse error and `none` was the list ['none']."""
    from hrlaif.cli import _stage_parser

    fields = list(_list_fields())
    assert ("eval", "toxicity_sets") in fields and ("train-rm", "rankings") in fields and len(fields) >= 10
    for stage, dotted in fields:
        parser, cls, _ = _stage_parser(stage)
        flag = "--" + dotted.replace("_", "-")
        cfg = resolve_config(cls, parser.parse_args([flag, "none"]))
        value = cfg
        for part in dotted.split("."):
            value = getattr(value, part)
        assert value == [], (stage, dotted, value)
        assert "none = empty list" in " ".join(parser.format_help().split()), stage


def test_empty_list_spellings_and_mistakes():
    assert resolve_config(_Cfg, _parse(["--tags", "None"])).tags == []
    assert resolve_config(_Cfg, _parse(["--tags", ""])).tags == []
    assert resolve_config(_Cfg, _parse(["--tags", "[]"])).tags == []
    assert resolve_config(_Cfg, _parse(["--tags", "./none"])).tags == ["./none"]  # a file named none
    with pytest.raises(ConfigError, match=r"option 'tags': 'none' means the empty list: give it alone"):
        resolve_config(_Cfg, _parse(["--tags", "none", "x"]))

