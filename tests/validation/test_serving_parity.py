"""validate-model's `serving_parity` check: a version's ONNX form must score as its Spark form.

Two real Spark GBT pipelines, each registered with its ONNX form as the template's training
registers it (`ml_pipeline.tracking.log_and_register`): one over numeric features, whose
conversion is exact, and one whose trees learned categorical splits on a Bucketizer output,
which onnxmltools converts as `<=` thresholds. The gate must pass the first and fail the
second, saying why and how to fix it, and tag the version so the gateway serves Spark.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import mlflow
import pytest

from ml_actions.cli.main import main
from tests.validation import model_builders as mb

pytestmark = pytest.mark.integration


def _register_gbt(spark, tracking_uri: str, name: str, train, bucketize: bool) -> str:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import GBTClassifier
    from pyspark.ml.feature import Bucketizer, VectorAssembler

    from ml_pipeline.tracking import log_and_register

    stages = [VectorAssembler(inputCols=mb.FEATURES, outputCol="features")]
    if bucketize:  # f1 in 6 buckets: a nominal attribute, so the trees split on categories
        stages = [Bucketizer(splits=[-float("inf"), -1.5, -0.5, 0.0, 0.5, 1.5, float("inf")],
                             inputCol="f1", outputCol="f1_bucket"),
                  VectorAssembler(inputCols=["f1_bucket", "f2"], outputCol="features")]
    gbt = GBTClassifier(featuresCol="features", labelCol=mb.LABEL, maxIter=8, maxDepth=3,
                        seed=1)
    data = spark.createDataFrame(train[[*mb.FEATURES, mb.LABEL]])
    model = Pipeline(stages=[*stages, gbt]).fit(data)
    registered = log_and_register(model, data.select(*mb.FEATURES).limit(5),
                                  tracking_uri=tracking_uri, experiment="parity-tests",
                                  model_name=name, alias=None, params={}, metrics={}, tags={})
    assert registered.onnx is not None and registered.onnx.converted  # converts "fine"
    return registered.version


@pytest.fixture(scope="module")
def parity_models(spark, tracking_uri, tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    train, test = mb.transactions(600, seed=1), mb.transactions(400, seed=2)
    test.to_parquet(root / "test.parquet")
    (root / "ml-actions.yaml").write_text(
        "registry:\n  retries: 1\n  backoff_seconds: 0.1\nvalidation:\n  parity:\n"
        "    examples: 3\n")
    name = f"parity_{uuid.uuid4().hex[:6]}"
    mlflow.set_tracking_uri(tracking_uri)
    versions = {"exact": _register_gbt(spark, tracking_uri, name, train, bucketize=False),
                "categorical": _register_gbt(spark, tracking_uri, name, train,
                                             bucketize=True)}
    return root, name, versions


def _validate(root: Path, name: str, version: str, tracking_uri: str, report_dir: Path,
              runner_factory) -> tuple[int, dict, str]:
    runner = runner_factory()
    code = main(["validate-model", "--model-name", name, "--candidate", version,
                 "--test-data", str(root / "test.parquet"), "--config",
                 str(root / "ml-actions.yaml"), "--tracking-uri", tracking_uri,
                 "--report-dir", str(report_dir)], runner=runner.runner)
    report = json.loads((report_dir / "validation-report.json").read_text())
    return code, report, (report_dir / "validation-report.md").read_text()


def test_exact_onnx_form_passes_and_the_gateway_may_serve_it(parity_models, tracking_uri,
                                                             runner_factory, tmp_path):
    root, name, versions = parity_models
    code, report, markdown = _validate(root, name, versions["exact"], tracking_uri, tmp_path,
                                       runner_factory)
    check = next(c for c in report["checks"] if c["name"] == "serving_parity")
    parity = report["serving_parity"]
    assert check["status"] == "pass", check["message"]
    assert parity["rows"] == 400 and parity["max_abs_diff"] <= 1e-5
    assert parity["beyond_tolerance"] == 0 and parity["decision_flips"] == 0
    assert parity["examples"] == []
    assert "Serving parity" in markdown
    tags = mlflow.MlflowClient(tracking_uri).get_model_version(name, versions["exact"]).tags
    assert tags["validation.serving_parity"] == "pass"
    assert code in (0, 1)  # the other checks judge quality; parity alone is what is tested


def test_categorical_splits_fail_parity_with_the_reason_and_the_fix(
        parity_models, tracking_uri, runner_factory, tmp_path):
    root, name, versions = parity_models
    code, report, markdown = _validate(root, name, versions["categorical"], tracking_uri,
                                       tmp_path, runner_factory)
    check = next(c for c in report["checks"] if c["name"] == "serving_parity")
    parity = report["serving_parity"]
    assert code == 1 and report["passed"] is False
    assert "serving_parity" in report["failed_checks"]
    assert check["status"] == "fail" and check["threshold"] == 1e-5
    assert parity["max_abs_diff"] > 0.01 and parity["beyond_tolerance"] > 0
    assert 0 < parity["share_beyond_tolerance"] <= 1
    assert "categorical" in check["message"] and "numeric_features" in check["message"]
    assert len(parity["examples"]) == 3  # validation.parity.examples
    worst = parity["examples"][0]
    assert worst["abs_diff"] == pytest.approx(parity["max_abs_diff"])
    assert worst["abs_diff"] == pytest.approx(abs(worst["spark"] - worst["onnx"]))
    assert set(worst["inputs"]) == set(mb.FEATURES)
    assert "### Serving parity" in markdown and "| Row | Spark P(fraud)" in markdown
    tags = mlflow.MlflowClient(tracking_uri).get_model_version(name,
                                                               versions["categorical"]).tags
    assert tags["validation.serving_parity"] == "fail"
