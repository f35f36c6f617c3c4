"""Strict configs: dataclass defaults, updated by YAML files, then by ``--set key=value`` overrides.

A schema is a ``@dataclass`` whose fields may be nested dataclasses (sections). Files hold only what
differs from the defaults and merge in order: a later file replaces a key's value (lists included),
while sections merge key by key. Nothing is accepted and ignored: an unknown key, a value of the
wrong type or a failing ``__post_init__`` check is a :class:`ConfigError` that names the file and
line (or the ``--set`` argument) and says what to do::

    cfg = load_config(TrainConfig, ["curricula/four_stage.yaml"], ["curriculum.epochs=[1,1,1,1]"])
    dump_yaml(cfg, run_dir / "config.yaml")   # the resolved config, next to the run
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar, Union

import yaml

__all__ = ["ConfigError", "load_config", "from_dict", "to_dict", "dump_yaml", "flatten"]

T = TypeVar("T")
Scalar = Union[bool, int, float, str]
_NoneType = type(None)


class ConfigError(ValueError):
    """A config that cannot be used: ``where: what is wrong (and what to do)``.

    ``where`` is ``file:line`` for a value from a YAML file, ``--set key=value`` for an override.
    """

    def __init__(self, message: str, where: str | None = None):
        self.message, self.where = message, where
        super().__init__(f"{where}: {message}" if where else message)


# --------------------------------------------------------------------------- YAML with line numbers


class _YamlMapping(dict):
    """A mapping read from YAML that remembers the 1-based line of each of its keys."""

    key_lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that records key lines, rejects duplicate keys and reads ``1e-3`` as a float."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _YamlMapping:
    loader.flatten_mapping(node)  # resolves '<<: *anchor' merge keys
    mapping = _YamlMapping()
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            seen = key in mapping
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value, not a list or mapping", key_node.start_mark
            ) from None
        # safe_load keeps the last of two equal keys; a config would then silently ignore the first.
        if seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first given on line {mapping.key_lines[key]}): keep one",
                key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = line
    return mapping


class _Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that quotes strings like '1e-3', which :class:`_Loader` would read as floats."""


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 (PyYAML) needs a dot in a float, so `lr: 1e-3` would be the string '1e-3'; YAML 1.2 reads a float.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))
_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def _read_yaml(path: str | Path) -> Mapping | None:
    """The top-level mapping of a YAML file, or None for an empty file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found; check the path", str(path)) from None
    except OSError as error:
        raise ConfigError(f"cannot read the config file: {error.strerror}", str(path)) from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(error, "problem", None) or str(error)
        context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and context_mark is not None:
            context += f" started on line {context_mark.line + 1}"
        raise ConfigError(f"invalid YAML: {problem}" + (f" ({context})" if context else ""), where) from None
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"the top level must be a mapping of keys to values, got {_show(data)}", str(path))
    return data


# --------------------------------------------------------------------------- schema introspection


@functools.cache
def _hints(schema: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(schema)
    except NameError as error:
        raise TypeError(f"cannot resolve the type hints of {schema.__qualname__}: {error}") from error


def _settable_fields(schema: type) -> dict[str, dataclasses.Field]:
    # init=False fields are derived in __post_init__: setting them from a file would be ignored.
    return {f.name: f for f in dataclasses.fields(schema) if f.init}


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _section_type(tp: Any) -> type | None:
    """The dataclass of a section field (``Section`` or ``Section | None``); None for a value field."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    if _is_union(tp):
        args = typing.get_args(tp)
        arms = [a for a in args if a is not _NoneType]
        if len(arms) == 1 and _NoneType in args:
            return _section_type(arms[0])
    return None


