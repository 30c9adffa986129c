"""What a look that Prometheus could not answer does: hold the weight for a while, or roll back.

A query that fails is first retried by the reader (with backoff, within one look interval);
a look whose queries still fail is an `error` evaluation, recorded in its step like any other.
Prometheus restarting, or a network blip, should not throw away a good rollout, and a canary
that nobody can judge must not keep its traffic for long. So by default
(`analysis.on_query_error: hold`) the weight stays where it is and looks go on; once looks have
failed for `analysis.hold_timeout` in a row, the canary is rolled back, fail safe. The counters
live in the gateway, so evidence from the outage is not lost: the first look that gets an
answer judges it. `rollback` rolls back at the first failed look. The rollback budget counts
the hold (`budget.py`), and the rollout's final reason says when it held.
"""

from __future__ import annotations

from ml_actions.config.rollout import AnalysisConfig
from ml_actions.rollout.analysis.evidence import Evaluation
from ml_actions.rollout.results import RolloutResult, RolloutStep, StepOutcome
from ml_actions.rollout.step_policy import StepClock


def on_query_error(config: AnalysisConfig, step: RolloutStep, evaluation: Evaluation,
                   now: float, start: float, clock: StepClock, result: RolloutResult,
                   prefix: str = "") -> None:
    """Raises the rollback once the policy says so; the run of failed looks is the step
    clock's hold (`StepClock.held_since`), which the next answered look ends. `prefix`
    names the phase in the reason ("shadow phase: ")."""
    step.verdict = "error"
    if config.on_query_error == "rollback":
        result.detection_seconds = now - start
        raise StepOutcome("rollback", f"{prefix}fail-safe: {evaluation.error}")
    clock.hold(now)
    if now - clock.held_since >= config.seconds("hold_timeout"):
        result.detection_seconds = now - start
        raise StepOutcome("rollback", f"{prefix}fail-safe after holding {config.hold_timeout} "
                                      f"(analysis.hold_timeout): {evaluation.error}")


def held_looks(result: RolloutResult) -> int:
    """How many looks of the rollout Prometheus could not answer."""
    return sum(ev.verdict == "error" for step in result.steps for ev in step.evaluations)


def note_holds(config: AnalysisConfig, result: RolloutResult) -> None:
    """The final reason names a hold the rollout went through (a hold that ended it already
    says so)."""
    held = held_looks(result)
    if config.on_query_error == "hold" and held and "holding" not in result.reason:
        result.reason += (f" (the weight was held through {held} look(s) that Prometheus "
                          "could not answer)")
