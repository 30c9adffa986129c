"""The ONNX form of a pipeline: exact for the template's pipelines, reported when impossible.

onnxmltools converts tree splits on categorical attributes as `<=` thresholds; the template
fits its estimator on numeric feature metadata so its trees never learn such splits. These
tests show both sides on real Spark models: the same bucketized GBT converts wrongly when its
trees see the nominal metadata and exactly when they do not, and a one-hot string feature
through the template's preprocessing converts exactly.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression
from pyspark.ml.feature import Bucketizer, SQLTransformer, VectorAssembler
from pyspark.ml.functions import vector_to_array

from ml_pipeline.onnx_export import convert_pipeline
from ml_pipeline.pipeline import build_preprocessing_pipeline, numeric_features
from ml_pipeline.tracking import log_and_register

pytestmark = pytest.mark.integration
INPUTS = ["amount", "hour", "channel"]


@pytest.fixture(scope="module")
def data(spark):
    rng = np.random.default_rng(3)
    rows = 1500
    frame = pd.DataFrame({"amount": rng.gamma(2.0, 40.0, rows).round(2),
                          "hour": rng.integers(0, 24, rows).astype("float64"),
                          "channel": rng.choice(["web", "pos", "atm", "moto"], rows)})
    logit = 0.03 * (frame.amount - 90) + 1.2 * frame.channel.isin(["web", "moto"]) \
        - 0.8 * (frame.hour > 7) - 1.0
    frame["fraud_label"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return spark.createDataFrame(frame)


def max_difference(model: PipelineModel, data, inputs: list[str]) -> float:
    """Largest |P(fraud)| difference between the ONNX form and Spark on every row."""
    import onnxruntime as ort

    onnx_model = convert_pipeline(model, data.schema, inputs, data.sparkSession)
    session = ort.InferenceSession(onnx_model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    frame = data.toPandas()
    feeds = {c: (frame[[c]].to_numpy(object) if frame[c].dtype == object
                 else frame[[c]].to_numpy(np.float32)) for c in inputs}
    onnx_p = session.run(["probability"], feeds)[0][:, 1]
    spark_p = model.transform(data).select(vector_to_array("probability")[1].alias("p"))
    return float(np.max(np.abs(onnx_p - spark_p.toPandas()["p"].to_numpy())))


def gbt() -> GBTClassifier:
    return GBTClassifier(labelCol="fraud_label", maxIter=8, maxDepth=3, seed=0)


def test_bucketized_trees_convert_wrongly_unless_fitted_on_numeric_metadata(data):
    bucket = Bucketizer(splits=[-float("inf"), 30, 60, 90, 150, 250, float("inf")],
                        inputCol="amount", outputCol="amount_bucket")
    assemble = VectorAssembler(inputCols=["amount_bucket", "hour"], outputCol="features")
    naive = Pipeline(stages=[bucket, assemble, gbt()]).fit(data)
    assert max_difference(naive, data, ["amount", "hour"]) > 0.01  # the converter's bug

    prepared = Pipeline(stages=[bucket, assemble]).fit(data)
    trees = gbt().fit(numeric_features(prepared.transform(data)))
    fixed = PipelineModel(stages=[*prepared.stages, trees])
    assert max_difference(fixed, data, ["amount", "hour"]) <= 1e-5


def test_template_preprocessing_with_a_one_hot_string_converts_exactly(data):
    pipeline = build_preprocessing_pipeline({"categorical_cols": ["channel"],
                                             "numeric_cols": ["amount", "hour"]})
    for estimator in (gbt(), LogisticRegression(labelCol="fraud_label")):
        model = pipeline.fit(data, estimator)
        assert max_difference(model, data, INPUTS) <= 1e-5


def test_a_failed_conversion_is_reported_and_the_spark_form_still_registers(
        data, tracking_uri, capsys):
    """A stage onnxmltools cannot convert (a SQL statement): the version registers without
    an ONNX form, says why in a tag and on stderr, and its Spark form scores."""
    model = Pipeline(stages=[
        SQLTransformer(statement="SELECT *, amount * 2 AS amount2 FROM __THIS__"),
        VectorAssembler(inputCols=["amount2", "hour"], outputCol="features"),
        LogisticRegression(labelCol="fraud_label")]).fit(data)
    registered = log_and_register(model, data.select("amount", "hour").limit(5),
                                  tracking_uri=tracking_uri, experiment="onnx-export-tests",
                                  model_name="tpl_no_onnx", alias=None, params={},
                                  metrics={}, tags={})
    assert registered.onnx is not None and registered.onnx.status == "failed"
    assert "the ONNX form of tpl_no_onnx was not created" in capsys.readouterr().err
    tags = MlflowClient(tracking_uri).get_model_version("tpl_no_onnx", registered.version).tags
    assert tags["onnx.status"] == "failed" and tags["onnx.error"]
    mlflow.set_tracking_uri(tracking_uri)
    info = mlflow.models.get_model_info(registered.model_uri)
    assert "spark" in info.flavors and "onnx" not in info.flavors
    scored = mlflow.spark.load_model(registered.model_uri).transform(data)
    assert scored.count() == data.count()
