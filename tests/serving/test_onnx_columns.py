"""An ONNX form scored from a request's JSON columns answers as the pandas path did.

The same registered version (the model zoo's Spark pipeline with its ONNX form) is scored
both ways: the columnar path (`ServedModel.score_columns`) and the DataFrame path
(`prepare` + `score`), in process and through two gateways that differ only in that the
second cannot score columns. Scores, answers to bad input, metrics, prediction-log records
and the shadow's scores must be the same.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import numpy as np
import pyarrow.dataset as ds
import pytest
from starlette.testclient import TestClient

from ml_actions.config.gateway import GatewayConfig
from ml_actions.config.serving import PredictionLogConfig, ServingConfig
from ml_actions.serving.app import create_app, registry_loader
from ml_actions.serving.columnar_request import ColumnarRequest, NotColumnar
from ml_actions.serving.prediction import read_request
from ml_actions.serving.protocols import parse_invocations, parse_v2_infer
from tests.serving.conftest import TOKEN
from tests.serving.gateway_client import rows, split_payload, v2_payload
from tests.serving.model_zoo import FEATURES, register_spark_onnx

pytestmark = pytest.mark.integration
MODEL = "gw_columns_onnx"
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Actor": "unit"}
SAME = 1e-6


@pytest.fixture(scope="module")
def onnx_uri(spark, tracking_uri) -> str:
    version, _ = register_spark_onnx(spark, tracking_uri, MODEL)
    return f"models:/{MODEL}/{version}"


@pytest.fixture(scope="module")
def model(onnx_uri, tracking_uri, tmp_path_factory):
    served = registry_loader(tracking_uri, tmp_path_factory.mktemp("cache"))(onnx_uri)
    yield served
    served.release()


def payloads(frame) -> list[tuple[str, dict]]:
    records = {"dataframe_records": json.loads(frame.to_json(orient="records"))}
    return [("mlflow", split_payload(frame)), ("mlflow", records), ("v2", v2_payload(frame))]


def pandas_scores(model, protocol: str, payload: dict) -> np.ndarray:
    parse = parse_v2_infer if protocol == "v2" else parse_invocations
    return model.score(model.prepare(parse(payload, 10_000).frame))


def test_columns_score_as_the_dataframe_does(model):
    assert model.form == "onnx" and model.columnar is not None
    frame = rows(300, seed=21)
    cases = payloads(frame) + [("mlflow", split_payload(frame.iloc[[i]])) for i in range(40)]
    for protocol, payload in cases:
        request = read_request(payload, protocol, 10_000)
        assert isinstance(request, ColumnarRequest)
        fast, slow = model.score_columns(request), pandas_scores(model, protocol, payload)
        assert fast.shape == slow.shape
        assert np.max(np.abs(fast - slow)) <= SAME


def split(columns: list[str], *data: list) -> dict:
    return {"dataframe_split": {"columns": columns, "data": list(data)}}


COLUMNS = ["CUSTOMER_ID", *FEATURES]  # TX_AMOUNT, TX_HOUR: double; N_TX_24H: long
# Bodies the columnar path declines: the pandas path converts them or refuses them with a 400.
DECLINED = [
    split(FEATURES[:2], [10.0, 3.0]),  # a missing column
    split(COLUMNS, [1, "x", 3.0, 2]),  # text in a double column
    split(COLUMNS, [1, "12.5", 3.0, 2]),  # a number as text: pandas converts it
    split(COLUMNS, [1, None, 3.0, 2]),  # null
    split(COLUMNS, [1, True, 3.0, 2]),  # a boolean
    split(COLUMNS, [1, 10.0, 3.0, 2.5]),  # a fraction in a long column: pandas truncates
    split(COLUMNS, [1, 10.0, 3.0, 2 ** 70]),
    {"dataframe_records": [{"TX_AMOUNT": 1.0, "TX_HOUR": 2.0, "N_TX_24H": 1},
                           {"TX_AMOUNT": 1.0, "TX_HOUR": 2.0}]},
]


@pytest.mark.parametrize("payload", DECLINED)
def test_values_pandas_would_interpret_are_left_to_pandas(model, payload):
    request = read_request(payload, "mlflow", 10_000)
    if isinstance(request, ColumnarRequest):
        with pytest.raises(NotColumnar):
            model.score_columns(request)


def without_columns(loader):
    """A loader whose models can only be scored from a DataFrame (the path before this one)."""
    def load(uri: str):
        served = loader(uri)
        served.columnar = None
        return served
    return load


def counting_columns(loader, scored: list):
    """A loader whose models note each request they scored from its columns."""
    def load(uri: str):
        served = loader(uri)
        columnar = served.columnar

        def score(request):
            probabilities = columnar(request)
            scored.append(request.rows)
            return probabilities
        served.columnar = score
        return served
    return load


def make_client(state_dir, loader, log_dir) -> TestClient:
    serving = ServingConfig(PredictionLogConfig(path=str(log_dir), flush_interval="1s"))
    return TestClient(create_app(GatewayConfig(), state_dir, TOKEN, loader, serving))


def wait_slot(client: TestClient, slot: str) -> None:
    deadline = time.monotonic() + 120
    while client.get("/admin/state", headers=AUTH).json()["slots"][slot]["status"] == "loading":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.get("/admin/state", headers=AUTH).json()["slots"][slot]["form"] == "onnx"


COUNTED = ("ml_gateway_requests_total", "ml_gateway_input_rejections_total",
           "ml_gateway_decisions_total", "ml_gateway_fraud_score_count",
           "ml_gateway_batch_size_count", "ml_gateway_batch_size_sum",
           "ml_gateway_shadow_requests_total", "ml_gateway_shadow_pairs_total")


def counted(exposition: str) -> Counter:
    """The samples of `COUNTED` summed over routing groups (unkeyed requests draw theirs)."""
    totals: Counter = Counter()
    for line in exposition.splitlines():
        name, _, rest = line.partition("{")
        if name in COUNTED:
            labels, _, value = rest.rpartition("} ")
            kept = ",".join(p for p in labels.split(",") if not p.startswith("group="))
            totals[(name, kept)] += float(value)
    return totals


def requests() -> list[tuple[str, dict | bytes]]:
    frame = rows(12, seed=8)
    frame["TRANSACTION_ID"] = range(100, 112)
    keyed = frame.copy()
    keyed.loc[3, "CUSTOMER_ID"] = None  # an integer key column with a null: pandas floats
    cases = payloads(frame) + payloads(keyed) + [("mlflow", p) for p in DECLINED]
    cases += [("mlflow", split_payload(frame.iloc[[i]].drop(columns="CUSTOMER_ID")))
              for i in range(4)]
    cases += [("v2", {"inputs": [{"name": n, "shape": [1], "datatype": "BYTES", "data": ["a"]}
                                 for n in FEATURES]}),
              ("mlflow", b'{"dataframe_split": {"columns": ["TX_AMOUNT", "TX_HOUR", '
                         b'"N_TX_24H"], "data": [[NaN, 1.0, 2]]}}'),
              ("mlflow", b"{not json"), ("mlflow", {"dataframe_records": []})]
    return cases


def serve_all(client: TestClient, onnx_uri: str) -> tuple[list, Counter]:
    for slot in ("stable", "shadow"):
        client.post("/admin/load", headers=AUTH, json={"slot": slot, "model_uri": onnx_uri})
        wait_slot(client, slot)
    assert client.post("/admin/shadow", json={"share": 1.0}, headers=AUTH).status_code == 200
    answers = []
    for number, (protocol, body) in enumerate(requests()):
        path = f"/v2/models/{MODEL}/infer" if protocol == "v2" else "/invocations"
        headers = {"X-Request-Id": f"req-{number}", "Content-Type": "application/json"}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = client.post(path, content=content, headers=headers)
        answers.append((response.status_code, response.json(),
                        {k: v for k, v in response.headers.items() if k.startswith("x-")}))
    answered = sum(status == 200 for status, _, _ in answers)
    deadline = time.monotonic() + 60
    while True:  # the shadow scores after the answers, in the background
        totals = counted(client.get("/metrics").text)
        mirrored = sum(v for (name, _), v in totals.items()
                       if name == "ml_gateway_shadow_requests_total")
        if mirrored >= answered or time.monotonic() > deadline:
            return answers, totals
        time.sleep(0.05)


def logged(log_dir) -> list[dict]:
    table = ds.dataset(str(log_dir), format="parquet", partitioning="hive").to_table()
    records = table.drop_columns(["time", "date"]).to_pylist()
    return sorted(records, key=lambda r: (r["request_id"], r["row"]))


def test_answers_metrics_log_and_shadow_are_those_of_the_pandas_path(onnx_uri, tracking_uri,
                                                                      tmp_path):
    results, scored = {}, []
    for name, columnar in (("columns", True), ("pandas", False)):
        loader = registry_loader(tracking_uri, tmp_path / name / "cache")
        log_dir = tmp_path / name / "log"
        with make_client(tmp_path / name, counting_columns(loader, scored) if columnar
                         else without_columns(loader), log_dir) as client:
            answers, totals = serve_all(client, onnx_uri)
        results[name] = answers, totals, logged(log_dir)
    assert len(scored) >= 10  # the plain requests were scored from their columns
    (answers, totals, log), (want_answers, want_totals, want_log) = results.values()
    assert [a[0] for a in answers] == [a[0] for a in want_answers]
    assert {a[0] for a in answers} >= {200, 400}
    for (_, body, headers), (_, want_body, want_headers) in zip(answers, want_answers,
                                                                strict=True):
        assert headers == want_headers
        if "predictions" in body:
            assert body["decisions"] == want_body["decisions"]
            assert body["predictions"] == pytest.approx(want_body["predictions"], abs=SAME)
        elif "outputs" in body:
            data, want = body["outputs"][0].pop("data"), want_body["outputs"][0].pop("data")
            assert data == pytest.approx(want, abs=SAME) and body == want_body
        else:
            assert body == want_body
    assert totals == want_totals
    assert len(log) == len(want_log) > 0
    assert any(r["shadow_score"] is not None for r in log)
    assert any(r["transaction_key"] == "103" for r in log)
    for record, want in zip(log, want_log, strict=True):
        for column in ("score", "shadow_score"):
            assert record.pop(column) == pytest.approx(want.pop(column), abs=SAME)
        assert record == want
