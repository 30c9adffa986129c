"""Rollouts that fail safe, with real services failing under them: MLflow cut off right after
the traffic flip, Prometheus stopped for 20 s in the middle of a step, and a runner killed at
100 % that resumes on the stable evidence recorded before stable stopped serving."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ml_actions.errors import InfrastructureError, InputError
from ml_actions.registry import Registry
from ml_actions.rollout.report import report_dict
from ml_actions.rollout.state import RolloutState
from tests.fixtures.local_services import start_prometheus
from tests.rollout.conftest import fast_config
from tests.rollout.simulation import GOOD, SimulatedTarget
from tests.rollout.tcp_proxy import TcpProxy
from tests.rollout.test_rollout_simulated import Deploy

pytestmark = pytest.mark.integration


class MlflowDiesAtTheFlip(SimulatedTarget):
    """The flip succeeds, then MLflow becomes unreachable (its proxy is cut)."""

    proxy: TcpProxy | None = None

    def promote(self) -> None:
        super().promote()
        self.proxy.stop()


@pytest.mark.chaos
def test_mlflow_lost_right_after_the_flip_keeps_traffic_and_resume_converges(
        sim, sim_prometheus, tracking_uri, chaos_row):
    proxy = TcpProxy(tracking_uri)
    try:
        config = fast_config(canary={"steps": [100], "bake": "1s"})
        d = Deploy(sim, sim_prometheus.url, proxy.url, GOOD, config=config,
                   target_cls=MlflowDiesAtTheFlip)
        d.registry = Registry(proxy.url, retries=1, backoff_seconds=0.1)
        d.target.proxy = proxy
        with pytest.raises(InfrastructureError) as failed:
            d.run()
        cut = time.monotonic()
        message = str(failed.value)
        assert "traffic is on v2" in message and "--resume" in message and "\n" not in message
        state = d.target.state()
        assert state.slot("stable").model_version == d.v2 and state.canary_weight == 0
        assert state.slot("previous").model_version == d.v1  # the champion, still warm
        assert "rollback" not in d.target.calls and d.target.calls.count("promote") == 1
        proxy.start()  # MLflow is back
        tags = d.tags()
        assert tags["rollout.status"] == "running", d.lines  # never "aborted"
        assert RolloutState.from_tags(tags).phase == "promoting"
        assert d.alias("champion") == d.v1 and d.alias("canary") == d.v2
        d.target.calls.clear()
        result = d.run(resume=True)
        assert result.result == "promoted" and result.resumed, (result.reason, d.lines)
        assert d.target.calls == []  # not promoted again, nothing loaded, no weight moved
        assert d.target.state().slot("previous").model_version == d.v1
        assert d.alias("champion") == d.v2 and d.alias("previous-champion") == d.v1
        assert d.alias("canary") is None
        ended = RolloutState.from_tags(d.tags())
        assert ended.status == "promoted" and ended.flipped_at and ended.previous_champion == d.v1
        with pytest.raises(InputError, match="no rollout"):
            d.run(resume=True)  # converged: nothing left to resume
        chaos_row("MLflow stopped right after the flip to 100 % (simulated gateway)",
                  "traffic stays on the candidate; resume converges the registry; champion "
                  "never demoted", "exit 2 'traffic is on v2 ... --resume'; resume promoted "
                  "without a second promote; old champion warm in previous",
                  seconds_to_safe=time.monotonic() - cut)
    finally:
        proxy.stop()


class PrometheusOutage(SimulatedTarget):
    """Stops Prometheus one second into the first step, for 20 s, then starts it again."""

    prometheus = None
    outage: threading.Thread | None = None
    restarted: list = []

    def set_canary_weight(self, weight: float) -> None:
        super().set_canary_weight(weight)
        if weight == 50 and self.outage is None:
            self.outage = threading.Thread(target=self._outage, daemon=True)
            self.outage.start()

    def _outage(self) -> None:
        time.sleep(1.0)
        prom = self.prometheus
        prom.stop()
        self.stopped_at = time.time()
        time.sleep(20.0)
        port = int(prom.url.rsplit(":", 1)[1])
        self.restarted.append(start_prometheus(Path(prom.extra["config"]).parent,
                                               [self.sim.address], "1s", port=port))
        self.back_at = time.time()


@pytest.mark.chaos
def test_prometheus_stopped_20s_mid_step_holds_then_passes(sim, tracking_uri,
                                                            prometheus_factory, chaos_row):
    prom = prometheus_factory([sim.address], "1s")
    config = fast_config(canary={"steps": [50, 100]})  # on_query_error: hold, 60 s (defaults)
    assert config.analysis.on_query_error == "hold" and config.analysis.hold_timeout == "60s"
    d = Deploy(sim, prom.url, tracking_uri, GOOD, config=config, target_cls=PrometheusOutage)
    d.target.prometheus, d.target.restarted = prom, []
    try:
        result = d.run()
    finally:
        if d.target.outage is not None:
            d.target.outage.join(timeout=120)  # never leave a Prometheus starting behind
        for restarted in d.target.restarted:
            restarted.stop()
    assert result.result == "promoted", (result.reason, d.lines)
    step = result.steps[0]
    held = [ev for ev in step.evaluations if ev.verdict == "error"]
    assert len(held) >= 5 and all(ev.error.startswith("query error") for ev in held)
    # passed on the last look (a watcher without enough data may leave it "inconclusive")
    assert step.verdict == "passed" and step.evaluations[-1].verdict in ("pass", "inconclusive")
    assert not step.evaluations[-1].failing()
    assert step.evaluations[-1].canary_requests > 1000  # the outage's requests were judged
    assert f"held through {len(held)} look(s)" in result.reason
    recorded = report_dict(result)["steps"][0]["evaluations"]
    assert sum(ev["verdict"] == "error" for ev in recorded) == len(held)
    assert d.alias("champion") == d.v2
    chaos_row("Prometheus stopped for 20 s mid-step (simulated gateway, on_query_error: hold)",
              "held, then decided as configured; recorded",
              f"{len(held)} looks held and recorded over a "
              f"{d.target.back_at - d.target.stopped_at:.0f} s outage, then the step passed on "
              f"{step.evaluations[-1].canary_requests} canary requests; promoted")


class KilledAtTheBake(SimulatedTarget):
    """The runner dies as the bake begins: the 100 % step ran (and passed), stable idle."""

    crash = True

    def set_canary_weight(self, weight: float) -> None:
        if weight == 100 and self._state.canary_weight == 100 and KilledAtTheBake.crash:
            KilledAtTheBake.crash = False
            raise SystemExit("runner killed")
        super().set_canary_weight(weight)


def test_a_resume_at_100_percent_passes_on_the_recorded_stable_baseline(sim, sim_prometheus,
                                                                        tracking_uri):
    config = fast_config(canary={"steps": [50, 100], "bake": "1s"})
    d = Deploy(sim, sim_prometheus.url, tracking_uri, GOOD, config=config,
               target_cls=KilledAtTheBake)
    KilledAtTheBake.crash = True
    with pytest.raises(SystemExit):
        d.run()
    recorded = RolloutState.from_tags(d.tags())
    assert (recorded.phase, recorded.weight, recorded.status) == ("step", 100, "running")
    assert recorded.baseline_since and recorded.baseline_until  # from the 50 % step
    # Stable served nothing for longer than the fallback window (5 looks) before the resume:
    # only the recorded baseline gives the 100 % step something to compare with.
    time.sleep(6 * config.analysis.seconds("interval"))
    d.target.calls.clear()
    result = d.run(resume=True)
    assert result.result == "promoted", (result.reason, d.lines)
    assert [(s.weight, s.phase, s.verdict) for s in result.steps] == [
        (100, "step", "passed"), (100, "bake", "passed")]
    assert d.target.calls == ["weight 100", "weight 100", "promote"]
    assert all(s.evaluations[-1].stable_requests > 0 for s in result.steps)
    assert d.alias("champion") == d.v2 and d.alias("previous-champion") == d.v1
