"""What one look at a step decides: go on, pass the step, roll back, abort, or give up.

Three outcomes per step, stated precisely:
- fail: a check shows the canary worse than stable beyond its tolerance (after
  `failure_limit` failing looks, or `consecutive_failure_limit` in a row) -> roll back;
- pass: the step's time has elapsed and every gating check passed (the evidence rules out a
  `min_effect` regression, or the planned sample was reached) -> next step. A check that only
  watches distributions (scores, decisions) blocks a pass only while it can still reach its
  planned sample before the step gives up; otherwise it stays a watcher that may still fail.
  A step never passes on zero judged checks;
- otherwise the step extends, up to `inconclusive_timeout` past its time, and then the rollout
  ends `inconclusive` (canary removed, champion untouched), or `aborted` for "no traffic" when
  neither slot saw a request.
A look Prometheus could not answer decides none of these (the query-error policy holds or
rolls back, `holding.py`), and the time spent holding does not count toward the step's
timeout: the step cannot give up on evidence it could not read.
The controller and the simulator in bench/canary_stats.py both decide through this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_actions.config.rollout import AnalysisConfig
from ml_actions.rollout.analysis.evidence import AnalysisCheck, Evaluation


@dataclass
class Decision:
    action: str  # continue | pass | rollback | abort | inconclusive
    reason: str = ""
    counted_failure: bool = False


@dataclass
class StepClock:
    """When a step started, when its time is up, when it gives up, when its data began."""

    start: float
    duration: float
    timeout: float
    data_start: float | None = None
    held_since: float | None = None  # the first look of a run that Prometheus left unanswered

    @property
    def due(self) -> float:
        return self.start + self.duration

    def hold(self, now: float) -> None:
        self.held_since = self.held_since or now

    def resume(self, now: float) -> None:
        """Looks get answers again: the time held moves the give-up time back by as much."""
        if self.held_since is not None:
            self.timeout += now - self.held_since
            self.held_since = None

    @property
    def give_up(self) -> float:
        return self.due + self.timeout


def reachable(check: AnalysisCheck, clock: StepClock, now: float) -> bool:
    """Whether an inconclusive check will reach its planned sample before the step gives up."""
    if check.required_sample_size is None or clock.data_start is None:
        return False
    elapsed = max(now - clock.data_start, 1e-9)
    projected = (check.sample_size or 0) * (clock.give_up - clock.data_start) / elapsed
    return projected >= check.required_sample_size


def blocking(evaluation: Evaluation, clock: StepClock, now: float) -> list[AnalysisCheck]:
    """The checks that keep this step from passing now."""
    out = []
    for check in evaluation.checks:
        if check.verdict in ("pass", "skip"):
            continue
        if check.verdict == "inconclusive" and not check.gating and not reachable(
                check, clock, now):
            continue  # a watcher this step cannot satisfy: it may still fail, not block
        out.append(check)
    return out


def passes(evaluation: Evaluation, clock: StepClock, now: float) -> bool:
    judged = [c for c in evaluation.judged() if c.name != "sample_ratio"]
    return (evaluation.verdict not in ("fail", "halt", "error") and bool(judged)
            and not blocking(evaluation, clock, now))


def what_it_would_take(evaluation: Evaluation, clock: StepClock, now: float) -> str:
    parts = []
    for c in blocking(evaluation, clock, now):
        if c.required_sample_size:
            parts.append(f"{c.name} has {c.sample_size or 0} of the {c.required_sample_size} "
                         "it needs")
        else:
            parts.append(f"{c.name}: {c.message}")
    return "; ".join(parts) or "no check could be judged"


def decide(evaluation: Evaluation, state, config: AnalysisConfig, clock: StepClock,
           now: float) -> Decision:
    """The decision of one look; `state` carries `failures` and `consecutive_failures`.

    A look Prometheus could not answer (`error`) decides nothing, and stops the step's clock
    until a look is answered again: past the step's give-up time it would otherwise end the
    rollout "inconclusive" or "no traffic" on evidence it never read."""
    if evaluation.verdict == "error":
        clock.hold(now)
        return Decision("continue")
    clock.resume(now)
    if evaluation.verdict == "halt":
        reasons = "; ".join(c.message for c in evaluation.failing())
        return Decision("abort", f"analysis halted as untrustworthy: {reasons}")
    if evaluation.verdict == "fail":
        state.failures += 1
        state.consecutive_failures += 1
        if (state.failures >= config.failure_limit
                or state.consecutive_failures >= config.consecutive_failure_limit):
            reasons = "; ".join(f"{c.name}: {c.message}" for c in evaluation.failing())
            return Decision("rollback", reasons, counted_failure=True)
        return Decision("continue", counted_failure=True)
    if state.consecutive_failures:
        state.consecutive_failures = 0
    if now >= clock.due and passes(evaluation, clock, now):
        return Decision("pass")
    if now >= clock.give_up:
        if not evaluation.canary_requests and not evaluation.stable_requests:
            return Decision("abort", "no traffic: neither slot served a request during the "
                                     "step; send traffic to the gateway (or check the "
                                     "Prometheus scrape) and deploy again")
        weight = f"{evaluation.weight:g}%"
        return Decision("inconclusive", f"step at {weight} stayed inconclusive past "
                                        "analysis.inconclusive_timeout: "
                                        + what_it_would_take(evaluation, clock, now))
    return Decision("continue")
