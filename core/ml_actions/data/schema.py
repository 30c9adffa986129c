"""The schema a dataset is checked against: from a YAML file or a model's MLflow signature.

A schema file is read with the same loader as ml-actions.yaml, so a typo names the file and
the key path (and per-environment overlays work). A signature gives column names, types and
whether a column is required; types compare by lossless widening (int -> bigint passes,
bigint -> int does not), as MLflow's own schema enforcement does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_actions.config.loader import build, read_yaml, resolve
from ml_actions.errors import ConfigurationError, RegistryError

INTEGRAL = ("tinyint", "smallint", "int", "bigint")
FLOATING = ("float", "double")
TYPE_NAMES = {  # YAML / MLflow spellings -> Spark's simpleString
    "byte": "tinyint", "short": "smallint", "integer": "int", "long": "bigint",
    "datetime": "timestamp", "bool": "boolean", "str": "string",
}


@dataclass
class ColumnSpec:
    """What one column must look like; every field is optional."""

    __config_shorthand__ = "type"
    type: str | None = None  # a Spark type (double, bigint, string, ...) or `numeric`
    required: bool = True
    max_null_rate: float | None = field(default=None, metadata={"range": (0, 1)})
    min: float | None = None
    max: float | None = None
    values: list[Any] | None = None  # allowed values (categorical columns)


@dataclass
class LabelSpec:
    column: str | None = None
    values: list[int] | None = None
    min_rate: float | None = field(default=None, metadata={"range": (0, 1)})
    max_rate: float | None = field(default=None, metadata={"range": (0, 1)})


@dataclass
class DataSchema:
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    label: LabelSpec = field(default_factory=LabelSpec)
    key_columns: list[str] = field(default_factory=list)
    max_null_rate: float | None = field(default=None, metadata={"range": (0, 1)})
    min_rows: int | None = field(default=None, metadata={"range": (1, None)})
    source: str = field(default="", init=False)


def normalise_type(name: str) -> str:
    text = name.strip().lower()
    return TYPE_NAMES.get(text, text)


def type_compatible(actual: str, expected: str) -> bool:
    """Same type, or a lossless widening (int -> bigint, float -> double, int -> double)."""
    actual, expected = normalise_type(actual), normalise_type(expected)
    if actual == expected or (expected == "numeric" and (
            actual in INTEGRAL + FLOATING or actual.startswith("decimal"))):
        return True
    if actual in INTEGRAL and expected in INTEGRAL:
        return INTEGRAL.index(actual) <= INTEGRAL.index(expected)
    if actual in FLOATING and expected in FLOATING:
        return FLOATING.index(actual) <= FLOATING.index(expected)
    if expected == "timestamp" and actual in ("timestamp_ntz", "date"):
        return True
    return expected == "double" and actual in INTEGRAL[:3]


def numeric_type(spark_type: str) -> bool:
    return spark_type in INTEGRAL + FLOATING or spark_type.startswith("decimal")


def load_schema_file(path: Path, environment: str = "dev") -> DataSchema:
    """A schema YAML as `DataSchema`; errors name the file, the line or the key path."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: a schema file needs a mapping with `columns:`")
    schema = build(DataSchema, resolve(raw, environment, str(path)))
    schema.source = str(path)
    return schema


def schema_from_signature(registry, name: str, version: str) -> DataSchema:
    """The input columns and types of a registered model's MLflow signature."""
    import mlflow
    from mlflow.models import get_model_info
    from mlflow.types.schema import ColSpec

    ref = registry.resolve(name, version)
    # `models:/` URIs resolve through the process-wide registry URI (as evaluation does)
    mlflow.set_tracking_uri(registry.tracking_uri)
    mlflow.set_registry_uri(registry.tracking_uri)
    info = registry.call(f"read the signature of {ref.uri}", lambda: get_model_info(ref.uri))
    inputs = info.signature.inputs if info.signature else None
    if inputs is None or not inputs.inputs:
        raise RegistryError(f"{ref.uri} was logged without an input signature; pass --schema "
                            "with a schema YAML, or log the model with `signature=`")
    columns = {}
    for spec in inputs.inputs:
        if not isinstance(spec, ColSpec) or not spec.name:
            raise RegistryError(f"{ref.uri} has a tensor or unnamed signature, which names no "
                                "columns; pass --schema with a schema YAML")
        dtype = getattr(spec.type, "name", None)
        columns[spec.name] = ColumnSpec(type=dtype if isinstance(dtype, str) else None,
                                        required=bool(getattr(spec, "required", True)))
    schema = DataSchema(columns=columns)
    schema.source = f"MLflow signature of {ref.uri}"
    return schema
