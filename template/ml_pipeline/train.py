"""Train a fraud model on a time split and register it in MLflow as the next challenger.

    python -m ml_pipeline.train --data data/transactions.parquet \\
        --tracking-uri http://127.0.0.1:5000 --model-name fraud_detector

Features are computed over the full history (every window looks only backwards and terminal
fraud rates only at labels older than the delay), then rows are split by time: train period,
a gap of `delay_days` whose labels are not yet known, test period. The last stdout line is one
JSON object with the test metrics, model name, version and run id.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ml_pipeline.estimators import (
    ALGORITHMS,
    FEATURE_SETS,
    feature_set_columns,
    hyper_parameters,
    make_estimator,
)
from ml_pipeline.features import LABEL_COL, FeatureConfig, build_features
from ml_pipeline.metrics import classification_metrics
from ml_pipeline.pipeline import PreprocessingConfig, build_preprocessing_pipeline
from ml_pipeline.session import get_spark
from ml_pipeline.split import (
    DAY_COL,
    TimeSplit,
    data_day_range,
    history_for,
    latest_split,
    split_features,
)
from ml_pipeline.tracking import data_fingerprint, git_commit, log_and_register
from ml_pipeline.transformations import clean_data

# Defaults sized for the default simulated data (ml_pipeline.simulate): see the README.
DEFAULT_TRAIN_DAYS = 7
DEFAULT_DELAY_DAYS = 1
DEFAULT_TEST_DAYS = 7
DEFAULT_THRESHOLD = 0.5
TEST_OUTPUT_COLS = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", DAY_COL)


@dataclass(frozen=True)
class PreparedData:
    split: TimeSplit
    train: DataFrame
    test: DataFrame


def load_parquet(spark: SparkSession, path: str) -> DataFrame:
    """Spark's reader, except for local files with nanosecond timestamps (pandas writes them,
    the handbook's data has them), which Spark cannot read: those go through pyarrow and
    are cast to microseconds."""
    local = Path(path)
    files = sorted(local.rglob("*.parquet")) if local.is_dir() else [local]
    if files and files[0].exists():
        schema = pq.read_schema(files[0])
        if any(pa.types.is_timestamp(f.type) and f.type.unit == "ns" for f in schema):
            table = pq.read_table(str(path))
            fields = [pa.field(f.name, pa.timestamp("us")) if pa.types.is_timestamp(f.type)
                      else f for f in table.schema]
            frame = table.cast(pa.schema(fields), safe=False).to_pandas()
            return spark.createDataFrame(frame)
    return spark.read.parquet(str(path))


def read_transactions(spark: SparkSession, path: str) -> DataFrame:
    """The simulator's / handbook's columns, cleaned: no null key fields, one row per id."""
    raw = load_parquet(spark, path)
    required = [c for c in ("TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD")
                if c in raw.columns]
    dedup = ["TRANSACTION_ID"] if "TRANSACTION_ID" in raw.columns else None
    return clean_data(raw, required_cols=required, dedup_cols=dedup)


def prepare_data(raw: DataFrame, train_start: dt.date | None, train_days: int,
                 delay_days: int, test_days: int,
                 feature_config: FeatureConfig | None = None,
                 exclude_known_fraud_cards: bool = True) -> PreparedData:
    """Features over the history the split needs, then the time split (cached: it is read
    by fitting, scoring and the test output)."""
    config = feature_config or FeatureConfig(delay_days=delay_days)
    first_day, last_day = data_day_range(raw)
    split = (TimeSplit(train_start, train_days, delay_days, test_days) if train_start
             else latest_split(last_day, train_days, delay_days, test_days))
    if split.train_start < first_day or split.test_end > last_day + dt.timedelta(days=1):
        raise ValueError(
            f"the split {split.train_start}..{split.test_end} (exclusive) does not fit the "
            f"data, which covers {first_day}..{last_day}; pass an earlier --train-start or "
            "fewer --train-days/--delay-days/--test-days")
    features = build_features(history_for(raw, split, config.lookback_days), config)
    train, test = split_features(features, split, exclude_known_fraud_cards)
    return PreparedData(split, train.cache(), test.cache())


def fit_model(train: DataFrame, feature_cols: list[str], algorithm: str,
              seed: int) -> PipelineModel:
    """VectorAssembler over `feature_cols` + the classifier, as one PipelineModel."""
    preprocessing = build_preprocessing_pipeline(PreprocessingConfig(
        numeric_cols=feature_cols, categorical_cols=[], required_cols=feature_cols))
    return preprocessing.fit(train, make_estimator(algorithm, seed))


def score(model: PipelineModel, rows: DataFrame) -> pd.DataFrame:
    """label, score (= probability[1]), card and day for every row, as pandas."""
    scored = model.transform(rows).select(
        F.col(LABEL_COL), vector_to_array("probability")[1].alias("score"),
        "CUSTOMER_ID", DAY_COL)
    return scored.toPandas()


def train_and_register(data: str, tracking_uri: str, model_name: str = "fraud_detector",
                       train_start: dt.date | str | None = None,
                       train_days: int = DEFAULT_TRAIN_DAYS,
                       delay_days: int = DEFAULT_DELAY_DAYS, test_days: int = DEFAULT_TEST_DAYS,
                       algorithm: str = "gbt", feature_set: str = "full",
                       test_output: str | None = None, alias: str | None = "challenger",
                       seed: int = 0, threshold: float = DEFAULT_THRESHOLD,
                       experiment: str = "fraud_detection",
                       spark: SparkSession | None = None) -> dict:
    """Train, evaluate on the held-out period, log and register; returns the JSON result."""
    hyper_parameters(algorithm)  # fail on an unknown algorithm before any Spark work
    feature_cols = feature_set_columns(feature_set)
    if isinstance(train_start, str):
        train_start = dt.date.fromisoformat(train_start)
    spark = spark or get_spark()
    started = time.monotonic()
    prepared = prepare_data(read_transactions(spark, data), train_start, train_days,
                            delay_days, test_days)
    n_train_frauds = prepared.train.where(F.col(LABEL_COL) == 1).count()
    if n_train_frauds == 0:
        raise ValueError(f"no fraud in the training period starting {prepared.split.train_start}"
                         "; use more data or a longer --train-days")
    model = fit_model(prepared.train, feature_cols, algorithm, seed)
    scored = score(model, prepared.test)
    metrics = classification_metrics(scored[LABEL_COL].to_numpy(), scored["score"].to_numpy(),
                                      threshold).as_dict()
    if test_output:
        (prepared.test.select(*TEST_OUTPUT_COLS, *feature_set_columns("full"), LABEL_COL)
         .coalesce(1).write.mode("overwrite").parquet(str(test_output)))
    split = prepared.split
    params = {"algorithm": algorithm, "feature_set": feature_set, "threshold": threshold,
              "seed": seed, "train_start": split.train_start.isoformat(),
              "train_days": train_days, "delay_days": delay_days, "test_days": test_days,
              "test_start": split.test_start.isoformat(), "n_train": prepared.train.count(),
              "n_train_frauds": n_train_frauds, "n_test": len(scored),
              "n_test_frauds": int(scored[LABEL_COL].sum()),
              "features": ",".join(feature_cols), **hyper_parameters(algorithm)}
    tags = {"data_fingerprint": data_fingerprint(data), "algorithm": algorithm,
            "feature_set": feature_set}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
    example = prepared.test.select(*feature_cols).limit(5)
    registered = log_and_register(model, example, tracking_uri=tracking_uri,
                                  experiment=experiment, model_name=model_name, alias=alias,
                                  params=params, metrics=metrics, tags=tags)
    prepared.train.unpersist()
    prepared.test.unpersist()
    return {**{k: round(v, 6) for k, v in metrics.items()},
            "model_name": registered.model_name, "version": registered.version,
            "run_id": registered.run_id, "alias": alias,
            "train_seconds": round(time.monotonic() - started, 1)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="Parquet file or folder of transactions")
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--model-name", default="fraud_detector")
    parser.add_argument("--train-start", type=dt.date.fromisoformat, default=None,
                        help="YYYY-MM-DD; default: the latest split that fits the data")
    parser.add_argument("--train-days", type=int, default=DEFAULT_TRAIN_DAYS)
    parser.add_argument("--delay-days", type=int, default=DEFAULT_DELAY_DAYS)
    parser.add_argument("--test-days", type=int, default=DEFAULT_TEST_DAYS)
    parser.add_argument("--algorithm", choices=ALGORITHMS, default="gbt")
    parser.add_argument("--feature-set", choices=FEATURE_SETS, default="full")
    parser.add_argument("--test-output", default=None,
                        help="write the held-out feature table here (Parquet) for the gate")
    parser.add_argument("--alias", default="challenger")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--experiment", default="fraud_detection")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = train_and_register(
            args.data, args.tracking_uri, args.model_name, args.train_start, args.train_days,
            args.delay_days, args.test_days, args.algorithm, args.feature_set,
            args.test_output, args.alias, args.seed, args.threshold, args.experiment)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
