"""Config files in and out: YAML read with the line of every key (for messages that name it), and
configs written back as YAML or flattened for TensorBoard. :mod:`cer.config` merges and checks."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, Union

import yaml

Scalar = Union[bool, int, float, str]


class ConfigError(ValueError):
    """A config that cannot be used: ``where: what is wrong (and what to do)``; ``where`` is ``file:line``
    for a value from a YAML file, ``--set key=value`` (or an :class:`Override`'s ``where``) for an override."""

    def __init__(self, message: str, where: str | None = None):
        self.message, self.where = message, where
        super().__init__(f"{where}: {message}" if where else message)




def _show(value: Any) -> str:
    if isinstance(value, Mapping) or value is None:
        return "a mapping" if value is not None else "null"
    text = repr(value)
    return f"{text if len(text) <= 60 else text[:57] + '...'} ({type(value).__name__})"


def _join(path: str, name: Any) -> str:
    return f"{path}.{name}" if path else str(name)


class _YamlMapping(dict):
    """A mapping read from YAML that remembers the 1-based line of each of its keys."""

    key_lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that records key lines, rejects duplicate keys and reads ``1e-3`` as a float."""


class _Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that quotes strings like '1e-3', which :class:`_Loader` would read as floats."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _YamlMapping:
    loader.flatten_mapping(node)  # resolves '<<: *anchor' merge keys
    mapping = _YamlMapping()
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key, mark = loader.construct_object(key_node, deep=True), key_node.start_mark
        if not isinstance(key, typing.Hashable):
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value, not a list "
                                                    "or mapping", mark)
        if key in mapping:  # safe_load keeps the last of two equal keys; a config would silently ignore the first
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r} (first given on line "
                                                    f"{mapping.key_lines[key]}): keep one", mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.1 (PyYAML) needs a dot in a float, so `lr: 1e-3` would be the string '1e-3'; YAML 1.2 reads a float.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
for _cls in (_Loader, _Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def read_yaml(path: str | Path) -> Mapping | None:
    """The top-level mapping of a YAML file, or None for an empty file."""
    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)
    except FileNotFoundError:
        raise ConfigError("config file not found; check the path", str(path)) from None
    except OSError as error:
        raise ConfigError(f"cannot read the config file: {error.strerror}", str(path)) from None
    except yaml.YAMLError as error:
        mark, context = getattr(error, "problem_mark", None), getattr(error, "context", None)
        if context and getattr(error, "context_mark", None) is not None:
            context += f" started on line {error.context_mark.line + 1}"
        message = f"invalid YAML: {getattr(error, 'problem', None) or error}" + (f" ({context})" if context else "")
        raise ConfigError(message, f"{path}:{mark.line + 1}" if mark is not None else str(path)) from None
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(f"the top level must be a mapping of keys to values, got {_show(data)}", str(path))
    return data


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
    raise TypeError(f"'{key}' holds a value of type {type(value).__name__!r}, which a YAML config cannot store")


def to_dict(config: Any) -> dict[str, Any]:
    """A config (dataclass instance) as a plain nested dict: lists not tuples, paths as strings."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"to_dict expects a dataclass instance, got {type(config).__name__}")
    return _to_plain(config, "")


def dump_yaml(config: Any, path: str | Path) -> None:
    """Write a config (dataclass or mapping) as YAML that :func:`load_config` reads back as an equal one."""
    data = to_dict(config) if dataclasses.is_dataclass(config) else _to_plain(dict(config), "")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # default_flow_style=None: sections as blocks, short lists of scalars inline (`epochs: [1, 1]`).
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None, allow_unicode=True)
    Path(path).write_text(text, encoding="utf-8")


def flatten(config: Any, sep: str = ".") -> dict[str, Scalar]:
    """A config or nested mapping as ``{'section.key': scalar}``, e.g. for TensorBoard's ``add_hparams``.

    Nested keys are joined by ``sep``. Lists (and empty mappings) become the YAML one would write after
    ``--set`` (``'[1, 1]'``) and None becomes ``'null'``, since hparams take scalars only.
    """
    data = _to_plain(config, "")
    if not isinstance(data, Mapping):
        raise TypeError(f"flatten expects a dataclass instance or a mapping, got {type(config).__name__}")

    def walk(prefix: str, value: Any) -> Iterable[tuple[str, Scalar]]:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                yield from walk(f"{prefix}{sep}{k}", v)
        elif value is None or isinstance(value, (bool, int, float, str)):
            yield prefix, "null" if value is None else value
        else:
            yield prefix, yaml.dump(value, Dumper=_Dumper, default_flow_style=True, width=float("inf")).strip()

    return {key: flat for k, v in data.items() for key, flat in walk(str(k), v)}
