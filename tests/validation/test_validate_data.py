"""`ml-actions validate-data` on real Spark: checks, reports, exit codes, bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ml_actions.cli.main import main
from ml_actions.data.schema import normalise_type, type_compatible

pytestmark = pytest.mark.integration

SCHEMA = """\
columns:
  transaction_id: {type: long}
  amount: {type: double, min: 0, max: 10000}
  channel: {type: string, values: [web, pos]}
  customer_id: integer
key_columns: [transaction_id]
label:
  column: fraud_label
  min_rate: 0.05
  max_rate: 0.6
"""


def frame(n: int = 40, **changes) -> pd.DataFrame:
    data = pd.DataFrame({
        "transaction_id": range(n),
        "amount": [float(10 * i) for i in range(n)],
        "channel": ["web" if i % 2 else "pos" for i in range(n)],
        "customer_id": pd.array([i % 7 for i in range(n)], dtype="int32"),
        "fraud_label": [1 if i % 4 == 0 else 0 for i in range(n)],
    })
    for key, value in changes.items():
        data[key] = value
    return data


@pytest.fixture
def workdir(tmp_path, spark):  # spark: start the session once, outside the timed command
    (tmp_path / "schema.yaml").write_text(SCHEMA)
    return tmp_path


def run(workdir, runner_factory, data_name: str, *extra: str):
    files = runner_factory()
    code = main(["validate-data", "--data", str(workdir / data_name), "--schema",
                 str(workdir / "schema.yaml"), "--report-dir", str(workdir / "out"), *extra],
                runner=files.runner)
    report_path = workdir / "out" / "data-validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    return code, report, files


def test_clean_data_passes_with_report_outputs_and_summary(workdir, runner_factory):
    frame().to_parquet(workdir / "ok.parquet")
    code, report, files = run(workdir, runner_factory, "ok.parquet")
    assert code == 0 and report["passed"] is True and report["failed_checks"] == []
    assert report["dataset"]["rows"] == 40 and report["label_column"] == "fraud_label"
    names = {c["name"] for c in report["checks"]}
    assert {"columns.missing", "rows", "type:amount", "nulls:amount", "range:amount",
            "values:channel", "label.values", "label.classes", "label.rate",
            "keys.duplicates", "type:customer_id"} <= names
    rate = next(c for c in report["checks"] if c["name"] == "label.rate")
    assert rate["actual"] == pytest.approx(10 / 40)
    assert files.outputs()["passed"] == "true"
    assert files.outputs()["report-path"].endswith("data-validation-report.json")
    assert "validate-data" in files.summary() and "Verdict: passed" in files.summary()
    assert (workdir / "out" / "data-validation-report.md").read_text() == files.summary()


def test_every_kind_of_problem_is_found(workdir, runner_factory):
    bad = frame(transaction_id=[i // 2 for i in range(40)],  # 20 duplicated keys
                amount=[None if i < 8 else -5.0 if i == 9 else float(i) for i in range(40)],
                channel=["web", "atm"] * 20,
                customer_id=[f"c{i}" for i in range(40)],  # string, schema says integer
                fraud_label=[2 if i == 3 else i % 2 for i in range(40)])
    bad.to_parquet(workdir / "bad.parquet")
    code, report, files = run(workdir, runner_factory, "bad.parquet")
    assert code == 1 and report["passed"] is False
    assert set(report["failed_checks"]) == {
        "nulls:amount", "range:amount", "values:channel", "type:customer_id", "label.values",
        "keys.duplicates"}
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["nulls:amount"]["actual"] == pytest.approx(8 / 40)
    assert by_name["values:channel"]["actual"] == 20
    assert by_name["keys.duplicates"]["actual"] == 20
    assert "2" in by_name["label.values"]["message"]
    assert by_name["type:customer_id"]["details"]["actual_type"] == "string"
    assert files.outputs()["passed"] == "false"
    assert "::error title=validate-data::keys.duplicates" in files.log()


def test_missing_columns_single_class_and_label_rate(workdir, runner_factory):
    frame(fraud_label=[0] * 40).drop(columns=["channel"]).to_csv(workdir / "one.csv",
                                                                   index=False)
    code, report, _ = run(workdir, runner_factory, "one.csv")
    assert code == 1
    assert {"columns.missing", "label.classes", "label.rate"} <= set(report["failed_checks"])
    missing = next(c for c in report["checks"] if c["name"] == "columns.missing")
    assert missing["message"] == "missing column(s): channel"


def test_text_labels_are_bad_values_not_a_crash(workdir, runner_factory):
    frame(fraud_label=["yes", "no"] * 20).to_csv(workdir / "text.csv", index=False)
    code, report, _ = run(workdir, runner_factory, "text.csv")
    assert code == 1 and "label.values" in report["failed_checks"]


def test_empty_label_flag_skips_label_checks(workdir, runner_factory):
    frame().drop(columns=["fraud_label"]).to_parquet(workdir / "nolabel.parquet")
    code, report, _ = run(workdir, runner_factory, "nolabel.parquet", "--label-column", "")
    assert code == 0 and report["label_column"] is None
    assert not any(c["name"].startswith("label.") for c in report["checks"])


@pytest.mark.parametrize("case", ["missing", "unreadable", "bad-yaml", "unknown-key",
                                  "no-schema"])
def test_bad_input_exits_2_with_one_line(case, workdir, runner_factory):
    frame().to_parquet(workdir / "ok.parquet")
    (workdir / "garbage.parquet").write_bytes(b"not parquet at all")
    args = ["validate-data", "--data", str(workdir / "ok.parquet"), "--schema",
            str(workdir / "schema.yaml"), "--report-dir", str(workdir / "out")]
    expected = {"missing": "does not exist", "unreadable": "cannot read",
                "bad-yaml": "line 3", "unknown-key": "columns.amount.maximum",
                "no-schema": "--schema"}[case]
    if case == "missing":
        args[2] = str(workdir / "nope.parquet")
    elif case == "unreadable":
        args[2] = str(workdir / "garbage.parquet")
    elif case == "bad-yaml":
        (workdir / "schema.yaml").write_text("columns:\n  amount: {type: double\n  x: [\n")
    elif case == "unknown-key":
        (workdir / "schema.yaml").write_text("columns:\n  amount: {maximum: 3}\n")
    else:
        args = args[:3] + args[5:]
    files = runner_factory()
    assert main(args, runner=files.runner) == 2
    errors = [line for line in files.log().splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and expected in errors[0], files.log()
    assert "Traceback" not in files.log()


def test_type_widening_rules():
    assert normalise_type("Long") == "bigint" and normalise_type("datetime") == "timestamp"
    assert type_compatible("int", "long") and type_compatible("float", "double")
    assert type_compatible("int", "double") and type_compatible("decimal(10,2)", "numeric")
    assert type_compatible("date", "datetime")
    assert not type_compatible("bigint", "int") and not type_compatible("double", "float")
    assert not type_compatible("string", "double") and not type_compatible("bigint", "double")


def test_schema_from_the_model_signature(scenario, runner_factory, tmp_path):
    base = ["validate-data", "--model-name", scenario.model, "--model-version", "@champion",
            "--tracking-uri", scenario.tracking_uri, "--report-dir", str(tmp_path)]
    files = runner_factory()
    assert main(base + ["--data", str(scenario.test_data)], runner=files.runner) == 0, files.log()
    report = json.loads((tmp_path / "data-validation-report.json").read_text())
    assert report["schema"]["source"].startswith(f"MLflow signature of models:/{scenario.model}/")
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["type:f1"]["status"] == "pass" and checks["type:f2"]["status"] == "pass"
    assert checks["label.classes"]["status"] == "pass"

    pd.read_parquet(scenario.test_data).drop(columns=["f2"]).to_parquet(tmp_path / "x.parquet")
    files = runner_factory()
    assert main(base + ["--data", str(tmp_path / "x.parquet")], runner=files.runner) == 1
    report = json.loads((tmp_path / "data-validation-report.json").read_text())
    assert report["failed_checks"] == ["columns.missing"]
    assert "f2" in report["checks"][0]["message"]


def test_unknown_model_for_the_signature_exits_2(scenario, runner_factory, tmp_path):
    files = runner_factory()
    code = main(["validate-data", "--data", str(scenario.test_data), "--model-name", "nope",
                 "--tracking-uri", scenario.tracking_uri, "--report-dir", str(tmp_path)],
                runner=files.runner)
    errors = [line for line in files.log().splitlines() if line.startswith("::error")]
    assert code == 2 and len(errors) == 1 and "'nope' not found" in errors[0]


def newest_spark_job(spark) -> int:
    """The id of the latest Spark job (ids only grow; the UI keeps the newest ones)."""
    return max(spark.sparkContext.statusTracker().getJobIdsForGroup(None), default=-1)


def schema_read_jobs(spark, path) -> int:
    """How many jobs reading a file's schema alone takes (Parquet footers: one)."""
    from ml_actions.data.reading import read_table

    before = newest_spark_job(spark)
    read_table(spark, str(path), "--data")
    return newest_spark_job(spark) - before


