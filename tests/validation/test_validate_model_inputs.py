"""Bad input to validate-model: each exits 2 with ONE line naming the input and the fix."""

from __future__ import annotations

import pytest

from ml_actions.cli.main import main
from tests.fixtures.local_services import free_port
from tests.validation import model_builders as mb

pytestmark = pytest.mark.integration


def frame_file(path, **changes):
    data = mb.transactions(40, seed=5)
    for key, value in changes.items():
        data[key] = value
    data.to_parquet(path)
    return str(path)


CASES = {
    # case: (how to change the arguments, a phrase the one error line must hold)
    "unknown-model": (lambda s, t, a: a + ["--model-name", "no_such_model"], "not found"),
    "unknown-version": (lambda s, t, a: a + ["--candidate", "99"], "version 99"),
    "unknown-alias": (lambda s, t, a: a + ["--candidate", "@nope"], "alias @nope is not set"),
    "data-missing": (lambda s, t, a: a + ["--test-data", str(t / "nope.parquet")],
                     "no such file"),
    "data-empty": (lambda s, t, a: a + ["--test-data", _empty(t)], "no rows"),
    "data-unreadable": (lambda s, t, a: a + ["--test-data", _garbage(t)], "cannot read"),
    "label-missing": (lambda s, t, a: a + ["--label-column", "is_fraud"],
                      "label column 'is_fraud' (from --label-column): column not found in "
                      "--test-data"),
    "label-missing-from-config": (lambda s, t, a: a + ["--config", _label(t)],
                                  "(from evaluation.label_column of "),
    "labels-not-binary": (lambda s, t, a: a + ["--test-data", frame_file(
        t / "b.parquet", fraud_label=[0, 1, 2, 1] * 10)], "binary"),
    "single-class": (lambda s, t, a: a + ["--test-data", frame_file(
        t / "c.parquet", fraud_label=[0] * 40)], "single class"),
    "threshold-above-1": (lambda s, t, a: a + ["--thresholds", "auc_roc=1.5"], "[0, 1]"),
    "threshold-negative": (lambda s, t, a: a + ["--thresholds", "precision=-0.1"], "[0, 1]"),
    "threshold-unknown": (lambda s, t, a: a + ["--thresholds", "auc=0.9"], "valid names"),
    "threshold-malformed": (lambda s, t, a: a + ["--thresholds", "auc_roc"], "NAME=VALUE"),
    "yaml-malformed": (lambda s, t, a: a + ["--config", _bad_yaml(t)], "line 3"),
    "validated-is-champion": (lambda s, t, a: a + ["--config", _champion_alias(t)],
                              "never moves the champion"),
    "mlflow-unreachable": (lambda s, t, a: a + ["--tracking-uri",
                                                f"http://127.0.0.1:{free_port()}"],
                           "did not answer"),
    "labels-text": (lambda s, t, a: a + ["--test-data", frame_file(
        t / "d.parquet", fraud_label=["no", "yes"] * 20)], "must be binary"),
    "override-reason-blank": (lambda s, t, a: a + ["--override-reason", "  "],
                              "--override-reason is empty"),
    "missing-test-data": (lambda s, t, a: [x for x in a if x not in (a[4], "--test-data")],
                          "missing required input 'test-data'"),
}


def _empty(tmp):
    mb.transactions(40, seed=5).iloc[0:0].to_parquet(tmp / "e.parquet")
    return str(tmp / "e.parquet")


def _garbage(tmp):
    (tmp / "g.parquet").write_bytes(b"PAR1 this is not a parquet file")
    return str(tmp / "g.parquet")


def _bad_yaml(tmp):
    (tmp / "bad.yaml").write_text("thresholds:\n  auc_roc: 0.9\n   precision: 0.8\n")
    return str(tmp / "bad.yaml")


def _label(tmp):
    (tmp / "label.yaml").write_text("evaluation:\n  label_column: TX_FRAUD\n")
    return str(tmp / "label.yaml")


def _champion_alias(tmp):
    (tmp / "alias.yaml").write_text("registry:\n  validated_alias: champion\n")
    return str(tmp / "alias.yaml")


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_line(case, scenario, runner_factory, tmp_path):
    change, phrase = CASES[case]
    args = change(scenario, tmp_path, scenario.args(tmp_path / "out"))
    files = runner_factory()
    code = main(args, runner=files.runner)
    errors = [line for line in files.log().splitlines() if line.startswith("::error")]
    assert code == 2, files.log()
    assert len(errors) == 1 and phrase in errors[0], files.log()
    assert "Traceback" not in files.log() and "internal error" not in errors[0]
    assert not (tmp_path / "out" / "validation-report.json").exists()


def test_a_missing_label_column_is_named_before_any_job_over_the_rows(scenario, spark,
                                                                      runner_factory, tmp_path):
    """From the config (no flag): the key that named it, "column not found", the columns; and
    no Spark job but reading the test set's schema (no scoring pass first)."""
    from tests.validation.test_validate_data import newest_spark_job, schema_read_jobs

    schema_jobs = schema_read_jobs(spark, scenario.test_data)
    before = newest_spark_job(spark)
    files = runner_factory()
    code = main(scenario.args(tmp_path / "out", "--config", _label(tmp_path)),
                runner=files.runner)
    errors = [line for line in files.log().splitlines() if line.startswith("::error")]
    assert code == 2 and len(errors) == 1, files.log()
    assert newest_spark_job(spark) - before <= schema_jobs
    assert (f"label column 'TX_FRAUD' (from evaluation.label_column of "
            f"{tmp_path / 'label.yaml'}): column not found in --test-data {scenario.test_data}"
            ) in errors[0]
    assert "columns are: f1, f2, channel, amount, fraud_label" in errors[0]
