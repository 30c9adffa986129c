"""`ml-actions` with a record of the inputs a command reads (see runner_emulation.py).

The command runs through the real `ml_actions.cli.main.main`; only the resolved `Inputs` handed to
`Command.run` is swapped for a subclass that notes every key read by attribute, item or
`.get`. Iterating over all inputs counts as reading all of them.
"""

from __future__ import annotations

import atexit
import json
import os
import sys

import ml_actions.cli.main as cli
from ml_actions.cli import declarations

READ: set[str] = set()


class TracedInputs(declarations.Inputs):
    def __getattr__(self, item):
        READ.add(item)
        return super().__getattr__(item)

    def __getitem__(self, key):
        READ.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        READ.add(key)
        return super().get(key, default)

    def __iter__(self):
        READ.update(dict.keys(self))
        return super().__iter__()

    def items(self):
        READ.update(dict.keys(self))
        return super().items()

    def values(self):
        READ.update(dict.keys(self))
        return super().values()


_resolve = cli.resolve_inputs


def traced_resolve(command, args, runner):
    return TracedInputs(_resolve(command, args, runner))


def _dump() -> None:
    path = os.environ.get("ML_ACTIONS_TRACE_INPUTS")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(sorted(READ), fh)


cli.resolve_inputs = traced_resolve
atexit.register(_dump)

if __name__ == "__main__":
    sys.argv[0] = "ml-actions"
    cli.entrypoint()
