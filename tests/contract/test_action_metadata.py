"""Each action.yml says exactly what its command declares, and runs the image of this version."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ml_actions import __version__
from ml_actions.cli.declarations import Command, Option
from tests.contract.conftest import (
    IMAGE,
    ROOT,
    SPECS,
    action_yml,
    command_or_skip,
    sync_actions,
)

NAMES = [spec.name for spec in SPECS]


def test_the_catalog_lists_the_five_actions_of_the_collection():
    assert NAMES == ["validate-data", "validate-model", "canary-deploy", "rollback", "monitor"]


@pytest.mark.parametrize("name", NAMES)
def test_inputs_equal_the_commands_options(name):
    command = command_or_skip(name)
    meta = action_yml(name)
    spec = next(s for s in SPECS if s.name == name)
    declared = [o for o in command.options if o.action_input]
    assert list(meta["inputs"]) == [o.name for o in declared], "inputs drifted from the Options"
    for option in declared:
        entry = meta["inputs"][option.name]
        assert re.fullmatch(r"[a-z][a-z0-9-]*", option.name), f"{option.name} is not kebab-case"
        assert entry["required"] is option.required
        assert " ".join(option.help.split()).rstrip(".").lower() in entry["description"].lower()
        if option.required:
            assert "Required" in entry["description"], "the runner does not enforce required"
        expected = spec.input_defaults.get(option.name, option.default)
        assert entry.get("default") == (None if expected is None else str(expected))
        if "default" in entry:
            assert isinstance(entry["default"], str), "defaults are strings in action.yml"


@pytest.mark.parametrize("name", NAMES)
def test_the_issue_contract_flags_are_declared(name):
    """The flags the issues fix for each action (actions/catalog.yaml `contract`) exist."""
    command = command_or_skip(name)
    spec = next(s for s in SPECS if s.name == name)
    missing = set(spec.contract) - {o.name for o in command.options if o.action_input}
    assert not missing, f"{name} lacks the contract inputs {sorted(missing)}"


@pytest.mark.parametrize("name", NAMES)
def test_outputs_runs_and_branding(name):
    command_or_skip(name)
    meta = action_yml(name)
    spec = next(s for s in SPECS if s.name == name)
    assert dict((k, v["description"]) for k, v in meta["outputs"].items()) == spec.outputs
    assert meta["runs"] == {"using": "docker", "image": f"docker://{IMAGE}:{__version__}",
                            "args": [name]}
    assert set(meta["branding"]) == {"icon", "color"}


@pytest.mark.parametrize("name", NAMES)
def test_image_version_is_core_version(name):
    command_or_skip(name)
    image = action_yml(name)["runs"]["image"]
    assert image.rsplit(":", 1)[1] == __version__
    assert not image.endswith(("Dockerfile", ":latest")), "a Dockerfile action cannot reach core/"


def test_generated_files_are_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_actions.py"),
                             "--check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _noop(inputs, runner) -> int:
    return 0


def test_the_generator_turns_options_into_inputs():
    """The rules themselves, on a synthetic command: order, required, defaults, secrets."""
    command = Command("demo-cmd", "help", _noop, options=(
        Option("model-name", "registered model", required=True),
        Option("steps", "weights", default="5,25", kind="list"),
        Option("dry-run", "only print", default="false", kind="bool"),
        Option("api-token", "a token", secret=True, env=("API_TOKEN",)),
        Option("port", "server only", default="8080", action_input=False),
    ))
    spec = sync_actions.ActionSpec("demo-cmd", "Demo", "A demo.", {"icon": "x", "color": "red"},
                                   {"contents": "read"}, {"result": "the result"},
                                   input_defaults={"api-token": "${{ github.token }}"})
    import yaml

    meta = yaml.safe_load(sync_actions.render_action_yml(spec, command, "ghcr.io/o/i"))
    assert list(meta["inputs"]) == ["model-name", "steps", "dry-run", "api-token"]
    assert meta["inputs"]["model-name"]["required"] is True
    assert meta["inputs"]["steps"]["default"] == "5,25"
    assert meta["inputs"]["dry-run"]["default"] == "false"
    assert meta["inputs"]["api-token"]["default"] == "${{ github.token }}"
    assert "$API_TOKEN" in meta["inputs"]["api-token"]["description"]
    assert meta["runs"]["image"] == f"docker://ghcr.io/o/i:{__version__}"
    table = sync_actions.inputs_table(sync_actions.action_inputs(command, spec))
    assert "| `steps` | List/CSV | no | `5,25` |" in table


def test_readme_blocks_are_replaced_only_between_their_markers():
    text = ("intro\n<!-- sync_actions:begin a:inputs -->\nold\n<!-- sync_actions:end -->\n"
            "middle\n<!-- sync_actions:begin b:inputs -->\nkeep\n<!-- sync_actions:end -->\n")
    out = sync_actions.replace_blocks(text, {"a:inputs": "new\n"})
    assert "new\n<!-- sync_actions:end -->" in out and "old" not in out
    assert "keep" in out and out.startswith("intro\n") and "middle" in out
