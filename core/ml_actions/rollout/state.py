"""A rollout's durable state, kept as MLflow model-version tags on the candidate.

A GitHub-hosted job stops after 6 h and a runner can die at any moment, so the rollout keeps
nothing important in memory: the step, weights, timestamps, failure counts and the last
decision are written as `rollout.*` tags (and the `canary` alias points at the candidate while
it runs). `--resume` and `ml-actions rollback` read them back; so does a human in the MLflow UI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

PREFIX = "rollout."
STATUSES = ("running", "promoted", "rolled_back", "aborted", "inconclusive")
TAG_VALUE_LIMIT = 4000  # keep well under MLflow's tag value limit


@dataclass
class RolloutState:
    """Everything needed to continue, abort or audit a rollout."""

    status: str = "running"
    phase: str = "loading"  # loading | shadow | step | bake | promoting | done
    step_index: int = 0
    weight: float = 0.0
    steps: list[float] = field(default_factory=list)
    stable_version: str = ""
    started_at: str = ""
    step_started_at: str = ""
    updated_at: str = ""
    failures: int = 0
    consecutive_failures: int = 0
    reason: str = ""
    validation_check: str = "passed"  # passed | passed-unverified | skipped
    environment: str = ""
    run_url: str = ""
    last_decision: str = ""  # compact JSON of the last evaluation's failing checks
    # Stable's last evidence before it stopped serving: what the 100 % stage compares with.
    baseline_since: str = ""
    baseline_until: str = ""
    shadow_verdict: str = ""  # passed once the shadow phase passed: --resume skips it

    def to_tags(self) -> dict[str, str]:
        tags = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                value = ",".join(f"{v:g}" for v in value)
            tags[PREFIX + f.name] = str(value)[:TAG_VALUE_LIMIT]
        return tags

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> RolloutState | None:
        """The state written by an earlier run, or None when this version never rolled out."""
        if PREFIX + "status" not in tags:
            return None
        state = cls()
        for f in fields(cls):
            raw = tags.get(PREFIX + f.name)
            if raw is None:
                continue
            if f.name == "steps":
                state.steps = [float(v) for v in raw.split(",") if v]
            elif f.name in ("step_index", "failures", "consecutive_failures"):
                state.__dict__[f.name] = int(raw or 0)
            elif f.name == "weight":
                state.weight = float(raw or 0)
            else:
                state.__dict__[f.name] = raw
        return state


def decision_digest(checks: list) -> str:
    """The failing checks of an evaluation as a short JSON for the `rollout.last_decision` tag."""
    rows = [{"check": c.name, "verdict": c.verdict, "value": c.value, "threshold": c.threshold,
             "n": c.sample_size} for c in checks]
    return json.dumps(rows, default=str)[:TAG_VALUE_LIMIT]