def test_a_missing_label_column_is_one_line_before_any_job_over_the_rows(workdir, spark,
                                                                         runner_factory):
    """It used to run every check and report `label.values` / `columns.missing` over the rows."""
    frame().drop(columns=["fraud_label"]).to_parquet(workdir / "nolabel.parquet")
    schema_jobs = schema_read_jobs(spark, workdir / "nolabel.parquet")
    before = newest_spark_job(spark)
    code, report, files = run(workdir, runner_factory, "nolabel.parquet")
    assert code == 2 and report is None, files.log()
    assert newest_spark_job(spark) - before <= schema_jobs
    errors = [line for line in files.log().splitlines() if line.startswith("::error")]
    assert len(errors) == 1, files.log()
    assert (f"label column 'fraud_label' (from label.column of {workdir / 'schema.yaml'}): "
            f"column not found in --data {workdir / 'nolabel.parquet'}") in errors[0]
    assert "columns are: transaction_id, amount, channel, customer_id" in errors[0]
    assert "--label-column ''" in errors[0]


def test_the_duplicate_key_counter_counts_keys_and_rows_out_of_all_rows(workdir,
                                                                        runner_factory):
    frame().to_parquet(workdir / "ok.parquet")
    _, report, _ = run(workdir, runner_factory, "ok.parquet")
    unique = next(c for c in report["checks"] if c["name"] == "keys.duplicates")
    assert unique["message"] == "every (transaction_id) is unique across the 40 rows"
    assert unique["sample_size"] == 40  # was "0 duplicated key(s) over 0 rows"
    frame(transaction_id=[i // 2 for i in range(40)]).to_parquet(workdir / "dup.parquet")
    _, report, _ = run(workdir, runner_factory, "dup.parquet")
    dupes = next(c for c in report["checks"] if c["name"] == "keys.duplicates")
    assert dupes["message"] == ("20 key value(s) of (transaction_id) occur more than once, on "
                                "40 of 40 rows")
