"""`ml-actions monitor`: the label-delayed gate, run on a schedule after a promotion.

Thin: inputs -> `ml_actions.monitoring.run.run_monitor` -> summary, outputs, exit code.
Exit 0 healthy or inconclusive, 1 degraded (rolled back unless monitor.rollback is false),
2 bad input or infrastructure.
"""

from __future__ import annotations

import datetime as dt

from ml_actions.cli.declarations import (
    Command,
    Inputs,
    Option,
    environment_option,
    tracking_uri_option,
)
from ml_actions.cli.runner import ActionsRunner
from ml_actions.errors import InputError
from ml_actions.monitoring.run import MonitorRequest, run_monitor
from ml_actions.serving_contract import ADMIN_TOKEN_ENV


def run(inputs: Inputs, runner: ActionsRunner) -> int:
    request = MonitorRequest(
        model_name=inputs.model_name, prediction_log=inputs.prediction_log,
        labels=inputs.labels, label_maturity=inputs.label_maturity,
        target_url=inputs.target_url, tracking_uri=inputs.tracking_uri,
        environment=inputs.environment, config_path=inputs.config,
        report_dir=inputs.report_dir, admin_token=runner.env.get(ADMIN_TOKEN_ENV),
        now=as_of(inputs.as_of))
    with runner.group(f"monitor {inputs.model_name}"):
        outcome = run_monitor(request)
    report = outcome.report
    runner.add_summary(outcome.markdown)
    for warning in outcome.warnings:
        runner.warning(warning, title="ml-actions monitor")
    if report["verdict"] == "degraded":
        runner.error(report["reason"], title="label-delayed gate: degraded")
    runner.set_output("verdict", report["verdict"])
    runner.set_output("rolled-back", report["rolled_back"])
    runner.set_output("champion-version", report["champion_version"])
    runner.set_output("report-path", str(outcome.json_path))
    runner.info(f"monitor {report['verdict']}: champion v{report['champion_version']} vs "
                f"v{report['compared_version']} on {report['paired']['frauds']} matured paired "
                f"frauds ({report['matured_labels']} matured labels); {report['reason']}; "
                f"report {outcome.json_path}")
    return outcome.exit_code


def as_of(text: str | None) -> dt.datetime | None:
    """`--as-of` as a UTC time (a time without a zone is UTC); None: the clock."""
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"--as-of {text!r} is not an ISO 8601 time, e.g. "
                         "2018-08-05T00:00:00+00:00") from None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


COMMANDS = [
    Command(
        name="monitor",
        help=("Label-delayed gate: join the gateway's prediction log with matured labels (in "
              "Spark), compute realised AUC-ROC, recall and precision per model version, and "
              "compare the champion with its shadowed predecessor on the same transactions "
              "(paired DeLong, McNemar). `degraded` rolls back to the predecessor (target and "
              "registry) unless monitor.rollback is false. Writes monitor-report.json/.md, a "
              "plot and ml_actions_monitor.prom to --report-dir. Exit 0 healthy or "
              "inconclusive, 1 degraded, 2 bad input or infrastructure."),
        run=run,
        options=(
            Option("model-name", "registered model name", required=True),
            Option("prediction-log", "the gateway's prediction log: a folder (or URI) of "
                   "date=YYYY-MM-DD/part-*.parquet files", required=True),
            Option("labels", "labels table (Parquet or CSV): transaction key, 0/1 label, time "
                   "the label became known (columns from monitor.labels)", required=True),
            Option("label-maturity", "how long after a transaction its label is final, e.g. "
                   "7d (default: monitor.label_maturity)"),
            Option("target-url", "the serving gateway's base URL (to roll traffic back; "
                   "without it only the registry's champion alias moves)"),
            tracking_uri_option("MLflow tracking/registry URI (champion aliases, the run)"),
            environment_option(),
            Option("config", "ml-actions.yaml (optional; the built-in defaults apply without)"),
            Option("report-dir", "folder for monitor-report.json/.md, the plot and the gauges",
                   default="."),
            Option("as-of", "judge as of this UTC time (ISO 8601) instead of now: replays of "
                   "an old log and labels, and the handbook bench", action_input=False),
        ),
    ),
]
