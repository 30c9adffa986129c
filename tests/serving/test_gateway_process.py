"""The gateway as a real process: both protocols, routing, admin API, failures, metrics.

One gateway subprocess serves the whole module (scikit-learn models from a real MLflow
server); every test leaves it with v1 on stable and no canary.
"""

from __future__ import annotations

import threading
import time

import httpx
import mlflow
import numpy as np
import pytest

from ml_actions.errors import InfrastructureError, InputError
from ml_actions.serving.routing import CANARY, choose_slot
from ml_actions.targets.gateway import GatewayTarget
from tests.fixtures.local_services import free_port
from tests.serving.conftest import MODEL, TOKEN
from tests.serving.gateway_client import metric_value, rows, split_payload, v2_payload
from tests.serving.model_zoo import FEATURES
from tests.serving.test_routing import binomial_bound

pytestmark = pytest.mark.integration
CONFIG = "gateway:\n  max_body_bytes: 65536\n  max_rows_per_request: 50\n  max_batch_wait_ms: 2\n"


def uri(version: str) -> str:
    return f"models:/{MODEL}/{version}"


@pytest.fixture(scope="module")
def gw(tmp_path_factory, tracking_uri, gw_models):
    from tests.fixtures.gateway import start_gateway, wait_ready

    workdir = tmp_path_factory.mktemp("gateway")
    (workdir / "ml-actions.yaml").write_text(CONFIG)
    proc = start_gateway(workdir, tracking_uri, TOKEN, config=workdir / "ml-actions.yaml")
    target = GatewayTarget(proc.url, TOKEN, actor="pytest")
    try:
        assert target.load("stable", uri(gw_models["v1"])).status == "ready"
        wait_ready(proc)
        yield proc, target, httpx.Client(base_url=proc.url, timeout=30)
    finally:
        target.close()
        proc.stop()


@pytest.fixture
def gateway(gw, gw_models):
    """The module's gateway, put back to v1 on stable with no canary after the test."""
    yield gw
    _, target, _ = gw
    state = target.state()
    if state.slot("canary").status in ("ready", "loading"):
        target.rollback()
    if state.slot("stable").model_version != gw_models["v1"] or \
            state.slot("stable").status != "ready":
        target.load("stable", uri(gw_models["v1"]))
    if target.state().slot("previous").model_uri:
        target.release_previous()


def expected_scores(version: str, frame) -> np.ndarray:
    model = mlflow.pyfunc.load_model(uri(version))
    return np.asarray(model.predict(frame[FEATURES]))[:, 1]


def test_both_protocols_return_p_fraud_with_variant_headers(gateway, gw_models):
    proc, _, client = gateway
    frame = rows(5)
    expected = expected_scores(gw_models["v1"], frame)
    split = client.post("/invocations", json=split_payload(frame))
    records = client.post("/invocations", json={"dataframe_records": frame.to_dict("records")})
    v2 = client.post(f"/v2/models/{MODEL}/infer", json=v2_payload(frame))
    for response in (split, records, v2):
        assert response.status_code == 200, response.text
        assert response.headers["X-Model-Variant"] == "stable"
        assert response.headers["X-Model-Version"] == gw_models["v1"]
    assert split.json()["predictions"] == pytest.approx(expected.tolist())
    assert records.json()["predictions"] == pytest.approx(expected.tolist())
    assert v2.json()["outputs"][0]["data"] == pytest.approx(expected.tolist())
    assert v2.json()["id"] == "req-1" and v2.json()["model_version"] == gw_models["v1"]
    assert split.json()["decisions"] == ["fraud" if p >= 0.5 else "legit" for p in expected]
    assert client.get(f"/v2/models/{MODEL}").json()["versions"] == [gw_models["v1"]]
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("path, body, words", [
    ("/invocations", b"{not json", "not valid JSON"),
    ("/invocations", b"", "empty request body"),
    ("/invocations", b'{"instances": [[1, 2]]}', "dataframe_split"),
    ("/invocations", b'{"dataframe_split": {"columns": ["TX_AMOUNT"], "data": [[1, 2]]}}',
     "needs 1 values"),
    ("/invocations", b'{"dataframe_records": [{"TX_AMOUNT": 5.0}]}', "missing column"),
    ("/invocations", b'{"dataframe_records": [{"TX_AMOUNT": "abc", "TX_HOUR": 1, '
                     b'"N_TX_24H": 2}]}', "expected double"),
    ("/invocations", b'{"dataframe_records": [{"TX_AMOUNT": 5, "TX_HOUR": 1, '
                     b'"N_TX_24H": null}]}', "expected long"),
    ("/v2/models/gw_fraud/infer", b'{"inputs": [{"name": "TX_AMOUNT", "shape": [2, 2], '
                                  b'"datatype": "FP64", "data": [1, 2, 3, 4]}]}', "one column"),
])
def test_malformed_requests_are_400_with_a_reason(gateway, path, body, words):
    _, _, client = gateway
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert words in response.json()["message"]


