"""Strict configs: dataclass defaults, updated by YAML files in order, then by overrides (``--set
key=value`` strings, or typed :class:`Override` items from command-line options)::

    cfg = load_config(TrainConfig, ["curricula/four_stage.yaml"], ["curriculum.epochs=[1,1,1,1]"])

Fields that are dataclasses are sections: they merge key by key, while other values are replaced whole.
An unknown key, a wrong type or a failing ``__post_init__`` is a :class:`ConfigError` naming the file
and line (or the override). dacite checks and builds the dataclasses, with our rules as type hooks
(:func:`_check`); this module reads YAML with lines, merges the sources and words dacite's errors.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, Literal, NamedTuple, TypeVar, Union

import dacite
import yaml
from dacite import DaciteError, DaciteFieldError, WrongTypeError

from cer.config_io import ConfigError, _join, _Loader, _show, _to_plain, dump_yaml, flatten, read_yaml, to_dict

__all__ = ["ConfigError", "Override", "load_config", "from_dict", "to_dict", "dump_yaml", "flatten"]

T = TypeVar("T")
Scalar = Union[bool, int, float, str]
_NoneType = type(None)
_MISSING = dataclasses.MISSING


@dataclasses.dataclass(frozen=True)
class Override:
    """A typed override, e.g. from a command-line option: ``value`` is used as is (not read as YAML) and
    checked against the schema like any other value, e.g. ``Override("sequence.length", 20, "--seq 20")``."""

    key: str  # dotted key, e.g. "sequence.length"
    value: Any  # an already-typed value (20, ["au", "v"], None)
    where: str  # how the user gave it, for messages, e.g. "--seq 20"


# --------------------------------------------------------------------------- types and messages

_hints = functools.cache(typing.get_type_hints)


def _settable(schema: type) -> dict[str, dataclasses.Field]:
    # init=False fields are derived in __post_init__: setting them from a file would be ignored.
    return {f.name: f for f in dataclasses.fields(schema) if f.init}


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _optional_arm(tp: Any) -> Any:
    """``X`` of ``X | None`` (which dacite builds as an ``X``, not as a union), else ``tp``."""
    arms = [a for a in typing.get_args(tp) if a is not _NoneType] if _is_union(tp) else []
    return arms[0] if len(arms) == 1 else tp


def _describe(tp: Any) -> str:
    """A type as a user reads it: ``list[int]``, ``int | null``, ``one of 'a', 'b'``, ``a mapping (Stage)``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if _is_union(tp):
        return " | ".join(map(_describe, args))
    if args:
        return f"{origin.__name__}[{', '.join('...' if a is Ellipsis else _describe(a) for a in args)}]"
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return "null" if tp is _NoneType else getattr(tp, "__name__", repr(tp))


def _in_section(path: str) -> str:
    return f"in section '{path}'" if path else "at the top level"


def _unknown_key(schema: type, name: Any, path: str) -> str | None:
    """What is wrong with key ``name`` of the section ``path`` (a ``schema``): None for a settable field."""
    known = list(_settable(schema))
    if name in known:
        return None
    close = difflib.get_close_matches(str(name), known, n=1)
    return f"unknown key {name!r} {_in_section(path)} (" + (
        f"did you mean {close[0]!r}?)" if close else "known keys: " + ", ".join(known) + ")")


def _mismatch(tp: Any, value: Any, key: str) -> str:
    message = f"'{key}' expects {_describe(tp)}, got {_show(value)}"
    if isinstance(value, Mapping):
        return message + "; it is a value, not a section (check the indentation)"
    allowed = [a for a in typing.get_args(tp) if isinstance(a, str)] if typing.get_origin(tp) is Literal else []
    close = difflib.get_close_matches(value, allowed, n=1) if isinstance(value, str) else []
    return message + (f" (did you mean {close[0]!r}?)" if close else "")


class _Invalid(DaciteFieldError):
    """A value of the right kind that cannot be used (unknown or missing keys, a failing __post_init__,
    a tuple of the wrong length): ``describe(path)`` says why; ``key`` is the offending key, if one."""

    def __init__(self, tp: Any, value: Any, describe: Callable[[str], str], key: Any = None):
        super().__init__()
        self.field_type, self.value, self.describe, self.key = tp, value, describe, key


