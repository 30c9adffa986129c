"""Settings of the quality gates (validate-model, validate-data): what is measured and judged."""

from __future__ import annotations

from dataclasses import dataclass, field

# Metrics that may carry an absolute threshold; all lie in [0, 1].
VALID_THRESHOLD_METRICS = (
    "auc_roc", "auc_pr", "precision", "recall", "f1_score", "accuracy", "brier_score",
    "recall_at_1pct_fpr", "false_positive_rate",
)


@dataclass
class Threshold:
    """An absolute bound on a metric; a bare number means `min`."""

    __config_shorthand__ = "min"
    min: float | None = field(default=None, metadata={"range": (0, 1)})
    max: float | None = field(default=None, metadata={"range": (0, 1)})


@dataclass
class EvaluationConfig:
    label_column: str = "fraud_label"
    decision_threshold: float = field(default=0.5, metadata={"range": (0, 1)})


@dataclass
class ComparisonConfig:
    max_regression: float = field(default=0.005, metadata={"range": (0, 1)})


@dataclass
class SlicesConfig:
    columns: list[str] = field(default_factory=list)
