"""Training end to end against the real MLflow server, and the contract with the gate."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from pyspark.ml.functions import vector_to_array

from ml_pipeline.features import feature_columns
from ml_pipeline.metrics import auc_roc
from ml_pipeline.tracking import data_fingerprint
from ml_pipeline.train import main, train_and_register

pytestmark = pytest.mark.integration
METRICS = ("auc_roc", "auc_pr", "precision", "recall", "f1_score")


TEMPLATE = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gbt_run(tiny_parquet, tracking_uri, tmp_path_factory):
    """One CLI run (GBT, full features) as a user runs it: its own process and JVM, so its
    stderr is the whole of what the job log would show. Shared by the tests that read what it
    registered."""
    out = tmp_path_factory.mktemp("train") / "test_features"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(TEMPLATE), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "ml_pipeline.train", "--data", str(tiny_parquet),
         "--tracking-uri", tracking_uri, "--model-name", "tpl_fraud", "--train-days", "7",
         "--delay-days", "3", "--test-days", "7", "--test-output", str(out), "--seed", "1"],
        capture_output=True, text=True, env=env, timeout=540, check=False)
    return done.returncode, done.stdout.strip().splitlines(), out, done.stderr


def test_cli_prints_metrics_json_and_registers_a_challenger(gbt_run, tracking_uri, tiny_parquet):
    code, lines, _, stderr = gbt_run
    assert code == 0, stderr[-3000:]
    result = json.loads(lines[-1])
    assert set(METRICS) <= set(result)
    assert result["model_name"] == "tpl_fraud" and result["version"] == "1"
    assert 0.75 < result["auc_roc"] <= 1.0
    client = MlflowClient(tracking_uri)
    version = client.get_model_version_by_alias("tpl_fraud", "challenger")
    assert (version.version, version.run_id) == ("1", result["run_id"])
    assert version.tags["data_fingerprint"] == data_fingerprint(tiny_parquet)
    assert version.tags["algorithm"] == "gbt" and len(version.tags["git_commit"]) == 40
    run = client.get_run(result["run_id"])
    for name in METRICS:
        assert math.isclose(run.data.metrics[name], result[name], abs_tol=1e-6)
    params = run.data.params
    assert (params["threshold"], params["delay_days"], params["algorithm"]) == ("0.5", "3", "gbt")
    assert params["test_start"] == "2018-05-14"  # the latest split: test ends on 05-20
    assert run.data.tags["data_fingerprint"] == version.tags["data_fingerprint"]


def test_logged_spark_model_scores_the_test_output_as_the_gate_does(gbt_run, tracking_uri,
                                                                    spark):
    _, lines, out, _ = gbt_run
    result = json.loads(lines[-1])
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.spark.load_model("models:/tpl_fraud@challenger")
    table = spark.read.parquet(str(out))
    assert {"fraud_label", "TX_AMOUNT", "CUSTOMER_ID", *feature_columns()} <= set(table.columns)
    scored = model.transform(table).select(
        "fraud_label", vector_to_array("probability")[1].alias("p")).toPandas()
    assert len(scored) == table.count() > 100
    assert math.isclose(auc_roc(scored["fraud_label"], scored["p"]), result["auc_roc"],
                        abs_tol=1e-5)


def test_weak_logistic_model_is_a_new_version_and_takes_the_alias(gbt_run, tiny_parquet,
                                                                  tracking_uri):
    strong = json.loads(gbt_run[1][-1])
    weak = train_and_register(str(tiny_parquet), tracking_uri, model_name="tpl_fraud",
                              delay_days=3, algorithm="logistic_regression",
                              feature_set="amount_only")
    assert weak["version"] == "2"
    client = MlflowClient(tracking_uri)
    assert client.get_model_version_by_alias("tpl_fraud", "challenger").version == "2"
    run = client.get_run(weak["run_id"])
    assert (run.data.params["algorithm"], run.data.params["features"]) == \
        ("logistic_regression", "TX_AMOUNT")
    assert weak["auc_roc"] < strong["auc_roc"] - 0.1
    assert client.get_model_version("tpl_fraud", "2").tags["onnx.status"] == "converted"


def test_a_successful_training_prints_no_java_stack_trace(gbt_run):
    """MLflow's Spark save path used to try Spark's Hadoop filesystem on the tracking server's
    `mlflow-artifacts:` URI and print a Java stack trace on every successful run."""
    code, _, _, stderr = gbt_run
    assert code == 0
    for noise in ("UnsupportedFileSystemException", "mlflow-artifacts", "\tat org.apache",
                  "Traceback"):
        assert noise not in stderr, stderr[-3000:]


def test_the_version_carries_an_onnx_form_that_scores_as_spark(gbt_run, tracking_uri, spark,
                                                               tmp_path):
    """One registered version, two forms; the reference GBT's ONNX form is exact."""
    import numpy as np
    import onnxruntime as ort

    _, lines, out, _ = gbt_run
    version = json.loads(lines[-1])["version"]
    mlflow.set_tracking_uri(tracking_uri)
    info = mlflow.models.get_model_info(f"models:/tpl_fraud/{version}")
    assert {"spark", "onnx", "python_function"} <= set(info.flavors)
    assert info.flavors["onnx"]["inputs"] == info.signature.inputs.input_names()
    assert MlflowClient(tracking_uri).get_model_version("tpl_fraud", version) \
        .tags["onnx.status"] == "converted"
    path = mlflow.artifacts.download_artifacts(f"models:/tpl_fraud/{version}/model.onnx",
                                               dst_path=str(tmp_path))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    table = spark.read.parquet(str(out))
    frame = table.toPandas()
    feeds = {i.name: frame[[i.name]].to_numpy(np.float32) for i in session.get_inputs()}
    onnx_p = session.run(["probability"], feeds)[0][:, 1]
    spark_p = (mlflow.spark.load_model(f"models:/tpl_fraud/{version}").transform(table)
               .select(vector_to_array("probability")[1].alias("p")).toPandas()["p"])
    assert np.max(np.abs(onnx_p - spark_p.to_numpy())) <= 1e-5


def test_bad_inputs_fail_before_training(tiny_parquet, tracking_uri, capsys):
    code = main(["--data", str(tiny_parquet), "--tracking-uri", tracking_uri,
                 "--train-start", "2017-01-01"])
    assert code == 2
    assert "does not fit the data" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown algorithm 'xgb'"):
        train_and_register(str(tiny_parquet), tracking_uri, algorithm="xgb")
    with pytest.raises(ValueError, match="unknown feature set"):
        train_and_register(str(tiny_parquet), tracking_uri, feature_set="everything")
