"""The rollout state machine on a simulated target: real MLflow (state in tags and aliases),
real Prometheus scraping simulated gateway metrics, seconds-long steps."""

from __future__ import annotations

import threading
import time

import pytest

from ml_actions.errors import ConfigurationError, InputError
from ml_actions.registry import Registry
from ml_actions.rollout.analysis.checks import CanaryAnalysis
from ml_actions.rollout.analysis.prometheus_reader import PrometheusReader
from ml_actions.rollout.controller import Rollout
from ml_actions.rollout.report import render_markdown, report_dict
from ml_actions.rollout.start import prepare
from tests.rollout.conftest import fast_config
from tests.rollout.registry_setup import register_versions, unique_name
from tests.rollout.simulation import (
    ERRORS_30,
    GOOD,
    Behaviour,
    Route,
    SimulatedTarget,
)

pytestmark = pytest.mark.integration


class Deploy:
    """One model with a champion (v1) on stable and a candidate (v2), on a simulated route."""

    def __init__(self, sim, prometheus_url, tracking_uri, candidate: Behaviour, rate=150.0,
                 config=None, target_cls=SimulatedTarget, prefix="sim"):
        self.name = unique_name(prefix)
        self.v1, self.v2 = register_versions(tracking_uri, self.name, 2)
        self.registry = Registry(tracking_uri)
        self.registry.set_alias(self.name, "champion", self.v1)
        self.route = sim.add(Route(rate=rate))
        self.target = target_cls(sim, self.route, {
            f"models:/{self.name}/{self.v1}": GOOD,
            f"models:/{self.name}/{self.v2}": candidate})
        self.target.load("stable", f"models:/{self.name}/{self.v1}")
        self.config = config or fast_config()
        self.prometheus_url = prometheus_url
        self.lines: list[str] = []

    def rollout(self) -> Rollout:
        reader = PrometheusReader(self.prometheus_url, 2.0,
                                  retry_seconds=self.config.analysis.query_retry_seconds)
        analysis = CanaryAnalysis(reader, self.config.analysis)
        return Rollout(self.config, self.registry, self.target, analysis, self.name,
                       log=self.lines.append)

    def run(self, resume: bool = False):
        rollout = self.rollout()
        candidate, state = prepare(self.registry, self.config, self.target, self.name,
                                   None if resume else self.v2, False, resume)
        return rollout.run(candidate, state, resumed=resume)

    def tags(self, version=None):
        return self.registry.get_tags(self.name, version or self.v2)

    def alias(self, alias):
        ref = self.registry.find_alias(self.name, alias)
        return ref.version if ref else None


def test_failing_candidate_is_rolled_back_at_the_first_step(sim, sim_prometheus, tracking_uri):
    failing = {"success_rate"}
    d = Deploy(sim, sim_prometheus.url, tracking_uri, ERRORS_30)
    result = d.run()
    assert result.result == "rolled_back", (result.reason, d.lines)
    assert len(result.steps) == 1 and result.steps[0].weight == 20
    decided = result.steps[0].evaluations[-1]
    assert {c.name for c in decided.failing()} & failing, decided.checks
    assert all(c.verdict != "fail" for c in decided.checks if c.name in
               {"success_rate", "latency_p99", "score_psi", "decision_rate"} - failing
               - {"score_psi", "decision_rate"})
    assert d.target.calls[-1] == "rollback" and d.target.state().canary_weight == 0
    assert result.rollback_seconds < 1.0 and 0 < result.detection_seconds < 10
    tags = d.tags()
    assert tags["rollout.status"] == "rolled_back" and tags["rollout.reason"]
    assert tags["rollout.failures"] == "1" and "success_rate" in tags["rollout.last_decision"]
    assert any(name in tags["rollout.reason"] for name in failing)
    assert d.alias("canary") is None and d.alias("champion") == d.v1
    assert "⏪" in render_markdown(result)


def test_too_little_traffic_is_inconclusive_and_never_promoted(sim, sim_prometheus,
                                                               tracking_uri):
    config = fast_config(analysis={"inconclusive_timeout": "3s"})
    d = Deploy(sim, sim_prometheus.url, tracking_uri, GOOD, rate=2, config=config)
    result = d.run()
    assert result.result == "inconclusive" and "inconclusive" in result.reason
    assert all(ev.verdict in ("inconclusive",) for ev in result.steps[0].evaluations)
    assert len(result.steps) == 1 and d.tags()["rollout.status"] == "inconclusive"
    assert "needs" in result.reason or "so far" in result.reason
    assert d.alias("champion") == d.v1 and d.target.state().canary_weight == 0


class SkewedTarget(SimulatedTarget):
    """Routes three times the configured weight to the canary: a broken traffic split."""

    def _sync(self) -> None:
        super()._sync()
        self.route.weight = min(100.0, self._state.canary_weight * 3)


def test_sample_ratio_mismatch_halts_as_untrustworthy(sim, sim_prometheus, tracking_uri):
    d = Deploy(sim, sim_prometheus.url, tracking_uri, GOOD, target_cls=SkewedTarget)
    result = d.run()
    assert result.result == "aborted" and "sample-ratio mismatch" in result.reason
    assert d.tags()["rollout.status"] == "aborted"


