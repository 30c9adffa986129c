"""Settings of the quality gates (validate-model, validate-data): what is measured and judged.

Every number a gate compares against lives here (with its allowed range) and has a default in
`core/defaults/gates.yaml`, so a reviewer reads the bar from config, never from code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Metrics that may carry an absolute threshold; all lie in [0, 1].
VALID_THRESHOLD_METRICS = (
    "auc_roc", "auc_pr", "precision", "recall", "f1_score", "accuracy", "brier_score",
    "recall_at_1pct_fpr", "false_positive_rate",
)

# Metrics where a smaller value is the better one (MLflow's `greater_is_better=False`).
LOWER_IS_BETTER = ("brier_score", "false_positive_rate")

THRESHOLD_STRATEGIES = ("fixed", "target_precision", "target_fpr")


@dataclass
class Threshold:
    """An absolute bound on a metric; a bare number means `min`."""

    __config_shorthand__ = "min"
    min: float | None = field(default=None, metadata={"range": (0, 1)})
    max: float | None = field(default=None, metadata={"range": (0, 1)})


@dataclass
class MoneyConfig:
    """Fraud amount caught vs the cost of reviewing alerts: the number a fraud team budgets."""

    amount_column: str | None = None  # None: no money metric
    review_cost: float = field(default=5.0, metadata={"range": (0, None)})  # per alert
    false_positive_cost: float = field(default=0.0, metadata={"range": (0, None)})  # friction


@dataclass
class EvaluationConfig:
    label_column: str = "fraud_label"
    # The operating point: `fixed` uses decision_threshold (score >= threshold is an alert);
    # `target_precision` / `target_fpr` choose the lowest threshold that still meets the target.
    threshold_strategy: str = field(default="fixed", metadata={"choices": THRESHOLD_STRATEGIES})
    decision_threshold: float = field(default=0.5, metadata={"range": (0, 1)})
    target_precision: float | None = field(default=None, metadata={"range": (0, 1)})
    target_fpr: float | None = field(default=None, metadata={"range": (0, 1)})
    curve_points: int = field(default=100, metadata={"range": (10, 1000)})  # thinned ROC/PR
    money: MoneyConfig = field(default_factory=MoneyConfig)

    def __post_init__(self) -> None:
        if self.threshold_strategy == "target_precision" and self.target_precision is None:
            raise ValueError("threshold_strategy target_precision needs target_precision")
        if self.threshold_strategy == "target_fpr" and self.target_fpr is None:
            raise ValueError("threshold_strategy target_fpr needs target_fpr")


@dataclass
class MetricComparison:
    """MLflow `MetricThreshold` semantics vs the champion, plus a bounded regression (TFMA).

    `min_absolute_change` / `min_relative_change` demand an improvement; `max_regression`
    tolerates a loss of at most that much. `greater_is_better` None: inferred from the metric.
    """

    min_absolute_change: float | None = field(default=None, metadata={"range": (0, 1)})
    min_relative_change: float | None = field(default=None, metadata={"range": (0, 1)})
    max_regression: float | None = field(default=None, metadata={"range": (0, 1)})
    greater_is_better: bool | None = None


@dataclass
class FlipsConfig:
    """Limits on decisions that change at the operating point, candidate vs champion.

    Rates are tolerances of paired (McNemar) non-inferiority tests on *net* changes: legitimate
    transactions newly blocked minus those newly let through, as a share of legitimate
    transactions; frauds newly missed minus those newly caught, as a share of frauds. Counts
    are caps on the gross number of changed decisions on the test set (policy, no statistics).
    None disables that limit.
    """

    max_newly_blocked_rate: float | None = field(default=0.02, metadata={"range": (0, 1)})
    max_newly_blocked: int | None = field(default=None, metadata={"range": (0, None)})
    max_newly_missed_rate: float | None = field(default=0.05, metadata={"range": (0, 1)})
    max_newly_missed: int | None = field(default=None, metadata={"range": (0, None)})


@dataclass
class ComparisonConfig:
    # Paired AUC difference: candidate may lose at most max_regression (TFMA-style tolerance).
    max_regression: float = field(default=0.005, metadata={"range": (0, 1)})
    # delong: asymptotic paired interval; bootstrap: Poisson bootstrap in Spark (B replicates,
    # reproducible from the seed; one sort per model whatever B, but B weight columns per row).
    # The bootstrap judges the overall AUC difference; slices keep DeLong (see evaluation).
    method: str = field(default="delong", metadata={"choices": ("delong", "bootstrap")})
    bootstrap_replicates: int = field(default=200, metadata={"range": (20, 2000)})
    bootstrap_seed: int = field(default=20240917, metadata={"range": (0, 2**31 - 1)})
    confidence: float = field(default=0.95, metadata={"range": (0.5, 0.9999)})
    # True: the CI's lower bound must clear -max_regression (noise cannot promote);
    # False: the point estimate decides and the interval is reported.
    require_ci_lower_bound: bool = True
    min_positives: int = field(default=30, metadata={"range": (1, None)})
    power: float = field(default=0.8, metadata={"range": (0.5, 0.99)})  # for the MDE
    # What an inconclusive check does to the verdict: `fail` (never a silent pass) or `warn`.
    inconclusive: str = field(default="fail", metadata={"choices": ("fail", "warn")})
    # Precision/recall at the champion's alert rate may drop at most this much (McNemar on the
    # frauds each model's alerts catch, judged like max_regression: the bound must clear it).
    alert_rate_max_regression: float = field(default=0.01, metadata={"range": (0, 1)})
    metrics: dict[str, MetricComparison] = field(
        default_factory=dict, metadata={"keys": VALID_THRESHOLD_METRICS})
    flips: FlipsConfig = field(default_factory=FlipsConfig)


@dataclass
class SlicesConfig:
    # Categorical columns (e.g. is_weekend, is_night): one segment per distinct value.
    columns: list[str] = field(default_factory=list)
    # Numeric columns cut at edges, e.g. {amount: [50, 200, 1000]} -> "<50", "[50, 200)", ...
    buckets: dict[str, list[float]] = field(default_factory=dict)
    min_size: int = field(default=500, metadata={"range": (1, None)})
    min_positives: int = field(default=5, metadata={"range": (1, None)})
    min_auc: float | None = field(default=None, metadata={"range": (0, 1)})
    # Per-segment non-inferiority vs the champion: the segment's one-sided DeLong lower bound
    # at level alpha must clear -max_regression (a worse segment passes with probability <=
    # alpha); a segment too small to resolve max_regression is inconclusive.
    max_regression: float = field(default=0.02, metadata={"range": (0, 1)})
    alpha: float = field(default=0.05, metadata={"range": (0.0001, 0.5)})
    max_segments: int = field(default=50, metadata={"range": (1, 10000)})

    def __post_init__(self) -> None:
        for column, edges in self.buckets.items():
            if not edges or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
                raise ValueError(f"buckets.{column}: edges must be a non-empty increasing list")
