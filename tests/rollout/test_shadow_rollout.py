"""The shadow phase in the rollout state machine: simulated target with a shadow slot, real
Prometheus scraping its metrics, real MLflow holding the state."""

from __future__ import annotations

import re
import threading
import time

import pytest

from ml_actions import cancellation
from ml_actions.errors import Cancelled, InfrastructureError
from ml_actions.rollout.report import render_markdown, report_dict
from ml_actions.rollout.shadow_phase import wanted
from ml_actions.rollout.start import prepare
from ml_actions.rollout.state import RolloutState
from ml_actions.timestamps import epoch_from_iso
from tests.rollout.conftest import fast_config
from tests.rollout.shadow_simulation import ShadowBehaviour, ShadowedTarget
from tests.rollout.simulation import GOOD
from tests.rollout.test_rollout_simulated import Deploy

pytestmark = pytest.mark.integration


def deploy(sim, sim_prometheus, tracking_uri, shadow="4s", behaviour=None, rate=150.0,
           target_cls=ShadowedTarget, **sections):
    config = fast_config(canary={"steps": [20, 50, 100], "interval": "2s", "bake": "1s",
                                 "warmup_timeout": "60s", "shadow": shadow}, **sections)
    d = Deploy(sim, sim_prometheus.url, tracking_uri, GOOD, rate=rate, config=config,
               target_cls=target_cls, prefix="shadow")
    if behaviour is not None:
        d.target.shadow_models[f"models:/{d.name}/{d.v2}"] = behaviour
    d.target.calls.clear()  # the champion's load into stable is the setup, not the rollout
    return d


def test_shadow_phase_runs_before_the_first_step_then_guards_the_old_champion(
        sim, sim_prometheus, tracking_uri):
    d = deploy(sim, sim_prometheus, tracking_uri)
    try:
        started = time.time()
        result = d.run()
    finally:
        d.target.close()
    assert result.result == "promoted", (result.reason, d.lines)
    shadow, first = result.steps[0], result.steps[1]
    assert (shadow.phase, shadow.weight, shadow.verdict) == ("shadow", 0.0, "passed")
    assert (first.phase, first.weight) == ("step", 20)
    names = {c.name for c in shadow.evaluations[-1].checks}
    assert {"shadow_flips_legit_to_fraud", "shadow_flips_fraud_to_legit", "shadow_flips_total",
            "shadow_score_diff", "shadow_errors", "shadow_latency_p99"} <= names
    assert all(c.verdict == "pass" for c in shadow.evaluations[-1].checks if c.gating)
    assert shadow.evaluations[-1].canary_requests > 100
    candidate, champion = f"models:/{d.name}/{d.v2}", f"models:/{d.name}/{d.v1}"
    calls = d.target.calls
    # the candidate shadows first, traffic moves only after the shadow stopped
    assert calls[:3] == [f"start_shadow {candidate} 1", "stop_shadow",
                         f"load canary {candidate}"]
    assert calls.index("weight 20") > calls.index("stop_shadow")
    # after the promotion the old champion shadow-scores for the guard period
    assert calls[-1] == f"start_shadow {champion} 1"
    until = d.target.shadow[3]
    assert until == pytest.approx(started + 7 * 86400, abs=600)
    tags = d.tags()
    assert tags["monitor.shadow_version"] == d.v1
    assert tags["monitor.guard_until"] == result.guard_period.until
    assert tags["rollout.shadow_verdict"] == "passed"
    data = report_dict(result)
    assert data["steps"][0]["phase"] == "shadow" and data["guard_period"]["started"] is True
    markdown = render_markdown(result)
    assert "### Shadow phase: passed" in markdown and "| shadow\\_flips\\_total | pass" in markdown
    assert f"v{d.v1} until" in markdown


def test_flipping_candidate_is_rolled_back_in_the_shadow_phase_before_any_traffic(
        sim, sim_prometheus, tracking_uri):
    d = deploy(sim, sim_prometheus, tracking_uri, shadow="60s",
               behaviour=ShadowBehaviour(flip_to_fraud=0.03))
    try:
        result = d.run()
    finally:
        d.target.close()
    assert result.result == "rolled_back", (result.reason, d.lines)
    assert result.reason.startswith("shadow phase:") and "shadow_flips" in result.reason
    assert [(s.phase, s.verdict) for s in result.steps] == [("shadow", "failed")]
    assert result.detection_seconds < 60
    # the champion and the traffic were never touched
    assert not any(c.startswith(("weight", "load canary", "promote")) for c in d.target.calls)
    assert d.target.calls[-1] == "stop_shadow" and d.target.shadow is None
    assert d.alias("champion") == d.v1 and d.alias("canary") is None
    tags = d.tags()
    assert tags["rollout.status"] == "rolled_back" and tags["rollout.shadow_verdict"] == "failed"
    assert "shadow_flips" in tags["rollout.last_decision"]
    assert "### Decision evidence" in render_markdown(result)


