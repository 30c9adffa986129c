"""The workflows call the actions with inputs that exist, and adoption stays a few lines."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.contract.conftest import ROOT, SPECS

NAMES = [spec.name for spec in SPECS]
WORKFLOWS = sorted([*(ROOT / ".github" / "workflows").glob("*.yml"),
                    *(ROOT / "template" / ".github" / "workflows").glob("*.yml")])
OUR_ACTION = re.compile(r"^(?:\./|ml-actions-org/ml-actions/)actions/(?P<name>[\w-]+)(?:@.+)?$")


def load(path):
    # PyYAML reads the key `on` as True; the schema tests use the real parser (check-jsonschema)
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))
    return data


def our_action_steps():
    for path in WORKFLOWS:
        for job_name, job in (load(path).get("jobs") or {}).items():
            for step in job.get("steps") or []:
                match = OUR_ACTION.match(step.get("uses", ""))
                if match:
                    yield path, job_name, match.group("name"), step


def test_workflows_use_only_declared_inputs_and_give_the_required_ones():
    seen = set()
    for path, job, name, step in our_action_steps():
        meta = yaml.safe_load((ROOT / "actions" / name / "action.yml").read_text()) \
            if (ROOT / "actions" / name / "action.yml").is_file() else None
        if meta is None:
            continue
        given = set(step.get("with") or {})
        unknown = given - set(meta["inputs"])
        assert not unknown, f"{path.name}:{job} passes {sorted(unknown)} that {name} lacks"
        required = {k for k, v in meta["inputs"].items() if v.get("required")}
        assert required <= given, f"{path.name}:{job} misses required {sorted(required - given)}"
        seen.add(name)
    assert seen, "no workflow uses the actions"


def test_the_reusable_workflow_chains_the_pipeline():
    flow = load(ROOT / ".github" / "workflows" / "ml-cicd.yml")
    assert "workflow_call" in flow["on"]
    jobs = flow["jobs"]
    assert jobs["data"]["needs"] == "tests" and jobs["train"]["needs"] == "data"
    assert jobs["validate-model"]["needs"] == "train"
    assert jobs["deploy"]["needs"] == "validate-model"
    assert "refs/heads/main" in jobs["deploy"]["if"]
    assert "workflow_dispatch" in jobs["manual-rollback"]["if"]
    assert "repository_dispatch" in jobs["manual-rollback"]["if"]
    used = {name for path, _, name, _ in our_action_steps() if path.name == "ml-cicd.yml"}
    # the label-delayed gate runs days after a deploy, from its own scheduled workflow
    scheduled = {name for path, _, name, _ in our_action_steps()
                 if "schedule" in load(path)["on"]}
    assert scheduled == {"monitor"}
    assert used | scheduled == set(NAMES) and not used & scheduled


def test_deploy_ships_the_number_the_gate_judged_and_prs_never_move_challenger():
    """Provenance (issue 12): no alias resolved late behind an approval; PR models apart."""
    flow = load(ROOT / ".github" / "workflows" / "ml-cicd.yml")
    jobs = flow["jobs"]
    gate = next(s for s in jobs["validate-model"]["steps"] if s.get("id") == "gate")
    assert jobs["validate-model"]["outputs"]["model-version"] == \
        "${{ steps.gate.outputs.model-version }}"
    canary = next(s for s in jobs["deploy"]["steps"] if s.get("id") == "canary")
    assert canary["with"]["candidate"] == "${{ needs.validate-model.outputs.model-version }}"
    alias = flow["env"]["CANDIDATE_ALIAS"]
    assert "pull_request" in alias and "pr-{0}" in alias and "'challenger'" in alias
    assert gate["with"]["candidate"] == "@${{ env.CANDIDATE_ALIAS }}"
    train = flow["on"]["workflow_call"]["inputs"]["train-command"]["default"]
    assert '--alias "$CANDIDATE_ALIAS"' in train
    meta = yaml.safe_load((ROOT / "actions" / "validate-model" / "action.yml").read_text())
    assert "model-version" in meta["outputs"]
    # the relay's dispatch carries what the alert was about; the workflow expects exactly it
    manual = jobs["manual-rollback"]["steps"][0]["with"]
    assert "client_payload.slot == 'canary'" in manual["expect-canary"]
    assert "client_payload.slot == 'stable'" in manual["expect-champion"]
    # after a failed deploy, only this run's canary is removed, and only if deploy ran
    after = jobs["rollback-after-failed-deploy"]
    assert "cancelled()" in after["if"] and "needs.deploy.result != 'skipped'" in after["if"]
    assert after["steps"][0]["with"]["expect-canary"] == \
        "${{ needs.validate-model.outputs.model-version }}"


def test_template_adopts_the_collection_in_at_most_15_lines():
    path = ROOT / "template" / ".github" / "workflows" / "ml.yml"
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not
             ln.lstrip().startswith("#")]
    assert len(lines) <= 15, f"{len(lines)} lines"
    flow = load(path)
    (job,) = flow["jobs"].values()
    assert job["uses"].startswith("ml-actions-org/ml-actions/.github/workflows/ml-cicd.yml@")
    reusable = load(ROOT / ".github" / "workflows" / "ml-cicd.yml")["on"]["workflow_call"]
    assert set(job.get("with") or {}) <= set(reusable["inputs"])
    assert set(job.get("secrets") or {}) <= set(reusable["secrets"])
    required = {k for k, v in reusable["secrets"].items() if v.get("required")}
    assert required <= set(job.get("secrets") or {})
    assert {"pull_request", "push", "workflow_dispatch", "repository_dispatch"} <= set(flow["on"])


@pytest.mark.parametrize("folder", [".github", "template/.github"])
def test_fork_safe_comment_pair(folder):
    """pull_request side uploads the comment; only the workflow_run side may write to PRs."""
    posters = [p for p in (ROOT / folder / "workflows").glob("*.yml")
               if "workflow_run" in load(p)["on"]]
    assert len(posters) == 1, f"{folder}: expected one workflow_run comment poster"
    flow = load(posters[0])
    (job,) = flow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert flow["permissions"] == {}
    steps = job["steps"]
    assert not any("checkout" in s.get("uses", "") for s in steps), "never check out PR code"
    script = "\n".join(s.get("run", "") for s in steps)
    assert "head.sha" in script and "HEAD_SHA" in script, "check the PR against the run"
    uploaders = [p for p in (ROOT / folder / "workflows").glob("*.yml")
                 if "ml-actions-comment" in p.read_text() and p != posters[0]]
    if folder == "template/.github":  # the template's uploader is the reusable workflow
        uploaders = [ROOT / ".github" / "workflows" / "ml-cicd.yml"]
    assert uploaders, "nothing uploads the ml-actions-comment artifact"
    assert flow["on"]["workflow_run"]["workflows"], "the poster must name the uploading workflow"


def test_root_action_stub_fails_and_lists_the_real_actions(tmp_path):
    stub = yaml.safe_load((ROOT / "action.yml").read_text())
    assert stub["runs"]["using"] == "composite"
    (step,) = stub["runs"]["steps"]
    result = subprocess.run(["bash", "-c", step["run"]], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1
    assert result.stdout.startswith("::error")
    for name in NAMES:
        assert f"ml-actions-org/ml-actions/actions/{name}@v1" in result.stdout
    assert "ml-cicd.yml" in result.stdout
