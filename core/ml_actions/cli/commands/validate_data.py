"""`ml-actions validate-data`: check a dataset against a schema before anything uses it.

Thin: inputs -> `ml_actions.data.run.run_data_validation` -> summary and outputs.
Exit 0 every check passed, 1 a check failed, 2 the inputs, schema or data cannot be used.
"""

from __future__ import annotations

from ml_actions.cli.declarations import (
    Command,
    Inputs,
    Option,
    environment_option,
    tracking_uri_option,
)
from ml_actions.cli.runner import ActionsRunner
from ml_actions.data.run import DataValidationRequest, run_data_validation


def run(inputs: Inputs, runner: ActionsRunner) -> int:
    request = DataValidationRequest(
        data=inputs.data, schema_path=inputs.schema, model_name=inputs.model_name,
        model_version=inputs.model_version, label_column=inputs.label_column,
        config_path=inputs.config, environment=inputs.environment,
        tracking_uri=inputs.tracking_uri, report_dir=inputs.report_dir)
    with runner.group(f"validate-data {inputs.data}"):
        report, markdown, json_path = run_data_validation(request)
    runner.add_summary(markdown)
    for check in report["checks"]:
        if check["status"] == "fail":
            runner.error(f"{check['name']}: {check['message']}", title="validate-data")
    runner.set_output("passed", report["passed"])
    runner.set_output("report-path", str(json_path))
    runner.info(f"validate-data {report['verdict']}: {len(report['failed_checks'])} of "
                f"{len(report['checks'])} checks failed; report {json_path}")
    return 0 if report["passed"] else 1


COMMANDS = [
    Command(
        name="validate-data",
        help=("Check a dataset against a schema: missing columns, types, null rates, value "
              "ranges, label values and rate, duplicate keys. The schema is a YAML file "
              "(--schema) or a registered model's MLflow input signature (--model-name "
              "[--model-version]). Writes data-validation-report.json/.md to --report-dir. "
              "Exit 0 passed, 1 a check failed, 2 bad input/data."),
        run=run,
        options=(
            Option("data", "dataset to check: a Parquet/CSV/JSON/ORC path or any URI Spark "
                   "reads", required=True),
            Option("schema", "schema YAML (columns:, label:, key_columns:, max_null_rate:, "
                   "min_rows:)"),
            Option("model-name", "registered model whose MLflow signature is the schema "
                   "(when --schema is not given)"),
            Option("model-version", "version number or @alias of --model-name (default: "
                   "@challenger, from registry.challenger_alias)"),
            Option("label-column", "label column (default: the schema's label.column, then "
                   "data_validation.label_column); `--label-column ''` skips the label checks"),
            Option("config", "ml-actions.yaml (optional; the built-in defaults apply without)"),
            environment_option(),
            tracking_uri_option("MLflow tracking/registry URI (for --model-name)"),
            Option("report-dir", "folder for data-validation-report.json and .md", default="."),
        ),
    ),
]
