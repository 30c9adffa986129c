"""What a command is: its options, each one CLI flag and one action input of the same name.

Every command declares its inputs once (`Option`), and that one declaration gives it a CLI
flag (`--model-name`), an action input (`INPUT_MODEL-NAME`, exactly as the runner sets it) and
the contract tests that keep `actions/<name>/action.yml` honest. Inputs resolve in one order:
the CLI flag, then the action input, then extra environment variables, then the default.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ml_actions.cli.runner import ActionsRunner
from ml_actions.errors import InputError

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Option:
    """One input of a command: a CLI flag and an action input of the same kebab-case name."""

    name: str
    help: str
    default: str | None = None
    required: bool = False
    kind: str = "str"  # str | int | float | bool | list (comma-separated)
    secret: bool = False
    env: tuple[str, ...] = ()  # further environment variables read before the default
    action_input: bool = True  # False: CLI/env only (e.g. --debug, server options)
    # required unless this bool option is true (e.g. canary-deploy's candidate unless resume);
    # enforced here like `required`, and written so in action.yml and the README tables
    required_unless: str | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


def environment_option(action_input: bool = True) -> Option:
    """--environment of every command; `ml_actions.config.settings.load_config` falls back to
    $ML_ACTIONS_ENV."""
    return Option("environment", "dev | staging | prod (default: $ML_ACTIONS_ENV, then dev)",
                  action_input=action_input)


def tracking_uri_option(help: str = "MLflow tracking/registry URI",
                        action_input: bool = True) -> Option:
    """--tracking-uri of every command that reaches MLflow, with the usual env fallback."""
    return Option("tracking-uri", help, env=("MLFLOW_TRACKING_URI",), action_input=action_input)


TARGET_URL = Option("target-url", "the serving gateway's base URL", required=True)


@dataclass(frozen=True)
class Command:
    """A subcommand; `name` may hold a space for a nested group (`gateway serve`)."""

    name: str
    help: str
    run: Callable[[Inputs, ActionsRunner], int]
    options: tuple[Option, ...] = field(default_factory=tuple)


class Inputs(dict):
    """Resolved inputs by snake_case name, readable as attributes."""

    def __getattr__(self, item: str) -> Any:
        try:
            return self[item]
        except KeyError as err:
            raise AttributeError(item) from err


def convert(option: Option, raw: str | None, source: str) -> Any:
    """Turn a raw string into the option's type; the error names the input and the fix."""
    if raw is None:
        return [] if option.kind == "list" else None
    text = raw.strip()
    try:
        if option.kind == "int":
            return int(text)
        if option.kind == "float":
            return float(text)
    except ValueError:
        raise InputError(
            f"{source}: expected {'an integer' if option.kind == 'int' else 'a number'}, "
            f"got {text!r}"
        ) from None
    if option.kind == "bool":
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise InputError(f"{source}: expected true or false, got {text!r}")
    if option.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def resolve_inputs(command: Command, args: argparse.Namespace, runner: ActionsRunner) -> Inputs:
    """CLI flag, then the action input, then extra env vars, then the default."""
    values = Inputs()
    for option in command.options:
        raw = getattr(args, option.dest, None)
        source = f"--{option.name}"
        if option.kind == "bool" and raw is False:
            raw = None
        elif option.kind == "bool" and raw is True:
            raw = "true"
        if raw is None and option.action_input:
            raw = runner.get_input(option.name)
            source = f"input '{option.name}'"
        for var in option.env:
            if raw is None and runner.env.get(var, "").strip():
                raw, source = runner.env[var], f"${var}"
        if raw is None:
            raw, source = option.default, f"default of --{option.name}"
        if option.required and raw in (None, ""):
            hint = f" or set ${option.env[0]}" if option.env else ""
            raise InputError(
                f"missing required input '{option.name}': pass --{option.name}{hint} "
                f"(action input '{option.name}')"
            )
        values[option.dest] = convert(option, raw, source)
        if option.secret and values[option.dest]:
            runner.mask(values[option.dest])
    for option in command.options:
        lifted = option.required_unless
        if lifted and values[option.dest] in (None, "") and not values[lifted.replace("-", "_")]:
            raise InputError(
                f"missing required input '{option.name}': pass --{option.name} (action input "
                f"'{option.name}'); it may be left out only with --{lifted} (input '{lifted}')")
    return values