def test_a_shadow_phase_gives_the_slot_back_to_a_running_guard_period(
        sim, sim_prometheus, tracking_uri):
    """The last promotion's guard period shadows its predecessor for days; a later candidate
    borrows the slot for its shadow phase and, rolled back, gives it back with its `until`."""
    d = deploy(sim, sim_prometheus, tracking_uri, shadow="60s",
               behaviour=ShadowBehaviour(flip_to_fraud=0.03))
    guard_uri, until = f"models:/{d.name}/{d.v1}", time.time() + 7 * 86400
    d.target.load("stable", guard_uri)  # the guarded predecessor is also the warm previous
    d.target.start_shadow(guard_uri, 1.0, until=until)
    d.target.calls.clear()
    try:
        result = d.run()
    finally:
        d.target.close()
    assert result.result == "rolled_back", (result.reason, d.lines)
    assert d.target.calls[-2:] == ["stop_shadow", f"start_shadow {guard_uri} 1"]
    state = d.target.state()
    assert state.slot("shadow").model_uri == guard_uri and state.shadow_until == until
    assert any("guard period" in line and "shadows again" in line for line in d.lines)


def test_cancel_during_the_shadow_phase_stops_the_shadow(sim, sim_prometheus, tracking_uri):
    d = deploy(sim, sim_prometheus, tracking_uri, shadow="60s")
    timer = threading.Timer(3.0, cancellation.request, ["SIGTERM: the job was cancelled"])
    timer.start()
    try:
        with pytest.raises(Cancelled):
            d.run()
    finally:
        timer.cancel()
        cancellation._requested.clear()
        d.target.close()
    assert d.target.calls[-1] == "stop_shadow" and d.target.shadow is None
    assert not any(c.startswith(("weight", "load canary")) for c in d.target.calls)
    assert d.tags()["rollout.status"] == "aborted" and d.alias("champion") == d.v1


class NoShadowGuard(ShadowedTarget):
    """Shadows the candidate, but the old champion's shadow fails to load after promotion."""

    def start_shadow(self, model_uri, share=1.0, until=None, timeout=300):
        if model_uri.endswith("/1"):
            self.calls.append(f"start_shadow {model_uri} failed")
            raise InfrastructureError("out of memory loading the shadow model")
        super().start_shadow(model_uri, share, until, timeout)


def test_a_guard_period_that_cannot_start_is_a_warning_not_a_failure(
        sim, sim_prometheus, tracking_uri):
    d = deploy(sim, sim_prometheus, tracking_uri, shadow="0s", target_cls=NoShadowGuard)
    try:
        result = d.run()
    finally:
        d.target.close()
    assert result.result == "promoted" and result.steps[0].phase == "step"
    assert not result.guard_period.started
    assert any("guard period" in w and "out of memory" in w for w in result.warnings)
    assert "monitor.guard_until" not in d.tags() and d.alias("champion") == d.v2


def test_a_target_without_a_shadow_slot_aborts_before_anything_moves(
        sim, sim_prometheus, tracking_uri):
    from tests.rollout.simulation import SimulatedTarget

    d = deploy(sim, sim_prometheus, tracking_uri, target_cls=SimulatedTarget)
    result = d.run()
    assert result.result == "aborted" and "no shadow slot" in result.reason
    assert "--shadow 0s" in result.reason and d.target.calls == []


def test_resume_skips_a_passed_shadow_phase_and_continues_an_interrupted_one():
    config = fast_config(canary={"shadow": "2m"})
    assert wanted(config, RolloutState(phase="loading"))
    assert wanted(config, RolloutState(phase="shadow"))
    assert not wanted(config, RolloutState(phase="shadow", shadow_verdict="passed"))
    assert not wanted(config, RolloutState(phase="step"))
    assert not wanted(fast_config(), RolloutState(phase="loading"))


class KilledAfterShadow(ShadowedTarget):
    """The runner 'dies' when the first step would move traffic, after the shadow passed."""

    crash = True

    def set_canary_weight(self, weight):
        if KilledAfterShadow.crash:
            KilledAfterShadow.crash = False
            raise SystemExit("runner killed")
        super().set_canary_weight(weight)


