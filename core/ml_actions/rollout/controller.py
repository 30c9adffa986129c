"""The canary rollout: a small state machine whose state lives in MLflow version tags.

[shadow phase: the candidate scores mirrored requests, `shadow_phase`] -> load candidate into
the canary slot -> for each step: set the weight, look at the evidence
every `analysis.interval`, and let `step_policy.decide` say pass, continue, roll back, abort or
give up -> bake at 100 % -> promote (target, then `champion` / `previous-champion` aliases) -> the
previous champion shadow-scores for the guard period (`guard_period`).
A failure rolls back (traffic first, then registry); a sample-ratio mismatch aborts; a step
still inconclusive past its timeout ends the rollout `inconclusive` (canary removed, champion
untouched); Prometheus errors fail safe (hold the weight for `hold_timeout`, then roll back;
or roll back at once). Every transition is committed to the candidate's `rollout.state` tag
first (`state.py`), so a killed runner can `--resume`. The traffic flip is the commit point
(`promotion.py`): after it nothing rolls back, and a resume only converges the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ml_actions.config.settings import Config
from ml_actions.errors import Cancelled, InfrastructureError, MlActionsError
from ml_actions.registry import ModelVersionRef, Registry
from ml_actions.rollout.analysis.checks import CanaryAnalysis
from ml_actions.rollout.analysis.evidence import Evaluation
from ml_actions.rollout.analysis.shadow_checks import ShadowAnalysis
from ml_actions.rollout.audit_log import NO_AUDIT
from ml_actions.rollout.budget import check_budget
from ml_actions.rollout.guard_period import start_guard_period
from ml_actions.rollout.holding import note_holds
from ml_actions.rollout.look_loop import JudgedPhase, Recorders, look_until_decided
from ml_actions.rollout.preflight import service_rate
from ml_actions.rollout.promotion import after_flip_error, check_resumed_flip, flipped, promote
from ml_actions.rollout.results import RolloutResult, RolloutStep, StepOutcome
from ml_actions.rollout.rollback import RollbackResult, record_canary_rollback, remove_canary
from ml_actions.rollout.shadow_phase import ShadowPhase, wanted
from ml_actions.rollout.state import RolloutState, write_state
from ml_actions.rollout.step_policy import StepClock
from ml_actions.targets.base import DeploymentTarget
from ml_actions.timestamps import epoch_from_iso, iso_from_epoch, now_iso

Publish = Callable[[str, float, list], None]


class Rollout:
    """Drives one candidate through the schedule on a target, judged by `analysis`."""

    def __init__(self, config: Config, registry: Registry, target: DeploymentTarget,
                 analysis: CanaryAnalysis, model_name: str,
                 log: Callable[[str], None] = print, publish: Publish | None = None):
        self.config, self.registry, self.target = config, registry, target
        self.analysis, self.model_name, self.log, self.audit = analysis, model_name, log, NO_AUDIT
        self.publish = publish or (lambda status, weight, checks: None)
        self._saved: dict[str, str] = {}
        stages = len(config.canary.steps) + 1 + (config.canary.shadow_seconds > 0)
        analysis.plan_stages(stages)
        self.budget = check_budget(config.canary, config.analysis,
                                   service_rate(config.analysis, analysis.reader), analysis.alpha)
        self.shadow = ShadowPhase(config, target, ShadowAnalysis(analysis.reader,
                                  config.analysis, stages), self.save, self.publish, self.log,
                                  self.budget.request_rate)

    # -- durable state ----------------------------------------------------------------------
    def save(self, version: str, state: RolloutState) -> None:
        """Commit the state in one registry call, then the mirror tags that changed."""
        state.updated_at = now_iso()
        self._saved = write_state(self.registry, self.model_name, version, state, self._saved)

    # -- the machine --------------------------------------------------------------------------
    def run(self, candidate: ModelVersionRef, state: RolloutState,
            resumed: bool = False) -> RolloutResult:
        result = RolloutResult("aborted", self.model_name, candidate.version,
                               state.stable_version or None, 0.0, "", [], self.budget,
                               state.started_at or now_iso(),
                               validation_check=state.validation_check, resumed=resumed,
                               environment=self.config.environment,
                               config_digest=self.config.digest())
        # prepare() wrote every tag; --resume read them (mirrors may be older than the state)
        self._saved = dict(candidate.tags) if resumed else state.to_tags()
        self.registry.set_alias(self.model_name, self.config.registry.canary_alias,
                                candidate.version)
        done = resumed and check_resumed_flip(self.target, self.model_name, candidate, state,
                                              self.log)
        try:
            if not done:
                self._judge(candidate, state, result, resumed)
            self._promote(candidate, state, result)
        except StepOutcome as outcome:
            self._stop(candidate, state, result, outcome)
        except (MlActionsError, KeyboardInterrupt) as err:  # target, registry, cancel, Ctrl-C
            if flipped(self.target, self.model_name, candidate.version, state):
                raise after_flip_error(candidate.version, state, err) from err
            if isinstance(err, MlActionsError):
                self._emergency_stop(candidate, state, result, err)
                raise
            # Ctrl-C: never leave the canary serving unjudged
            cancelled = Cancelled("interrupted (SIGINT): the canary was taken out of traffic")
            self._emergency_stop(candidate, state, result, cancelled)
            raise cancelled from None
        note_holds(self.config.analysis, result)
        result.ended_at = now_iso()
        result.failures = state.failures
        return result

    def _judge(self, candidate: ModelVersionRef, state: RolloutState, result: RolloutResult,
               resumed: bool) -> None:
        """Everything before the flip: shadow phase, load, the steps and the bake."""
        if wanted(self.config, state):
            self.shadow.run(candidate, state, result)
        self._load(candidate, state, resumed)
        phase = state.phase
        if phase not in ("bake", "promoting"):
            for index in range(state.step_index, len(state.steps)):
                self._run_step(candidate, state, result, index, state.steps[index], "step",
                               self.config.canary.interval_seconds)
        if phase != "promoting":
            self._run_step(candidate, state, result, len(state.steps) - 1, 100.0, "bake",
                           self.config.canary.bake_seconds)

    def _load(self, candidate: ModelVersionRef, state: RolloutState, resumed: bool) -> None:
        slot = self.target.state().slot("canary")
        if resumed and slot.status == "ready" and slot.model_version == candidate.version:
            self.log(f"resuming: v{candidate.version} is still warm in the canary slot")
            return
        state.phase = "loading"
        self.save(candidate.version, state)
        self.publish("initializing", 0.0, [])
        self.log(f"loading {candidate.uri} into the canary slot")
        loaded = self.target.load("canary", candidate.uri, wait=True,
                                  timeout=self.config.canary.warmup_seconds)
        if loaded.status != "ready":
            raise StepOutcome("abort", f"the canary slot did not become ready "
                                       f"({loaded.status}: {loaded.error})")

    def _run_step(self, candidate: ModelVersionRef, state: RolloutState, result: RolloutResult,
                  index: int, weight: float, phase: str, duration: float) -> None:
        cfg = self.config.analysis
        self.target.set_canary_weight(weight)
        start = time.time()
        state.phase, state.step_index, state.weight = phase, index, weight
        state.step_started_at = iso_from_epoch(start)
        self.save(candidate.version, state)
        self.audit.step_started(state)
        status = "baking" if phase == "bake" else "progressing"
        self.publish(status, weight, [])
        step = RolloutStep(index, weight, phase, iso_from_epoch(start))
        result.steps.append(step)
        result.final_weight = weight
        self.log(f"{phase} {index + 1}/{len(state.steps)}: {weight:g}% to v{candidate.version}"
                 f" for {duration:g} s")
        self.analysis.start_step()
        baseline = self._baseline(state, weight, start)
        clock = StepClock(start, duration, cfg.seconds("inconclusive_timeout"))

        def look(now: float) -> Evaluation:
            clock.data_start = clock.data_start or self._data_start(weight, start, now)
            return self._look(candidate, state, weight, clock, now, baseline)

        record = Recorders(lambda: self.save(candidate.version, state), self.audit.look,
                           self.publish, self.log)
        now = look_until_decided(JudgedPhase(step, clock, status), look,
                                 start + cfg.seconds("interval"), cfg, state, result, record)
        if weight < 100:
            state.baseline_since = iso_from_epoch(clock.data_start or start)
            state.baseline_until = iso_from_epoch(now)
        self.save(candidate.version, state)

    def _look(self, candidate: ModelVersionRef, state: RolloutState, weight: float,
              clock: StepClock, now: float, baseline: tuple[float, float] | None) -> Evaluation:
        """One look; an unexpected exception in it is an `error` verdict on the fail-safe path.

        The split is judged only from the first scrape that saw the new weight (the scrape
        before it counted requests routed at the old weight); rates from the scrape before the
        change, since the same two models served then.
        """
        try:
            return self.analysis.evaluate(
                candidate.version, state.stable_version or None, weight,
                clock.data_start or now, at=now, baseline=baseline,
                rates_since=clock.start - self.config.analysis.seconds("scrape_interval"))
        except MlActionsError:
            raise
        except Exception as err:  # noqa: BLE001 - a bug in a look must fail safe, not crash
            return Evaluation(iso_from_epoch(now), weight, 0.0, "error",
                              error=f"the analysis failed: {type(err).__name__}: {err}")

    def _data_start(self, weight: float, start: float, now: float) -> float | None:
        """When this step's data begins: the first scrape that saw the new weight.

        Targets that export no weight gauge fall back to one scrape interval (and a margin)
        after the flip, once three scrape intervals have passed.
        """
        scrape = self.config.analysis.seconds("scrape_interval")
        try:
            seen = self.analysis.reader.weight_scraped_at(weight, now)
        except Exception:  # noqa: BLE001 - the look itself meets the error and fails safe
            seen = None
        if seen is not None and seen >= start:
            return seen
        if now - start >= 3 * scrape + 1:
            return start + scrape + 0.25
        return None

    def _baseline(self, state: RolloutState, weight: float,
                  start: float) -> tuple[float, float] | None:
        """At 100 % stable serves nothing: compare with its evidence from the step before."""
        if weight < 100:
            return None
        if state.baseline_since and state.baseline_until:
            return epoch_from_iso(state.baseline_since), epoch_from_iso(state.baseline_until)
        return start - 5 * self.config.analysis.seconds("interval"), start

    # -- endings ------------------------------------------------------------------------------
    def _stop(self, candidate: ModelVersionRef, state: RolloutState, result: RolloutResult,
              outcome: StepOutcome) -> None:
        if result.steps and result.steps[-1].end is None:
            result.steps[-1].end = iso_from_epoch(time.time())
        try:
            seconds = remove_canary(self.target, timeout=self.config.canary.warmup_seconds)
        except Exception as err:  # noqa: BLE001 - recorded, then surfaced as exit 2
            raise InfrastructureError(
                f"rolling back failed ({err}); the canary may still take traffic: run "
                "ml-actions rollback now"
            ) from err
        status = {"rollback": "rolled_back", "abort": "aborted"}.get(outcome.decision,
                                                                      "inconclusive")
        took = "" if seconds is None else f" (traffic 100% stable after {seconds:.3f} s)"
        self.log(f"{status}: {outcome.reason}{took}")
        result.result, result.reason, result.final_weight = status, outcome.reason, 0.0
        result.rollback_seconds = seconds
        self.save(candidate.version, state)  # failures and the last decision, after traffic
        record_canary_rollback(self.registry, self.config.registry, self.model_name,
                               candidate.version, outcome.reason, status)
        self.publish(status, 0.0, [])
        if seconds is not None:
            result.rollback = RollbackResult("canary_removed", result.stable_version,
                                             candidate.version, outcome.reason, seconds, 0.0,
                                             True, now_iso())

    def _emergency_stop(self, candidate: ModelVersionRef, state: RolloutState,
                        result: RolloutResult, err: Exception) -> None:
        """Fail safe when we can no longer judge: the canary leaves traffic if possible."""
        try:
            self._stop(candidate, state, result,
                       StepOutcome("abort", f"rollout stopped by an error: {err}"))
        except Exception as second:  # noqa: BLE001 - the first error is the one reported
            self.log(f"could not take the canary out of traffic after the error: {second}")

    def _promote(self, candidate: ModelVersionRef, state: RolloutState,
                 result: RolloutResult) -> None:
        aliases = self.config.registry
        old, warnings = promote(self.config, self.registry, self.target, self.model_name,
                                candidate, state, self.save, self.log)
        result.warnings += warnings
        self.publish("promoted", 100.0, [])
        result.result, result.final_weight = "promoted", 100.0
        result.reason = f"every step passed; v{candidate.version} is now @{aliases.champion_alias}"
        self.log(result.reason)
        result.guard_period = start_guard_period(self.config, self.registry, self.target,
                                                 self.model_name, candidate.version,
                                                 old or None)
        if result.guard_period and result.guard_period.warning:
            result.warnings.append(result.guard_period.warning)
