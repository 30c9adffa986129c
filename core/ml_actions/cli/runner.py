"""The GitHub Actions runner contract, in one class.

No other module prints `::` workflow commands or touches `$GITHUB_OUTPUT`: everything goes
through `ActionsRunner`, so the same code runs unchanged on a laptop, in another CI (plain
stdout) and in a GitHub job. See
https://docs.github.com/actions/reference/workflow-commands-for-github-actions
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from typing import TextIO

from ml_actions.github.workflow_context import WorkflowContext
from ml_actions.redaction import redact


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def input_env_name(name: str) -> str:
    """The variable the runner sets for an input: upper-cased, spaces to `_`, hyphens kept."""
    return "INPUT_" + name.replace(" ", "_").upper()


def output_text(value: object) -> str:
    """How a Python value is written as an output: booleans as true/false, None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True)


def parse_output_file(text: str) -> dict[str, str]:
    """Read a `$GITHUB_OUTPUT` file back as the runner does: `name=value` and heredoc blocks.

    The demo and the contract tests read a step's outputs with it, so what they see is what a
    later workflow step would see.
    """
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        name, _, value = line.partition("=")
        if name:
            outputs[name] = value
        i += 1
    return outputs


class ActionsRunner:
    """Reads inputs and writes outputs, summaries and annotations the way the runner expects."""

    def __init__(self, env: Mapping[str, str] | None = None, stream: TextIO | None = None):
        self.env = dict(os.environ if env is None else env)
        self.stream = stream or sys.stdout

    # -- context ---------------------------------------------------------------------------
    @property
    def on_github(self) -> bool:
        return self.env.get("GITHUB_ACTIONS") == "true"

    def get_input(self, name: str) -> str | None:
        """An input's value, or None when unset or empty (the runner sets unset inputs to '')."""
        value = self.env.get(input_env_name(name), "").strip()
        return value or None

    @property
    def context(self) -> WorkflowContext:
        """The run's repository, commit, API server and triggering event, read from the env."""
        return WorkflowContext.from_env(self.env)

    # -- outputs ---------------------------------------------------------------------------
    def set_output(self, name: str, value: object) -> None:
        """Write one output; multi-line values use a random heredoc delimiter."""
        text = redact(output_text(value))
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            self.stream.write(f"output {name}={text}\n")
            return
        with open(path, "a", encoding="utf-8") as fh:
            if "\n" in text or "\r" in text:
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
                fh.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
            else:
                fh.write(f"{name}={text}\n")

    def add_summary(self, markdown: str) -> None:
        """Append Markdown to the job summary; outside GitHub it goes to stdout."""
        markdown = redact(markdown)
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if not path:
            self.stream.write(markdown.rstrip("\n") + "\n")
            return
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n")

    # -- log commands ----------------------------------------------------------------------
    def _command(self, command: str, message: str, **props: object) -> None:
        rendered = ",".join(
            f"{key}={_escape_property(str(val))}" for key, val in props.items() if val is not None
        )
        head = f"::{command} {rendered}" if rendered else f"::{command}"
        self.stream.write(f"{head}::{_escape_data(redact(message))}\n")
        self.stream.flush()

    def error(self, message: str, title: str | None = None, file: str | None = None,
              line: int | None = None) -> None:
        if self.on_github:
            self._command("error", message, title=title, file=file, line=line)
        else:
            self.stream.write(f"error: {redact(message)}\n")

    def warning(self, message: str, title: str | None = None) -> None:
        if self.on_github:
            self._command("warning", message, title=title)
        else:
            self.stream.write(f"warning: {redact(message)}\n")

    def notice(self, message: str, title: str | None = None) -> None:
        if self.on_github:
            self._command("notice", message, title=title)
        else:
            self.stream.write(f"notice: {redact(message)}\n")

    def info(self, message: str) -> None:
        """A log line; text from elsewhere (a gateway, Prometheus, the registry) can never
        become a workflow command: a line that starts with `::` is indented."""
        lines = redact(message).split("\n")
        self.stream.write("\n".join(" " + ln if ln.lstrip().startswith("::") else ln
                                     for ln in lines) + "\n")
        self.stream.flush()

    def mask(self, secret: str | None) -> None:
        """Ask the runner to redact a value from all later log lines."""
        if secret and self.on_github:
            self._command("add-mask", secret)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.on_github:
            self.stream.write(f"::group::{_escape_data(title)}\n")
        else:
            self.stream.write(f"== {title}\n")
        try:
            yield
        finally:
            if self.on_github:
                self.stream.write("::endgroup::\n")
            self.stream.flush()
