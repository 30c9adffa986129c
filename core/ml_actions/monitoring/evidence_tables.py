"""Reading the two inputs of the monitor, the prediction log and the labels table, strictly.

Both come from other systems (the gateway, a chargeback feed), so every way they can be
unusable is a one-line `DataError` naming the input and the fix, raised before any job over
the rows: a missing column, an empty log, a label that is not 0/1, a label dated in the
future (a clock or time-zone bug upstream: trusting it would mature labels too early).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_actions.config.monitor import LabelsConfig
from ml_actions.data.reading import local_path, read_table
from ml_actions.errors import DataError

# The prediction log's columns the monitor reads (the serving writer's Parquet schema).
LOG_COLUMNS = ("transaction_key", "time", "slot", "model_version", "score", "decision",
               "threshold", "shadow_version", "shadow_score", "shadow_decision")
AMOUNT_COLUMN = "amount"


def read_prediction_log(spark: Any, uri: str) -> DataFrame:
    """The log's records (`<uri>/date=YYYY-MM-DD/part-*.parquet`) with the monitor's columns,
    plus `amount` when logged; raises when the log is missing, empty or lacks a column."""
    local = local_path(uri)
    if local is not None and local.is_dir() and not any(Path(local).rglob("*.parquet")):
        raise DataError(f"--prediction-log {uri}: the log is empty (no *.parquet file under "
                        "it); point it at the gateway's serving.prediction_log.path once the "
                        "gateway has scored traffic")
    frame = read_table(spark, uri, "--prediction-log")
    missing = [c for c in LOG_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"--prediction-log {uri}: missing column(s) {', '.join(missing)} "
                        f"(found: {', '.join(frame.columns)}); write the log with the gateway "
                        "of this release (`ml-actions gateway serve --prediction-log DIR`)")
    columns = [*LOG_COLUMNS, *([AMOUNT_COLUMN] if AMOUNT_COLUMN in frame.columns else [])]
    return frame.select(*columns)


def read_labels(spark: Any, uri: str, columns: LabelsConfig, now: dt.datetime) -> DataFrame:
    """One row per transaction: `transaction_key`, `label` (0/1), `label_time`; the latest
    label of a transaction wins (a chargeback can be reversed). Raises on missing columns,
    labels other than 0/1, and label times after `now`."""
    frame = read_table(spark, uri, "--labels")
    wanted = {"monitor.labels.key_column": columns.key_column,
              "monitor.labels.label_column": columns.label_column,
              "monitor.labels.time_column": columns.time_column}
    missing = [f"{name} ({key})" for key, name in wanted.items() if name not in frame.columns]
    if missing:
        raise DataError(f"--labels {uri}: missing column(s) {', '.join(missing)} (found: "
                        f"{', '.join(frame.columns)}); rename them in the table or set "
                        "monitor.labels in the config")
    labels = frame.select(
        F.col(f"`{columns.key_column}`").cast("string").alias("transaction_key"),
        F.col(f"`{columns.label_column}`").cast("int").alias("label"),
        F.col(f"`{columns.time_column}`").cast("timestamp").alias("label_time"))
    check = labels.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(~F.col("label").isin(0, 1) | F.col("label").isNull(), 1)).alias("bad"),
        F.count(F.when(F.col("label_time").isNull(), 1)).alias("no_time"),
        F.max("label_time").alias("latest")).first()
    if not check["rows"]:
        raise DataError(f"--labels {uri}: the labels table has no rows; export the labels "
                        "(chargebacks and confirmed legitimate transactions) before the run")
    if check["bad"]:
        raise DataError(f"--labels {uri}: {check['bad']} row(s) of {columns.label_column} are "
                        "not 0 or 1; labels must be 1 (fraud) or 0 (legitimate)")
    if check["no_time"]:
        raise DataError(f"--labels {uri}: {check['no_time']} row(s) have no {columns.time_column}"
                        "; every label needs the time it became known")
    latest = _utc(check["latest"])
    if latest > now + dt.timedelta(minutes=5):
        raise DataError(f"--labels {uri}: labels in the future: {columns.time_column} reaches "
                        f"{latest.isoformat()} but it is now {now.isoformat()}; fix the "
                        "label export's clock or time zone (times must be UTC)")
    return (labels.groupBy("transaction_key")
            .agg(F.max_by("label", "label_time").alias("label"),
                 F.max("label_time").alias("label_time")))


def _utc(value: dt.datetime) -> dt.datetime:
    """PySpark collects timestamps as naive datetimes in the driver's local time zone;
    `astimezone` reads a naive value as local time, so this is the instant in UTC."""
    return value.astimezone(dt.UTC)
