"""Lint in the test suite: schemas for every action.yml and workflow, zizmor, hadolint, ruff.

Each tool is also shown a known-bad input, so a test that passes because the tool was never
really consulted (wrong path, swallowed exit code) fails instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCHEMAS = ROOT / "tests" / "schemas"
ZIZMOR_CONFIG = ROOT / ".github" / "zizmor.yml"
WORKFLOW_DIRS = [ROOT / ".github" / "workflows", ROOT / "template" / ".github" / "workflows"]
SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
FIRST_PARTY = "ml-actions-org/ml-actions/"


def action_files() -> list[Path]:
    return [ROOT / "action.yml", *sorted((ROOT / "actions").glob("*/action.yml"))]


def workflow_files() -> list[Path]:
    return sorted(p for d in WORKFLOW_DIRS for p in d.glob("*.yml"))


def run(*argv: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def check_schema(schema: str, files: list[Path]) -> subprocess.CompletedProcess:
    return run(BIN / "check-jsonschema", "--schemafile", SCHEMAS / schema, *files)


def test_every_action_yml_matches_the_github_action_schema():
    result = check_schema("github-action.json", action_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_workflow_matches_the_github_workflow_schema():
    files = workflow_files()
    assert len(files) >= 6, files  # ci, release, self-test, ml-cicd, comment + the template's
    result = check_schema("github-workflow.json", files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_an_action_without_runs(tmp_path):
    broken = tmp_path / "action.yml"
    broken.write_text("name: x\ndescription: y\ninputs: {a: {description: z}}\n")
    result = check_schema("github-action.json", [broken])
    assert result.returncode != 0
    assert "runs" in result.stdout + result.stderr


def zizmor(*paths: Path) -> subprocess.CompletedProcess:
    return run(BIN / "zizmor", "--offline", "--no-progress", "--config", ZIZMOR_CONFIG, *paths)


def test_zizmor_finds_nothing_in_workflows_and_actions():
    result = zizmor(*WORKFLOW_DIRS, *action_files())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_zizmor_flags_template_injection_and_unpinned_actions(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n")
    result = zizmor(bad)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "template-injection" in output and "unpinned-uses" in output


def steps_of(workflow: dict) -> list[dict]:
    return [step for job in (workflow.get("jobs") or {}).values()
            for step in job.get("steps") or []]


@pytest.mark.parametrize("path", workflow_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_workflow_hygiene(path):
    """Least privilege by default, third-party actions on a SHA with the version noted."""
    text = path.read_text()
    workflow = yaml.safe_load(text)
    assert "permissions" in workflow, f"{path.name}: declare top-level permissions"
    for step in steps_of(workflow):
        uses = step.get("uses")
        if not uses or uses.startswith(("./", "docker://")) or uses.startswith(FIRST_PARTY):
            continue
        assert SHA_PINNED.match(uses), f"{path.name}: {uses} is not pinned to a commit SHA"
        assert re.search(re.escape(uses) + r" # v\d", text), f"{path.name}: note {uses}'s version"
        if uses.startswith("actions/checkout@"):
            assert (step.get("with") or {}).get("persist-credentials") is False, (
                f"{path.name}: checkout must set persist-credentials: false")


def test_hadolint_passes_on_the_dockerfile():
    result = run(BIN / "hadolint", ROOT / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_careless_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = run(BIN / "hadolint", bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # `latest`


def test_ruff_is_clean_on_the_repository():
    result = run(BIN / "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr
