"""Real models for the gateway's tests: registered in a real MLflow server, tiny and fast.

- `register_sklearn`: LogisticRegression logged with pyfunc_predict_fn="predict_proba".
- `register_raising`: a pyfunc that raises on rows with a negative TX_AMOUNT (and is fine on
  others, so it warms up), to prove one bad request fails alone.
- `register_slow`: a pyfunc that sleeps, to prove graceful shutdown drains in-flight requests.
- `register_spark`: a Spark PipelineModel (VectorAssembler + LogisticRegression).
- `register_spark_onnx`: the same pipeline registered as the template's training does: its
  Spark form and its ONNX form in one model version (`ml_pipeline.tracking`).
"""

from __future__ import annotations

import sys
import time

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

FEATURES = ["TX_AMOUNT", "TX_HOUR", "N_TX_24H"]
PIP = ["scikit-learn", "pandas", "numpy"]

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the gateway cannot import tests/


def fraud_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """Transactions with a label that depends on amount and hour, plus a customer id."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "CUSTOMER_ID": rng.integers(0, 5000, rows),
        "TX_AMOUNT": rng.gamma(2.0, 40.0, rows).round(2),
        "TX_HOUR": rng.integers(0, 24, rows).astype("float64"),
        "N_TX_24H": rng.integers(0, 20, rows).astype("int64"),
    })
    logit = 0.02 * (frame.TX_AMOUNT - 120) + 0.3 * (frame.TX_HOUR < 6) - 1.0
    frame["TX_FRAUD"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _use(tracking_uri: str) -> None:
    mlflow.set_tracking_uri(tracking_uri)
    # the active experiment is process state: one set on another server may not exist here
    mlflow.set_experiment("gateway-test-models")


def _register(name: str, log) -> str:
    with mlflow.start_run():
        info = log()
    return str(info.registered_model_version)


def register_sklearn(tracking_uri: str, name: str, seed: int = 0, c: float = 1.0) -> str:
    from sklearn.linear_model import LogisticRegression

    _use(tracking_uri)
    data = fraud_frame(400, seed)
    model = LogisticRegression(C=c, max_iter=500).fit(data[FEATURES], data.TX_FRAUD)
    signature = infer_signature(data[FEATURES], model.predict_proba(data[FEATURES]))
    return _register(name, lambda: mlflow.sklearn.log_model(
        model, name="model", registered_model_name=name, signature=signature,
        pyfunc_predict_fn="predict_proba", pip_requirements=PIP))


class RaisingModel(mlflow.pyfunc.PythonModel):
    """P(fraud) from the amount; raises on a negative amount (a row the model cannot handle)."""

    def predict(self, context, model_input, params=None):
        amounts = model_input["TX_AMOUNT"].to_numpy(dtype="float64")
        if (amounts < 0).any():
            raise ValueError("negative amount")
        return pd.Series(1 / (1 + np.exp(-(amounts - 100) / 30)))


class SlowModel(RaisingModel):
    """The same scores, after a pause: a request that is in flight when shutdown starts."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def predict(self, context, model_input, params=None):
        if float(model_input["TX_AMOUNT"].iloc[0]) > 0:  # warm-up rows are fast
            time.sleep(self.seconds)
        return super().predict(context, model_input, params)


def _register_pyfunc(tracking_uri: str, name: str, python_model) -> str:
    _use(tracking_uri)
    data = fraud_frame(20)
    signature = infer_signature(data[FEATURES], np.zeros(len(data)))
    return _register(name, lambda: mlflow.pyfunc.log_model(
        name="model", python_model=python_model, registered_model_name=name,
        signature=signature, pip_requirements=PIP))


def register_needing_column(tracking_uri: str, name: str, column: str) -> str:
    """The raising model whose signature also requires `column`: it refuses requests without
    it on its input contract (a shadow that was trained on a feature the champion lacks)."""
    _use(tracking_uri)
    data = fraud_frame(20).assign(**{column: 1.0})
    signature = infer_signature(data[[*FEATURES, column]], np.zeros(len(data)))
    return _register(name, lambda: mlflow.pyfunc.log_model(
        name="model", python_model=RaisingModel(), registered_model_name=name,
        signature=signature, pip_requirements=PIP))


def register_raising(tracking_uri: str, name: str) -> str:
    return _register_pyfunc(tracking_uri, name, RaisingModel())


def register_slow(tracking_uri: str, name: str, seconds: float = 2.0) -> str:
    return _register_pyfunc(tracking_uri, name, SlowModel(seconds))


def register_spark(spark, tracking_uri: str, name: str):
    """Returns (version, the fitted PipelineModel) so a test can compute the expected scores."""
    import mlflow.spark
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    _use(tracking_uri)
    data = fraud_frame(300, seed=3)
    train = spark.createDataFrame(data[FEATURES + ["TX_FRAUD"]])
    pipeline = Pipeline(stages=[
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        LogisticRegression(featuresCol="features", labelCol="TX_FRAUD", maxIter=20)])
    model = pipeline.fit(train)
    signature = infer_signature(data[FEATURES], np.zeros(len(data)))
    version = _register(name, lambda: mlflow.spark.log_model(
        model, "model", registered_model_name=name, signature=signature,
        pip_requirements=["pyspark==4.3.0"]))
    return version, model


def spark_pipeline(spark):
    """VectorAssembler + LogisticRegression fitted on `fraud_frame` rows."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    train = spark.createDataFrame(fraud_frame(300, seed=3)[FEATURES + ["TX_FRAUD"]])
    return Pipeline(stages=[
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        LogisticRegression(featuresCol="features", labelCol="TX_FRAUD", maxIter=20)]).fit(train)


def register_spark_onnx(spark, tracking_uri: str, name: str, tags: dict | None = None):
    """Returns (version, the fitted PipelineModel); the version has `spark` and `onnx` flavours."""
    from ml_pipeline.tracking import log_and_register

    model = spark_pipeline(spark)
    example = spark.createDataFrame(fraud_frame(5, seed=4)[FEATURES])
    registered = log_and_register(model, example, tracking_uri=tracking_uri,
                                  experiment="gateway-tests", model_name=name, alias=None,
                                  params={}, metrics={}, tags=dict(tags or {}))
    assert registered.onnx is not None and registered.onnx.converted, registered.onnx
    return registered.version, model
