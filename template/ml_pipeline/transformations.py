"""Data hygiene every training and scoring path shares: clean, encode, check the schema.

These three functions are the contract the tests pin down; the preprocessing pipeline and the
training job call them instead of re-implementing them, so a fix lands everywhere at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.ml import Pipeline
from pyspark.ml.feature import OneHotEncoder, StringIndexer
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StructType


def _require(df: DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        present = ", ".join(df.columns)
        raise ValueError(f"Missing columns: {', '.join(missing)} (present: {present})")


def clean_data(df: DataFrame, required_cols: Sequence[str] | None = None,
               dedup_cols: Sequence[str] | None = None) -> DataFrame:
    """Drop rows with a null (or NaN) in a required column, then duplicate rows.

    `required_cols=None` means every column is required. `dedup_cols=None` removes exact
    duplicates; otherwise rows sharing `dedup_cols` collapse to ONE row chosen by ordering on
    all other columns, so the result does not depend on partitioning (deterministic) and a
    second call changes nothing (idempotent).
    """
    required = list(df.columns if required_cols is None else required_cols)
    _require(df, required)
    cleaned = df.dropna(how="any", subset=required) if required else df
    if dedup_cols is None:
        return cleaned.dropDuplicates()
    keys = list(dedup_cols)
    _require(df, keys)
    others = [c for c in df.columns if c not in keys]
    if not others:
        return cleaned.dropDuplicates(keys)
    order = [F.col(c).asc_nulls_last() for c in others]
    window = Window.partitionBy(*keys).orderBy(*order)
    rank_col = "__clean_data_rank"
    return (cleaned.withColumn(rank_col, F.row_number().over(window))
            .where(F.col(rank_col) == 1).drop(rank_col))


def categorical_stages(categorical_cols: Sequence[str]) -> list:
    """StringIndexer + OneHotEncoder per column, keeping unseen values and nulls as a bucket."""
    stages: list = []
    for col in categorical_cols:
        stages.append(StringIndexer(inputCol=col, outputCol=f"{col}_index",
                                    handleInvalid="keep", stringOrderType="frequencyDesc"))
        stages.append(OneHotEncoder(inputCol=f"{col}_index", outputCol=f"{col}_encoded",
                                    handleInvalid="keep", dropLast=True))
    return stages


def encode_categorical(df: DataFrame, categorical_cols: Sequence[str]) -> DataFrame:
    """Add `<col>_index` and `<col>_encoded` (one-hot vector) for each column; keep every row."""
    cols = list(categorical_cols)
    _require(df, cols)
    if not cols:
        return df
    return Pipeline(stages=categorical_stages(cols)).fit(df).transform(df)


def _type_name(value: str | DataType) -> str:
    if isinstance(value, DataType):
        return value.simpleString()
    aliases = {"long": "bigint", "integer": "int", "short": "smallint", "byte": "tinyint"}
    text = str(value).strip().lower()
    return aliases.get(text, text)


def validate_schema(df: DataFrame,
                    expected_schema: StructType | Mapping[str, str | DataType]) -> None:
    """Raise ValueError on missing columns (all listed) or a column of the wrong type.

    `expected_schema` is a StructType or {column: type}, the type as a Spark DataType or its
    SQL name ("double", "bigint"/"long", "string", ...). Extra columns are allowed: features
    are added over time and must not break older checks.
    """
    if isinstance(expected_schema, StructType):
        expected = {f.name: f.dataType for f in expected_schema.fields}
    else:
        expected = dict(expected_schema)
    missing = [c for c in expected if c not in df.columns]
    if missing:
        raise ValueError(f"Missing columns: {', '.join(missing)}")
    actual = {f.name: f.dataType for f in df.schema.fields}
    for col, want in expected.items():
        got, want_name = _type_name(actual[col]), _type_name(want)
        if got != want_name:
            raise ValueError(f"Column '{col}': expected type {want_name}, got {got}")
