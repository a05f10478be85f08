"""Typed stage configs: a dataclass *is* the CLI.

Every stage declares a dataclass whose fields carry a one-line help (``opt(default, "help")``).
``add_config_arguments`` turns it into argparse flags (nested dataclasses become dotted flags,
``--judge.model``; a list flag takes ``a b``, ``a,b`` or ``none`` for the empty list); ``resolve_config`` merges defaults ← YAML file (``--config``) ← flags,
rejects unknown keys by name and checks every type; ``save_config`` writes the resolved config
beside the stage's output so every artefact says how it was made.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from hrlaif._struct import StructError, from_obj, to_obj, type_name, walk_fields
from hrlaif.errors import ConfigError

C = TypeVar("C")


def opt(default: Any = dataclasses.MISSING, help: str = "", *, factory: Any = None,
        flags: tuple[str, ...] = ()) -> Any:
    """A config field with its help text (the help becomes the CLI's ``--flag`` help).
    ``flags`` adds extra spellings, e.g. ``("--in",)`` for a field named ``input``."""
    meta = {"help": help, "flags": tuple(flags)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


EMPTY_LIST = "none"  # a list flag's spelling of the empty list: `hrlaif eval --toxicity-sets none`


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) is list


def _flag_names(dotted: str) -> list[str]:
    dashed = dotted.replace("_", "-")
    names = [f"--{dashed}"]
    if dashed != dotted:
        names.append(f"--{dotted}")
    return names


def _is_bool(tp: Any) -> bool:
    return tp is bool or (typing.get_origin(tp) in (typing.Union, types.UnionType)
                          and set(typing.get_args(tp)) == {bool, type(None)})


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """Add ``--config`` and one flag per (nested) field of ``cls`` to ``parser``."""
    parser.add_argument("--config", metavar="YAML", default=None,
                        help="YAML file with any of the options below (flags override it)")
    group = parser.add_argument_group("options (also settable in the YAML file)")
    for dotted, tp, f in walk_fields(cls):
        if dotted in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = f.metadata.get("help", "")
        empty = f"; {EMPTY_LIST} = empty list" if _is_list(tp) else ""
        help_text = f"{help_text} [{type_name(tp)}; default: {default!r}{empty}]".replace("%", "%%")
        names = list(f.metadata.get("flags", ())) + _flag_names(dotted)
        if _is_bool(tp):
            group.add_argument(*names, dest=f"cfg:{dotted}", default=argparse.SUPPRESS,
                               action=argparse.BooleanOptionalAction, help=help_text)
        elif _is_list(tp):  # --rankings a.jsonl b.jsonl  (or a,b, a YAML list, or none)
            group.add_argument(*names, dest=f"cfg:{dotted}", default=argparse.SUPPRESS, nargs="+",
                               metavar=dotted.split(".")[-1].upper(), help=help_text)
        else:
            group.add_argument(*names, dest=f"cfg:{dotted}", default=argparse.SUPPRESS,
                               metavar=dotted.split(".")[-1].upper(), help=help_text)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for p in parts[:-1]:
        tree = tree.setdefault(p, {})
        if not isinstance(tree, dict):
            raise ConfigError(f"option '{dotted}': '{p}' is not a section")
    tree[parts[-1]] = value


def _parse_flag_value(raw: Any, tp: Any) -> Any:
    """Flags arrive as strings; non-string fields are parsed as YAML scalars/lists. A list flag
    takes several values (``--x a b``), one comma-separated value (``--x a,b``), a YAML list, or
    ``none`` (also ``''`` or ``[]``) for the empty list (write ``./none`` for a file named none)."""
    if _is_list(tp):
        vals = raw if isinstance(raw, list) else [raw]
        words = [v.strip() for v in vals if isinstance(v, str)]
        if len(vals) == 1 and words and words[0].lower() in (EMPTY_LIST, "", "[]"):
            return []
        if len(vals) > 1 and any(w.lower() == EMPTY_LIST for w in words):
            raise ValueError(f"'{EMPTY_LIST}' means the empty list: give it alone, not with other values "
                             f"({' '.join(map(str, vals))})")
    if isinstance(raw, list):
        (item,) = typing.get_args(tp) or (str,)
        if len(raw) == 1:
            return _parse_flag_value(raw[0], tp)
        return [_parse_flag_value(v, item) for v in raw]
    if not isinstance(raw, str):
        return raw
    if tp is str or (typing.get_origin(tp) is typing.Literal and all(isinstance(a, str) for a in typing.get_args(tp))):
        return raw
    if set(typing.get_args(tp)) == {str, type(None)}:  # `str | None`: "7" stays the string "7"
        return None if raw.strip() in ("none", "None", "null", "~") else raw
    import yaml

    try:
        val = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(val, str) and float in (tp, *typing.get_args(tp)):  # YAML 1.1 reads "1e-3" as a string
        try:
            val = float(raw)
        except ValueError:
            pass
    if typing.get_origin(tp) is list and not isinstance(val, list):
        val = [yaml.safe_load(x) if x.strip() else x for x in raw.split(",")]
    if val is None and raw.strip() not in ("null", "~", "none", "None", ""):
        return raw
    if raw.strip() in ("none", "None"):
        return None
    return val


def load_yaml(path: str | Path) -> dict:
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}{line}: invalid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of options at the top level, got {type(data).__name__}")
    return data


def build_config(cls: type[C], tree: dict | None = None, *, source: str = "config") -> C:
    """Validate a plain dict against ``cls``; errors name the source and the dotted key."""
    try:
        return from_obj(cls, tree or {})
    except StructError as e:
        raise ConfigError(f"{source}: option '{e.field}': {e.message}") from None


def resolve_config(cls: type[C], args: argparse.Namespace | None = None, *,
                   yaml_path: str | Path | None = None, overrides: dict | None = None) -> C:
    """defaults ← YAML file ← CLI flags (← ``overrides`` for Python callers)."""
    yaml_path = yaml_path or (getattr(args, "config", None) if args is not None else None)
    tree: dict = load_yaml(yaml_path) if yaml_path else {}
    source = str(yaml_path) if yaml_path else "config"
    if yaml_path:  # report YAML problems against the file before flags are merged
        build_config(cls, tree, source=source)
    types_by_name = {d: tp for d, tp, _ in walk_fields(cls)}
    if args is not None:
        for key, raw in vars(args).items():
            if key.startswith("cfg:"):
                dotted = key[4:]
                try:
                    value = _parse_flag_value(raw, types_by_name[dotted])
                except ValueError as e:
                    raise ConfigError(f"command line: option '{dotted}': {e}") from None
                _set_dotted(tree, dotted, value)
        source = "command line" if not yaml_path else f"{yaml_path} + command line"
    for dotted, value in (overrides or {}).items():
        _set_dotted(tree, dotted, value)
    return build_config(cls, tree, source=source)


def config_to_dict(cfg: Any) -> dict:
    return to_obj(cfg)


def save_config(cfg: Any, path: str | Path, *, stage: str | None = None) -> Path:
    """Write the resolved config as YAML (atomically). Returns the path written."""
    import yaml

    from hrlaif.data import atomic_write_text

    tree = config_to_dict(cfg)
    if stage:
        tree = {"stage": stage, **tree}
    text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
    p = Path(path)
    atomic_write_text(p, text)
    return p


def config_path_for(output: str | Path) -> Path:
    """Where a stage saves its resolved config: ``out.jsonl`` → ``out.config.yaml``;
    a folder ``out/`` → ``out/hrlaif_config.yaml``."""
    p = Path(output)
    if p.suffix in (".jsonl", ".parquet", ".json", ".html", ".csv", ".md"):
        return p.with_name(p.name[: -len(p.suffix)] + ".config.yaml")
    return p / "hrlaif_config.yaml"
