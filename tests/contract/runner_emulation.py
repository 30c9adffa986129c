"""Run an action's entrypoint the way the GitHub runner runs a Docker action.

Inside the container the runner executes the image's ENTRYPOINT (`ml-actions`) with
`runs.args` (the subcommand) and NO flags; every input arrives as `INPUT_<NAME>` with hyphens
kept (the action.yml default when the workflow gives none), next to `GITHUB_OUTPUT`,
`GITHUB_STEP_SUMMARY`, `GITHUB_EVENT_PATH`, `GITHUB_WORKSPACE` (also the working directory)
and `GITHUB_ACTIONS=true`. `run_action` reproduces exactly that with a subprocess and parses
what the command wrote back.

`traced=True` runs `tests/contract/traced_entrypoint.py` instead of the console script: the
same `ml_actions.cli.main.main`, plus a record of which inputs the command read, so an input
declared in
action.yml that no code path reads fails a test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ml_actions.cli.runner import input_env_name, parse_output_file

ROOT = Path(__file__).resolve().parents[2]
TRACED = Path(__file__).with_name("traced_entrypoint.py")
PR_EVENT = Path(__file__).with_name("fixtures") / "pull_request_event.json"
# What the runner would substitute for expressions in action.yml defaults.
EXPRESSIONS = {"${{ github.token }}": "ghs_contracttesttoken000000000000000000"}


@dataclass
class ActionRun:
    """What one run left behind: exit code, outputs, summary, log, inputs read."""

    returncode: int
    outputs: dict[str, str]
    summary: str
    log: str
    inputs_read: set[str] = field(default_factory=set)
    workspace: Path = Path(".")


def runner_env(workspace: Path, inputs: dict[str, str], action: dict,
               extra: dict[str, str] | None = None) -> dict[str, str]:
    """The container's environment for one step."""
    home = workspace.parent / "runner"
    (home / "file_commands").mkdir(parents=True, exist_ok=True)
    event = home / "event.json"
    shutil.copy(PR_EVENT, event)
    env = {key: os.environ[key] for key in ("JAVA_HOME", "LANG", "TMPDIR") if key in os.environ}
    # In the image the one Python on PATH has every package (Spark's workers start `python3`)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    payload = json.loads(PR_EVENT.read_text())
    env.update({
        "HOME": str(home), "CI": "true", "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace), "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "pull_request", "GITHUB_OUTPUT": str(home / "file_commands/out"),
        "GITHUB_STEP_SUMMARY": str(home / "file_commands/summary"),
        "GITHUB_ENV": str(home / "file_commands/env"),
        "GITHUB_REPOSITORY": payload["repository"]["full_name"],
        "GITHUB_REPOSITORY_OWNER": payload["repository"]["owner"]["login"],
        "GITHUB_SHA": payload["pull_request"]["head"]["sha"],
        "GITHUB_REF": f"refs/pull/{payload['number']}/merge", "GITHUB_RUN_ID": "9123456789",
        "GITHUB_RUN_ATTEMPT": "1", "GITHUB_ACTOR": payload["sender"]["login"],
        "GITHUB_WORKFLOW": "ml", "GITHUB_JOB": "validate-model",
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": "http://127.0.0.1:9",
        "RUNNER_OS": "Linux", "RUNNER_TEMP": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT)]),
    })
    for name, spec in (action.get("inputs") or {}).items():
        value = inputs.get(name, spec.get("default", ""))
        env[input_env_name(name)] = EXPRESSIONS.get(value, value)
    unknown = set(inputs) - set(action.get("inputs") or {})
    assert not unknown, f"the test passes inputs the action does not declare: {unknown}"
    env.update(extra or {})
    return env


def run_action(name: str, workspace: Path, inputs: dict[str, str],
               extra_env: dict[str, str] | None = None, traced: bool = True,
               timeout: float = 600) -> ActionRun:
    """Run actions/<name> like the runner: entrypoint + runs.args, no flags, INPUT_* env."""
    action = yaml.safe_load((ROOT / "actions" / name / "action.yml").read_text())
    args = [str(a) for a in action["runs"]["args"]]
    workspace.mkdir(parents=True, exist_ok=True)
    env = runner_env(workspace, inputs, action, extra_env)
    trace = workspace.parent / "runner" / "inputs-read.json"
    if traced:
        env["ML_ACTIONS_TRACE_INPUTS"] = str(trace)
        argv = [sys.executable, str(TRACED), *args]
    else:
        argv = [str(Path(sys.executable).parent / "ml-actions"), *args]
    proc = subprocess.run(argv, cwd=workspace, env=env, capture_output=True, text=True,
                          timeout=timeout)
    out = Path(env["GITHUB_OUTPUT"])
    summary = Path(env["GITHUB_STEP_SUMMARY"])
    read = set(json.loads(trace.read_text())) if traced and trace.is_file() else set()
    return ActionRun(proc.returncode,
                     parse_output_file(out.read_text()) if out.is_file() else {},
                     summary.read_text() if summary.is_file() else "",
                     proc.stdout + proc.stderr, read, workspace)
