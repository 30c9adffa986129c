"""The `ml-actions` console script.

Every command declares its inputs once (`Option`), and that one declaration gives it a CLI
flag (`--model-name`), an action input (`INPUT_MODEL-NAME`, exactly as the runner sets it) and
the contract tests that keep `actions/<name>/action.yml` honest. Commands live one per module
in `core/commands/`; each module exposes `COMMANDS`, a list of `Command`.

Exit codes: 0 success, 1 a negative verdict (gate failed, rollout rolled back), 2 a usage,
data or infrastructure error (one line, no traceback unless `--debug`).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import __version__
from core.errors import InputError, MlActionsError, first_line
from core.github_actions import ActionsRunner

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

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


def environment_option(action_input: bool = True) -> Option:
    """--environment of every command; `core.config.load_config` falls back to $ML_ACTIONS_ENV."""
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
    return values


def discover_commands() -> list[Command]:
    """Every `COMMANDS` list in `core.commands.*`, sorted by name."""
    import core.commands as package

    found: list[Command] = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"core.commands.{info.name}")
        found.extend(getattr(module, "COMMANDS", []))
    return sorted(found, key=lambda c: c.name)


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ml-actions", description="Quality gates, canary releases and rollback for ML models."
    )
    parser.add_argument("--version", action="version", version=f"ml-actions {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for command in commands:
        head, _, tail = command.name.partition(" ")
        target = subparsers
        if tail:
            if head not in groups:
                group = subparsers.add_parser(head, help=f"{head} commands")
                groups[head] = group.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
            target = groups[head]
        sub = target.add_parser(tail or head, help=command.help, description=command.help)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks")
        for option in command.options:
            flag = f"--{option.name}"
            default_note = f" (default: {option.default})" if option.default is not None else ""
            if option.kind == "bool":
                sub.add_argument(flag, dest=option.dest, action="store_true", default=None,
                                 help=option.help + default_note)
            else:
                sub.add_argument(flag, dest=option.dest, default=None, metavar=option.dest.upper(),
                                 help=option.help + default_note)
        sub.set_defaults(_command=command)
    return parser


def main(argv: Sequence[str] | None = None, runner: ActionsRunner | None = None,
         commands: Sequence[Command] | None = None) -> int:
    runner = runner or ActionsRunner()
    commands = discover_commands() if commands is None else commands
    parser = build_parser(commands)
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "_command", None)
    if command is None:
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False)) or runner.env.get("ML_ACTIONS_DEBUG") == "true"
    try:
        inputs = resolve_inputs(command, args, runner)
        return int(command.run(inputs, runner))
    except MlActionsError as err:
        runner.error(f"{err.kind}: {err}", title=f"ml-actions {command.name}")
        if debug:
            traceback.print_exc()
        return err.exit_code
    except KeyboardInterrupt:
        runner.error("interrupted")
        return 130
    except Exception as err:  # noqa: BLE001 - anything else is our bug, and we say so
        runner.error(
            f"internal error in ml-actions {__version__} ({type(err).__name__}: "
            f"{first_line(err)}); "
            "this is a bug: rerun with --debug and report the traceback",
            title=f"ml-actions {command.name}",
        )
        if debug:
            traceback.print_exc()
        return 2


def entrypoint() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