def _field_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _field_default_missing(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _describe(tp: Any) -> str:
    """A type as a user reads it: ``list[int]``, ``int | null``, ``one of 'a', 'b'``."""
    if tp is _NoneType:
        return "null"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if _is_union(tp):
        return " | ".join(_describe(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else _describe(a) for a in args)
        return f"{getattr(origin, '__name__', origin)}[{inner}]" if inner else origin.__name__
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return getattr(tp, "__name__", repr(tp))


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if value is None:
        return "null"
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _join(path: str, name: Any) -> str:
    return f"{path}.{name}" if path else str(name)


def _in_section(path: str) -> str:
    return f"in section '{path}'" if path else "at the top level"


# --------------------------------------------------------------------------- value checking


@dataclasses.dataclass(frozen=True)
class _Source:
    """Where values come from: a file (with lines) or one ``--set`` argument (without)."""

    label: str
    line: int | None = None
    has_lines: bool = True

    def at(self, line: int | None) -> _Source:
        return dataclasses.replace(self, line=line) if self.has_lines and line else self

    def __str__(self) -> str:
        return f"{self.label}:{self.line}" if self.line else self.label


def _mismatch(tp: Any, value: Any, key: str, src: _Source) -> ConfigError:
    message = f"'{key}' expects {_describe(tp)}, got {_show(value)}"
    if isinstance(value, Mapping):
        message += "; it is a value, not a section (check the indentation)"
    elif typing.get_origin(tp) is Literal and isinstance(value, str):
        close = difflib.get_close_matches(value, [a for a in typing.get_args(tp) if isinstance(a, str)], n=1)
        message += f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(message, str(src))


def _is_container(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, tuple, dict, Sequence, Mapping) or dataclasses.is_dataclass(tp)


def _coerce(tp: Any, value: Any, key: str, src: _Source) -> Any:
    """``value`` checked against the type hint ``tp`` (and converted: int->float, list->tuple, str->Path)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return _to_plain(value, key)
    if tp is _NoneType:
        if value is None:
            return None
        raise _mismatch(tp, value, key, src)
    if origin is Literal:
        for allowed in args:
            if type(allowed) is type(value) and allowed == value:  # True must not match 1
                return allowed
        raise _mismatch(tp, value, key, src)
    if _is_union(tp):
        if value is None and _NoneType in args:
            return None
        arms = [a for a in args if a is not _NoneType]
        if len(arms) == 1 and _is_container(arms[0]):  # Optional[list[int]]: name the bad item
            return _coerce(arms[0], value, key, src)
        for arm in arms:
            try:
                return _coerce(arm, value, key, src)
            except ConfigError:
                continue
        raise _mismatch(tp, value, key, src)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, Mapping):
            return _from_mapping(tp, value, src, key)
        raise _mismatch(tp, value, key, src)
    if tp in (list, tuple, dict):
        origin, args = tp, ()
    if origin in (list, tuple, Sequence):
        if not isinstance(value, (list, tuple)):
            raise _mismatch(tp, value, key, src)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                message = f"'{key}' expects {len(args)} items ({_describe(tp)}), got {len(value)}"
                raise ConfigError(message, str(src))
            return tuple(_coerce(a, v, f"{key}[{i}]", src) for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_coerce(item, v, f"{key}[{i}]", src) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _mismatch(tp, value, key, src)
        key_type, value_type = args or (Any, Any)
        return {
            _coerce(key_type, k, f"{key} key {k!r}", src): _coerce(value_type, v, _join(key, k), src)
            for k, v in value.items()
        }
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(tp, type) and issubclass(tp, PurePath):
        if isinstance(value, (str, PurePath)):
            return tp(value)
    elif isinstance(tp, type):
        if isinstance(value, tp):
            return value
    else:
        raise TypeError(f"cer.config cannot check values of type {tp!r} (field '{key}')")
    raise _mismatch(tp, value, key, src)


# --------------------------------------------------------------------------- merging and building


@dataclasses.dataclass
class _Leaf:
    """A checked value (as opposed to a section, which is checked when it is built)."""

    value: Any


@dataclasses.dataclass
class _Section:
    """Keys given for one section so far, merged over all sources, not yet checked by __post_init__."""

    entries: dict[str, _Leaf | _Section] = dataclasses.field(default_factory=dict)
    sources: list[str] = dataclasses.field(default_factory=list)


def _check_known(schema: type, name: Any, path: str, src: _Source) -> None:
    known = list(_settable_fields(schema))
    if name in known:
        return
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(known)
    raise ConfigError(f"unknown key {name!r} {_in_section(path)} ({hint})", str(src))


def _merge_mapping(section: _Section, schema: type, mapping: Mapping, src: _Source, path: str) -> None:
    lines = getattr(mapping, "key_lines", {})
    for name, value in mapping.items():
        key_src = src.at(lines.get(name))
        _check_known(schema, name, path, key_src)
        _merge_entry(section, schema, name, value, key_src, path)


def _child_section(section: _Section, name: str, src: _Source) -> _Section:
    child = section.entries.get(name)
    if not isinstance(child, _Section):  # absent, or a section that an earlier source set to null
        child = section.entries[name] = _Section()
    child.sources.append(str(src))
    return child


def _merge_entry(
    section: _Section, schema: type, name: str, value: Any, src: _Source, path: str, raw: str | None = None
) -> None:
    """Merge one known key; ``raw`` (the unparsed ``--set`` text) is tried as a string if ``value`` fails."""
    tp, key = _hints(schema)[name], _join(path, name)
    sub = _section_type(tp)
    if sub is not None:
        if isinstance(value, Mapping):
            _merge_mapping(_child_section(section, name, src), sub, value, src, key)
        elif value is None and _is_union(tp):
            section.entries[name] = _Leaf(None)
        else:
            message = f"'{key}' is a section: give it a mapping of its keys, got {_show(value)}"
            raise ConfigError(message, str(src))
        return
    try:
        section.entries[name] = _Leaf(_coerce(tp, value, key, src))
    except ConfigError as error:
        if raw is None or isinstance(value, str):
            raise
        try:  # `--set run.name=001` means the string '001', not the int 1
            section.entries[name] = _Leaf(_coerce(tp, raw, key, src))
        except ConfigError:
            raise error from None


def _apply_override(root: _Section, schema: type, text: str) -> None:
    src = _Source(f"--set {text}", has_lines=False)
    dotted, sep, raw = text.partition("=")
    if not sep or not dotted.strip():
        raise ConfigError("expected KEY=VALUE, e.g. --set curriculum.epochs=[1,1]", str(src))
    *parents, name = dotted.strip().split(".")
    section, path = root, ""
    for part in parents:
        _check_known(schema, part, path, src)
        sub = _section_type(_hints(schema)[part])
        if sub is None:
            key = _join(path, part)
            message = f"'{key}' is a value, not a section: set it whole, e.g. --set {key}=..."
            raise ConfigError(message, str(src))
        section, schema, path = _child_section(section, part, src), sub, _join(path, part)
    _check_known(schema, name, path, src)
    try:
        value = yaml.load(raw, Loader=_Loader)
    except yaml.YAMLError as error:
        try:  # not YAML, but maybe a fine string
            _merge_entry(section, schema, name, raw, src, path)
        except ConfigError:
            problem = getattr(error, "problem", None) or error
            message = f"cannot read {raw!r} as a YAML value ({problem}); quote or fix it"
            raise ConfigError(message, str(src)) from None
        return
    _merge_entry(section, schema, name, value, src, path, raw=raw)


def _build(schema: type[T], section: _Section, base: T | None, path: str) -> T:
    """An instance of ``schema``: ``base`` (or the class defaults) updated by ``section``."""
    fields = _settable_fields(schema)
    kwargs = {}
    for name, entry in section.entries.items():
        if isinstance(entry, _Leaf):
            kwargs[name] = entry.value
            continue
        # A section starts from its parent's default (which may differ from its own class defaults).
        sub_base = getattr(base, name) if base is not None else _field_default(fields[name])
        sub_base = sub_base if dataclasses.is_dataclass(sub_base) else None
        kwargs[name] = _build(_section_type(_hints(schema)[name]), entry, sub_base, _join(path, name))
    where = ", ".join(dict.fromkeys(section.sources)) or None
    if base is None:
        missing = [n for n, f in fields.items() if n not in kwargs and _field_default_missing(f)]
        if missing:
            names = ", ".join(repr(n) for n in missing)
            raise ConfigError(f"missing required key(s) {names} {_in_section(path)}", where)
    try:
        return dataclasses.replace(base, **kwargs) if base is not None else schema(**kwargs)
    except (ValueError, TypeError) as error:  # a __post_init__ check
        raise ConfigError(f"invalid {f'section {path!r}' if path else 'config'}: {error}", where) from error


def _from_mapping(schema: type[T], data: Mapping, src: _Source, path: str = "") -> T:
    section = _Section(sources=[str(src)])
    _merge_mapping(section, schema, data, src, path)
    return _build(schema, section, None, path)


def _require_schema(schema: Any) -> None:
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
        raise TypeError(f"a config schema must be a dataclass type, got {schema!r}")


# --------------------------------------------------------------------------- public API


def load_config(schema: type[T], files: Sequence[str | Path] = (), overrides: Sequence[str] = ()) -> T:
    """The defaults of ``schema``, updated by each YAML file in order, then by each override.

    Args:
        schema: A dataclass type; fields whose type is a dataclass (or ``Dataclass | None``) are sections.
        files: YAML files holding only what differs from the defaults; an empty file changes nothing.
        overrides: ``dotted.key=value`` strings; the value is read as YAML (``[1,1]``, ``0.2``, ``true``,
            ``null``, ``{a: 1}``); a text that fails as YAML or as the field's type is tried as a string.

    Raises:
        ConfigError: Unknown key, wrong type, bad YAML or a failing ``__post_init__`` check, naming
            the file and line or the ``--set`` argument.
    """
    _require_schema(schema)
    files = [files] if isinstance(files, (str, PurePath)) else files
    overrides = [overrides] if isinstance(overrides, str) else overrides
    root = _Section()
    for path in files:
        data = _read_yaml(path)
        root.sources.append(str(path))
        if data:
            _merge_mapping(root, schema, data, _Source(str(path)), "")
    for text in overrides:
        root.sources.append(f"--set {text}")
        _apply_override(root, schema, text)
    return _build(schema, root, None, "")


def from_dict(schema: type[T], data: Mapping, source: str = "<dict>") -> T:
    """``schema`` built from a nested mapping (e.g. :func:`to_dict` output), as strictly as a file.

    Keys left out keep their defaults; ``source`` names the mapping in error messages.
    """
    _require_schema(schema)
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of keys to values, got {_show(data)}", source)
    return _from_mapping(schema, data, _Source(source, has_lines=False))


def _to_plain(value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name), _join(key, f.name))
                for f in dataclasses.fields(value) if f.init}
    if isinstance(value, Mapping):
        return {k: _to_plain(v, _join(key, k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    kind = type(value).__name__
    raise TypeError(f"'{key}' holds a value of type {kind!r}, which a YAML config cannot store")


def to_dict(config: Any) -> dict[str, Any]:
    """A config (dataclass instance) as a plain nested dict: lists not tuples, paths as strings."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"to_dict expects a dataclass instance, got {type(config).__name__}")
    return _to_plain(config, "")


def dump_yaml(config: Any, path: str | Path) -> None:
    """Write a config (dataclass or mapping) as YAML that :func:`load_config` reads back as an equal one."""
    data = to_dict(config) if dataclasses.is_dataclass(config) else _to_plain(dict(config), "")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # default_flow_style=None: sections as blocks, short lists of scalars inline (`epochs: [1, 1]`).
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


def _flat_text(value: Any) -> Scalar:
    if value is None:
        return "null"
    if isinstance(value, (bool, int, float, str)):
        return value
    # Lists (and empty mappings) as the YAML one would write after --set, e.g. '[1, 1, 1, 1]'.
    return yaml.dump(value, Dumper=_Dumper, default_flow_style=True, width=float("inf")).strip()


def flatten(config: Any, sep: str = ".") -> dict[str, Scalar]:
    """A config or nested mapping as ``{'section.key': scalar}``, e.g. for TensorBoard's ``add_hparams``.

    Args:
        config: A dataclass instance or a nested mapping.
        sep: Joins the keys of nested sections.

    Lists become their YAML text (``'[1, 1]'``) and None becomes ``'null'``, since hparams take scalars only.
    """
    data = _to_plain(config, "")
    if not isinstance(data, Mapping):
        raise TypeError(f"flatten expects a dataclass instance or a mapping, got {type(config).__name__}")
    flat: dict[str, Scalar] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                walk(f"{prefix}{sep}{k}", v)
        else:
            flat[prefix] = _flat_text(value)

    for k, v in data.items():
        walk(str(k), v)
    return flat
