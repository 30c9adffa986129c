"""The transformations contract: clean_data, encode_categorical, validate_schema."""

from __future__ import annotations

import pytest
from pyspark.ml import Pipeline
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from ml_pipeline.transformations import (
    categorical_stages,
    clean_data,
    encode_categorical,
    validate_schema,
)

pytestmark = pytest.mark.integration

SCHEMA = StructType([StructField("id", LongType()), StructField("merchant", StringType()),
                     StructField("amount", DoubleType())])


@pytest.fixture
def messy(spark):
    rows = [(1, "a", 10.0), (1, "a", 10.0), (2, None, 5.0), (3, "b", None),
            (4, "b", float("nan")), (5, "c", 7.0), (5, "c", 3.0)]
    return spark.createDataFrame(rows, SCHEMA)


def rows_of(df):
    return sorted(tuple(r) for r in df.collect())


def test_clean_data_drops_nulls_only_in_required_columns(messy):
    out = clean_data(messy, required_cols=["amount"])
    assert rows_of(out) == [(1, "a", 10.0), (2, None, 5.0), (5, "c", 3.0), (5, "c", 7.0)]


def test_clean_data_without_required_cols_requires_every_column(messy):
    assert rows_of(clean_data(messy)) == [(1, "a", 10.0), (5, "c", 3.0), (5, "c", 7.0)]


def test_clean_data_dedup_on_key_is_deterministic_and_idempotent(messy):
    once = clean_data(messy, required_cols=["amount"], dedup_cols=["id"])
    assert rows_of(once) == [(1, "a", 10.0), (2, None, 5.0), (5, "c", 3.0)]
    reversed_input = clean_data(messy.orderBy("amount", ascending=False).repartition(3),
                                required_cols=["amount"], dedup_cols=["id"])
    assert rows_of(reversed_input) == rows_of(once)
    assert rows_of(clean_data(once, required_cols=["amount"], dedup_cols=["id"])) == \
        rows_of(once)


def test_clean_data_names_missing_required_columns(messy):
    with pytest.raises(ValueError, match=r"^Missing columns: nope, gone"):
        clean_data(messy, required_cols=["amount", "nope", "gone"])


def test_encode_categorical_adds_index_and_one_hot_and_keeps_every_row(messy):
    out = encode_categorical(messy, ["merchant"])
    assert out.count() == messy.count()
    rows = out.select("merchant", "merchant_index", "merchant_encoded").collect()
    by_value = {r["merchant"]: r for r in rows}
    # "b" and "c" are the most frequent (frequencyDesc), null goes to the extra "keep" bucket.
    assert {by_value["a"]["merchant_index"], by_value["b"]["merchant_index"],
            by_value["c"]["merchant_index"]} == {0.0, 1.0, 2.0}
    assert by_value[None]["merchant_index"] == 3.0
    # one slot per known value plus the keep bucket; each row has exactly one 1
    assert by_value["a"]["merchant_encoded"].size == 4
    assert all(r["merchant_encoded"].toArray().sum() == 1.0 for r in rows)
    assert by_value[None]["merchant_encoded"].toArray()[3] == 1.0


def test_encoders_keep_values_unseen_at_fit_time(spark, messy):
    model = Pipeline(stages=categorical_stages(["merchant"])).fit(messy)
    unseen = spark.createDataFrame([(9, "zzz", 1.0)], SCHEMA)
    row = model.transform(unseen).first()
    assert row["merchant_index"] == 3.0  # the unseen bucket, not an error or a dropped row
    assert list(row["merchant_encoded"].toArray()) == [0.0, 0.0, 0.0, 1.0]


def test_encode_categorical_names_missing_columns(messy):
    with pytest.raises(ValueError, match=r"^Missing columns: city"):
        encode_categorical(messy, ["merchant", "city"])


def test_validate_schema_accepts_matching_types_by_name_alias_or_struct(messy):
    validate_schema(messy, {"id": "long", "merchant": "string", "amount": DoubleType()})
    validate_schema(messy, {"id": "bigint"})
    validate_schema(messy, SCHEMA)


def test_validate_schema_lists_every_missing_column(messy):
    with pytest.raises(ValueError) as err:
        validate_schema(messy, {"id": "bigint", "label": "int", "country": "string"})
    assert str(err.value).startswith("Missing columns")
    assert "label" in str(err.value) and "country" in str(err.value)
    assert "id" not in str(err.value).replace("Missing columns", "")


def test_validate_schema_names_column_expected_and_actual_type(messy):
    with pytest.raises(ValueError) as err:
        validate_schema(messy, {"id": "bigint", "amount": "string"})
    message = str(err.value)
    assert "amount" in message and "string" in message and "double" in message
    assert not message.startswith("Missing columns")
