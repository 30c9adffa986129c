"""The README, action.yml and the CLI agree on which inputs are required.

canary-deploy's `candidate` was "Required: no" in the README and action.yml while the command
stopped with "missing required input 'candidate'" (unless `--resume`). Requirements now live in
the `Option` declarations (`required`, or `required_unless` another input), the CLI enforces
them before any service is contacted, and the generated tables say the same.
"""

from __future__ import annotations

import io
import re

import pytest

from ml_actions.cli.main import main
from ml_actions.cli.runner import ActionsRunner
from tests.contract.conftest import ROOT, SPECS, command_or_skip
from tests.contract.test_readme_tables import block, parse_table, unquote

NAMES = [spec.name for spec in SPECS]
RAISED = re.compile(r"missing required input '([a-z][a-z0-9-]*)'")


def declared_requirement(option) -> str:
    """How the README's Required column must read for `option`."""
    if option.required:
        return "yes"
    return f"unless `{option.required_unless}`" if option.required_unless else "no"


def test_every_input_the_code_demands_is_declared_required():
    """No module may demand an input that its declaration (hence the README) calls optional."""
    from ml_actions.cli.main import discover_commands

    requirement = {}
    for command in discover_commands():
        for option in command.options:
            if option.required or option.required_unless:
                requirement.setdefault(option.name, set()).add(command.name)
    demanded = {}
    for path in (ROOT / "core" / "ml_actions").rglob("*.py"):
        for name in RAISED.findall(path.read_text(encoding="utf-8")):
            demanded.setdefault(name, []).append(str(path.relative_to(ROOT)))
    undeclared = {name: where for name, where in demanded.items() if name not in requirement}
    assert not undeclared, f"demanded by the code, optional in the declarations: {undeclared}"


@pytest.mark.parametrize("name", NAMES)
def test_the_readme_required_column_is_the_declaration(name):
    command = command_or_skip(name)
    rows = parse_table(block((ROOT / "README.md").read_text(encoding="utf-8"),
                             f"{name}:inputs"))
    required = {unquote(r["Name"]): r["Required"] for r in rows}
    for option in (o for o in command.options if o.action_input):
        assert required[option.name] == declared_requirement(option), option.name


def run(argv: list[str], tmp_path) -> tuple[int, list[str], str]:
    stream = io.StringIO()
    runner = ActionsRunner(env={"PATH": "/usr/bin:/bin"}, stream=stream)
    code = main(argv, runner=runner)
    log = stream.getvalue()
    return code, [line for line in log.splitlines() if line.startswith("error:")], log


def test_canary_deploy_without_candidate_stops_before_any_service(tmp_path):
    """Nothing listens on the URLs: the requirement is checked before anything is contacted."""
    command_or_skip("canary-deploy")
    base = ["canary-deploy", "--model-name", "m", "--target-url", "http://127.0.0.1:9",
            "--prometheus-url", "http://127.0.0.1:9", "--tracking-uri", "http://127.0.0.1:9",
            "--report-dir", str(tmp_path)]
    code, errors, log = run(base, tmp_path)
    assert code == 2 and len(errors) == 1, log
    assert "missing required input 'candidate'" in errors[0] and "--resume" in errors[0]
    assert "did not answer" not in log
