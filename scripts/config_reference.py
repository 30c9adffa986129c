"""The configuration reference of `ml-actions.yaml`, generated from
`core/ml_actions/config/settings.py`.

WHY: the README must list every key with its default, and a hand-written list drifts the day
someone adds a field. This walks the `Config` dataclasses (the same ones the loader validates
against) and reads the effective defaults per environment from `load_config`, so built-in
overlays in `core/ml_actions/config/defaults/*.yaml` (looser thresholds in dev, longer intervals
in prod) show.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from ml_actions.config.loader import ENVIRONMENTS
from ml_actions.config.settings import Config, load_config


def type_name(tp: Any) -> str:
    """A reader's name for an annotation: `number`, `list of string`, `string or null`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        parts = [type_name(arg) for arg in typing.get_args(tp) if arg is not type(None)]
        nullable = type(None) in typing.get_args(tp)
        return " or ".join(parts) + (" or null" if nullable else "")
    if origin is list:
        return f"list of {type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        key, value = typing.get_args(tp)
        return f"map of {type_name(key)} to {type_name(value)}"
    if dataclasses.is_dataclass(tp):
        names = ", ".join(f.name for f in dataclasses.fields(tp) if f.init)
        return f"{{{names}}}"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def allowed(metadata: typing.Mapping[str, Any]) -> str:
    if "range" in metadata:
        lo, hi = metadata["range"]
        if hi is None:
            return f"≥ {lo}"
        return f"[{lo}, {hi}]" if lo is not None else f"≤ {hi}"
    if "choices" in metadata:
        return " \\| ".join(str(c) for c in metadata["choices"])
    if "keys" in metadata:
        return "keys: " + ", ".join(str(k) for k in metadata["keys"])
    return ""


def _value(tree: Any, path: list[str]) -> str:
    for part in path:
        tree = tree[part]
    text = json.dumps(tree, sort_keys=True, default=str)
    if isinstance(tree, dict) and tree and all(isinstance(v, dict) for v in tree.values()):
        # thresholds: {"auc_roc": {"max": null, "min": 0.8}} -> auc_roc >= 0.8
        parts = []
        for key, bounds in tree.items():
            for bound, sign in (("min", "≥"), ("max", "≤")):
                if bounds.get(bound) is not None:
                    parts.append(f"{key} {sign} {bounds[bound]}")
        text = ", ".join(parts) or text
    return "`" + text.replace("|", "\\|") + "`"


def _rows(cls: type, prefix: list[str], trees: dict[str, Any]) -> list[str]:
    hints = typing.get_type_hints(cls)
    rows = []
    for fld in dataclasses.fields(cls):
        if not fld.init:
            continue
        tp = hints[fld.name]
        path = prefix + [fld.name]
        if dataclasses.is_dataclass(tp):
            rows += _rows(tp, path, trees)
            continue
        values = [_value(trees[env], path) for env in ENVIRONMENTS]
        rows.append(f"| `{'.'.join(path)}` | {type_name(tp)} | {allowed(fld.metadata)} | "
                    + " | ".join(values) + " |")
    return rows


def config_reference() -> str:
    """A Markdown table: every key, its type, allowed values and its default per environment."""
    trees = {env: load_config(None, env).as_dict() for env in ENVIRONMENTS}
    header = ["| Key | Type | Allowed | " + " | ".join(f"default in `{e}`" for e in ENVIRONMENTS)
              + " |", "|---|---|---|" + "---|" * len(ENVIRONMENTS)]
    return "\n".join(header + _rows(Config, [], trees)) + "\n"


if __name__ == "__main__":
    print(config_reference())