def _check(tp: Any, value: Any) -> Any:
    """dacite's type hook for ``tp``: ``value`` checked one level deep (dacite goes on into the items and
    fields) and converted: bool is no int, int becomes float, list becomes tuple, str becomes Path."""
    origin, args = typing.get_origin(tp) or tp, typing.get_args(tp)
    if tp is Any:  # YAML data as to_dict gives it (plain dicts, no line records); other values as they are
        try:
            return _to_plain(value, "")
        except TypeError:
            return value
    if origin is Literal:
        for allowed in args:
            if type(allowed) is type(value) and allowed == value:  # True must not match 1
                return allowed
    elif dataclasses.is_dataclass(tp):
        return _build(tp, value)
    elif origin in (list, tuple, Sequence):
        if isinstance(value, (list, tuple)):
            if origin is tuple and args and args[-1] is not Ellipsis and len(value) != len(args):
                raise _Invalid(tp, value, lambda key: f"'{key}' expects {len(args)} items ({_describe(tp)}), "
                                                      f"got {len(value)}")
            return tuple(value) if origin is tuple else list(value)
    elif origin in (dict, Mapping):
        if isinstance(value, Mapping):  # dacite checks the values, not the keys
            return {_check(args[0], k) if args else k: v for k, v in value.items()}
    elif tp in (int, float):
        if isinstance(value, (int, float if tp is float else int)) and not isinstance(value, bool):
            return tp(value)
    elif isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, (str, PurePath)):
            return tp(value)
    elif not isinstance(tp, type) or isinstance(value, tp):  # other typing constructs: left to dacite
        return value
    raise WrongTypeError(tp, value)


def _build(schema: type[T], data: Any) -> T:
    """dacite's type hook for a dataclass: a mapping checked for unknown and missing keys, built by dacite."""
    if isinstance(data, schema):
        return data
    if not isinstance(data, Mapping):
        raise WrongTypeError(schema, data)
    fields = _settable(schema)
    for name in data:
        if name not in fields:
            raise _Invalid(schema, data, functools.partial(_unknown_key, schema, name), key=name)
    missing = ", ".join(repr(n) for n, f in fields.items()
                        if n not in data and f.default is _MISSING and f.default_factory is _MISSING)
    if missing:
        raise _Invalid(schema, data, lambda path: f"missing required key(s) {missing} {_in_section(path)}")
    try:
        built = dacite.from_dict(schema, data, _dacite_config(schema))
    except (ValueError, TypeError) as error:  # a __post_init__ check
        problem = str(error)
        raise _Invalid(schema, data, lambda path: f"invalid {f'section {path!r}' if path else 'config'}: "
                                                  f"{problem}") from error
    # dacite sets init=False fields that have defaults after __post_init__, undoing it (dacite issue #244).
    if any(not f.init and (f.default is not _MISSING or f.default_factory is not _MISSING)
           for f in dataclasses.fields(schema)):
        built = dataclasses.replace(built)
    return built


@functools.cache
def _dacite_config(schema: type) -> dacite.Config:
    """Strict dacite, with :func:`_check` hooked on every type in ``schema`` (unions are left to dacite)."""
    found, todo = set(), [schema]
    while todo:
        tp = todo.pop()
        if tp not in found:
            found.add(tp)
            inner = _hints(tp).values() if dataclasses.is_dataclass(tp) else typing.get_args(tp)
            todo += [] if typing.get_origin(tp) is Literal else inner
    hooks = {tp: functools.partial(_check, tp) for tp in found if not _is_union(tp)}
    return dacite.Config(strict=True, type_hooks=hooks)


