"""The log joined with matured labels: the only rows a realised metric may be computed on.

A label is final `label_maturity` after its transaction (chargebacks keep arriving until
then), so a row counts only when its label is known by now *and* the transaction is older
than the maturity: counting younger rows would see only the fastest frauds and bias recall.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_actions.errors import DataError


@dataclass
class JoinedEvidence:
    """Matured rows (log columns, `label`, `label_time`, `day`) and how many rows got there."""

    matured: DataFrame
    log_rows: int
    labelled_rows: int  # log rows with a label, matured or not
    matured_rows: int
    has_amount: bool
    first_time: dt.datetime | None
    last_time: dt.datetime | None


def join_matured(log: DataFrame, labels: DataFrame, now: dt.datetime, maturity_seconds: float,
                 log_uri: str, labels_uri: str) -> JoinedEvidence:
    """Inner join on the transaction key, then the maturity filter; raises on no overlap."""
    cutoff = now - dt.timedelta(seconds=maturity_seconds)
    keyed = log.where(F.col("transaction_key").isNotNull())
    joined = keyed.join(labels, "transaction_key", "left")
    is_matured = (F.col("label").isNotNull() & (F.col("label_time") <= F.lit(now))
                  & (F.col("time") <= F.lit(cutoff)))
    joined = joined.withColumn("matured", is_matured)
    counts = log.agg(F.count(F.lit(1)).alias("n"), F.min("time").alias("first"),
                     F.max("time").alias("last")).first()
    if not counts["n"]:
        raise DataError(f"--prediction-log {log_uri}: the log is empty (its files hold no "
                        "record); run the monitor once the gateway has scored traffic")
    found = joined.agg(F.count(F.when(F.col("label").isNotNull(), 1)).alias("labelled"),
                       F.count(F.when(F.col("matured"), 1)).alias("matured")).first()
    if not found["labelled"]:
        raise DataError(f"--labels {labels_uri}: no overlap between the prediction log and the "
                        "labels: no transaction key of the log has a label; check that "
                        "serving.prediction_log.key_column and monitor.labels.key_column name "
                        "the same transaction id")
    matured = (joined.where(F.col("matured")).drop("matured")
               .withColumn("day", F.date_format("time", "yyyy-MM-dd")))
    return JoinedEvidence(matured.cache(), int(counts["n"]), int(found["labelled"]),
                          int(found["matured"]), "amount" in log.columns,
                          counts["first"], counts["last"])


def serving_versions(log: DataFrame) -> list[tuple[str, dt.datetime]]:
    """Each version that answered from the stable slot, with when it last did (latest first)."""
    rows = (log.where(F.col("slot") == "stable").groupBy("model_version")
            .agg(F.max("time").alias("last")).orderBy(F.desc("last")).collect())
    return [(str(r["model_version"]), r["last"]) for r in rows]


def shadowed_predecessor(log: DataFrame, champion: str) -> str | None:
    """The version that shadow-scored most of the champion's requests (its predecessor)."""
    row = (log.where((F.col("model_version") == champion) & F.col("shadow_version").isNotNull()
                     & (F.col("shadow_version") != champion))
           .groupBy("shadow_version").count().orderBy(F.desc("count")).first())
    return str(row["shadow_version"]) if row is not None else None
