"""Settings of post-deploy monitoring on delayed labels (the `monitor:` section).

Fraud labels (chargebacks) arrive days after a transaction, so whether a promoted model
catches less fraud than the one it replaced is known only then. These settings say how long
the previous champion keeps shadow-scoring beside the new one, when a label counts as final,
which columns the labels table holds, and whether a `degraded` verdict rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_actions.config.durations import parse_duration


@dataclass
class LabelsConfig:
    """Column names of the labels table (transaction key, 0/1 label, when it became known)."""

    key_column: str = "TRANSACTION_ID"
    label_column: str = "fraud_label"
    time_column: str = "label_time"


@dataclass
class MonitorConfig:
    # After a promotion the previous champion keeps shadow-scoring this long, so the
    # label-delayed comparison is paired on the same transactions.
    guard_period: str = "7d"
    # A label is final this long after its transaction; younger labels are not used.
    label_maturity: str = "7d"
    # A `degraded` verdict moves traffic and `champion` back to the previous champion.
    rollback: bool = True
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    # The champion is judged against its shadowed predecessor on the same transactions:
    # `degraded` only when it is surely worse by more than these tolerances (AUC-ROC points,
    # recall points at the served threshold); `healthy` once a loss that large is ruled out.
    max_auc_drop: float = field(default=0.01, metadata={"range": (0, 1)})
    max_recall_drop: float = field(default=0.05, metadata={"range": (0, 1)})
    # Probability that a champion no worse than the tolerances is rolled back at least once
    # in its guard period, split (Bonferroni) over both metrics and `runs_per_guard_period`.
    alpha: float = field(default=0.05, metadata={"range": (1e-6, 0.5)})
    # How many runs see newly matured paired labels of one guard period: with daily runs, its
    # length in days (7). Runs after all of them matured see the same evidence: no new error.
    runs_per_guard_period: int = field(default=7, metadata={"range": (1, 1000)})
    # Power at which the minimum detectable effect of an inconclusive verdict is stated.
    power: float = field(default=0.8, metadata={"range": (0.5, 0.999)})

    def __post_init__(self) -> None:
        for name in ("guard_period", "label_maturity"):
            parse_duration(getattr(self, name), name)

    @property
    def guard_period_seconds(self) -> float:
        return parse_duration(self.guard_period, "monitor.guard_period")

    @property
    def label_maturity_seconds(self) -> float:
        return parse_duration(self.label_maturity, "monitor.label_maturity")

    def per_test_alpha(self) -> float:
        """One-sided level of each test in one run: alpha over 2 metrics x the runs."""
        return self.alpha / (2 * self.runs_per_guard_period)
