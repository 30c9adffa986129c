"""`ml-actions validate-model` end to end: real MLflow server, real Spark, fake GitHub over HTTP.

The models are real (a Spark pipeline, scikit-learn via `mlflow.pyfunc.spark_udf`), the
registry is a real `mlflow server`, the runner contract goes through real GITHUB_OUTPUT /
GITHUB_STEP_SUMMARY files and a pull_request event payload, and PyGithub talks to a local
server through `base_url` as on GitHub Enterprise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_actions.cli.main import main
from tests.validation.conftest import CONFIG, pull_request_event

pytestmark = pytest.mark.integration

def read_report(report_dir: Path) -> dict:
    return json.loads((report_dir / "validation-report.json").read_text())


def github_env(fake) -> dict[str, str]:
    return {"GITHUB_API_URL": fake.base_url, "GITHUB_TOKEN": "ghs_test"}


def test_pass_then_fail_on_one_pull_request_keeps_one_comment(scenario, fake_github,
                                                               runner_factory, tmp_path):
    first = runner_factory(pull_request_event(7), **github_env(fake_github))
    args = scenario.args(tmp_path / "r1") + ["--config", str(scenario.root / "sliced.yaml")]
    assert main(args, runner=first.runner) == 0, first.log()
    report = read_report(tmp_path / "r1")
    spark_v, weak_v = scenario.versions["spark"], scenario.versions["weak"]
    assert report["passed"] is True and report["verdict"] == "passed"
    assert report["model"]["name"] == scenario.model and report["model"]["version"] == spark_v
    assert {"auc_roc", "auc_pr", "precision", "recall", "f1_score"} <= set(report["metrics"])
    assert report["champion"]["version"] == weak_v
    assert report["metrics"]["auc_roc"] > report["champion"]["metrics"]["auc_roc"] + 0.05
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["auc_roc"]["status"] == "pass" and checks["auc_roc"]["threshold"] == 0.8
    assert checks["auc_vs_champion"]["status"] == "pass"
    assert checks["auc_vs_champion"]["interval"][0] > 0
    assert {s["segment"] for s in report["slices"]} == {"web", "pos"}
    assert report["test_data"]["rows"] == 400 and len(report["test_data"]["digest"]) == 16
    assert report["environment"] == "dev" and report["actor"] == "alice"

    registry = scenario.registry
    tags = registry.get_tags(scenario.model, spark_v)
    assert tags["validation.status"] == "passed"
    assert tags["validation.run_id"] == report["mlflow_run_id"]
    assert float(tags["validation.auc_roc"]) == pytest.approx(report["metrics"]["auc_roc"])
    assert tags["validation.config_digest"] == report["config"]["digest"]
    assert tags["validation.test_data_digest"] == report["test_data"]["digest"]
    assert registry.resolve(scenario.model, "@validated").version == spark_v
    assert registry.resolve(scenario.model, "@champion").version == weak_v  # never moved
    assert first.outputs()["model-version"] == spark_v
    assert_deploy_checks_provenance(registry, scenario, spark_v, weak_v)

    client = registry.client
    run = client.get_run(report["mlflow_run_id"])
    assert run.data.metrics["auc_roc"] == pytest.approx(report["metrics"]["auc_roc"])
    assert run.data.metrics["champion_auc_roc"] == pytest.approx(
        report["champion"]["metrics"]["auc_roc"])
    assert run.data.params["test_data_digest"] == report["test_data"]["digest"]
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "model-validation"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "validation")}
    assert artifacts >= {"validation/validation-report.json", "validation/validation-roc.png",
                         "validation/validation-pr.png", "validation/validation-report.md"}

    outputs = first.outputs()
    assert outputs["passed"] == "true" and outputs["run-id"] == report["mlflow_run_id"]
    assert float(outputs["auc-roc"]) == pytest.approx(report["metrics"]["auc_roc"])
    assert outputs["report-path"] == str(tmp_path / "r1" / "validation-report.json")
    assert (tmp_path / "r1" / "validation-roc.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "r1" / "validation-pr.png").stat().st_size > 1000
    assert "comment-url" in outputs and "comment-path" not in outputs
    assert "xychart-beta" in first.summary() and "— passed (dev)" in first.summary()
    comments = fake_github.state.comments[7]
    assert len(comments) == 1 and scenario.model.replace("_", "\\_") in comments[0]["body"]
    assert comments[0]["body"].startswith(f"<!-- ml-actions:validate-model:{scenario.model} -->")

    # an old pass of the version about to fail: the failed gate must take `validated` away
    client.set_registered_model_alias(scenario.model, "validated", scenario.versions["useless"])
    second = runner_factory(pull_request_event(7), **github_env(fake_github))
    code = main(scenario.args(tmp_path / "r2", "--candidate", scenario.versions["useless"]),
                runner=second.runner)
    assert code == 1, second.log()
    failed = read_report(tmp_path / "r2")
    assert failed["passed"] is False and "auc_roc" in failed["failed_checks"]
    assert "::error title=validate-model::auc_roc" in second.log()
    comments = fake_github.state.comments[7]
    assert len(comments) == 1 and "— failed (dev)" in comments[0]["body"]
    assert [r.method for r in fake_github.state.writes()] == ["POST", "PATCH"]
    useless_tags = registry.get_tags(scenario.model, scenario.versions["useless"])
    assert useless_tags["validation.status"] == "failed"
    assert registry.find_alias(scenario.model, "validated") is None
    assert registry.resolve(scenario.model, "@champion").version == weak_v
    assert second.outputs()["passed"] == "false"


def test_override_from_a_fork_passes_records_who_and_writes_the_comment_file(
        scenario, fake_github, runner_factory, tmp_path):
    fake_github.state.forbid_writes = True
    files = runner_factory(pull_request_event(8, fork=True), **github_env(fake_github))
    useless = scenario.versions["useless"]
    code = main(scenario.args(tmp_path, "--candidate", useless, "--override-reason",
                              "incident 42: <ship> the hotfix"), runner=files.runner)
    assert code == 0, files.log()
    report = read_report(tmp_path)
    assert report["passed"] is True and report["verdict"] == "overridden"
    assert report["override"]["actor"] == "alice"
    assert report["override"]["reason"] == "incident 42: <ship> the hotfix"
    assert "auc_roc" in report["override"]["failed_checks"]
    tags = scenario.registry.get_tags(scenario.model, useless)
    assert tags["validation.status"] == "overridden"
    assert tags["validation.override_reason"] == "incident 42: <ship> the hotfix"
    assert tags["validation.override_actor"] == "alice"
    assert "auc_roc" in tags["validation.override_failed_checks"].split(",")
    outputs = files.outputs()
    comment_file = Path(outputs["comment-path"])
    assert comment_file == tmp_path / "validation-comment.md"
    assert "\\<ship\\>" in comment_file.read_text() and "<ship>" not in comment_file.read_text()
    assert fake_github.state.comments == {}
    assert outputs["passed"] == "true" and outputs["verdict"] == "overridden"
    assert "::warning title=validate-model override::gate overridden by alice" in files.log()


def test_broken_champion_fails_or_warns_per_config(scenario, runner_factory, tmp_path):
    files = runner_factory()
    assert main(scenario.args(tmp_path / "fail", model=scenario.broken),
                runner=files.runner) == 2
    errors = [line for line in files.log().splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "champion" in errors[0]
    assert "champion_load_failure" in errors[0]

    config = scenario.root / "warn.yaml"
    config.write_text(CONFIG + "validation:\n  champion_load_failure: warn\n")
    files = runner_factory()
    args = scenario.args(tmp_path / "warn", model=scenario.broken) + ["--config", str(config)]
    assert main(args, runner=files.runner) == 0, files.log()
    report = read_report(tmp_path / "warn")
    assert report["champion"] is None and report["warnings"]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["auc_vs_champion"]["status"] == "skip"
    assert "::warning title=validate-model::the champion could not be used" in files.log()
    assert "comment-path" in files.outputs()  # not a PR: the comment went to a file


@pytest.mark.parametrize("kind", ["hard-labels", "nan", "out-of-range"])
def test_scores_the_gate_cannot_use_exit_2(kind, scenario, runner_factory, tmp_path):
    files = runner_factory()
    args = scenario.args(tmp_path, "--candidate", scenario.odd_versions[kind], model=scenario.odd)
    assert main(args, runner=files.runner) == 2
    errors = [line for line in files.log().splitlines() if line.startswith("::error")]
    expected = {"hard-labels": "hard 0/1 labels", "nan": "NaN",
                "out-of-range": "outside [0, 1]"}[kind]
    assert len(errors) == 1 and expected in errors[0], files.log()
    assert not (tmp_path / "validation-report.json").exists()


def assert_deploy_checks_provenance(registry, scenario, version: str, champion: str) -> None:
    """canary-deploy deploys only what this gate judged: same environment, gate config and
    champion (issue 12, provenance); the tags validate-model just wrote are the evidence."""
    from ml_actions.config.settings import load_config
    from ml_actions.errors import InputError
    from ml_actions.rollout.provenance import check_provenance

    path = scenario.root / "sliced.yaml"
    ref = registry.resolve(scenario.model, version)
    assert check_provenance(registry, load_config(path, "dev"), ref) is True
    # the schedule is not the gate: a deploy with its own steps is the same gate
    assert check_provenance(registry, load_config(path, "dev", {"canary": {"steps": [50, 100]}}),
                            ref) is True
    with pytest.raises(InputError, match="validated for 'dev', not for 'prod'"):
        check_provenance(registry, load_config(path, "prod"), ref)
    with pytest.raises(InputError, match="another gate config"):
        check_provenance(registry, load_config(path, "dev", {"thresholds": {"auc_roc": {
            "min": 0.5}}}), ref)
    registry.set_alias(scenario.model, "champion", version)  # the champion was replaced
    try:
        with pytest.raises(InputError, match=f"against champion v{champion}, but @champion is "
                                             f"now v{version}"):
            check_provenance(registry, load_config(path, "dev"), ref)
    finally:
        registry.set_alias(scenario.model, "champion", champion)