def test_resume_after_a_passed_shadow_phase_does_not_repeat_it(sim, sim_prometheus,
                                                               tracking_uri):
    d = deploy(sim, sim_prometheus, tracking_uri, target_cls=KilledAfterShadow)
    try:
        with pytest.raises(SystemExit):
            d.run()
        tags = d.tags()
        assert tags["rollout.status"] == "running" and tags["rollout.shadow_verdict"] == "passed"
        d.target.calls.clear()
        result = d.run(resume=True)
    finally:
        d.target.close()
    assert result.result == "promoted", (result.reason, d.lines)
    assert [s.phase for s in result.steps] == ["step", "step", "step", "bake"]
    assert not any(c.startswith("start_shadow models:/" + d.name + "/" + d.v2)
                   for c in d.target.calls)


class KilledMidShadow(ShadowedTarget):
    """A runner killed mid-phase sends nothing more: the gateway keeps mirroring to the
    candidate (the simulated kill's `finally` blocks would stop it and give a guard back)."""

    runner_dead = False

    def stop_shadow(self):
        if not self.runner_dead:
            super().stop_shadow()

    def start_shadow(self, model_uri, share=1.0, until=None, timeout=300):
        if not self.runner_dead:
            super().start_shadow(model_uri, share, until, timeout)


def kill_at_window(target: KilledMidShadow, lines: list[str], seconds: float):
    """A `log` that kills the runner at the first shadow look of at least `seconds`."""
    def log(line: str) -> None:
        lines.append(line)
        window = re.search(r" shadow \w+ on (\d+) s:", line)
        if window and float(window.group(1)) >= seconds:
            target.runner_dead = True
            raise SystemExit("runner killed mid-shadow")
    return log


@pytest.mark.parametrize("lapsed", [False, True], ids=["still-shadowing", "shadow-lapsed"])
def test_resume_mid_shadow_continues_the_phase_from_its_recorded_start(
        sim, sim_prometheus, tracking_uri, lapsed):
    """Killed 4 s into a 10 s shadow phase and resumed 3 s later, the phase goes on from its
    recorded start (the counters since then, its clock, the borrowed guard period) and ends
    about 10 s after it began, not 10 s after the resume; a shadow still warm is kept."""
    d = deploy(sim, sim_prometheus, tracking_uri, shadow="10s", target_cls=KilledMidShadow)
    guard_uri, until = f"models:/{d.name}/{d.v1}", time.time() + 7 * 86400
    d.target.load("stable", guard_uri)
    d.target.start_shadow(guard_uri, 1.0, until=until)
    candidate_uri = f"models:/{d.name}/{d.v2}"
    try:
        first = d.rollout()
        first.shadow.log = kill_at_window(d.target, d.lines, 4)
        ref, state = prepare(d.registry, d.config, d.target, d.name, d.v2, False, False)
        with pytest.raises(SystemExit):
            first.run(ref, state)
        recorded = RolloutState.from_tags(d.tags())
        assert (recorded.status, recorded.phase) == ("running", "shadow")
        assert guard_uri in recorded.shadow_guard
        began = epoch_from_iso(recorded.step_started_at)
        killed_at = time.time()
        d.target.runner_dead = False
        if lapsed:  # the gateway stopped the shadow at its `until` meanwhile
            d.target.stop_shadow()
        time.sleep(3)
        d.target.calls.clear()
        resumed = time.time()
        result = d.run(resume=True)
    finally:
        d.target.close()
    assert result.result == "promoted", (result.reason, d.lines)
    shadow = result.steps[0]
    assert (shadow.phase, shadow.verdict, shadow.start) == ("shadow", "passed",
                                                            recorded.step_started_at)
    # the first look after the resume judges everything since the recorded start ...
    assert shadow.evaluations[0].window_seconds >= killed_at - began + 3 - 0.5
    assert shadow.evaluations[0].canary_requests > 300
    # ... and the phase ends about 10 s after it began (about 3 s after the resume), before a
    # repeated 10 s phase could have ended: its total duration is not 4 + 3 + 10 s
    assert epoch_from_iso(shadow.end) < resumed + 10, d.lines
    assert [s.phase for s in result.steps] == ["shadow", "step", "step", "step", "bake"]
    started = [c for c in d.target.calls if c == f"start_shadow {candidate_uri} 1"]
    assert len(started) == (1 if lapsed else 0)  # a warm shadow is kept, a lapsed one restarted
    # the guard period the killed runner borrowed is given back before traffic moves
    calls = d.target.calls
    back = calls.index(f"start_shadow {guard_uri} 1")
    assert calls[back - 1] == "stop_shadow" and back < calls.index(f"load canary {candidate_uri}")
    assert any("continuing the phase begun at" in line for line in d.lines)
