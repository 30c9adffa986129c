"""A restarted gateway comes back with the same models and weight; SIGTERM drains requests."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from ml_actions.targets.gateway import GatewayTarget
from tests.serving.conftest import MODEL, TOKEN
from tests.serving.gateway_client import rows, split_payload

pytestmark = pytest.mark.integration


def uri(version: str) -> str:
    return f"models:/{MODEL}/{version}"


def test_restart_restores_models_weight_and_audit_trail(gateway_factory, tracking_uri,
                                                       gw_models, tmp_path):
    from tests.fixtures.gateway import wait_ready

    state_dir = tmp_path / "state"
    first = gateway_factory(tracking_uri, TOKEN, state_dir=state_dir)
    with GatewayTarget(first.url, TOKEN, actor="release-bot") as target:
        target.load("stable", uri(gw_models["v1"]))
        target.load("canary", uri(gw_models["v2"]))
        target.set_canary_weight(25)
    saved = json.loads((state_dir / "gateway-state.json").read_text())
    assert saved["canary_weight"] == 25.0 and saved["updated_by"] == "release-bot"
    first.stop()
    assert not first.alive()

    second = gateway_factory(tracking_uri, TOKEN, state_dir=state_dir)
    wait_ready(second)
    with GatewayTarget(second.url, TOKEN) as target:
        deadline = time.monotonic() + 60
        while target.state().slot("canary").status == "loading" and time.monotonic() < deadline:
            time.sleep(0.2)
        state = target.state()
    assert state.slot("stable").model_version == gw_models["v1"]
    assert state.slot("canary").model_version == gw_models["v2"]
    assert state.slot("canary").status == "ready" and state.canary_weight == 25.0
    actions = [(h["by"], h["action"]) for h in state.history]
    assert ("release-bot", "traffic") in actions and ("gateway", "restore") in actions
    variants = set()
    with httpx.Client(base_url=second.url) as client:
        for i in range(60):
            response = client.post("/invocations", json=split_payload(rows(1)),
                                   headers={"X-Routing-Key": f"k{i}"})
            assert response.status_code == 200
            variants.add(response.headers["X-Model-Variant"])
    assert variants == {"stable", "canary"}


def test_sigterm_drains_in_flight_requests(gateway_factory, tracking_uri, gw_models):
    from tests.fixtures.gateway import wait_ready

    proc = gateway_factory(tracking_uri, TOKEN)
    with GatewayTarget(proc.url, TOKEN) as target:
        assert target.load("stable", uri(gw_models["slow"])).status == "ready"
    wait_ready(proc)
    results: list[int] = []

    def slow_request():
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            results.append(client.post("/invocations", json=split_payload(rows(1))).status_code)

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.7)  # the request is inside the model's 2 s sleep
    os.killpg(proc.pid, signal.SIGTERM)
    thread.join(timeout=30)
    assert results == [200]
    proc.process.wait(timeout=30)
    assert "Waiting for application shutdown" in Path(proc.log_path).read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{proc.url}/healthz", timeout=2)