def _locate(tp: Any, node: Any, error: DaciteFieldError, path: str, line: int | None):
    """``(path, line, declared type)`` of the value dacite rejected, found by identity in ``node`` (of type
    ``tp``, given at ``line``), since dacite's ``field_path`` leaves out list indices; None if not there."""
    arm = _optional_arm(tp)
    if node is error.value and error.field_type in (tp, arm):
        return path, line, tp
    origin, args, lines = typing.get_origin(arm) or arm, typing.get_args(arm), getattr(node, "key_lines", {})
    parts = []  # (value, its type, its path, its line)
    if isinstance(node, Mapping) and dataclasses.is_dataclass(arm):
        parts = [(v, _hints(arm)[k], _join(path, k), lines.get(k, line)) for k, v in node.items() if k in _hints(arm)]
    elif isinstance(node, Mapping) and origin in (dict, Mapping):
        key_tp, value_tp = args or (Any, Any)
        for k, v in node.items():
            parts += [(k, key_tp, f"{path} key {k!r}", lines.get(k, line)),
                      (v, value_tp, _join(path, k), lines.get(k, line))]
    elif isinstance(node, (list, tuple)) and origin in (list, tuple, Sequence):
        fixed = origin is tuple and args and args[-1] is not Ellipsis
        parts = [(v, args[i] if fixed else (args or (Any,))[0], f"{path}[{i}]", line)
                 for i, v in enumerate(node[:len(args)] if fixed else node)]
    return next(filter(None, (_locate(t, v, error, p, ln) for v, t, p, ln in parts)), None)


# A one-field dataclass per type, so that dacite can check a single value.
_holder = functools.cache(lambda tp: dataclasses.make_dataclass("Value", [("value", tp)]))


class _Source(NamedTuple):
    """Where values come from: a file (which has lines) or an override or a mapping (which have not)."""

    label: str
    has_lines: bool = True
    line: int | None = None

    def at(self, line: int | None) -> _Source:
        return self._replace(line=line) if self.has_lines and line else self

    def __str__(self) -> str:
        return f"{self.label}:{self.line}" if self.line else self.label


class _Section(dict):
    """One section's keys merged so far (values checked, sections nested) over ``base``, the instance it
    starts from (dataclasses.replace semantics; None: the class defaults), and the sources that set them."""

    def __init__(self, schema: type, path: str, base: Any = None):
        super().__init__({n: getattr(base, n) for n in _settable(schema)} if base is not None else {})
        self.schema, self.path, self.sources = schema, path, []

    def field_type(self, name: Any, src: _Source) -> Any:
        unknown = _unknown_key(self.schema, name, self.path)
        if unknown:
            raise ConfigError(unknown, str(src))
        return _hints(self.schema)[name]

    def child(self, name: str, src: _Source) -> _Section | None:
        """Section ``name``, to merge keys into, or None for a value field. It starts from the instance
        there (the parent's default, or one given whole), else (absent or null) from the field's default."""
        sub, child = _optional_arm(self.field_type(name, src)), self.get(name)
        if not (isinstance(sub, type) and dataclasses.is_dataclass(sub)):
            return None
        if not isinstance(child, _Section):
            if not isinstance(child, sub):
                field = _settable(self.schema)[name]
                child = field.default if field.default_factory is _MISSING else field.default_factory()
            child = self[name] = _Section(sub, _join(self.path, name), child if isinstance(child, sub) else None)
        child.sources.append(str(src))
        return child

    def set(self, name: Any, value: Any, src: _Source, raw: str | None = None) -> None:
        """Set one key: a section merges key by key, a value replaces and is checked now. ``raw``, the
        unparsed ``--set`` text, is tried as a string if ``value`` fails."""
        tp, key = self.field_type(name, src), _join(self.path, name)
        if isinstance(value, Mapping) and (child := self.child(name, src)) is not None:
            for k, v in value.items():
                child.set(k, v, src.at(getattr(value, "key_lines", {}).get(k)))
        elif not dataclasses.is_dataclass(sub := _optional_arm(tp)):
            try:
                self[name] = _convert(tp, value, key, src)
            except ConfigError as error:
                if raw is None or isinstance(value, str):
                    raise
                try:  # `--set run.name=001` means the string '001', not the int 1
                    self[name] = _convert(tp, raw, key, src)
                except ConfigError:
                    raise error from None
        elif isinstance(value, sub) or (value is None and _is_union(tp)):
            self[name] = value
        else:
            raise ConfigError(f"'{key}' is a section: give it a mapping of its keys, got {_show(value)}", str(src))


