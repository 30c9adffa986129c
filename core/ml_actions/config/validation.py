"""Settings of how a validation is recorded and reported (MLflow run, report, data checks).

What is *judged* lives in `core/ml_actions/config/gates.py`; this section says where the verdict
goes and
how the data check behaves, so changing a report never changes a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ParityConfig:
    """The `serving_parity` check: a version's ONNX form (what the gateway serves) must score
    the test set as its Spark form (what the gate measured) does."""

    # Largest |P(fraud) from ONNX - P(fraud) from Spark| allowed on any test row. float32
    # arithmetic alone stays near 1e-7; a mis-converted tree is off by 0.1 or more.
    max_abs_diff: float = field(default=1e-5, metadata={"range": (0, 1)})
    # Rows beyond the tolerance shown in the report (largest differences first).
    examples: int = field(default=5, metadata={"range": (0, 100)})


@dataclass
class ValidationConfig:
    # MLflow experiment that receives one run per validation.
    experiment_name: str = "model-validation"
    # A champion that cannot be loaded or scored: stop (`fail`, exit 2) or compare nothing and
    # say so in a warning (`warn`).
    champion_load_failure: str = field(default="fail", metadata={"choices": ("fail", "warn")})
    # Points of the mermaid ROC chart: a log-scaled false-positive-rate grid in 1-2-5 steps
    # from 1 / legitimate rows up to 1 (the lowest dropped beyond this); longer comments.
    roc_chart_points: int = field(default=16, metadata={"range": (3, 51)})
    # Slice rows shown in the Markdown report; the JSON always has all of them.
    max_slice_rows: int = field(default=30, metadata={"range": (1, 1000)})
    # Id inside the sticky comment's hidden marker: two workflows that validate the same
    # model with different ids keep separate comments.
    comment_id: str = "validate-model"
    # On a failed gate, remove the `validated` alias when it points at the failed version,
    # so an old pass never outlives a new fail of the same version.
    clear_validated_on_fail: bool = True
    # The serving_parity check (versions that carry an ONNX form).
    parity: ParityConfig = field(default_factory=ParityConfig)


@dataclass
class DataValidationConfig:
    """Defaults of `validate-data`; a schema file's own values win over these."""

    label_column: str = "fraud_label"
    label_values: list[int] = field(default_factory=lambda: [0, 1])
    min_label_rate: float | None = field(default=None, metadata={"range": (0, 1)})
    max_label_rate: float | None = field(default=None, metadata={"range": (0, 1)})
    # Share of nulls allowed in a column that declares no `max_null_rate` of its own.
    max_null_rate: float = field(default=0.0, metadata={"range": (0, 1)})
    min_rows: int = field(default=1, metadata={"range": (1, None)})
    key_columns: list[str] = field(default_factory=list)
    comment_id: str = "validate-data"
