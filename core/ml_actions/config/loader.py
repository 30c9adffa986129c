"""YAML to typed dataclasses, with errors that point at the bad key and the file.

The loader knows nothing about ml-actions' settings; `core/ml_actions/config/settings.py` declares
them. Any
mapping may hold overlays named after an environment (`dev`, `staging`, `prod`): when that
environment is selected the overlay is merged over its siblings, so both
`thresholds: {prod: {auc_roc: 0.92}}` and `prod: {thresholds: {auc_roc: 0.92}}` work. Every
value remembers where it came from, so an error names the path as written in the file.

Field metadata understood by the builder:
- `range=(lo, hi)`: numbers must lie in [lo, hi] (None for an open end);
- `choices=(...)`: strings must be one of these;
- `keys=(...)`: for dict fields, the allowed keys;
- `shorthand="min"`: a scalar given for a dataclass field means `{shorthand: scalar}`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from ml_actions.errors import ConfigurationError

ENVIRONMENTS = ("dev", "staging", "prod")


@dataclasses.dataclass
class Node:
    """A value with the key path it was written at (`thresholds.prod.auc_roc`) and its file."""

    value: Any
    path: str
    source: str

    def where(self) -> str:
        return f"{self.source}: {self.path}" if self.path else self.source


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; syntax errors carry the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path}: config file not found; pass an existing --config or omit it to use the "
            "built-in defaults"
        ) from None
    except OSError as err:
        raise ConfigurationError(f"{path}: cannot read config file ({err.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigurationError(f"{path}: malformed YAML{where}: {problem}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def resolve(raw: Any, environment: str, source: str, path: str = "") -> Node:
    """Wrap a parsed document in Nodes and apply the selected environment's overlays."""
    if isinstance(raw, Mapping):
        merged: dict[str, Node] = {}
        for key, value in raw.items():
            if not isinstance(key, str):
                raise ConfigurationError(f"{source}: {_join(path, str(key))}: keys must be strings")
            if key in ENVIRONMENTS:
                continue
            merged[key] = resolve(value, environment, source, _join(path, key))
        overlay = raw.get(environment)
        if overlay is not None:
            if not isinstance(overlay, Mapping):
                raise ConfigurationError(
                    f"{source}: {_join(path, environment)}: expected a mapping of overrides, "
                    f"got {type(overlay).__name__}"
                )
            merge_into(merged, resolve(overlay, environment, source, _join(path, environment)))
        return Node(merged, path, source)
    if isinstance(raw, list):
        return Node([resolve(v, environment, source, f"{path}[{i}]") for i, v in enumerate(raw)],
                    path, source)
    return Node(raw, path, source)


def merge_into(base: dict[str, Node], overlay: Node) -> None:
    """Deep-merge: mappings merge key by key, anything else replaces."""
    for key, node in overlay.value.items():
        current = base.get(key)
        if current is not None and isinstance(current.value, dict) and isinstance(node.value, dict):
            merged = dict(current.value)
            merge_into(merged, node)
            base[key] = Node(merged, node.path, node.source)
        else:
            base[key] = node


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "nothing (null)"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    return repr(value)


def _fail(node: Node, message: str) -> ConfigurationError:
    return ConfigurationError(f"{node.where()}: {message}")


def build(cls: Any, node: Node, meta: Mapping[str, Any] | None = None) -> Any:
    """Convert a Node into `cls` (a type hint), validating as it goes."""
    meta = meta or {}
    origin = typing.get_origin(cls)
    args = typing.get_args(cls)
    value = node.value
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return None
        return build(options[0], node, meta) if len(options) == 1 else _build_union(options, node,
                                                                                  meta)
    if cls is Any:
        return _plain(node)
    if origin is Literal:
        if value not in args:
            wanted = ", ".join(map(str, args))
            raise _fail(node, f"expected one of {wanted}, got {_describe(value)}")
        return value
    if dataclasses.is_dataclass(cls):
        return _build_dataclass(cls, node, meta)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _fail(node, f"expected a list, got {_describe(value)}")
        items = [build(args[0] if args else Any, item) for item in value]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(node, f"expected a mapping, got {_describe(value)}")
        allowed = meta.get("keys")
        out = {}
        for key, child in value.items():
            if allowed is not None and key not in allowed:
                raise _fail(child, f"unknown name '{key}'; valid names are: {', '.join(allowed)}")
            out[key] = build(args[1] if len(args) > 1 else Any, child, meta.get("item_meta"))
        return out
    if cls is bool:
        if not isinstance(value, bool):
            raise _fail(node, f"expected true or false, got {_describe(value)}")
        return value
    if cls in (int, float):
        return _build_number(cls, node, meta)
    if cls is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _fail(node, f"expected a string, got {_describe(value)}")
        text = str(value)
        choices = meta.get("choices")
        if choices and text not in choices:
            raise _fail(node, f"expected one of {', '.join(choices)}, got {_describe(value)}")
        return text
    raise TypeError(f"config type {cls!r} is not supported by the loader")


def _build_union(options: list[Any], node: Node, meta: Mapping[str, Any]) -> Any:
    errors = []
    for option in options:
        try:
            return build(option, node, meta)
        except ConfigurationError as err:
            errors.append(str(err))
    raise ConfigurationError(errors[-1])


def _build_number(cls: type, node: Node, meta: Mapping[str, Any]) -> float | int:
    value = node.value
    lo, hi = meta.get("range", (None, None))
    if lo is not None and hi is not None:
        wanted = f"a number in [{lo}, {hi}]"
    elif lo is not None:
        wanted = f"a number >= {lo}"
    else:
        wanted = "an integer" if cls is int else "a number"
    ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    if cls is int and ok_type and not float(value).is_integer():
        ok_type = False
    if not ok_type or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _fail(node, f"expected {wanted}, got {_describe(value)}")
    return cls(value)


def _build_dataclass(cls: Any, node: Node, meta: Mapping[str, Any]) -> Any:
    value = node.value
    shorthand = meta.get("shorthand") or getattr(cls, "__config_shorthand__", None)
    if shorthand and not isinstance(value, dict):
        node = Node({shorthand: Node(value, _join(node.path, shorthand), node.source)}, node.path,
                    node.source)
        # keep the written path for the error message: the scalar itself was the bad key
        node.value[shorthand].path = node.path
        value = node.value
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _fail(node, f"expected a mapping, got {_describe(value)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, child in value.items():
        if key not in fields:
            raise _fail(child, f"unknown key; valid keys here are: {', '.join(sorted(fields))}")
        kwargs[key] = build(hints[key], child, fields[key].metadata)
    try:
        obj = cls(**kwargs)
    except (ValueError, TypeError) as err:
        raise _fail(node, str(err)) from None
    return obj


def _plain(node: Node) -> Any:
    value = node.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
