"""Real models logged to a real MLflow server, scored through the flavour each needs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from ml_actions.errors import DataError, RegistryError
from ml_actions.registry import Registry
from ml_actions.validation.evaluation import evaluate
from ml_actions.validation.gates import decide
from ml_actions.validation.scoring import ChampionError

pytestmark = pytest.mark.integration
PIP = ["scikit-learn", "pyspark", "mlflow"]


def _data(n=600, seed=3):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    f1 = rng.normal(size=n) + 1.2 * y
    f2 = rng.normal(size=n) + 0.6 * y
    return y, np.round(f1, 2), np.round(f2, 2)


@pytest.fixture(scope="module")
def models(spark, tracking_uri, make_df):
    """Register: a Spark pipeline, scikit-learn (predict_proba / hard labels / 1-column)."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression as SparkLR
    from pyspark.ml.feature import VectorAssembler
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment("evaluation-tests")
    y, f1, f2 = _data()
    test_df = make_df(f1=f1, f2=f2, fraud_label=y)

    frame = pd.DataFrame({"f1": f1, "f2": f2})
    pipeline = Pipeline(stages=[VectorAssembler(inputCols=["f1", "f2"], outputCol="features"),
                                SparkLR(featuresCol="features", labelCol="fraud_label",
                                        maxIter=20)]).fit(test_df)
    sk = LogisticRegression().fit(frame, y)
    iso = IsotonicRegression(out_of_bounds="clip").fit(f1, y)
    with mlflow.start_run():
        mlflow.spark.log_model(pipeline, "spark", pip_requirements=PIP,
                               registered_model_name="fraud_spark")
        mlflow.sklearn.log_model(sk, name="proba", pip_requirements=PIP,
                                 signature=infer_signature(frame, sk.predict_proba(frame)),
                                 pyfunc_predict_fn="predict_proba",
                                 registered_model_name="fraud_sklearn")
        mlflow.sklearn.log_model(sk, name="labels", pip_requirements=PIP,
                                 signature=infer_signature(frame, sk.predict(frame)),
                                 registered_model_name="fraud_labels")
        mlflow.sklearn.log_model(iso, name="iso", pip_requirements=PIP,
                                 signature=infer_signature(frame[["f1"]], iso.predict(f1)),
                                 registered_model_name="fraud_single")
        run_id = mlflow.active_run().info.run_id
    registry = Registry(tracking_uri, retries=1, backoff_seconds=0.1)
    registry.client.create_model_version("fraud_sklearn", f"runs:/{run_id}/missing", run_id)
    refs = {n: registry.resolve(f"fraud_{n}", "1")
            for n in ("spark", "sklearn", "labels", "single")}
    refs["broken"] = registry.resolve("fraud_sklearn", "2")
    reference = {"spark": pipeline.transform(test_df).select("probability").toPandas()
                 ["probability"].map(lambda v: float(v[1])).to_numpy(),
                 "sklearn": sk.predict_proba(frame)[:, 1], "single": iso.predict(f1)}
    return test_df, y, refs, reference


@pytest.fixture
def config(make_config, tracking_uri):
    return make_config("dev", tracking_uri=tracking_uri)


@pytest.mark.parametrize("name,flavor", [("spark", "spark"), ("sklearn", "pyfunc"),
                                         ("single", "pyfunc")])
def test_each_flavour_scores_probabilities_exactly(models, config, name, flavor):
    test_df, y, refs, reference = models
    ev = evaluate(test_df.sparkSession, test_df, refs[name], None, config)
    assert ev.candidate.flavor == flavor and ev.candidate.version == "1"
    expected = skm.roc_auc_score(y, reference[name])
    assert ev.candidate.metrics["auc_roc"] == pytest.approx(expected, abs=1e-9)
    pred = reference[name] >= 0.5
    assert ev.candidate.confusion["tp"] == int((pred & (y == 1)).sum())
    assert ev.champion is None


def test_sklearn_candidate_against_spark_champion(models, config):
    test_df, y, refs, reference = models
    ev = evaluate(test_df.sparkSession, test_df, refs["sklearn"], refs["spark"], config)
    assert ev.champion.flavor == "spark" and ev.candidate.flavor == "pyfunc"
    delta = skm.roc_auc_score(y, reference["sklearn"]) - skm.roc_auc_score(y, reference["spark"])
    assert ev.comparison["auc"]["delta"] == pytest.approx(delta, abs=1e-9)
    decision = decide(ev, config)
    auc = next(c for c in decision.checks if c.name == "auc_vs_champion")
    assert auc.status in ("pass", "fail", "inconclusive") and auc.interval is not None


def test_hard_label_model_is_refused(models, config):
    test_df, _, refs, _ = models
    with pytest.raises(DataError, match="hard 0/1 labels"):
        evaluate(test_df.sparkSession, test_df, refs["labels"], None, config)


def test_broken_champion_raises_champion_error_and_can_be_dropped(models, config):
    test_df, _, refs, _ = models
    with pytest.raises(ChampionError, match="cannot load champion model fraud_sklearn v2"):
        evaluate(test_df.sparkSession, test_df, refs["spark"], refs["broken"], config)
    with pytest.raises(RegistryError, match="cannot load candidate"):
        evaluate(test_df.sparkSession, test_df, refs["broken"], None, config)


def test_missing_feature_column_is_a_data_error(models, config):
    test_df, _, refs, _ = models
    with pytest.raises(DataError, match="lacks input column"):
        evaluate(test_df.sparkSession, test_df.drop("f2"), refs["sklearn"], None, config)
