"""The shadow phase before the first traffic step: the candidate scores a mirrored copy of live
requests, off the response path, and is judged on paired evidence.

Why first: customers see only the champion's answers and latency while the candidate is
shadowed, so a candidate that flips decisions, errs or is slow is caught before a single
customer is exposed; paired evidence (both models on the same requests) needs far fewer
requests than the 5 % step's unpaired comparison.

The phase: `target.start_shadow(candidate, canary.shadow_share, until=...)` (the gateway stops
the shadow by itself at `until` if this runner dies), then one look every `analysis.interval`
at everything since the shadow was warm (`ShadowAnalysis`), decided by `step_policy.decide`
exactly like a step: fail -> rollback (the champion and traffic were never touched), pass once
the phase's time is up and every gating check passed, otherwise extend up to
`analysis.inconclusive_timeout` and end `inconclusive`. Whatever happens (pass, fail, a
cancel, an exception) the shadow is stopped before the phase returns. A passed phase is
recorded (`rollout.shadow_verdict=passed`), so `--resume` does not repeat it.

A phase cut short (a killed runner) is continued, not repeated: `rollout.step_started_at` is
recorded once the shadow is warm, and `--resume` judges the counters since that time with the
phase's clock running from it, as if the runner had never left (the gateway kept mirroring
until the `until` it was given, and its counters are read reset-aware). The candidate still
shadowing is kept warm; a lapsed shadow is started again. A guard period the phase borrowed
is recorded too (`shadow_guard`), so the resumed phase can give it back. A runner that died
while the shadow was loading recorded no start: the resumed phase begins afresh.

The rollback budget does not count the phase: it bounds how long customers are exposed to a
bad canary, and in the shadow phase none are. Its own time is in the report's first step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from ml_actions.config.settings import Config
from ml_actions.errors import MlActionsError
from ml_actions.registry import ModelVersionRef
from ml_actions.rollout.analysis.difference_test import exact_planned_sample
from ml_actions.rollout.analysis.evidence import Evaluation
from ml_actions.rollout.analysis.shadow_checks import ShadowAnalysis
from ml_actions.rollout.audit_log import NO_AUDIT
from ml_actions.rollout.look_loop import JudgedPhase, Recorders, look_until_decided
from ml_actions.rollout.results import RolloutResult, RolloutStep, StepOutcome
from ml_actions.rollout.state import RolloutState
from ml_actions.rollout.step_policy import StepClock
from ml_actions.targets.base import DeploymentTarget
from ml_actions.timestamps import epoch_from_iso, iso_from_epoch

PHASE = "shadow"


def wanted(config: Config, state: RolloutState) -> bool:
    """Whether this run still owes a shadow phase (configured, not passed, no step begun)."""
    return (config.canary.shadow_seconds > 0 and state.shadow_verdict != "passed"
            and state.phase in ("loading", PHASE))


class ShadowPhase:
    """Runs one shadow phase; `save`, `publish` and `log` are the rollout's own."""

    def __init__(self, config: Config, target: DeploymentTarget, analysis: ShadowAnalysis,
                 save: Callable[[str, RolloutState], None],
                 publish: Callable[[str, float, list], None], log: Callable[[str], None],
                 request_rate: float = 0.0):
        self.config, self.target, self.analysis = config, target, analysis
        self.save, self.publish, self.log, self.audit = save, publish, log, NO_AUDIT
        self.request_rate = request_rate  # the service's requests/s (the budget's)
        self.guard: tuple[str, float, float] | None = None  # a guard period the phase borrows

    def planned_seconds(self) -> tuple[int | None, float | None]:
        """Pairs at which a `min_effect` flip rate in one direction fails with `power`, and
        the seconds to mirror them at the service's rate: a healthy candidate with rare flips
        passes sooner (its interval rules `min_effect` out), a borderline one needs this."""
        flips, alpha = self.config.analysis.checks.shadow_flips, self.analysis.alpha
        pairs = exact_planned_sample(0.0, flips.max_rate, flips.min_effect, alpha,
                                     self.config.analysis.power)
        mirrored = self.request_rate * self.config.canary.shadow_share
        return pairs, (pairs / mirrored if pairs and mirrored > 0 else None)

    def run(self, candidate: ModelVersionRef, state: RolloutState,
            result: RolloutResult) -> None:
        """Pass quietly, or raise StepOutcome (rollback, abort, inconclusive).

        Continues a phase the state records as begun (`--resume`) from its recorded start."""
        canary, cfg = self.config.canary, self.config.analysis
        duration, timeout = canary.shadow_seconds, cfg.seconds("inconclusive_timeout")
        resuming = state.phase == PHASE
        recorded = state.step_started_at if resuming else ""
        began = epoch_from_iso(recorded) if recorded else None
        borrowed = _guard_from_text(state.shadow_guard) if resuming else None
        self.guard = borrowed or self._running_guard()
        state.phase, state.step_index, state.weight = PHASE, 0, 0.0
        state.step_started_at = recorded  # set once the shadow is warm: what a resume reads
        state.shadow_guard = _guard_text(self.guard)  # before the slot is taken from it
        self.save(candidate.version, state)
        step = RolloutStep(0, 0.0, PHASE, recorded or iso_from_epoch(time.time()))
        result.steps.append(step)
        self._announce(candidate, state, duration, recorded)
        self.publish("progressing", 0.0, [])
        if not getattr(self.target, "supports_shadow", False):
            step.verdict = "aborted"
            raise StepOutcome("abort", f"canary.shadow is {canary.shadow} but the target "
                                       f"({type(self.target).__name__}) has no shadow slot; "
                                       "deploy through the ml-actions gateway or pass --shadow 0s")
        ends = (began or time.time() + canary.warmup_seconds) + duration + timeout
        until = max(ends, time.time() + canary.warmup_seconds) + cfg.seconds("hold_timeout") + 60
        if began is not None and self._still_shadowing(candidate):
            self.log(f"resuming: v{candidate.version} still shadows; the phase goes on from "
                     f"{recorded}")
        else:
            try:
                self.target.start_shadow(candidate.uri, canary.shadow_share, until=until,
                                         timeout=canary.warmup_seconds)
            except MlActionsError as err:
                step.verdict = "aborted"
                self._stop_shadow()  # it may have loaded before mirroring failed to start
                raise StepOutcome("abort", f"the shadow slot did not start: {err}") from err
        try:
            self._judge(candidate, state, result, step, duration, timeout, began)
        finally:
            self._stop_shadow()

    def _announce(self, candidate: ModelVersionRef, state: RolloutState, duration: float,
                  recorded: str) -> None:
        canary = self.config.canary
        what = f"continuing the phase begun at {recorded}:" if recorded else "loading"
        self.log(f"shadow: {what} {candidate.uri} to score {canary.shadow_share:.0%} of the "
                 f"requests mirrored from v{state.stable_version} for {duration:g} s")
        pairs, seconds = self.planned_seconds()
        if seconds is not None:
            self.log(f"shadow: the flip checks plan for {pairs} pairs, about {seconds:.0f} s at "
                     f"{self.request_rate:.3g} requests/s x {canary.shadow_share:g} mirrored"
                     + ("" if seconds <= duration else
                        f"; longer than the {duration:g} s phase, which may extend up to "
                        "analysis.inconclusive_timeout for a candidate near max_rate"))

    def _still_shadowing(self, candidate: ModelVersionRef) -> bool:
        """Whether the target still mirrors to the candidate, warm, for a while yet."""
        try:
            state = self.target.state()
        except Exception:  # noqa: BLE001 - start it again; that call reports a real failure
            return False
        slot, until = state.slot("shadow"), state.shadow_until
        return (slot.model_uri == candidate.uri and slot.status == "ready"
                and state.shadow_share > 0 and (until is None or until > time.time() + 60))

    def _judge(self, candidate: ModelVersionRef, state: RolloutState, result: RolloutResult,
               step: RolloutStep, duration: float, timeout: float,
               began: float | None) -> None:
        cfg = self.config.analysis
        start = began or time.time()
        if began is None:
            state.step_started_at = step.start = iso_from_epoch(start)
            self.save(candidate.version, state)
            self.audit.step_started(state)
        clock = StepClock(start, duration, timeout, data_start=start)
        phase = JudgedPhase(step, clock, label="shadow ", reason_prefix="shadow phase: ")
        record = Recorders(lambda: self.save(candidate.version, state), self.audit.look,
                           self.publish, self.log)
        first = max(start + cfg.seconds("interval"), time.time())
        try:
            look_until_decided(phase, lambda now: self._look(candidate, state, start, now),
                               first, cfg, state, result, record)
        except StepOutcome:
            state.shadow_verdict = step.verdict
            raise
        state.shadow_verdict = "passed"
        self.save(candidate.version, state)

    def _look(self, candidate: ModelVersionRef, state: RolloutState, start: float,
              now: float) -> Evaluation:
        """One look; an unexpected exception is an `error` verdict on the fail-safe path."""
        try:
            return self.analysis.evaluate(candidate.version, state.stable_version or None,
                                          start, at=now)
        except MlActionsError:
            raise
        except Exception as err:  # noqa: BLE001 - a bug in a look must fail safe, not crash
            return Evaluation(iso_from_epoch(now), 0.0, now - start, "error",
                              error=f"the shadow analysis failed: {type(err).__name__}: {err}")

    def _running_guard(self) -> tuple[str, float, float] | None:
        """A guard period still shadowing the last champion's predecessor (uri, share, until):
        the phase borrows the shadow slot and gives it back, or the label-delayed monitor
        would lose its paired evidence to any later rollout that does not ship."""
        try:
            state = self.target.state()
        except Exception:  # noqa: BLE001 - nothing to give back then
            return None
        uri, until = state.slot("shadow").model_uri, state.shadow_until
        guarding = uri is not None and uri == state.slot("previous").model_uri  # not a stray
        if guarding and until and until > time.time() + 60 and state.shadow_share > 0:
            return uri, state.shadow_share, until
        return None

    def _stop_shadow(self) -> None:
        try:
            self.target.stop_shadow()
        except Exception as err:  # noqa: BLE001 - the gateway also stops it at `until`
            self.log(f"could not stop the shadow ({err}); the gateway stops it by itself at "
                     "the `until` it was given")
        guard, self.guard = self.guard, None
        if guard is None or guard[2] <= time.time() + 60:  # none, or about to end anyway
            return
        try:
            self.target.start_shadow(guard[0], guard[1], until=guard[2],
                                     timeout=self.config.canary.warmup_seconds)
            self.log(f"shadow: the guard period of {guard[0]} shadows again")
        except Exception as err:  # noqa: BLE001 - a warning: the rollout's verdict stands
            self.log(f"could not resume the guard period's shadow {guard[0]} ({err}); the "
                     "label-delayed monitor has no paired evidence until the next promotion")


def _guard_text(guard: tuple[str, float, float] | None) -> str:
    """A borrowed guard period as the state records it (`shadow_guard`): JSON, or ""."""
    return "" if guard is None else json.dumps({"uri": guard[0], "share": guard[1],
                                                "until": guard[2]})


def _guard_from_text(text: str) -> tuple[str, float, float] | None:
    """The guard period a resumed phase gives back; None when none was borrowed (or the
    record is unreadable: a lost guard costs the monitor its pairing, never the rollout)."""
    try:
        data = json.loads(text) if text else None
        return None if data is None else (str(data["uri"]), float(data["share"]),
                                          float(data["until"]))
    except (ValueError, KeyError, TypeError):
        return None
