"""The `serving_parity` check: the ONNX form the gateway serves scores as the validated form.

A Spark version may carry an ONNX form (an `onnx` flavour in the same model directory) that the
gateway serves instead of the Spark form, because it answers in microseconds. The gate measured
the Spark form, so the two must agree on the test set, or the gate validated a model nobody
serves. Both forms score every test row (ONNX in `mapInPandas`, one session per task); one
aggregation gives the largest |Δ P(fraud)|, the rows beyond `validation.parity.max_abs_diff`
and the rows whose decision flips at the operating threshold, and the worst rows are shown.

The check exists because the converters are not trustworthy by construction: onnxmltools turns
tree splits on *categorical* features into `<=` thresholds, silently wrong. Its failure message
says so and how to fix it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from ml_actions.check_result import CheckResult
from ml_actions.errors import first_line
from ml_actions.onnx_form import DEFAULT_OUTPUT, OnnxSession, onnx_flavor
from ml_actions.registry import ModelVersionRef

SPARK_COL, ONNX_COL, DIFF_COL = "__parity_spark", "__parity_onnx", "__parity_diff"
ID_COLUMNS = ("TRANSACTION_ID", "transaction_id", "id")
FIX = ("A known cause: onnxmltools converts tree splits on categorical features (StringIndexer "
       "or Bucketizer outputs, one-hot vectors: any attribute Spark marks nominal or binary) "
       "as `<=` thresholds. Fix: fit the trees on a features column whose metadata declares "
       "every attribute numeric (the template's ml_pipeline.pipeline.numeric_features does "
       "this), then retrain; or serve the Spark form (gateway.serve_onnx: false)")


@dataclass
class ParityResult:
    """How far the ONNX form's scores are from the Spark form's on the test rows."""

    rows: int
    max_abs_diff: float
    beyond_tolerance: int
    decision_flips: int
    tolerance: float
    threshold: float
    examples: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # the ONNX form could not be loaded or scored

    @property
    def share_beyond_tolerance(self) -> float:
        return self.beyond_tolerance / self.rows if self.rows else 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and self.max_abs_diff <= self.tolerance \
            and self.decision_flips == 0

    def as_report(self) -> dict[str, Any]:
        return {"form": "onnx", "rows": self.rows, "max_abs_diff": self.max_abs_diff,
                "beyond_tolerance": self.beyond_tolerance,
                "share_beyond_tolerance": self.share_beyond_tolerance,
                "decision_flips": self.decision_flips, "tolerance": self.tolerance,
                "threshold": self.threshold, "examples": self.examples, "error": self.error,
                "passed": self.passed}


@dataclass
class ParityOutcome:
    """The check, and the measurement behind it (None when there was nothing to compare)."""

    check: CheckResult
    result: ParityResult | None


def _onnx_bytes(ref: ModelVersionRef) -> tuple[bytes, str] | None:
    """The version's ONNX form (file bytes, probability output), or None when it has none."""
    import tempfile
    from pathlib import Path

    import mlflow

    info = mlflow.models.get_model_info(ref.uri)
    flavor = onnx_flavor(info.flavors)
    if flavor is None or "spark" not in info.flavors:
        return None
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        path = mlflow.artifacts.download_artifacts(f"{ref.uri}/{flavor['data']}", dst_path=tmp)
        return Path(path).read_bytes(), str(flavor.get("probability_output") or DEFAULT_OUTPUT)


def _score_onnx(model: bytes, output: str):
    """A mapInPandas function adding the ONNX form's P(fraud); one session per task."""

    def score(batches):
        session = OnnxSession(model, output)
        for frame in batches:
            yield frame.assign(**{ONNX_COL: session.positive(frame)})

    return score


