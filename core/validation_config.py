"""Settings of how a validation is recorded and reported (MLflow run, report, data checks)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ValidationConfig:
    experiment_name: str = "model-validation"
    champion_load_failure: str = field(default="fail", metadata={"choices": ("fail", "warn")})


@dataclass
class DataValidationConfig:
    label_column: str = "fraud_label"
