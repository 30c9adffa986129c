"""The test set a gate scores: read like any table, with binary labels of both classes.

The label check has one wording wherever it runs: here, when the test set is loaded on its own,
and inside the evaluation's single validation pass (`evaluation._validate`), which is where
validate-model checks labels, so a large test set is not aggregated twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_actions.data.reading import read_table, require_column
from ml_actions.errors import DataError, MlActionsError, first_line


def load_test_data(spark: Any, uri: str, label_column: str, check_labels: bool = True,
                   label_source: str = "--label-column") -> DataFrame:
    """Read the test set (Parquet, CSV, JSON, ORC; any URI Spark reads) and check its labels.

    The label column's presence is checked on the schema, before any Spark job over the rows;
    `label_source` names where its name came from (the flag or a config key).
    `check_labels=False` skips the one Spark pass the label check costs, for callers whose
    evaluation checks the labels anyway (validate-model does, in the same pass as the scores).
    """
    df = read_table(spark, uri, "--test-data")
    if not df.columns:
        raise DataError(f"--test-data {uri} is empty (no columns, no rows); pass a "
                        "non-empty test set")
    require_column(df, label_column, label_source, "--test-data", uri,
                   "; pass --label-column with the name of the 0/1 fraud label")
    if not check_labels:
        return df
    value = label_value(label_column)
    try:
        row = df.agg(F.count(F.lit(1)).alias("n"), F.count(F.when(value == 1, 1)).alias("pos"),
                     F.count(F.when(value == 0, 1)).alias("neg")).first()
    except MlActionsError:
        raise
    except Exception as err:  # Spark raises several unrelated types for unreadable input
        raise DataError(f"--test-data {uri}: cannot read it ({first_line(err)}); check the "
                        "path and that the file is not empty or corrupt") from err
    problem = label_problem(label_column, f"--test-data {uri}", row["n"], row["pos"],
                            row["n"] - row["pos"] - row["neg"],
                            lambda: bad_label_examples(df, label_column))
    if problem:
        raise DataError(problem)
    return df


def label_value(label_column: str):
    """The label as a double; text labels become null, so they count as "other", not unreadable."""
    return F.col(f"`{label_column}`").try_cast("double")


def bad_label_examples(df: DataFrame, label_column: str, limit: int = 5) -> list:
    """A few label values that are neither 0 nor 1 (only asked for when there are some)."""
    value = label_value(label_column)
    return [r[0] for r in df.where(~value.isin(0.0, 1.0) | value.isNull())
            .select(F.col(f"`{label_column}`")).distinct().limit(limit).collect()]


def label_problem(label_column: str, source: str, rows: int, positives: int, others: int,
                  examples: Callable[[], list]) -> str | None:
    """What is wrong with the labels, in one line, or None when AUC is defined."""
    if rows == 0:
        return f"{source} has no rows; pass a non-empty test set"
    if others:
        return (f"label column {label_column!r} of {source} must be binary (0/1); {others} rows "
                f"hold other values or nulls, e.g. {examples()}")
    if positives in (0, rows):
        only = "1 (fraud)" if positives else "0 (legit)"
        return (f"label column {label_column!r} of {source} holds a single class ({only}); "
                "AUC is undefined: the test set needs both frauds and legit transactions")
    return None
