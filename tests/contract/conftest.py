"""Shared pieces of the contract tests: the generator script, the catalog, the runner's env."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.gateway import gateway_factory  # noqa: F401 - fixture for the entrypoint tests
from tests.fixtures.github_server import fake_github  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
PR_EVENT = Path(__file__).with_name("fixtures") / "pull_request_event.json"


def load_sync_actions():
    """scripts/sync_actions.py as a module (scripts/ is not a package)."""
    name = "sync_actions"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "sync_actions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


sync_actions = load_sync_actions()
IMAGE, REPOSITORY, SPECS = sync_actions.load_catalog()
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


def commands_by_name() -> dict:
    from ml_actions.cli.main import discover_commands

    return {command.name: command for command in discover_commands()}


def command_or_skip(name: str):
    """The declared command, or a skip that names what is missing."""
    command = commands_by_name().get(name)
    if command is None:
        module = name.replace("-", "_")
        pytest.skip(f"command `{name}` is not declared yet (expected COMMANDS in "
                    f"core/ml_actions/cli/commands/{module}.py)")
    return command


def action_yml(name: str) -> dict:
    path = ROOT / "actions" / name / "action.yml"
    if not path.is_file():
        pytest.skip(f"actions/{name}/action.yml not generated yet (run scripts/sync_actions.py)")
    return yaml.safe_load(path.read_text())
