"""What a rollout did: its steps with every evaluation, and how it ended.

Serialised once into the rollout report (JSON), rendered to Markdown, and read by the command
for its outputs and exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_actions.rollout.analysis.evidence import Evaluation
from ml_actions.rollout.budget import Budget
from ml_actions.rollout.guard_period import GuardPeriod
from ml_actions.rollout.rollback import RollbackResult


@dataclass
class RolloutStep:
    """One traffic step (or the bake) with every evaluation made during it."""

    index: int
    weight: float
    phase: str  # shadow (weight 0, the candidate scores mirrored requests) | step | bake
    start: str
    end: str | None = None
    verdict: str = "running"  # passed | failed | inconclusive | aborted | error
    evaluations: list[Evaluation] = field(default_factory=list)


@dataclass
class RolloutResult:
    result: str  # promoted | rolled_back | inconclusive | aborted
    model_name: str
    candidate_version: str
    stable_version: str | None
    final_weight: float
    reason: str
    steps: list[RolloutStep]
    budget: Budget
    started_at: str
    ended_at: str = ""
    rollback_seconds: float | None = None
    detection_seconds: float | None = None
    rollback: RollbackResult | None = None
    validation_check: str = "passed"
    resumed: bool = False
    environment: str = ""
    config_digest: str = ""
    failures: int = 0
    guard_period: GuardPeriod | None = None  # the previous champion shadowed after promotion
    warnings: list[str] = field(default_factory=list)
    audit_run_id: str = ""  # the MLflow run holding every look as it happened (audit_log)
    audit_url: str | None = None


class StepOutcome(Exception):
    """Leaves the step loop with a decision: rollback or abort, and why."""

    def __init__(self, decision: str, reason: str):
        super().__init__(reason)
        self.decision, self.reason = decision, reason
