"""The gateway app in-process (Starlette TestClient) against real registry models.

The process tests prove behaviour end to end; these walk the admin state machine's corners
quickly: refusals, release, restore from the state file, a cancelled load, rollout gauges.
"""

from __future__ import annotations

import json
import time

import pytest
from starlette.testclient import TestClient

from ml_actions.config.gateway import GatewayConfig
from ml_actions.serving.app import create_app, registry_loader
from tests.serving.conftest import MODEL, TOKEN
from tests.serving.gateway_client import metric_value, rows, split_payload

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Actor": "unit"}


def uri(version: str) -> str:
    return f"models:/{MODEL}/{version}"


def wait_slot(client: TestClient, slot: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = client.get("/admin/state", headers=AUTH).json()["slots"][slot]
        if state["status"] != "loading" or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


@pytest.fixture(scope="module")
def loader(tracking_uri, tmp_path_factory, gw_models):
    return registry_loader(tracking_uri, tmp_path_factory.mktemp("cache"))


def make_client(state_dir, loader, **config) -> TestClient:
    return TestClient(create_app(GatewayConfig(**config), state_dir, TOKEN, loader))


def test_admin_state_machine_in_process(tmp_path, loader, gw_models):
    with make_client(tmp_path, loader, max_batch_wait_ms=0) as client:
        assert client.get("/readyz").status_code == 503
        refused = client.post("/invocations", json=split_payload(rows(1)))
        assert refused.status_code == 503 and "POST /admin/load" in refused.json()["message"]
        assert client.get(f"/v2/models/{MODEL}").status_code == 404
        for body, words in [({"slot": "previous", "model_uri": uri("1")}, "stable or canary"),
                            ({"slot": "stable"}, "model_uri is required")]:
            answer = client.post("/admin/load", json=body, headers=AUTH)
            assert answer.status_code == 400 and words in answer.json()["message"]
        assert client.post("/admin/load", content=b"[1]", headers=AUTH).status_code == 400
        assert client.post("/admin/load", content=b"{x", headers=AUTH).status_code == 400
        accepted = client.post("/admin/load", headers=AUTH,
                               json={"slot": "stable", "model_uri": uri(gw_models["v1"])})
        assert accepted.status_code == 202 and accepted.json()["state"]["status"] == "loading"
        assert wait_slot(client, "stable")["status"] == "ready"
        assert client.get("/readyz").json()["stable"] == uri(gw_models["v1"])
        assert client.get("/v2/health/ready").status_code == 200
        # loading straight into stable keeps the old stable warm as previous
        client.post("/admin/load", headers=AUTH,
                    json={"slot": "stable", "model_uri": uri(gw_models["v2"])})
        assert wait_slot(client, "stable")["model_version"] == gw_models["v2"]
        state = client.get("/admin/state", headers=AUTH).json()
        assert state["slots"]["previous"]["model_version"] == gw_models["v1"]
        assert client.post("/admin/release", json={"slot": "canary"},
                           headers=AUTH).status_code == 400
        assert client.post("/admin/release", json={"slot": "previous"},
                           headers=AUTH).status_code == 200
        nothing = client.post("/admin/rollback", headers=AUTH)
        assert nothing.status_code == 409 and "nothing to roll back" in nothing.json()["message"]
        assert client.put("/admin/traffic", json={}, headers=AUTH).status_code == 400
        assert client.put("/admin/traffic", json={"canary_weight": True},
                          headers=AUTH).status_code == 400
        # a rollback during a canary load cancels it: the loaded model is never swapped in
        client.post("/admin/load", headers=AUTH,
                    json={"slot": "canary", "model_uri": uri(gw_models["v1"])})
        rolled = client.post("/admin/rollback", headers=AUTH).json()
        assert rolled["rollback"] == "canary-removed"
        time.sleep(3)
        state = client.get("/admin/state", headers=AUTH).json()
        assert state["slots"]["canary"]["status"] == "empty"
        assert state["effective_weights"] == {"stable": 100.0, "canary": 0.0}
        response = client.post("/invocations", json=split_payload(rows(3)))
        assert response.headers["X-Model-Version"] == gw_models["v2"]


def test_restore_reloads_the_saved_slots(tmp_path, loader, gw_models):
    saved = {"canary_weight": 40.0, "updated_by": "ci", "history": [{"action": "traffic"}],
             "slots": {"stable": {"model_uri": uri(gw_models["v1"]), "status": "ready"},
                       "canary": {"requested_uri": uri(gw_models["v2"]), "status": "loading"},
                       "previous": {"model_uri": uri(gw_models["v2"]), "status": "ready",
                                    "future_field": 1}}}
    (tmp_path / "gateway-state.json").write_text(json.dumps(saved))
    with make_client(tmp_path, loader) as client:
        for slot in ("stable", "canary", "previous"):
            assert wait_slot(client, slot)["status"] == "ready"
        state = client.get("/admin/state", headers=AUTH).json()
        assert state["canary_weight"] == 40.0
        assert state["effective_weights"] == {"stable": 60.0, "canary": 40.0}
        assert [h["action"] for h in state["history"]][:1] == ["traffic"]
        metrics = client.get("/metrics").text
        assert metric_value(metrics, "ml_gateway_traffic_weight", slot="canary") == 40.0
        assert metric_value(metrics, "ml_gateway_model_info", slot="previous",
                            model_version=gw_models["v2"]) == 1
        body = client.put("/admin/rollout-metrics", headers=AUTH, json={
            "status": "rolled_back", "weight": 0,
            "checks": [{"name": "psi", "value": 0.4, "threshold": "<=0.2"}]})
        assert body.status_code == 200
        for bad in ({"status": "dancing"}, {"status": "idle", "weight": "x"},
                    {"status": "idle", "checks": [{"name": "psi"}]}):
            assert client.put("/admin/rollout-metrics", json=bad,
                              headers=AUTH).status_code == 400
        metrics = client.get("/metrics").text
        assert metric_value(metrics, "ml_actions_rollout_status", status="rolled_back") == 1
        assert metric_value(metrics, "ml_actions_check_value", check="psi",
                            threshold="<=0.2") == 0.4
        assert client.post("/admin/promote", headers=AUTH).status_code == 200
        state = client.get("/admin/state", headers=AUTH).json()
        assert state["slots"]["stable"]["model_version"] == gw_models["v2"]
        assert state["slots"]["previous"]["model_version"] == gw_models["v1"]


def test_a_failed_warm_up_keeps_the_slot_empty(tmp_path, gw_models):
    from ml_actions.serving.model_loading import ModelRef, ServedModel

    def broken_loader(model_uri):
        def predict(frame):
            raise RuntimeError("cannot score")
        return ServedModel(ModelRef("m", "1"), "pyfunc", predict, [("TX_AMOUNT", "double")],
                           None)

    with make_client(tmp_path, broken_loader, warmup_attempts=2) as client:
        client.post("/admin/load", headers=AUTH, json={"slot": "canary", "model_uri": "x"})
        state = wait_slot(client, "canary")
        assert state["status"] == "failed" and "warm-up failed 2 times" in state["error"]
        assert state["model_uri"] is None


def test_prediction_paths_in_process(tmp_path, loader, gw_models):
    from tests.serving.gateway_client import v2_payload

    with make_client(tmp_path, loader, max_body_bytes=4096, max_batch_wait_ms=1) as client:
        for slot, version in (("stable", gw_models["v1"]), ("canary", gw_models["raising"])):
            client.post("/admin/load", headers=AUTH,
                        json={"slot": slot, "model_uri": uri(version)})
            assert wait_slot(client, slot)["status"] == "ready"
        client.put("/admin/traffic", json={"canary_weight": 100}, headers=AUTH)
        frame = rows(3)
        v2 = client.post(f"/v2/models/{MODEL}/infer", json=v2_payload(frame))
        assert v2.status_code == 200 and len(v2.json()["outputs"][0]["data"]) == 3
        assert client.post("/v2/models/nope/infer", json=v2_payload(frame)).status_code == 404
        assert client.get(f"/v2/models/{MODEL}").json()["platform"] == "mlflow-pyfunc"
        bad = frame.copy()
        bad.loc[0, "TX_AMOUNT"] = -1.0
        failed = client.post("/invocations", json=split_payload(bad))
        assert failed.status_code == 500 and failed.headers["X-Model-Variant"] == "canary"
        strings = frame.astype({"TX_HOUR": str})  # numbers as strings are converted
        assert client.post("/invocations", json=split_payload(strings)).status_code == 200
        missing = client.post("/invocations", json=split_payload(frame.drop(columns="TX_HOUR")))
        assert missing.status_code == 400 and "TX_HOUR" in missing.json()["message"]
        big = client.post("/invocations", content=b"x" * 5000)
        assert big.status_code == 413
        metrics = client.get("/metrics").text
        assert metric_value(metrics, "ml_gateway_requests_total", slot="canary",
                            code="500") == 1
        assert metric_value(metrics, "ml_gateway_decisions_total", slot="canary") == 6
