"""Registry model versions turned into one callable: rows in, P(fraud) per row out.

A version that carries an ONNX form (an `onnx` flavour beside its `spark` one) is served from
that form with onnxruntime (`serving/onnx_scoring.py`): microseconds instead of a Spark job
per batch, and no JVM. The Spark form stays the fallback, chosen per version: when the ONNX
form is absent or cannot be loaded, when the quality gate found the two forms disagree (the
version's `validation.serving_parity` tag is `fail`), or when `gateway.serve_onnx` is off.
Spark models are loaded through the Spark flavour and read `probability[1]`, because their
pyfunc returns only the hard label (MLflow issue #6451). Every other model goes through pyfunc
and gives the positive-class column of its probability output (a 2-column `predict_proba`, or
a single probability column). The model's signature decides which columns a request needs and
their types, so a missing or mistyped column is the client's 400, not the model's 500.
The files come from `model_source.py` (the artifact cache, else MLflow) and stay there.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_actions.errors import RegistryError
from ml_actions.serving.columnar_request import ColumnarRequest, NotColumnar
from ml_actions.serving.onnx_columns import OnnxColumns
from ml_actions.serving.onnx_scoring import PARITY_TAG, OnnxScorer, onnx_form_in
from ml_actions.serving.protocols import RequestError

log = logging.getLogger("ml_actions.gateway")

URI_PATTERN = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/]+)|@(?P<alias>[^/]+))$")
NUMERIC = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32"}


class ModelOutputError(Exception):
    """The model answered, but not with probabilities: a fault of the model (5xx)."""


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    tags: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def parse_model_uri(uri: str) -> tuple[str, str]:
    """`models:/name/3` -> ("name", "3"); `models:/name@champion` -> ("name", "@champion")."""
    match = URI_PATTERN.match(uri.strip()) if isinstance(uri, str) else None
    if not match:
        raise RegistryError(f"model_uri {uri!r} is not models:/<name>/<version> or "
                            "models:/<name>@<alias>")
    return match["name"], match["version"] or f"@{match['alias']}"


def positive_class(output: Any) -> np.ndarray:
    """P(positive) from a probability output of any of the usual shapes."""
    if isinstance(output, pd.Series):
        values = output.to_numpy()
    elif isinstance(output, pd.DataFrame):
        if output.shape[1] not in (1, 2):
            raise ModelOutputError(f"model returned {output.shape[1]} columns; expected a "
                                   "probability column or a 2-column predict_proba output")
        values = output.iloc[:, -1].to_numpy()
    else:
        values = np.asarray(output)
        if values.ndim == 2 and values.shape[1] in (1, 2):
            values = values[:, -1]
        elif values.ndim != 1:
            raise ModelOutputError(f"model returned shape {values.shape}; expected (n,), (n, 1) "
                                   "or (n, 2) probabilities")
    try:
        scores = values.astype("float64")
    except (TypeError, ValueError):
        raise ModelOutputError("model output is not numeric; log it with "
                               "pyfunc_predict_fn='predict_proba'") from None
    if scores.size and (not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1):
        raise ModelOutputError("model output is not a probability in [0, 1] (a hard label or "
                               "a raw score?); log it with pyfunc_predict_fn='predict_proba'")
    return scores


class ServedModel:
    """One loaded model version: its input contract and a `score(frame)` returning P(fraud).

    `flavor` is the MLflow flavour the version was logged with; `form` is what scores it:
    `onnx` (its ONNX form, onnxruntime), `spark` or `pyfunc`. `columnar` (ONNX forms with a
    signature) scores a request's JSON columns without pandas (`score_columns`)."""

    def __init__(self, ref: ModelRef, flavor: str, predict: Callable[[pd.DataFrame], Any],
                 schema: list[tuple[str, str]] | None, example: pd.DataFrame | None,
                 local_dir: Path | None = None, form: str | None = None,
                 on_release: Callable[[], None] | None = None,
                 columnar: Callable[[ColumnarRequest], Any] | None = None):
        self.ref = ref
        self.columnar = columnar
        self.flavor = flavor
        self.form = form or flavor
        self._predict = predict
        self.schema = schema
        self.example = example
        self.local_dir = local_dir  # shared: the artifact cache owns it
        self._on_release = on_release

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def version(self) -> str:
        return self.ref.version

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The signature's columns in order and type; a mismatch is a `RequestError`."""
        if not self.schema:
            return frame
        missing = [name for name, _ in self.schema if name not in frame.columns]
        if missing:
            needed = ", ".join(name for name, _ in self.schema)
            raise RequestError(f"missing column(s) {', '.join(missing)}; model "
                               f"{self.ref.uri} needs {needed}")
        columns = {}
        for name, kind in self.schema:
            column = frame[name]
            target = NUMERIC.get(kind)
            if target is not None and column.dtype == target:  # the common case: no work
                columns[name] = column
                continue
            try:
                if target is not None:
                    column = pd.to_numeric(column, errors="raise")
                    if column.isna().any():
                        raise ValueError("null value")
                    column = column.astype(target)
                elif kind == "string":
                    column = column.astype(str)
                elif kind == "boolean":
                    column = column.astype(bool)
            except (ValueError, TypeError) as err:
                raise RequestError(f"column {name!r}: expected {kind} values ({err})") from None
            columns[name] = column
        return pd.DataFrame(columns, copy=False)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        scores = positive_class(self._predict(frame))
        if len(scores) != len(frame):
            raise ModelOutputError(f"model returned {len(scores)} scores for {len(frame)} rows")
        return scores

    def score_columns(self, request: ColumnarRequest) -> np.ndarray:
        """P(fraud) per row from the request's columns; `NotColumnar` when this model or this
        request needs the pandas path (`prepare`, then `score`)."""
        if self.columnar is None:
            raise NotColumnar("this model is scored from a DataFrame")
        scores = positive_class(self.columnar(request))
        if len(scores) != request.rows:
            raise ModelOutputError(f"model returned {len(scores)} scores for {request.rows} "
                                   "rows")
        return scores

    def warmup_frame(self, rows: int) -> pd.DataFrame | None:
        """Rows to warm the model with: its input example, else values made from the schema."""
        base = self.example
        if base is None and self.schema:
            fill = {"string": "warmup", "boolean": False, "datetime": pd.Timestamp(0)}
            base = pd.DataFrame([{n: fill.get(k, 0) for n, k in self.schema}])
        if base is None or base.empty:
            return None
        return self.prepare(pd.concat([base] * max(1, rows // len(base) + 1)).head(rows)
                            .reset_index(drop=True))

    def release(self) -> None:
        """Let go of the files (never deleted here: another slot or a restart may need them)."""
        on_release, self._on_release = self._on_release, None
        if on_release is not None:
            on_release()


def _schema_of(mlmodel) -> list[tuple[str, str]] | None:
    signature = mlmodel.signature
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        return None
    columns = []
    for spec in signature.inputs.inputs:
        kind = getattr(spec.type, "name", str(spec.type))
        columns.append((spec.name, str(kind).lower()))
    return columns


def _example_of(mlmodel, local: Path) -> pd.DataFrame | None:
    try:
        example = mlmodel.load_input_example(str(local))
    except Exception:  # noqa: BLE001 - a broken example only costs the warm-up its data
        return None
    return example if isinstance(example, pd.DataFrame) else None


def _spark_predict(local: Path, schema: list[tuple[str, str]] | None,
                   spark_provider: Callable[[], Any]) -> Callable[[pd.DataFrame], Any]:
    import mlflow.spark
    from pyspark.ml.functions import vector_to_array

    spark = spark_provider()
    pipeline = mlflow.spark.load_model(str(local))
    ddl = None
    if schema:
        types = {"double": "double", "float": "float", "long": "bigint", "integer": "int",
                 "string": "string", "boolean": "boolean", "datetime": "timestamp"}
        ddl = ", ".join(f"`{n}` {types.get(k, 'string')}" for n, k in schema)

    def predict(frame: pd.DataFrame) -> np.ndarray:
        scored = pipeline.transform(spark.createDataFrame(frame, schema=ddl))
        if "probability" not in scored.columns:
            raise ModelOutputError("the Spark model has no `probability` column; end the "
                                   "pipeline with a probabilistic classifier")
        rows = scored.select(vector_to_array("probability")[1].alias("p")).toPandas()
        return rows["p"].to_numpy()

    return predict


def _onnx_predict(ref: ModelRef, mlmodel, path: Path) -> OnnxScorer | None:
    """The ONNX form's scorer, or None (with the reason logged) to fall back to the flavour."""
    form = onnx_form_in(mlmodel, path)
    if form is None:
        return None
    if ref.tags.get(PARITY_TAG) == "fail":
        log.warning("%s: the quality gate found its ONNX form disagrees with its Spark form; "
                    "serving the Spark form", ref.uri)
        return None
    try:
        return OnnxScorer(form)
    except Exception as err:  # noqa: BLE001 - a broken ONNX form must not stop the version
        log.warning("%s: cannot load its ONNX form (%s: %s); serving its own flavour",
                    ref.uri, type(err).__name__, str(err)[:300])
        return None


def build_served_model(ref: ModelRef, path: Path, spark_provider: Callable[[], Any],
                       prefer_onnx: bool = True,
                       on_release: Callable[[], None] | None = None) -> ServedModel:
    """The scoring callable of the version whose `MLmodel` is in `path` (files it does not
    own: `release()` calls `on_release`, which lets the artifact cache evict them again)."""
    import mlflow
    from mlflow.models import Model

    mlmodel = Model.load(str(path / "MLmodel"))
    schema, example = _schema_of(mlmodel), _example_of(mlmodel, path)
    flavor = "spark" if "spark" in mlmodel.flavors else "pyfunc"
    onnx_predict = _onnx_predict(ref, mlmodel, path) if prefer_onnx else None
    if onnx_predict is not None:
        return ServedModel(ref, flavor, onnx_predict, schema, example, path, form="onnx",
                           on_release=on_release,
                           columnar=OnnxColumns.of(onnx_predict.session, schema))
    if "spark" in mlmodel.flavors:
        predict = _spark_predict(path, schema, spark_provider)
        return ServedModel(ref, "spark", predict, schema, example, path, on_release=on_release)
    pyfunc = mlflow.pyfunc.load_model(str(path))
    return ServedModel(ref, "pyfunc", pyfunc.predict, schema, example, path,
                       on_release=on_release)
