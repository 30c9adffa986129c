"""The `ml-actions` console script: finds the commands, parses flags, maps errors to exits.

Commands live one per module in `ml_actions/cli/commands/`; each module exposes `COMMANDS`, a
list of `Command` (`ml_actions.cli.declarations`).

Exit codes: 0 success, 1 a negative verdict (gate failed, rollout rolled back), 2 a usage,
data or infrastructure error (one line, no traceback unless `--debug`).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Sequence

from ml_actions import __version__
from ml_actions.cli.declarations import Command, resolve_inputs
from ml_actions.cli.runner import ActionsRunner
from ml_actions.errors import MlActionsError, first_line


def discover_commands() -> list[Command]:
    """Every `COMMANDS` list in `ml_actions.cli.commands.*`, sorted by name."""
    import ml_actions.cli.commands as package

    found: list[Command] = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"ml_actions.cli.commands.{info.name}")
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

