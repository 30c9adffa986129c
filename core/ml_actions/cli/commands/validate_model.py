"""`ml-actions validate-model`: the quality gate on a registered model version.

Thin: inputs -> `ml_actions.validation.run.run_validation` -> job summary, sticky PR comment,
outputs.
Exit 0 the gate passed (or was overridden, with a warning), 1 it failed, 2 an input, the
data, the registry or a service is wrong (one line naming the input and the fix).
"""

from __future__ import annotations

from pathlib import Path

from ml_actions.cli.declarations import (
    Command,
    Inputs,
    Option,
    environment_option,
    tracking_uri_option,
)
from ml_actions.cli.runner import ActionsRunner
from ml_actions.errors import InputError
from ml_actions.github.comments import comment_marker, publish_sticky_comment
from ml_actions.validation.run import ValidationRequest, run_validation

COMMENT_FILE = "validation-comment.md"


def run(inputs: Inputs, runner: ActionsRunner) -> int:
    if inputs.override_reason is not None and not inputs.override_reason.strip():
        raise InputError("--override-reason is empty; say why the gate is overridden")
    request = ValidationRequest(
        model_name=inputs.model_name, test_data=inputs.test_data, candidate=inputs.candidate,
        champion_alias=inputs.champion_alias, label_column=inputs.label_column,
        config_path=inputs.config, thresholds=inputs.thresholds,
        environment=inputs.environment, tracking_uri=inputs.tracking_uri,
        report_dir=inputs.report_dir, override_reason=inputs.override_reason,
        actor=runner.env.get("GITHUB_ACTOR") or runner.env.get("USER") or "unknown")
    with runner.group(f"validate-model {inputs.model_name} {inputs.candidate}"):
        outcome = run_validation(request)
    report, config = outcome.report, outcome.config
    runner.add_summary(outcome.markdown)
    for warning in report["warnings"]:  # the run's, and checks that warn (e.g. inconclusive)
        runner.warning(warning, title="validate-model")
    for check in report["blocking_checks"]:
        resolve = f"; to resolve: {check['resolve']}" if check["resolve"] else ""
        status = "" if check["status"] == "fail" else f" ({check['status']})"
        runner.error(f"{check['name']}{status}: {check['message']}{resolve}",
                     title="validate-model")
    if report["override"]:
        runner.warning(f"gate overridden by {report['override']['actor']}: "
                       f"{report['override']['reason']}", title="validate-model override")
    context = runner.context
    comment = publish_sticky_comment(
        context, outcome.markdown, comment_marker(config.validation.comment_id, inputs.model_name),
        inputs.github_token, Path(inputs.report_dir) / COMMENT_FILE,
        base_url=context.api_url_or(config.github.api_url), enabled=config.github.comment,
        author=config.github.comment_author)
    if comment.posted:
        runner.set_output("comment-url", comment.url)
    else:
        runner.notice(f"PR comment written to {comment.path}: {comment.reason}")
        runner.set_output("comment-path", comment.path)
    runner.set_output("passed", report["passed"])
    runner.set_output("verdict", report["verdict"])
    runner.set_output("auc-roc", report["metrics"].get("auc_roc"))
    runner.set_output("report-path", str(outcome.json_path))
    runner.set_output("markdown-path", str(outcome.md_path))
    runner.set_output("run-id", outcome.run_id)
    # the concrete number: a workflow deploys exactly this, never an alias resolved later
    runner.set_output("model-version", report["model"]["version"])
    runner.info(f"validate-model {report['verdict']}: {report['model']['name']} "
                f"v{report['model']['version']}; report {outcome.json_path}")
    return 0 if outcome.passed else 1


COMMANDS = [
    Command(
        name="validate-model",
        help=("Quality gate for a model version in the MLflow registry: absolute thresholds, "
              "comparison with the champion on the same rows, slices. Records an MLflow run, "
              "tags the version, sets @validated on a pass (never moves @champion), writes "
              "validation-report.json/.md, the job summary and one sticky PR comment. "
              "Exit 0 passed, 1 failed, 2 bad input/data/infrastructure."),
        run=run,
        options=(
            Option("model-name", "registered model name", required=True),
            Option("candidate", "version to validate: a number or @alias", default="@challenger"),
            Option("champion-alias", "alias of the production model to compare with",
                   default="champion"),
            Option("test-data", "test set: a Parquet/CSV path or any URI Spark reads",
                   required=True),
            Option("label-column", "binary label column (default: evaluation.label_column, "
                   "fraud_label)"),
            Option("config", "ml-actions.yaml (optional; the built-in defaults apply without)"),
            Option("thresholds", "inline threshold overrides, e.g. auc_roc=0.92,precision=0.85"),
            environment_option(),
            tracking_uri_option(),
            Option("report-dir", "folder for validation-report.json/.md, the ROC/PR plots and "
                   "the comment file", default="."),
            Option("github-token", "token for the sticky PR comment (optional)", secret=True,
                   env=("GITHUB_TOKEN",)),
            Option("override-reason", "break-glass: pass a failed gate, recording this reason "
                   "and who ran it in the report and the version tags"),
        ),
    ),
]
