"""The look loop of every judged phase: the shadow phase and each traffic step.

Why one loop: its cadence (one look every `analysis.interval`, never a burst of looks to
catch up a late one), its audit trail (every look in the step and in the audit run), its
fail-safe on looks Prometheus cannot answer (`holding.py`) and its decision policy
(`step_policy.decide`) are the rollout's guarantees, and they must be the same in every
phase. The phases differ only in what a look asks and what a pass leaves in the state, which
stay with their owners (`shadow_phase.py`, `controller.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ml_actions import cancellation
from ml_actions.config.rollout import AnalysisConfig
from ml_actions.rollout.analysis.evidence import Evaluation
from ml_actions.rollout.holding import on_query_error
from ml_actions.rollout.results import RolloutResult, RolloutStep, StepOutcome
from ml_actions.rollout.state import RolloutState, decision_digest
from ml_actions.rollout.step_policy import StepClock, decide
from ml_actions.timestamps import iso_from_epoch

ENDED = {"rollback": "failed", "abort": "aborted"}  # any other end: inconclusive


@dataclass
class JudgedPhase:
    """One phase under judgement: its step in the report, its clock, and how it is named."""

    step: RolloutStep
    clock: StepClock
    status: str = "progressing"  # published while it runs (a bake publishes "baking")
    label: str = ""  # the log line's name for it ("shadow " for the shadow phase)
    reason_prefix: str = ""  # before a decision's reason ("shadow phase: ")


@dataclass
class Recorders:
    """Where a look goes besides the step: the durable state, the audit run, the status
    and the log (the rollout's own)."""

    save: Callable[[], None]
    audit_look: Callable[[RolloutState, Evaluation], Evaluation]
    publish: Callable[[str, float, list], None]
    log: Callable[[str], None]


def look_until_decided(phase: JudgedPhase, look: Callable[[float], Evaluation],
                       first_look: float, config: AnalysisConfig, state: RolloutState,
                       result: RolloutResult, record: Recorders) -> float:
    """Looks until the policy decides; returns the time of the passing look and raises
    `StepOutcome` for a rollback, an abort or an inconclusive end."""
    step, clock = phase.step, phase.clock
    interval = config.seconds("interval")
    next_look = first_look
    while True:
        time.sleep(max(0.0, next_look - time.time()))
        cancellation.raise_if_requested()  # a SIGTERM swallowed inside a library call
        now = time.time()
        evaluation = look(now)
        step.evaluations.append(record.audit_look(state, evaluation))
        record.publish(phase.status, step.weight, evaluation.checks)
        record.log(f"  {evaluation.at} {phase.label}{evaluation.verdict} on "
                   f"{evaluation.window_seconds:.0f} s: "
                   + ", ".join(f"{c.name}={c.verdict}" for c in evaluation.checks)
                   + (f" {evaluation.error}" if evaluation.error else ""))
        if evaluation.verdict == "error":  # hold, or roll back (holding.py)
            on_query_error(config, step, evaluation, now, clock.start, clock, result,
                           phase.reason_prefix)
        decision = decide(evaluation, state, config, clock, now)
        if decision.counted_failure:
            state.last_decision = decision_digest(evaluation.failing())
        if decision.action == "pass":
            step.end, step.verdict = iso_from_epoch(time.time()), "passed"
            return now
        if decision.action != "continue":
            step.verdict = ENDED.get(decision.action, "inconclusive")
            if decision.action == "rollback":
                result.detection_seconds = now - clock.start
            raise StepOutcome(decision.action, phase.reason_prefix + decision.reason)
        if decision.counted_failure:
            record.save()
        next_look += interval
        while next_look < time.time():
            next_look += interval
