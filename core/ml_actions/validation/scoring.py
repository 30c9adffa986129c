"""Load a registered model version and add its P(fraud) as a column of a Spark DataFrame.

Spark-flavour models run natively (`mlflow.spark.load_model`) and we read `probability[1]`:
their pyfunc returns only the hard `prediction` (MLflow issue #6451). Every other flavour
(scikit-learn, XGBoost, custom pyfunc) runs through `mlflow.pyfunc.spark_udf` with an
`array<double>` result, so one gate validates any model: a two-column output is
(P(legit), P(fraud)) as `predict_proba` gives, a one-column output is P(fraud) itself.

A model that outputs only hard 0/1 labels is refused (AUC on labels is meaningless), as are
NaN or out-of-range scores; `check_scores` turns the counts `score_checks` aggregates into a
`DataError` that names the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml_actions.errors import DataError, RegistryError, first_line
from ml_actions.registry import ModelVersionRef

SPARK_OUTPUT_COLUMNS = ("probability", "rawPrediction", "prediction")


class ChampionError(RegistryError):
    """The champion cannot be loaded or scored; the caller fails or warns per config
    (`validation.champion_load_failure`) and may evaluate without a champion."""


@dataclass
class Scorer:
    """A loaded model version that can add its score column to a DataFrame."""

    ref: ModelVersionRef
    flavor: str  # "spark" or "pyfunc"
    model: Any  # a Spark PipelineModel, or the pyfunc Spark UDF
    input_columns: list[str] | None = None

    def score(self, df: DataFrame, out_col: str) -> DataFrame:
        """`df` plus `out_col` (P(fraud), double) and `out_col + "_width"` (output columns)."""
        from pyspark.ml.functions import vector_to_array

        keep = [F.col(c) for c in df.columns]
        if self.flavor == "spark":
            scored = self.model.transform(df)
            added = [c for c in scored.columns if c not in df.columns]
            column = next((c for c in added if c.lower().endswith("probability")), None)
            if column is None:
                raise DataError(
                    f"model {self.ref.name} v{self.ref.version} is a Spark model without a "
                    "`probability` output (it returns only hard labels); log a classifier that "
                    "outputs probabilities, since AUC on 0/1 labels is meaningless"
                )
            values = vector_to_array(F.col(f"`{column}`"))
            return scored.select(*keep, *_score_columns(values, out_col, spark=True))
        columns = self.input_columns or df.columns
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataError(
                f"the test data lacks input column(s) {', '.join(missing)} that model "
                f"{self.ref.name} v{self.ref.version} expects (its MLflow signature)"
            )
        values = self.model(F.struct(*[F.col(c) for c in columns]))
        return df.select(*keep, *_score_columns(values, out_col, spark=False))


def _score_columns(values: Column, out_col: str, spark: bool) -> list[Column]:
    width = F.size(values)
    positive = F.element_at(values, 2)
    score = (F.when(width == 2, positive) if spark
             else F.when(width == 2, positive).when(width == 1, F.element_at(values, 1)))
    return [score.cast("double").alias(out_col), width.alias(f"{out_col}_width")]


def load_scorer(spark: Any, ref: ModelVersionRef, feature_columns: list[str] | None = None,
                role: str = "candidate") -> Scorer:
    """Load `ref` through the right flavour; errors name the version and the role."""
    import mlflow
    from mlflow.exceptions import MlflowException

    error = ChampionError if role == "champion" else RegistryError
    try:
        info = mlflow.models.get_model_info(ref.uri)
        if "spark" in info.flavors:
            return Scorer(ref, "spark", mlflow.spark.load_model(ref.uri))
        if "python_function" not in info.flavors:
            raise error(f"{role} {ref.name} v{ref.version} has no python_function or spark "
                        f"flavour (flavours: {', '.join(info.flavors)}); it cannot be scored")
        inputs = info.signature.inputs.input_names() if info.signature else None
        udf = mlflow.pyfunc.spark_udf(spark, ref.uri, result_type="array<double>",
                                      env_manager="local")
        columns = [str(c) for c in inputs] if inputs else feature_columns
        return Scorer(ref, "pyfunc", udf, columns)
    except RegistryError:
        raise
    except (MlflowException, OSError, ImportError, ValueError, TypeError) as err:
        first = first_line(err)
        raise error(
            f"cannot load {role} model {ref.name} v{ref.version} ({ref.uri}): {first}; check that "
            "the version's artifacts exist and its flavour's libraries are installed"
        ) from err


def score_checks(out_col: str) -> list[Column]:
    """Aggregations over a scored frame that `check_scores` judges (one pass with the rest)."""
    s, w = F.col(out_col), F.col(f"{out_col}_width")
    return [
        F.count(F.when(s.isNull() | F.isnan(s), 1)).alias(f"{out_col}_bad"),
        F.count(F.when((s < 0) | (s > 1), 1)).alias(f"{out_col}_range"),
        F.count(F.when(~s.isin(0.0, 1.0), 1)).alias(f"{out_col}_soft"),
        F.min(w).alias(f"{out_col}_wmin"), F.max(w).alias(f"{out_col}_wmax"),
    ]


def check_scores(stats: dict[str, Any], out_col: str, scorer: Scorer, role: str) -> None:
    """Refuse scores no probability metric can be computed on, naming the model."""
    ref = scorer.ref
    error = ChampionError if role == "champion" else DataError
    who = f"{role} model {ref.name} v{ref.version}"
    wmin, wmax = stats[f"{out_col}_wmin"], stats[f"{out_col}_wmax"]
    if wmin is not None and (wmin < 1 or wmax > 2 or (scorer.flavor == "spark" and wmin != 2)):
        raise error(f"{who} returns {wmax} output columns per row; expected a probability of "
                    "fraud (one column) or two class probabilities (log scikit-learn models with "
                    "pyfunc_predict_fn='predict_proba')")
    if stats[f"{out_col}_bad"]:
        raise error(f"{who} produced {stats[f'{out_col}_bad']} NaN or missing scores; fix the "
                    "model or the feature values it cannot handle (nulls, unseen categories)")
    if stats[f"{out_col}_range"]:
        raise error(f"{who} produced {stats[f'{out_col}_range']} scores outside [0, 1]; the gate "
                    "needs P(fraud), not a raw margin or a decision-function value")
    if not stats[f"{out_col}_soft"]:
        raise error(f"{who} returns only hard 0/1 labels, not probabilities; AUC on labels is "
                    "meaningless. Log it with pyfunc_predict_fn='predict_proba' (scikit-learn) "
                    "or make predict() return P(fraud)")
