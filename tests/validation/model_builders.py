"""Real models for the validate-model tests, registered in the real MLflow server.

Tiny data, explicit `pip_requirements` (logging a Spark model otherwise takes ~20 s), and
models chosen for what the gate must see: a strong Spark pipeline, a weaker scikit-learn
champion, a useless model, and models whose outputs the gate must refuse (hard labels,
NaN, raw margins outside [0, 1]).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

FEATURES = ["f1", "f2"]
LABEL = "fraud_label"
PIP_SKLEARN = ["scikit-learn", "pandas", "numpy"]


def transactions(rows: int, seed: int) -> pd.DataFrame:
    """Two informative features, a channel to slice on, ~20 % fraud."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"f1": rng.normal(size=rows), "f2": rng.normal(size=rows)})
    frame["channel"] = np.where(rng.random(rows) < 0.5, "web", "pos")
    frame["amount"] = rng.gamma(2.0, 40.0, rows).round(2)
    logit = 3.0 * frame.f1 + 2.5 * frame.f2 - 2.5
    frame[LABEL] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    return frame


def _register(name: str, log) -> str:
    with mlflow.start_run():
        info = log()
    return str(info.registered_model_version)


def register_sklearn(name: str, model, data: pd.DataFrame, predict_fn: str = "predict_proba"
                     ) -> str:
    signature = infer_signature(data[FEATURES], getattr(model, predict_fn)(data[FEATURES]))
    return _register(name, lambda: mlflow.sklearn.log_model(
        model, name="model", registered_model_name=name, signature=signature,
        pyfunc_predict_fn=predict_fn, pip_requirements=PIP_SKLEARN))


def logistic(data: pd.DataFrame, informative: tuple[str, ...] = ("f1", "f2"),
             inverted: bool = False):
    """A LogisticRegression that sees only `informative` (others replaced by noise);
    `inverted` learns the labels flipped, so it ranks frauds last (AUC far below 0.5)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    x = data[FEATURES].copy()
    for column in FEATURES:
        if column not in informative:
            x[column] = rng.normal(size=len(x))
    y = 1 - data[LABEL] if inverted else data[LABEL]
    return LogisticRegression(max_iter=500).fit(x, y)


def register_spark(spark, name: str, data: pd.DataFrame) -> str:
    import mlflow.spark
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler

    train = spark.createDataFrame(data[FEATURES + [LABEL]])
    model = Pipeline(stages=[
        VectorAssembler(inputCols=FEATURES, outputCol="features"),
        LogisticRegression(featuresCol="features", labelCol=LABEL, maxIter=10)]).fit(train)
    signature = infer_signature(data[FEATURES], np.zeros(len(data)))
    return _register(name, lambda: mlflow.spark.log_model(
        model, artifact_path="model", registered_model_name=name, signature=signature,
        pip_requirements=["pyspark==4.3.0"]))


def register_bad_outputs(name: str, data: pd.DataFrame) -> dict[str, str]:
    """Versions whose scores the gate refuses: hard labels, NaN, values outside [0, 1]."""
    from sklearn.linear_model import LinearRegression

    versions = {"hard-labels": register_sklearn(name, logistic(data), data, "predict")}
    broken = logistic(data)
    broken.coef_ = np.full_like(broken.coef_, np.nan)
    versions["nan"] = register_sklearn(name, broken, data)
    margin = LinearRegression().fit(data[FEATURES], data[LABEL] * 10 - 5)
    versions["out-of-range"] = register_sklearn(name, margin, data, "predict")
    return versions


def delete_artifacts(artifact_root: Path, run_id: str) -> int:
    """Remove a logged model's files from the server's artifact store (a broken champion)."""
    removed = 0
    for path in sorted(artifact_root.rglob("MLmodel")):
        if run_id in str(path) or _model_of_run(path, run_id):
            path.unlink()
            removed += 1
    return removed


def _model_of_run(mlmodel: Path, run_id: str) -> bool:
    try:
        return f"run_id: {run_id}" in mlmodel.read_text()
    except OSError:
        return False
