"""Typed (de)serialisation of dataclasses, shared by configs and data records.

``from_obj(cls, obj, where=...)`` checks a plain JSON/YAML value against the dataclass'
annotations: missing fields, unknown keys (with a close-match hint) and wrong types are
reported by dotted field path. ``to_obj`` is the inverse. Only the types hrlaif uses are
supported: str, int, float, bool, None, Any, Literal, Optional/Union, list, tuple, dict[str, T]
and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Callable, Literal, Union

_MISSING = dataclasses.MISSING


class StructError(ValueError):
    """A value does not fit its declared type. ``field`` is the dotted path."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}" if field else message)


def _hints(cls: type) -> dict[str, Any]:
    cache = cls.__dict__.get("__struct_hints__")
    if cache is None:
        cache = typing.get_type_hints(cls)
        setattr(cls, "__struct_hints__", cache)
    return cache


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple, dict):
        args = ", ".join(type_name(a) for a in typing.get_args(tp) if a is not Ellipsis)
        return f"{origin.__name__}[{args}]"
    return getattr(tp, "__name__", str(tp))


def unknown_key_message(key: str, allowed: list[str]) -> str:
    hint = difflib.get_close_matches(key, allowed, n=1)
    msg = f"unknown key '{key}'"
    if hint:
        msg += f" (did you mean '{hint[0]}'?)"
    return msg + f"; allowed: {', '.join(sorted(allowed))}"


def from_obj(tp: Any, obj: Any, path: str = "") -> Any:
    """Convert ``obj`` (parsed JSON/YAML) to type ``tp``; raise StructError naming the field."""
    if tp is Any:
        return obj
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(obj, tp):
            return obj
        if not isinstance(obj, dict):
            raise StructError(path, f"expected an object, got {_got(obj)}")
        hints = _hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
        for key in obj:
            if key not in fields:
                raise StructError(_join(path, str(key)), unknown_key_message(str(key), list(fields)))
        kwargs = {}
        for name, f in fields.items():
            sub = _join(path, name)
            if name in obj:
                kwargs[name] = from_obj(hints[name], obj[name], sub)
            elif f.default is _MISSING and f.default_factory is _MISSING:
                raise StructError(sub, "missing required field")
        try:
            return tp(**kwargs)
        except StructError:
            raise
        except (ValueError, TypeError) as e:  # __post_init__ validation
            sub = getattr(e, "field", None)
            raise StructError(_join(path, sub) if sub else path, str(e)) from None
    if origin is Literal:
        allowed = typing.get_args(tp)
        if obj not in allowed:
            raise StructError(path, f"expected one of {', '.join(map(repr, allowed))}, got {obj!r}")
        return obj
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if obj is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return from_obj(a, obj, path)
            except StructError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise StructError(path, f"expected {type_name(tp)}, got {_got(obj)}")
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        if not isinstance(obj, (list, tuple)):
            raise StructError(path, f"expected a list, got {_got(obj)}")
        return [from_obj(item, v, f"{path}[{i}]") for i, v in enumerate(obj)]
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(obj, (list, tuple)):
            raise StructError(path, f"expected a list, got {_got(obj)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_obj(args[0], v, f"{path}[{i}]") for i, v in enumerate(obj))
        if len(obj) != len(args):
            raise StructError(path, f"expected {len(args)} items, got {len(obj)}")
        return tuple(from_obj(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, obj)))
    if origin is dict:
        _, val = typing.get_args(tp) or (str, Any)
        if not isinstance(obj, dict):
            raise StructError(path, f"expected an object, got {_got(obj)}")
        return {str(k): from_obj(val, v, _join(path, str(k))) for k, v in obj.items()}
    if tp is bool:
        if isinstance(obj, bool):
            return obj
        raise StructError(path, f"expected true/false, got {_got(obj)}")
    if tp is int:
        if isinstance(obj, int) and not isinstance(obj, bool):
            return obj
        raise StructError(path, f"expected an integer, got {_got(obj)}")
    if tp is float:
        if isinstance(obj, (int, float)) and not isinstance(obj, bool):
            return float(obj)
        raise StructError(path, f"expected a number, got {_got(obj)}")
    if tp is str:
        if isinstance(obj, str):
            return obj
        raise StructError(path, f"expected a string, got {_got(obj)}")
    if isinstance(tp, type) and isinstance(obj, tp):
        return obj
    raise StructError(path, f"expected {type_name(tp)}, got {_got(obj)}")


def to_obj(value: Any) -> Any:
    """Dataclass → plain dict/list tree (JSON/YAML-safe)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_obj(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_obj(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_obj(v) for k, v in value.items()}
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _got(obj: Any) -> str:
    r = repr(obj)
    if len(r) > 60:
        r = r[:57] + "..."
    return f"{type(obj).__name__} {r}" if obj is not None else "null"


def walk_fields(cls: type, prefix: str = "") -> typing.Iterator[tuple[str, Any, dataclasses.Field]]:
    """Yield (dotted name, type, field) for every leaf field of a (nested) config dataclass."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        name = _join(prefix, f.name)
        if dataclasses.is_dataclass(tp):
            yield from walk_fields(tp, name)
        else:
            yield name, tp, f


Converter = Callable[[str], Any]
