"""Preprocessing as one object: clean, encode strings, assemble a `features` vector.

`.transform(df)` takes raw data directly (it fits the encoders on that data), `.fit(df)`
returns a fitted Spark `PipelineModel` for training and scoring, with an optional estimator as
its last stage. Cleaning drops rows, so it runs before fitting and is NOT a stage of the model:
a model that silently dropped rows at scoring time would hide transactions from the gate.

The estimator is fitted on a `features` vector whose attributes are all declared numeric:
Spark's trees treat one-hot (binary) and nominal attributes as categorical and learn set-valued
splits, which the ONNX converter turns into wrong `<=` thresholds. A tree over a 0/1 one-hot
column loses nothing with a numeric split (`<= 0.5` separates the two values), so the model is
as good and its ONNX form is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, NumericType, StringType

from ml_pipeline.transformations import categorical_stages, clean_data

DEFAULT_ID_COLS = ("TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_DATETIME",
                   "TX_TIME_SECONDS", "TX_TIME_DAYS", "event_seconds")
DEFAULT_EXCLUDED_COLS = ("TX_FRAUD", "TX_FRAUD_SCENARIO", "fraud_label")


@dataclass(frozen=True)
class PreprocessingConfig:
    """What to clean, encode and assemble. `None` lists are inferred from the data's schema:
    string columns (minus identifiers) are categorical, numeric ones (minus identifiers and
    labels) are numeric inputs."""

    required_cols: Sequence[str] | None = None
    dedup_cols: Sequence[str] | None = ("TRANSACTION_ID",)
    categorical_cols: Sequence[str] | None = None
    numeric_cols: Sequence[str] | None = None
    id_cols: Sequence[str] = DEFAULT_ID_COLS
    excluded_cols: Sequence[str] = DEFAULT_EXCLUDED_COLS
    features_col: str = "features"


class PreprocessingPipeline:
    """Clean -> StringIndexer/OneHotEncoder -> VectorAssembler (-> estimator)."""

    def __init__(self, config: PreprocessingConfig) -> None:
        self.config = config

    def _skip(self) -> set[str]:
        return set(self.config.id_cols) | set(self.config.excluded_cols)

    def categorical_cols(self, df: DataFrame) -> list[str]:
        if self.config.categorical_cols is not None:
            return list(self.config.categorical_cols)
        return [f.name for f in df.schema.fields
                if isinstance(f.dataType, StringType) and f.name not in self._skip()]

    def numeric_cols(self, df: DataFrame) -> list[str]:
        if self.config.numeric_cols is not None:
            return list(self.config.numeric_cols)
        return [f.name for f in df.schema.fields
                if isinstance(f.dataType, NumericType | BooleanType)
                and f.name not in self._skip()]

    def clean(self, df: DataFrame) -> DataFrame:
        """Rows with a null in an input column or a repeated dedup key are dropped."""
        dedup = self.config.dedup_cols
        if dedup is not None and not set(dedup) <= set(df.columns):
            dedup = None  # no transaction id (e.g. a user's table): exact duplicates only
        required = self.config.required_cols
        if required is None:
            required = self.numeric_cols(df)
        return clean_data(df, required_cols=required, dedup_cols=dedup)

    def stages(self, df: DataFrame) -> list:
        categorical = self.categorical_cols(df)
        inputs = self.numeric_cols(df) + [f"{c}_encoded" for c in categorical]
        if not inputs:
            raise ValueError("no input columns: the data has no numeric or string column "
                             "besides identifiers and labels")
        return [*categorical_stages(categorical),
                VectorAssembler(inputCols=inputs, outputCol=self.config.features_col,
                                handleInvalid="keep")]

    def pipeline(self, df: DataFrame, estimator=None) -> Pipeline:
        stages = self.stages(df)
        return Pipeline(stages=[*stages, estimator] if estimator is not None else stages)

    def fit(self, df: DataFrame, estimator=None) -> PipelineModel:
        """Fit on cleaned data; the model's stages never drop rows."""
        cleaned = self.clean(df)
        preprocessing = self.pipeline(cleaned).fit(cleaned)
        if estimator is None:
            return preprocessing
        features = numeric_features(preprocessing.transform(cleaned), self.config.features_col)
        return PipelineModel(stages=[*preprocessing.stages, estimator.fit(features)])

    def transform(self, df: DataFrame) -> DataFrame:
        """Raw data in, cleaned rows with `<col>_index`, `<col>_encoded` and `features` out."""
        cleaned = self.clean(df)
        return self.pipeline(cleaned).fit(cleaned).transform(cleaned)


def numeric_features(df: DataFrame, features_col: str = "features") -> DataFrame:
    """`df` with the vector's attribute metadata replaced by "N numeric attributes", so no
    estimator sees a categorical feature (see the module docstring for why)."""
    attributes = df.schema[features_col].metadata.get("ml_attr")
    if not attributes or "num_attrs" not in attributes:
        return df
    numeric = {"ml_attr": {"num_attrs": attributes["num_attrs"]}}
    return df.withColumn(features_col, F.col(features_col).alias(features_col, metadata=numeric))


def build_preprocessing_pipeline(config: PreprocessingConfig | dict | None = None
                                 ) -> PreprocessingPipeline:
    """The preprocessing used by training; a dict is read as PreprocessingConfig fields."""
    if isinstance(config, dict):
        config = PreprocessingConfig(**config)
    return PreprocessingPipeline(config or PreprocessingConfig())