def measure(test_df: DataFrame, ref: ModelVersionRef, threshold: float,
            tolerance: float, examples: int) -> ParityResult | None:
    """Score `test_df` with both forms of `ref` and compare; None when it has no ONNX form."""
    import mlflow.spark
    from pyspark.ml.functions import vector_to_array

    found = _onnx_bytes(ref)
    if found is None:
        return None
    model, output = found
    try:
        inputs = OnnxSession(model, output).input_names
        missing = [c for c in inputs if c not in test_df.columns]
        if missing:
            raise ValueError(f"the test data lacks the ONNX form's input(s) {', '.join(missing)}")
        ids = [c for c in ID_COLUMNS if c in test_df.columns][:1]
        scored = mlflow.spark.load_model(ref.uri).transform(test_df).select(
            *[F.col(f"`{c}`") for c in dict.fromkeys([*ids, *inputs])],
            vector_to_array("probability")[1].alias(SPARK_COL))
        schema = StructType([*scored.schema.fields, StructField(ONNX_COL, DoubleType())])
        both = scored.mapInPandas(_score_onnx(model, output), schema)
        both = both.withColumn(DIFF_COL, F.abs(F.col(SPARK_COL) - F.col(ONNX_COL))).cache()
        return _compare(both, ids, inputs, threshold, tolerance, examples)
    except Exception as err:  # noqa: BLE001 - a form that cannot be scored fails the check
        return ParityResult(0, math.nan, 0, 0, tolerance, threshold,
                            error=f"{type(err).__name__}: {first_line(err, 400)}")


def _compare(both: DataFrame, ids: list[str], inputs: list[str], threshold: float,
             tolerance: float, examples: int) -> ParityResult:
    spark_says, onnx_says = F.col(SPARK_COL) >= threshold, F.col(ONNX_COL) >= threshold
    bad = F.col(DIFF_COL).isNull() | F.isnan(DIFF_COL)
    try:
        row = both.agg(F.count(F.lit(1)).alias("rows"),
                       F.max(F.when(bad, F.lit(math.inf)).otherwise(F.col(DIFF_COL))).alias("max"),
                       F.count(F.when(bad | (F.col(DIFF_COL) > tolerance), 1)).alias("beyond"),
                       F.count(F.when(bad | (spark_says != onnx_says), 1)).alias("flips")).first()
        worst = []
        if examples and (row["beyond"] or row["flips"]):
            flip = spark_says != onnx_says
            worst = (both.where(bad | (F.col(DIFF_COL) > tolerance) | flip)
                     .orderBy(F.col(DIFF_COL).desc_nulls_first()).limit(examples).collect())
    finally:
        both.unpersist()
    shown = [{"id": r[ids[0]] if ids else None, "spark": r[SPARK_COL], "onnx": r[ONNX_COL],
              "abs_diff": r[DIFF_COL],
              "decision_flip": None in (r[SPARK_COL], r[ONNX_COL])
              or (r[SPARK_COL] >= threshold) != (r[ONNX_COL] >= threshold),
              "inputs": {c: r[c] for c in inputs}} for r in worst]
    return ParityResult(int(row["rows"]), float(row["max"] or 0.0), int(row["beyond"]),
                        int(row["flips"]), tolerance, threshold, shown)


def parity_check(result: ParityResult | None) -> CheckResult:
    """`serving_parity`: skip without an ONNX form, else pass only when both forms agree."""
    if result is None:
        return CheckResult("serving_parity", "skip", None, None,
                           "no ONNX form: the gateway serves the version's own flavour")
    details = result.as_report()
    if result.error:
        return CheckResult("serving_parity", "fail", None, result.tolerance,
                           f"the ONNX form cannot be scored ({result.error}); re-register the "
                           "version, or serve the Spark form (gateway.serve_onnx: false)",
                           result.rows, details=details)
    summary = (f"ONNX vs Spark form on {result.rows} rows: max |Δ P(fraud)| "
               f"{result.max_abs_diff:.3g} (tolerance {result.tolerance:g}), "
               f"{result.beyond_tolerance} rows ({result.share_beyond_tolerance:.2%}) beyond "
               f"it, {result.decision_flips} decisions flipped at {result.threshold:g}")
    if result.passed:
        return CheckResult("serving_parity", "pass", result.max_abs_diff, result.tolerance,
                           f"{summary}: the gateway serves what the gate measured", result.rows,
                           details=details)
    return CheckResult("serving_parity", "fail", result.max_abs_diff, result.tolerance,
                       f"{summary}: the ONNX form the gateway would serve scores differently "
                       f"from the model this gate measured. {FIX}", result.rows,
                       details=details)


def check_serving_parity(test_df: DataFrame, ref: ModelVersionRef, threshold: float,
                         config: Any) -> ParityOutcome:
    """Measure and judge `ref`'s ONNX form against its Spark form (`validation.parity`)."""
    parity = config.validation.parity
    result = measure(test_df, ref, threshold, parity.max_abs_diff, parity.examples)
    return ParityOutcome(parity_check(result), result)
