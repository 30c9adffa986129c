"""`ml-actions monitor` on constructed prediction logs, real Spark and a real MLflow server:
healthy, degraded (rolled back: `champion` moved back), inconclusive, and the bad inputs."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from ml_actions.cli.main import main
from ml_actions.monitoring.evidence_tables import read_labels, read_prediction_log
from ml_actions.monitoring.joined_evidence import join_matured
from ml_actions.monitoring.paired_comparison import paired_from_arrays, paired_from_log
from tests.fixtures.label_weeks import Traffic
from tests.monitoring.constructed_logs import LOG_SCHEMA, Scenario, write_partition, write_scenario
from tests.rollout.registry_setup import register_versions, unique_name
from tests.validation.conftest import RunnerFiles

pytestmark = pytest.mark.integration

WORSE = Traffic(rows_per_day=2000, fraud_rate=0.03, noise=0.1, shared_noise=1.0,
                new_signal=1.2)


@pytest.fixture
def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def monitor(tmp_path, log_dir, labels, *extra: str, model: str = "fraud"):
    files = RunnerFiles(_fresh(tmp_path / "runner"), {})
    report_dir = tmp_path / "out"
    code = main(["monitor", "--model-name", model, "--prediction-log", str(log_dir),
                 "--labels", str(labels), "--report-dir", str(report_dir), *extra],
                runner=files.runner)
    path = report_dir / "monitor-report.json"
    return code, (json.loads(path.read_text()) if path.exists() else None), files


def _fresh(folder):
    i = 0
    while (folder.parent / f"{folder.name}{i}").exists():
        i += 1
    (folder.parent / f"{folder.name}{i}").mkdir(parents=True)
    return folder.parent / f"{folder.name}{i}"


def test_equally_good_champion_is_healthy_with_report_plot_and_gauges(tmp_path, spark, now):
    log_dir, labels = write_scenario(tmp_path, Scenario(predecessor_days=2), now, seed=1)
    code, report, files = monitor(tmp_path, log_dir, labels)
    assert code == 0, files.log()
    assert report["verdict"] == "healthy"
    assert (report["champion_version"], report["compared_version"]) == ("2", "1")
    assert report["rolled_back"] is False
    assert report["matured_labels"] == 12 * 2000  # every row is older than 7 days + labelled
    assert set(report["metrics"]) == {"1", "2"}  # the predecessor's own days, then the champion's
    champion = report["metrics"]["2"]
    assert champion["frauds_caught"] + champion["frauds_missed"] == champion["frauds"] > 0
    assert 0.8 < champion["auc_roc"] < 1 and champion["amount_recall"] is not None
    assert len(report["metrics_by_day"]) >= 12
    assert all(c["status"] == "healthy" for c in report["checks"])
    out = tmp_path / "out"
    assert (out / "monitor-metrics.png").stat().st_size > 1000
    gauges = (out / "ml_actions_monitor.prom").read_text()
    assert 'ml_actions_monitor_verdict{model_name="fraud",verdict="healthy"} 1.0' in gauges
    assert 'ml_actions_monitor_realised_auc_roc{model_name="fraud",model_version="2"}' in gauges
    assert "Realised metrics per day" in files.summary()
    assert files.outputs()["verdict"] == "healthy"


def test_worse_champion_is_degraded_and_rolled_back_in_the_registry(tmp_path, spark, now,
                                                                   tracking_uri):
    name = unique_name("monitor_degraded")
    v1, v2 = register_versions(tracking_uri, name, 2)
    client = MlflowClient(tracking_uri, tracking_uri)
    client.set_registered_model_alias(name, "champion", v2)
    client.set_registered_model_alias(name, "previous-champion", v1)
    scenario = Scenario(champion=v2, predecessor=v1, traffic=WORSE, model_name=name)
    log_dir, labels = write_scenario(tmp_path, scenario, now, seed=2)
    code, report, files = monitor(tmp_path, log_dir, labels, "--tracking-uri", tracking_uri,
                                  model=name)
    assert code == 1, files.log()
    assert report["verdict"] == "degraded" and report["rolled_back"] is True
    assert report["rollback"]["action"] == "registry_only"
    assert client.get_model_version_by_alias(name, "champion").version == v1
    tags = client.get_model_version(name, v2).tags
    assert tags["rollout.status"] == "rolled_back" and tags["monitor.verdict"] == "degraded"
    run = client.get_run(report["mlflow_run_id"])
    assert run.data.metrics["verdict_degraded"] == 1.0 and run.data.metrics["rolled_back"] == 1
    assert files.outputs()["rolled-back"] == "true"


def test_rollback_false_reports_degraded_without_moving_the_champion(tmp_path, spark, now,
                                                                    tracking_uri):
    name = unique_name("monitor_no_rollback")
    v1, v2 = register_versions(tracking_uri, name, 2)
    client = MlflowClient(tracking_uri, tracking_uri)
    client.set_registered_model_alias(name, "champion", v2)
    (tmp_path / "ml-actions.yaml").write_text("monitor:\n  rollback: false\n")
    log_dir, labels = write_scenario(tmp_path, Scenario(champion=v2, predecessor=v1,
                                                        traffic=WORSE), now, seed=3)
    code, report, files = monitor(tmp_path, log_dir, labels, "--tracking-uri", tracking_uri,
                                  "--config", str(tmp_path / "ml-actions.yaml"), model=name)
    assert code == 1 and report["verdict"] == "degraded" and report["rolled_back"] is False
    assert client.get_model_version_by_alias(name, "champion").version == v2
    assert "monitor.rollback is false" in files.log()


def test_too_few_matured_labels_is_inconclusive_with_an_estimate(tmp_path, spark, now):
    # ten days of traffic ending 6 days ago: with a 7-day maturity only ~1 day has matured
    scenario = Scenario(end_days_ago=6.0, traffic=Traffic(rows_per_day=300, fraud_rate=0.03,
                                                          noise=0.1, shared_noise=1.0))
    log_dir, labels = write_scenario(tmp_path, scenario, now, seed=4)
    code, report, files = monitor(tmp_path, log_dir, labels)
    assert code == 0, files.log()
    assert report["verdict"] == "inconclusive"
    assert 0 < report["matured_labels"] < report["labelled_rows"]
    assert report["frauds_needed"] > report["paired"]["frauds"]
    assert report["days_to_enough_labels"] > 0 and report["enough_labels_expected_at"]
    assert all(c["minimum_detectable_effect"] for c in report["checks"])
    # a shorter maturity counts more of the same labels
    code, longer, _ = monitor(tmp_path, log_dir, labels, "--label-maturity", "1d")
    assert longer["matured_labels"] > report["matured_labels"]


def test_spark_and_numpy_give_the_same_paired_evidence(tmp_path, spark, now):
    from ml_actions.config.monitor import LabelsConfig

    log_dir, labels_path = write_scenario(tmp_path, Scenario(days=3, traffic=WORSE), now, seed=5)
    log = read_prediction_log(spark, str(log_dir))
    labels = read_labels(spark, str(labels_path), LabelsConfig(), now)
    joined = join_matured(log, labels, now, 7 * 86400, "log", "labels")
    from_spark = paired_from_log(joined.matured, "2", "1")
    rows = joined.matured.toPandas()
    from_numpy = paired_from_arrays(rows["label"].to_numpy(), rows["score"].to_numpy(),
                                    rows["shadow_score"].to_numpy(), rows["decision"].to_numpy(),
                                    rows["shadow_decision"].to_numpy())
    assert from_spark.recall == from_numpy.recall and from_spark.frauds == from_numpy.frauds
    assert from_spark.auc.delta == pytest.approx(from_numpy.auc.delta, abs=1e-12)
    assert from_spark.auc.se == pytest.approx(from_numpy.auc.se, rel=1e-6)


# -- bad inputs: exit 2 and one clear line ----------------------------------------------------
def _one_error_line(files: RunnerFiles) -> str:
    errors = [ln for ln in files.log().splitlines() if ln.startswith("::error")]
    assert len(errors) == 1, files.log()
    return errors[0]


@pytest.fixture
def good_inputs(tmp_path, now):
    return write_scenario(tmp_path, Scenario(days=2, traffic=Traffic(rows_per_day=200)), now)


def test_log_missing_a_column(tmp_path, spark, good_inputs):
    log_dir, labels = good_inputs
    for part in log_dir.rglob("*.parquet"):
        table = pd.read_parquet(part).drop(columns=["shadow_score"])
        table.to_parquet(part)
    code, _, files = monitor(tmp_path, log_dir, labels)
    assert code == 2
    assert "--prediction-log" in _one_error_line(files) and "shadow_score" in files.log()


def test_labels_missing_a_column(tmp_path, spark, good_inputs):
    log_dir, labels = good_inputs
    pd.read_parquet(labels).rename(columns={"fraud_label": "is_fraud"}).to_csv(
        tmp_path / "labels.csv", index=False)
    code, _, files = monitor(tmp_path, log_dir, tmp_path / "labels.csv")
    assert code == 2
    line = _one_error_line(files)
    assert "--labels" in line and "fraud_label" in line and "monitor.labels" in line


def test_no_overlap_between_log_and_labels(tmp_path, spark, good_inputs):
    log_dir, labels = good_inputs
    frame = pd.read_parquet(labels)
    frame["TRANSACTION_ID"] = "other-" + frame["TRANSACTION_ID"]
    frame.to_parquet(tmp_path / "other.parquet")
    code, _, files = monitor(tmp_path, log_dir, tmp_path / "other.parquet")
    assert code == 2 and "no overlap" in _one_error_line(files)


def test_labels_in_the_future(tmp_path, spark, good_inputs, now):
    log_dir, labels = good_inputs
    frame = pd.read_parquet(labels)
    frame.loc[0, "label_time"] = pd.Timestamp(now + dt.timedelta(days=2))
    frame.to_parquet(tmp_path / "future.parquet")
    code, _, files = monitor(tmp_path, log_dir, tmp_path / "future.parquet")
    assert code == 2 and "labels in the future" in _one_error_line(files)


def test_empty_log_folder_and_empty_log_files(tmp_path, spark, good_inputs, now):
    _, labels = good_inputs
    (tmp_path / "empty").mkdir()
    code, _, files = monitor(tmp_path, tmp_path / "empty", labels)
    assert code == 2 and "the log is empty" in _one_error_line(files)
    empty = pa.Table.from_pylist([], schema=LOG_SCHEMA)
    write_partition(tmp_path / "no-rows", empty, now.date())
    code, _, files = monitor(tmp_path, tmp_path / "no-rows", labels)
    assert code == 2 and "the log is empty" in _one_error_line(files)


def test_scenario_uses_the_contract_schema(tmp_path, now):
    log_dir, _ = write_scenario(tmp_path, Scenario(days=1, traffic=Traffic(rows_per_day=10)),
                                now)
    parts = list(log_dir.glob("date=*/part-*.parquet"))
    assert parts and pq.read_schema(parts[0]).remove_metadata() == LOG_SCHEMA
    assert np.isfinite(pd.read_parquet(parts[0])["score"]).all()