def _convert(tp: Any, value: Any, key: str, src: _Source) -> Any:
    """``value`` checked (and converted) by dacite as a ``tp``, or a ConfigError naming the part that is wrong."""
    try:
        return dacite.from_dict(_holder(tp), {"value": value}, _dacite_config(_holder(tp))).value
    except DaciteError as error:
        found = _locate(tp, value, error, key, src.line) if isinstance(error, DaciteFieldError) else None
        if found is None:  # not expected: say it in dacite's words
            raise ConfigError(f"'{key}': {error}", str(src)) from None
        path, line, declared = found
        if isinstance(error, _Invalid):
            line = getattr(error.value, "key_lines", {}).get(error.key, line)
            raise ConfigError(error.describe(path), str(src.at(line))) from None
        raise ConfigError(_mismatch(declared, error.value, path), str(src.at(line))) from None


def _override(root: _Section, item: str | Override) -> None:
    """Apply ``key=value`` (the value read as YAML) or an :class:`Override` (the value used as is)."""
    text = item.where if isinstance(item, Override) else f"--set {item}"
    src = _Source(text, has_lines=False)
    root.sources.append(text)
    if isinstance(item, Override):
        dotted, raw = item.key, None
    else:
        dotted, sep, raw = item.partition("=")
        if not sep or not dotted.strip():
            raise ConfigError("expected KEY=VALUE, e.g. --set curriculum.epochs=[1,1]", text)
    *parents, name = dotted.strip().split(".")
    section = root
    for part in parents:
        child = section.child(part, src)
        if child is None:
            key = _join(section.path, part)
            raise ConfigError(f"'{key}' is a value, not a section: set it whole, e.g. --set {key}=...", text)
        section = child
    section.field_type(name, src)  # an unknown key before a YAML error
    try:
        value, problem = (item.value, None) if raw is None else (yaml.load(raw, Loader=_Loader), None)
    except yaml.YAMLError as error:  # not YAML, but maybe a fine string
        value, problem = raw, getattr(error, "problem", None) or error
    try:
        section.set(name, value, src, raw=raw)
    except ConfigError:
        if problem is None:
            raise
        raise ConfigError(f"cannot read {raw!r} as a YAML value ({problem}); quote or fix it", text) from None


def _load(schema: type[T], sources: Iterable[tuple[Mapping | None, _Source]], overrides: Iterable) -> T:
    """``schema`` built by dacite from its defaults, updated by each mapping, then by each override."""
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
        raise TypeError(f"a config schema must be a dataclass type, got {schema!r}")
    root = _Section(schema, "")
    for data, src in sources:
        root.sources.append(src.label)
        for name, value in (data or {}).items():
            root.set(name, value, src.at(getattr(data, "key_lines", {}).get(name)))
    for item in overrides:
        _override(root, item)
    try:  # values are checked: what is left are missing keys and the sections' __post_init__ checks
        return _build(schema, root)
    except DaciteError as error:
        bad = getattr(error, "value", None)
        if isinstance(error, _Invalid) and isinstance(bad, _Section):
            raise ConfigError(error.describe(bad.path), ", ".join(dict.fromkeys(bad.sources)) or None) from None
        raise ConfigError(f"invalid config: {error}") from None  # e.g. a default that does not fit its type


def load_config(schema: type[T], files: Sequence[str | Path] = (), overrides: Sequence[str | Override] = ()) -> T:
    """The defaults of ``schema`` (a dataclass type), updated by each YAML file, then by each override.

    ``overrides`` are ``dotted.key=value`` strings, the value read as YAML (``[1,1]``, ``0.2``, ``null``,
    ``{a: 1}``; a text that fails as YAML or as the field's type is tried as a string), and
    :class:`Override` items, whose value is used as is; all applied in order. Raises ConfigError.
    """
    files = [files] if isinstance(files, (str, PurePath)) else files
    overrides = [overrides] if isinstance(overrides, (str, Override)) else overrides
    return _load(schema, ((read_yaml(path), _Source(str(path))) for path in files), overrides)


def from_dict(schema: type[T], data: Mapping, source: str = "<dict>") -> T:
    """``schema`` built from a nested mapping (e.g. :func:`to_dict` output), as strictly as a file.

    Keys left out keep their defaults; ``source`` names the mapping in error messages.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of keys to values, got {_show(data)}", source)
    return _load(schema, [(data, _Source(source, has_lines=False))], ())
