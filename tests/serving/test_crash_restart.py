"""kill -9 mid-canary under steady load: the restarted gateway serves both slots again, at the
same weight, without failing one request once it reports ready; also with MLflow stopped.

Each test prints one line (`crash-restart (a|b): ...`, shown with `pytest -s`): requests sent,
requests failed after ready, seconds from the restart to ready and to the canary back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml_actions.targets.gateway import GatewayTarget
from tests.fixtures.gateway import kill_gateway, wait_ready, wait_slots_ready
from tests.fixtures.local_services import ManagedProcess, free_port
from tests.serving.conftest import MODEL, TOKEN
from tests.serving.steady_load import SteadyLoad

pytestmark = pytest.mark.integration
WEIGHT = 30.0


@dataclass
class CrashReport:
    sent: int
    sent_after_ready: int
    failed_after_ready: list
    seconds_to_ready: float
    seconds_to_canary: float
    variants_after_ready: set
    state: dict
    gateway: ManagedProcess

    def line(self, name: str) -> str:
        return (f"crash-restart {name}: {self.sent} requests sent, {self.sent_after_ready} "
                f"after ready, {len(self.failed_after_ready)} failed after ready; ready "
                f"{self.seconds_to_ready:.1f} s after the restart, canary back after "
                f"{self.seconds_to_canary:.1f} s")


def crash_under_load(first: ManagedProcess, restart: Callable[[], ManagedProcess],
                     before_kill: Callable[[], None] = lambda: None) -> CrashReport:
    """Traffic on both slots, `before_kill()`, SIGKILL, restart, traffic on both again."""
    with SteadyLoad(first.url) as load:
        load.wait_for(40)
        before_kill()
        kill_gateway(first)
        assert first.process.returncode == -9
        restarted = time.monotonic()
        second = restart()
        wait_ready(second)
        ready_at = time.monotonic()
        state = wait_slots_ready(second, ("stable", "canary"))
        canary_at = time.monotonic()
        load.wait_for(60)
    after = load.since(ready_at)
    return CrashReport(len(load.outcomes), len(after), [o for o in after if not o.ok],
                       ready_at - restarted, canary_at - restarted,
                       {o.variant for o in after}, state, second)


def assert_restored(report: CrashReport, stable: str, canary: str) -> None:
    slots = report.state["slots"]
    assert (slots["stable"]["model_version"], slots["stable"]["status"]) == (stable, "ready")
    assert (slots["canary"]["model_version"], slots["canary"]["status"]) == (canary, "ready")
    assert report.state["canary_weight"] == WEIGHT
    assert report.sent_after_ready >= 60
    assert report.failed_after_ready == []
    assert report.variants_after_ready == {"stable", "canary"}


@pytest.mark.chaos
def test_kill_9_mid_canary_under_load_restores_both_slots_and_the_weight(
        gateway_factory, tracking_uri, gw_models, tmp_path, chaos_row):
    state_dir, port = tmp_path / "state", free_port()
    first = gateway_factory(tracking_uri, TOKEN, state_dir=state_dir, port=port)
    with GatewayTarget(first.url, TOKEN) as target:
        target.load("stable", f"models:/{MODEL}/{gw_models['v1']}")
        target.load("canary", f"models:/{MODEL}/{gw_models['v2']}")
        target.set_canary_weight(WEIGHT)
    report = crash_under_load(first, lambda: gateway_factory(
        tracking_uri, TOKEN, state_dir=state_dir, port=port))
    print(report.line("(a)"))
    assert_restored(report, gw_models["v1"], gw_models["v2"])
    assert any(h["action"] == "restore" for h in report.state["history"])
    chaos_row("kill -9 of the gateway mid-canary (30 %), restarted",
              "state restored; 0 failed requests once ready", _observed(report),
              report.sent_after_ready, len(report.failed_after_ready), report.seconds_to_canary)


@pytest.mark.chaos
def test_kill_9_with_mlflow_stopped_serves_both_slots_from_the_artifact_cache(
        gateway_factory, tmp_path, chaos_row):
    import mlflow
    from mlflow import MlflowClient

    from tests.fixtures.local_services import start_mlflow_server
    from tests.serving import model_zoo

    name, state_dir, port = "gw_cached", tmp_path / "state", free_port()
    config = tmp_path / "ml-actions.yaml"  # an alias load fails in 2 quick attempts
    config.write_text("gateway:\n  load_attempts: 2\n  load_backoff_seconds: 0.2\n")
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow_port = free_port()
    url = f"http://127.0.0.1:{mlflow_port}"
    with ThreadPoolExecutor(1) as pool:  # two slow process starts at once
        starting = pool.submit(gateway_factory, url, TOKEN, state_dir=state_dir, port=port,
                               config=config)
        server = start_mlflow_server(tmp_path / "mlflow", port=mlflow_port)
        first = starting.result()
    try:
        mlflow.set_registry_uri(server.url)  # an in-process loader may have set another one
        v1 = model_zoo.register_sklearn(server.url, name, seed=0)
        v2 = model_zoo.register_sklearn(server.url, name, seed=1, c=0.01)
        MlflowClient(server.url).set_registered_model_alias(name, "candidate", v2)
        with GatewayTarget(first.url, TOKEN) as target:
            target.load("stable", f"models:/{name}/{v1}")
            target.load("canary", f"models:/{name}@candidate")
            target.set_canary_weight(WEIGHT)
        saved = json.loads((state_dir / "gateway-state.json").read_text())["slots"]["canary"]
        assert saved["model_uri"] == f"models:/{name}/{v2}"  # restored by version, not alias
        assert saved["requested_uri"] == f"models:/{name}@candidate"
        report = crash_under_load(first, lambda: gateway_factory(
            server.url, TOKEN, state_dir=state_dir, port=port, config=config), server.stop)
    finally:
        server.stop()
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    print(report.line("(b)"))
    assert not server.alive()
    assert_restored(report, v1, v2)
    log = Path(report.gateway.log_path).read_text()
    for version in (v1, v2):
        assert f"models:/{name}/{version}: loading from the artifact cache" in log
    with GatewayTarget(report.gateway.url, TOKEN) as target:  # an alias needs the registry
        shadow = target.load("shadow", f"models:/{name}@candidate", timeout=60)
    assert shadow.status == "failed"
    assert "an alias is resolved by the registry" in shadow.error
    chaos_row("the same with MLflow stopped during the restart",
              "serves both slots from the artifact cache", _observed(report) + ", from the cache",
              report.sent_after_ready, len(report.failed_after_ready), report.seconds_to_canary)


def _observed(report: CrashReport) -> str:
    return (f"both slots and {WEIGHT:g} % back, ready {report.seconds_to_ready:.1f} s after the "
            f"restart ({report.sent} requests in all; counts: sent after ready)")
