"""The classifiers and feature sets training can choose from, with their hyper-parameters.

Kept apart from train.py so the benchmark builds exactly the model that training registers.
`amount_only` is deliberately weak (the transaction amount alone): demos and tests use it as
the "bad model" a quality gate must stop.
"""

from __future__ import annotations

from pyspark.ml.classification import GBTClassifier, LogisticRegression

from ml_pipeline.features import LABEL_COL, FeatureConfig, feature_columns

ALGORITHMS = ("gbt", "logistic_regression")
FEATURE_SETS = ("full", "amount_only")

# Tuned on the handbook's data (bench/model_quality.py, 7-day label delay): 32 bins put the
# amount thresholds that matter (e.g. a fraud rule on amounts above a fixed value) tens of
# units off, which costs ~0.15 average precision, hence 255 bins. Spark's GBT fits each tree's
# leaves to the mean residual (no Newton step), so in the rare-fraud region it moves slowly:
# a step of 0.3 over 100 trees beat 0.05 over 150, and 150 iterations without a checkpoint
# directory once overflowed the JVM's stack on the growing lineage. Leaves of at least 200
# rows: larger leaves rank the broad middle better (AUC-ROC) and the clearest frauds a little
# worse (AP); over 7 handbook weeks, 50 / 100 / 200 / 400 rows gave 0.885 / 0.884 / 0.889 /
# 0.891 AUC-ROC and 0.729 / 0.728 / 0.725 / 0.719 AP. The ONNX form is one tree-ensemble node
# whatever the number of trees (ml_pipeline.onnx_graph).
GBT_PARAMS = {"maxIter": 100, "maxDepth": 5, "stepSize": 0.3, "subsamplingRate": 1.0,
              "maxBins": 255, "minInstancesPerNode": 200}
LR_PARAMS = {"maxIter": 100, "regParam": 0.001, "elasticNetParam": 0.0, "standardization": True}


def feature_set_columns(feature_set: str, config: FeatureConfig | None = None) -> list[str]:
    if feature_set == "full":
        return feature_columns(config)
    if feature_set == "amount_only":
        return ["TX_AMOUNT"]
    raise ValueError(
        f"unknown feature set {feature_set!r}; choose one of {', '.join(FEATURE_SETS)}")


def hyper_parameters(algorithm: str) -> dict:
    if algorithm == "gbt":
        return dict(GBT_PARAMS)
    if algorithm == "logistic_regression":
        return dict(LR_PARAMS)
    raise ValueError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


def make_estimator(algorithm: str, seed: int = 0, features_col: str = "features"):
    """A Spark ML classifier reading `features` and `fraud_label`."""
    params = hyper_parameters(algorithm)
    if algorithm == "gbt":
        return GBTClassifier(featuresCol=features_col, labelCol=LABEL_COL, seed=seed, **params)
    return LogisticRegression(featuresCol=features_col, labelCol=LABEL_COL, **params)
