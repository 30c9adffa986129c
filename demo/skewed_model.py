"""v4 of the demo: a model that passes the offline gate and misbehaves online.

A real bug class, not a random number generator: a feature-scaling step that uses the
statistics of the batch it scores instead of those of the training data. v4 is v2's own fitted
Spark pipeline with one stage in front: every numeric feature is rescaled as
`x / avg(x) OVER () * training_mean(x)`. Scored offline on the whole test set (which is how the
gate scores), the batch averages are close to the training means, so v4 ranks transactions
almost exactly as v2 does and passes every check against it. Served online in micro-batches of
a few rows, every feature collapses to its training mean and every customer gets about the same
score. Only the canary analysis, comparing the live score distribution and decision rate with
the stable model, can see it.
"""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.ml.feature import SQLTransformer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def batch_scaling_stage(columns: list[str], means: dict[str, float]) -> SQLTransformer:
    """The defect: rescale each column by the average of the batch being scored."""
    scaled = []
    for col in columns:
        mean = means[col]
        scaled.append(f"CASE WHEN avg(`{col}`) OVER () = 0 THEN CAST(`{col}` AS DOUBLE) ELSE "
                      f"CAST(`{col}` AS DOUBLE) / avg(`{col}`) OVER () * {mean!r} END AS `{col}`")
    keep = ", ".join(scaled)
    others = "* EXCEPT (" + ", ".join(f"`{c}`" for c in columns) + ")"
    return SQLTransformer(statement=f"SELECT {others}, {keep} FROM __THIS__")


def training_means(train: DataFrame, columns: list[str]) -> dict[str, float]:
    row = train.agg(*[F.avg(F.col(c).cast("double")).alias(c) for c in columns]).first()
    return {c: float(row[c] or 0.0) for c in columns}


def register_skewed_model(spark, base_uri: str, train: DataFrame, columns: list[str],
                          tracking_uri: str, model_name: str) -> str:
    """v2's fitted stages behind the batch-scaling stage, registered as a new version."""
    import mlflow
    import pyspark
    from mlflow.models import get_model_info

    mlflow.set_tracking_uri(tracking_uri)
    base = mlflow.spark.load_model(base_uri)
    model = PipelineModel(stages=[batch_scaling_stage(columns, training_means(train, columns)),
                                  *base.stages])
    signature = get_model_info(base_uri).signature
    mlflow.set_experiment("fraud_detection")
    with mlflow.start_run(run_name="v4-batch-scaling"):
        mlflow.set_tags({"demo.defect": "features rescaled by the scored batch's averages",
                         "demo.base_model": base_uri})
        info = mlflow.spark.log_model(
            model, artifact_path="model", signature=signature,
            registered_model_name=model_name,
            pip_requirements=[f"mlflow=={mlflow.__version__}", f"pyspark=={pyspark.__version__}"])
    return str(info.registered_model_version)


def main(argv: list[str] | None = None) -> int:
    """`python -m demo.skewed_model`: training means from the template's own split, then v4."""
    import argparse
    import json

    from ml_pipeline.estimators import feature_set_columns
    from ml_pipeline.session import get_spark
    from ml_pipeline.train import (
        DEFAULT_DELAY_DAYS,
        DEFAULT_TEST_DAYS,
        DEFAULT_TRAIN_DAYS,
        prepare_data,
        read_transactions,
    )

    parser = argparse.ArgumentParser(prog="python -m demo.skewed_model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--base-uri", required=True, help="models:/NAME/VERSION to wrap")
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--model-name", required=True)
    args = parser.parse_args(argv)
    spark = get_spark()
    try:
        prepared = prepare_data(read_transactions(spark, args.data), None, DEFAULT_TRAIN_DAYS,
                                DEFAULT_DELAY_DAYS, DEFAULT_TEST_DAYS)
        version = register_skewed_model(spark, args.base_uri, prepared.train,
                                        feature_set_columns("full"), args.tracking_uri,
                                        args.model_name)
    finally:
        spark.stop()
    print(json.dumps({"version": version, "base": args.base_uri}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
