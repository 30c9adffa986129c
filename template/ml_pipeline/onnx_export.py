"""The ONNX form of a fitted Spark pipeline, saved beside its Spark form in one MLflow model.

Serving a Spark `PipelineModel` needs a JVM and costs tens of milliseconds per call; the same
pipeline converted to ONNX (onnxmltools' Spark converters) scores one row in microseconds with
onnxruntime. Conversion needs Spark (the tree converters save and read the trees), so it
happens here, at training time, and the result is written into the model directory as an
`onnx` flavour (`mlflow.onnx` conventions: `data: model.onnx`), next to the `spark` flavour of
the same registered version.

The converters are experimental: trees that learned *categorical* splits are converted as `<=`
thresholds and score wrongly. A conversion is therefore never trusted here: the quality gate
(validate-model's `serving_parity` check) scores the test set with both forms. A conversion
that fails is reported and the Spark form registers alone.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession
from pyspark.sql.types import StringType, StructType

from ml_pipeline.onnx_graph import merge_tree_ensembles
from ml_pipeline.onnx_trees import bulk_tree_reads

ONNX_FILE = "model.onnx"
PROBABILITY_OUTPUT = "probability"


@dataclass(frozen=True)
class OnnxConversion:
    """What became of the conversion: `status` is `converted` or `failed` (with `error`)."""

    status: str
    seconds: float
    error: str | None = None
    inputs: tuple[str, ...] = ()

    @property
    def converted(self) -> bool:
        return self.status == "converted"


def initial_types(schema: StructType, columns: Sequence[str]) -> list[tuple[str, object]]:
    """One ONNX input per pipeline input column: strings as strings, every number as float."""
    from onnxmltools.convert.common.data_types import FloatTensorType, StringTensorType

    types = {f.name: f.dataType for f in schema.fields}
    missing = [c for c in columns if c not in types]
    if missing:
        raise ValueError(f"input column(s) {', '.join(missing)} are not in the data")
    return [(c, StringTensorType([None, 1]) if isinstance(types[c], StringType)
             else FloatTensorType([None, 1])) for c in columns]


def convert_pipeline(model: PipelineModel, schema: StructType, columns: Sequence[str],
                     spark: SparkSession):
    """The ONNX ModelProto of `model`, reading `columns` (raises on an unsupported stage)."""
    from onnxmltools import convert_sparkml

    # the converters print their attributes to stdout; our stdout ends with the result JSON
    with bulk_tree_reads(model, spark), contextlib.redirect_stdout(io.StringIO()):
        onnx_model = convert_sparkml(model, "fraud_pipeline", initial_types(schema, columns),
                                     spark_session=spark)
    onnx_model = merge_tree_ensembles(onnx_model)
    outputs = [o.name for o in onnx_model.graph.output]
    if PROBABILITY_OUTPUT not in outputs:
        raise ValueError(f"the converted graph has no {PROBABILITY_OUTPUT!r} output "
                         f"(outputs: {', '.join(outputs)}); end the pipeline with a "
                         "probabilistic classifier")
    return onnx_model


def add_onnx_flavor(model_dir: Path, onnx_model) -> None:
    """Write `model.onnx` into an MLflow model directory and declare it as its `onnx` flavour
    (the keys `mlflow.onnx.load_model` reads, plus what a server needs to score with it)."""
    import onnx
    from mlflow.models import Model

    onnx.save_model(onnx_model, str(model_dir / ONNX_FILE))
    mlmodel = Model.load(str(model_dir / "MLmodel"))
    mlmodel.add_flavor("onnx", onnx_version=onnx.__version__, data=ONNX_FILE,
                       providers=["CPUExecutionProvider"], code=None,
                       probability_output=PROBABILITY_OUTPUT,
                       inputs=[i.name for i in onnx_model.graph.input],
                       converted_from="spark")
    mlmodel.save(str(model_dir / "MLmodel"))


def export_onnx(model: PipelineModel, model_dir: Path, schema: StructType,
                columns: Sequence[str], spark: SparkSession) -> OnnxConversion:
    """Convert and add the `onnx` flavour to `model_dir`; never raises: a failure is returned
    so the caller registers the Spark form anyway and reports why the ONNX form is missing."""
    started = time.monotonic()
    try:
        onnx_model = convert_pipeline(model, schema, columns, spark)
        add_onnx_flavor(model_dir, onnx_model)
    except Exception as err:  # noqa: BLE001 - any converter failure leaves the Spark form
        (model_dir / ONNX_FILE).unlink(missing_ok=True)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        return OnnxConversion("failed", time.monotonic() - started,
                              f"{type(err).__name__}: {first}")
    return OnnxConversion("converted", time.monotonic() - started, inputs=tuple(columns))