def test_wrong_model_name_is_404_and_oversized_bodies_are_413(gateway):
    _, _, client = gateway
    frame = rows(2)
    assert client.post("/v2/models/other/infer", json=v2_payload(frame)).status_code == 404
    big = {"dataframe_records": rows(40).to_dict("records"), "pad": "x" * 70_000}
    response = client.post("/invocations", json=big)
    assert response.status_code == 413 and "65536" in response.json()["message"]
    too_many = client.post("/invocations", json=split_payload(rows(51)))
    assert too_many.status_code == 413 and "50" in too_many.json()["message"]
    metrics = client.get("/metrics").text
    assert metric_value(metrics, "ml_gateway_requests_total", slot="none", code="413") >= 2


def test_admin_api_needs_the_token_and_never_logs_it(gateway):
    proc, _, client = gateway
    wrong = "wrong-token-9d2e7"
    calls = [("GET", "/admin/state"), ("POST", "/admin/promote"), ("POST", "/admin/rollback"),
             ("PUT", "/admin/traffic"), ("POST", "/admin/load"),
             ("PUT", "/admin/rollout-metrics")]
    for method, path in calls:
        assert client.request(method, path).status_code == 401
        response = client.request(method, path, headers={"Authorization": f"Bearer {wrong}"})
        assert response.status_code == 401
    assert client.get("/admin/state", headers={"Authorization": "Basic x"}).status_code == 401
    assert client.get("/admin/state",
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    time.sleep(0.2)
    log = proc.log_path.read_text()
    assert "admin request refused: wrong token" in log and wrong not in log
    with pytest.raises(InputError, match="refused the admin token"):
        GatewayTarget(proc.url, wrong, retries=0).state()


def test_unknown_model_uri_fails_and_serving_continues(gateway, gw_models):
    _, target, client = gateway
    failed = target.load("canary", uri("99"))
    assert failed.status == "failed" and "version 99" in failed.error
    stable = target.load("stable", "models:/no_such_model/1")
    assert stable.status == "failed" and "no_such_model" in stable.error
    assert stable.model_version == gw_models["v1"]  # the old model keeps serving
    assert target.load("canary", "runs:/abc/model").status == "failed"
    response = client.post("/invocations", json=split_payload(rows(2)))
    assert response.status_code == 200
    assert response.headers["X-Model-Version"] == gw_models["v1"]
    assert client.get("/readyz").status_code == 200
    with pytest.raises(InfrastructureError, match="no ready model"):
        target.set_canary_weight(10)


def test_raising_model_fails_only_the_request_that_broke_it(gateway, gw_models):
    _, target, client = gateway
    assert target.load("canary", uri(gw_models["raising"])).status == "ready"
    target.set_canary_weight(100)
    good, bad = rows(3), rows(3)
    bad.loc[1, "TX_AMOUNT"] = -5.0
    results: dict[str, list[int]] = {"good": [], "bad": []}

    def send(kind, frame):
        with httpx.Client(base_url=client.base_url, timeout=30) as own:
            results[kind].append(own.post("/invocations", json=split_payload(frame)).status_code)

    threads = [threading.Thread(target=send, args=("bad" if i % 3 == 0 else "good",
                                                   bad if i % 3 == 0 else good))
               for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["good"] == [200] * 20 and results["bad"] == [500] * 10
    response = client.post("/invocations", json=split_payload(bad))
    assert response.headers["X-Model-Variant"] == "canary"
    assert response.json()["error_code"] == "MODEL_ERROR"
    metrics = client.get("/metrics").text
    assert metric_value(metrics, "ml_gateway_requests_total", slot="canary",
                        model_version=gw_models["raising"], code="500") == 11
    target.rollback()
    assert client.post("/invocations", json=split_payload(bad)).headers[
        "X-Model-Variant"] == "stable"


def test_weighted_split_over_http_is_sticky_and_matches_the_hash(gateway, gw_models):
    _, target, client = gateway
    target.load("canary", uri(gw_models["v2"]))
    target.set_canary_weight(30)
    frame = rows(1)
    keys = [f"cust-{i}" for i in range(400)]
    variants = {}
    for key in keys:
        response = client.post("/invocations", json=split_payload(frame),
                               headers={"X-Routing-Key": key})
        variants[key] = response.headers["X-Model-Variant"]
        expected_version = gw_models["v2"] if variants[key] == CANARY else gw_models["v1"]
        assert response.headers["X-Model-Version"] == expected_version
    assert all(variants[k] == choose_slot(k, 30.0) for k in keys)  # the same hash as in-process
    share = sum(v == CANARY for v in variants.values()) / len(keys)
    assert abs(share - 0.30) <= binomial_bound(len(keys), 0.30)
    for key in keys[:10]:  # sticky: the same customer again sees the same model
        again = client.post("/invocations", json=split_payload(frame),
                            headers={"X-Routing-Key": key})
        assert again.headers["X-Model-Variant"] == variants[key]
    # the key also comes from the CUSTOMER_ID field when no header is sent
    body = split_payload(frame.assign(CUSTOMER_ID=4242))
    assert client.post("/invocations", json=body).headers["X-Model-Variant"] == \
        choose_slot("4242", 30.0)
    assert {client.post("/invocations", json=body).headers["X-Model-Variant"]
            for _ in range(10)} == {choose_slot("4242", 30.0)}


def test_swaps_under_concurrent_load_fail_no_request(gateway, gw_models):
    _, target, client = gateway
    stop = threading.Event()
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def load_loop(worker: int):
        frame = rows(2, seed=worker)
        with httpx.Client(base_url=client.base_url, timeout=30) as own:
            i = 0
            while not stop.is_set():
                response = own.post("/invocations", json=split_payload(frame),
                                    headers={"X-Routing-Key": f"w{worker}-{i}"})
                with lock:
                    outcomes.append((response.status_code,
                                     response.headers.get("X-Model-Version", "")))
                i += 1

    workers = [threading.Thread(target=load_loop, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    try:
        assert target.load("canary", uri(gw_models["v2"])).status == "ready"
        for weight in (5, 10, 25, 50, 75, 100):
            target.set_canary_weight(weight)
            time.sleep(0.15)
        target.promote()
        time.sleep(0.2)
        target.rollback()  # previous (v1) back to stable
        time.sleep(0.2)
        assert target.load("canary", uri(gw_models["v2"])).status == "ready"
        target.set_canary_weight(100)
        time.sleep(0.2)
        target.rollback()  # the canary is removed
        after = client.post("/invocations", json=split_payload(rows(1)))
        assert after.headers["X-Model-Variant"] == "stable"  # at once, not eventually
        time.sleep(0.2)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    codes = [code for code, _ in outcomes]
    assert len(codes) > 200 and set(codes) == {200}
    assert {version for _, version in outcomes} == {gw_models["v1"], gw_models["v2"]}


def test_gateway_target_drives_every_operation(gateway, gw_models):
    proc, target, client = gateway
    state = target.state()
    assert state.slot("stable").model_version == gw_models["v1"]
    assert target.load("canary", uri(gw_models["v2"])).model_version == gw_models["v2"]
    target.set_canary_weight(10)
    assert target.state().canary_weight == 10.0
    target.promote()
    state = target.state()
    assert state.slot("stable").model_version == gw_models["v2"]
    assert state.slot("previous").model_version == gw_models["v1"]
    assert state.canary_weight == 0.0 and state.slot("canary").status == "empty"
    assert state.updated_by == "pytest" and state.history[-1]["action"] == "promote"
    target.rollback()
    state = target.state()
    assert state.slot("stable").model_version == gw_models["v1"]
    assert state.slot("previous").status == "empty"
    with pytest.raises(InfrastructureError, match="nothing to roll back"):
        target.rollback()
    with pytest.raises(InfrastructureError, match="nothing to promote"):
        target.promote()
    with pytest.raises(InfrastructureError, match=r"\[0, 100\]"):
        target.set_canary_weight(150)
    target.publish_rollout_metrics("progressing", 25, [
        {"name": "success_rate", "value": 0.999, "threshold": ">=0.99"}], model_name=MODEL)
    metrics = client.get("/metrics").text
    assert metric_value(metrics, "ml_actions_rollout_weight", model_name=MODEL) == 25
    assert metric_value(metrics, "ml_actions_rollout_status", status="progressing") == 1
    assert metric_value(metrics, "ml_actions_check_value", check="success_rate") == 0.999
    with pytest.raises(InfrastructureError, match="did not answer"):
        GatewayTarget(f"http://127.0.0.1:{free_port()}", TOKEN, retries=1,
                      backoff_seconds=0.01).state()


def test_prometheus_scrapes_the_gateway(gateway, gw_models, prometheus_factory):
    proc, target, client = gateway
    prometheus = prometheus_factory([f"127.0.0.1:{proc.extra['port']}"], scrape_interval="1s")
    for _ in range(30):
        assert client.post("/invocations", json=split_payload(rows(2))).status_code == 200
    queries = {
        "requests": f'sum(ml_gateway_requests_total{{slot="stable",code="200",'
                    f'model_version="{gw_models["v1"]}"}})',
        "scores": 'sum(ml_gateway_fraud_score_count{slot="stable"})',
        "info": 'ml_gateway_model_info{slot="stable"}',
        "weight": 'ml_gateway_traffic_weight{slot="stable"}',
        "p99": 'histogram_quantile(0.99, sum by (le) '
               '(ml_gateway_request_duration_seconds_bucket))',
    }
    deadline, values = time.monotonic() + 30, {}
    with httpx.Client(base_url=prometheus.url, timeout=10) as prom:
        while time.monotonic() < deadline:
            values = {}
            for name, query in queries.items():
                result = prom.get("/api/v1/query", params={"query": query}).json()
                values[name] = result["data"]["result"]
            if values["requests"] and float(values["requests"][0]["value"][1]) >= 30:
                break
            time.sleep(0.5)
    assert float(values["requests"][0]["value"][1]) >= 30
    assert float(values["scores"][0]["value"][1]) >= 60  # two rows per request
    assert values["info"][0]["metric"]["model_version"] == gw_models["v1"]
    assert float(values["weight"][0]["value"][1]) == 100.0
    assert 0 < float(values["p99"][0]["value"][1]) < 10