def test_prometheus_stopped_mid_analysis_rolls_back_fail_safe(sim, tracking_uri,
                                                              prometheus_factory):
    prom = prometheus_factory([sim.address], "1s")
    config = fast_config(analysis={"on_query_error": "rollback"})
    d = Deploy(sim, prom.url, tracking_uri, GOOD, config=config)
    stopper = threading.Timer(4.0, prom.stop)
    stopper.start()
    try:
        result = d.run()
    finally:
        stopper.cancel()
    assert result.result == "rolled_back" and "fail-safe" in result.reason
    assert "Prometheus" in result.reason
    errored = [ev for s in result.steps for ev in s.evaluations if ev.verdict == "error"]
    assert errored and errored[-1].error.startswith("query error")
    assert d.tags()["rollout.status"] == "rolled_back"


def test_prometheus_down_with_hold_waits_then_rolls_back(sim, tracking_uri):
    config = fast_config(analysis={"on_query_error": "hold", "hold_timeout": "2s"})
    d = Deploy(sim, "http://127.0.0.1:9", tracking_uri, GOOD, config=config)
    started = time.monotonic()
    result = d.run()
    assert result.result == "rolled_back" and "after holding" in result.reason
    assert time.monotonic() - started >= 2.0
    assert len([ev for ev in result.steps[0].evaluations if ev.verdict == "error"]) >= 2


class CrashingTarget(SimulatedTarget):
    """The runner 'dies' (an exception no rollout code handles) when the weight reaches 50."""

    crash = True

    def set_canary_weight(self, weight: float) -> None:
        if weight == 50 and CrashingTarget.crash:
            CrashingTarget.crash = False
            raise SystemExit("runner killed")
        super().set_canary_weight(weight)


def test_killed_runner_resumes_from_the_recorded_step(sim, sim_prometheus, tracking_uri):
    d = Deploy(sim, sim_prometheus.url, tracking_uri, GOOD, target_cls=CrashingTarget)
    try:
        ended = d.run()
    except SystemExit:
        pass
    else:
        pytest.fail(f"the runner was to be killed at 50 %, but the rollout ended: "
                    f"{ended.result} ({ended.reason}); log: {d.lines}")
    tags = d.tags()
    assert tags["rollout.status"] == "running" and tags["rollout.step_index"] == "0"
    assert d.alias("canary") == d.v2
    with pytest.raises(InputError, match="already running"):
        prepare(d.registry, d.config, d.target, d.name, d.v2, False, False)
    d.target.calls.clear()
    result = d.run(resume=True)
    assert result.result == "promoted" and result.resumed, (result.reason, d.lines)
    # still warm: no reload; every step from the recorded one, the bake, then promote
    assert d.target.calls == ["weight 20", "weight 50", "weight 100", "weight 100", "promote"]
    assert [(s.weight, s.phase, s.verdict) for s in result.steps] == [
        (20, "step", "passed"), (50, "step", "passed"), (100, "step", "passed"),
        (100, "bake", "passed")]
    # every gating check of each step's last look passed (watchers may still be gathering)
    assert all(c.verdict in ("pass", "skip") for s in result.steps
               for c in s.evaluations[-1].checks if c.gating)
    assert d.alias("champion") == d.v2 and d.alias("previous-champion") == d.v1
    assert d.alias("canary") is None
    tags = d.tags()
    assert tags["rollout.status"] == "promoted" and tags["rollout.stable_version"] == d.v1
    assert result.rollback_seconds is None and result.detection_seconds is None
    data = report_dict(result)
    check = data["steps"][0]["evaluations"][-1]["checks"][1]
    assert {"query", "value", "threshold", "sample_size", "statistic", "verdict"} <= set(check)
    markdown = render_markdown(result)
    assert "promoted" in markdown and "| 3 | step | 100 %" in markdown


def test_unvalidated_candidate_is_refused_unless_overridden(sim, sim_prometheus,
                                                            tracking_uri):
    d = Deploy(sim, sim_prometheus.url, tracking_uri, GOOD)
    d.registry.set_tags(d.name, d.v2, {"validation.status": "failed"})
    with pytest.raises(InputError, match="skip-validation-check"):
        prepare(d.registry, d.config, d.target, d.name, d.v2, False, False)
    _, state = prepare(d.registry, d.config, d.target, d.name, d.v2, True, False)
    assert state.validation_check == "skipped"
    assert d.tags()["rollout.validation_check"] == "skipped"
    with pytest.raises(InputError, match="nothing to resume|no rollout"):
        prepare(d.registry, d.config, d.target, d.name, None, False, True)


def test_config_over_the_rollback_budget_is_refused():
    config = fast_config(analysis={"interval": "6m"})
    with pytest.raises(ConfigurationError) as err:
        Rollout(config, None, None, CanaryAnalysis(None, config.analysis), "m")
    message = str(err.value)
    assert "rollback budget exceeded" in message and "analysis.interval" in message
    assert "canary.rollback_budget" in message and "5m" in message


def test_candidate_that_fails_to_load_aborts_without_touching_stable(sim, sim_prometheus,
                                                                     tracking_uri):
    d = Deploy(sim, sim_prometheus.url, tracking_uri, GOOD)
    d.target.load("stable", f"models:/{d.name}/{d.v1}")  # v1 also warm in `previous`
    del d.target.models[f"models:/{d.name}/{d.v2}"]
    result = d.run()
    assert result.result == "aborted" and "did not become ready" in result.reason
    assert result.rollback_seconds is None and "rollback" not in d.target.calls
    assert d.target.state().slot("previous").model_version == d.v1
    assert d.tags()["rollout.status"] == "aborted" and d.alias("canary") is None
