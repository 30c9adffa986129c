"""build_preprocessing_pipeline: raw data in, a `features` vector out; fit() gives a model."""

from __future__ import annotations

import pytest
from pyspark.ml import PipelineModel
from pyspark.ml.classification import LogisticRegression

from ml_pipeline.pipeline import PreprocessingConfig, build_preprocessing_pipeline

pytestmark = pytest.mark.integration


@pytest.fixture
def raw(spark):
    rows = [(1, 10, "grocery", 12.5, 1.0, 0), (2, 10, "travel", 300.0, 0.0, 1),
            (3, 11, "grocery", 8.0, 1.0, 0), (3, 11, "grocery", 8.0, 1.0, 0),
            (4, 12, None, 20.0, 0.0, 0), (5, 12, "fuel", None, 1.0, 0),
            (6, 13, "travel", 250.0, 0.0, 1), (7, 13, "fuel", 30.0, 1.0, 0)]
    return spark.createDataFrame(rows, "TRANSACTION_ID long, CUSTOMER_ID long, category string, "
                                       "TX_AMOUNT double, is_domestic double, fraud_label int")


def test_transform_works_on_raw_data(raw):
    out = build_preprocessing_pipeline().transform(raw)
    # duplicate TRANSACTION_ID 3 and the row with a null amount are gone; null category kept
    assert sorted(r["TRANSACTION_ID"] for r in out.collect()) == [1, 2, 3, 4, 6, 7]
    assert {"category_index", "category_encoded", "features"} <= set(out.columns)
    row = out.where("TRANSACTION_ID = 1").first()
    # TX_AMOUNT, is_domestic, then the one-hot category (3 values + the keep bucket)
    assert row["features"].size == 2 + 4
    assert list(row["features"].toArray()[:2]) == [12.5, 1.0]


def test_identifiers_and_labels_never_become_inputs(raw):
    pipe = build_preprocessing_pipeline()
    cleaned = pipe.clean(raw)
    assert pipe.numeric_cols(cleaned) == ["TX_AMOUNT", "is_domestic"]
    assert pipe.categorical_cols(cleaned) == ["category"]


def test_fit_returns_a_fitted_model_that_scores_without_dropping_rows(raw, spark):
    pipe = build_preprocessing_pipeline({"categorical_cols": ["category"]})
    model = pipe.fit(raw, LogisticRegression(labelCol="fraud_label"))
    assert isinstance(model, PipelineModel)
    scored = model.transform(raw.where("TX_AMOUNT IS NOT NULL"))
    assert scored.count() == 7  # scoring keeps duplicates: cleaning is not a model stage
    frauds = {r["TRANSACTION_ID"]: r["probability"][1] for r in scored.collect()}
    assert frauds[2] > 0.5 > frauds[1]


def test_explicit_config_and_no_inputs_error(spark):
    config = PreprocessingConfig(numeric_cols=["a"], categorical_cols=[], dedup_cols=None)
    df = spark.createDataFrame([(1.0, "x"), (2.0, "y")], "a double, b string")
    out = build_preprocessing_pipeline(config).transform(df)
    assert [r["features"].size for r in out.collect()] == [1, 1]
    only_ids = spark.createDataFrame([(1, 2)], "TRANSACTION_ID long, CUSTOMER_ID long")
    with pytest.raises(ValueError, match="no input columns"):
        build_preprocessing_pipeline().transform(only_ids)
