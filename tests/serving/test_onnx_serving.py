"""A Spark model registered with its ONNX form is served by onnxruntime, chosen per slot.

The ONNX form must give Spark's own probability[1] (within float32 rounding) on both protocols,
say which form serves each slot in /admin/state and in the metrics, and never start a JVM;
a version whose forms the gate found to disagree, or a gateway told not to, serves Spark.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from ml_actions.targets.gateway import GatewayTarget
from tests.serving.conftest import TOKEN
from tests.serving.gateway_client import metric_value, rows, split_payload, v2_payload
from tests.serving.model_zoo import FEATURES, register_spark, register_spark_onnx

pytestmark = pytest.mark.integration
ONNX_MODEL = "gw_fraud_onnx"
FLOAT32 = 1e-6  # the ONNX graph computes in float32; Spark in float64


@pytest.fixture(scope="module")
def onnx_models(spark, tracking_uri):
    """{"onnx": version with both forms, "rejected": the same, tagged as failing parity,
    "spark": a Spark-only version}, the rows to score and Spark's probability[1] for them."""
    from pyspark.ml.functions import vector_to_array

    both, pipeline = register_spark_onnx(spark, tracking_uri, ONNX_MODEL)
    rejected, _ = register_spark_onnx(spark, tracking_uri, ONNX_MODEL,
                                      tags={"validation.serving_parity": "fail"})
    spark_only, _ = register_spark(spark, tracking_uri, ONNX_MODEL)
    frame = rows(6, seed=11)
    expected = (pipeline.transform(spark.createDataFrame(frame[FEATURES]))
                .select(vector_to_array("probability")[1].alias("p")).toPandas()["p"].to_numpy())
    return {"onnx": both, "rejected": rejected, "spark": spark_only}, frame, expected


def uri(version: str) -> str:
    return f"models:/{ONNX_MODEL}/{version}"


def test_loader_picks_the_onnx_form_unless_rejected_or_switched_off(onnx_models, tracking_uri,
                                                                    tmp_path):
    from ml_actions.serving.app import registry_loader

    versions, frame, expected = onnx_models
    for version, prefer, form in ((versions["onnx"], True, "onnx"),
                                  (versions["rejected"], True, "spark"),
                                  (versions["onnx"], False, "spark")):
        model = registry_loader(tracking_uri, tmp_path, prefer_onnx=prefer)(uri(version))
        try:
            assert (model.flavor, model.form) == ("spark", form)
            assert model.score(model.prepare(frame)) == pytest.approx(expected, abs=FLOAT32)
        finally:
            model.release()


def _children(pid: int) -> list[str]:
    """Command lines of the processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_gateway_serves_onnx_per_slot_on_both_protocols_without_a_jvm(
        onnx_models, tracking_uri, gateway_factory, tmp_path):
    from tests.fixtures.gateway import wait_ready

    versions, frame, expected = onnx_models
    proc = gateway_factory(tracking_uri, TOKEN, timeout=90)
    with GatewayTarget(proc.url, TOKEN) as target:
        slot = target.load("stable", uri(versions["onnx"]), timeout=120)
        assert slot.status == "ready", slot.error
        assert (slot.flavor, slot.form) == ("spark", "onnx")
        wait_ready(proc)
        with httpx.Client(base_url=proc.url, timeout=60) as client:
            response = client.post("/invocations", json=split_payload(frame))
            assert response.status_code == 200, response.text
            assert response.headers["X-Model-Version"] == versions["onnx"]
            assert response.json()["predictions"] == pytest.approx(expected.tolist(),
                                                                   abs=FLOAT32)
            v2 = client.post(f"/v2/models/{ONNX_MODEL}/infer", json=v2_payload(frame))
            assert v2.json()["outputs"][0]["data"] == pytest.approx(expected.tolist(),
                                                                    abs=FLOAT32)
            bad = client.post("/invocations", json=split_payload(frame.drop(columns="TX_HOUR")))
            assert bad.status_code == 400 and "TX_HOUR" in bad.json()["message"]
        assert not [c for c in _children(proc.pid) if "java" in c]  # no JVM was started

        canary = target.load("canary", uri(versions["rejected"]), timeout=240)
        assert (canary.status, canary.form) == ("ready", "spark"), canary.error
        target.set_canary_weight(100)
        with httpx.Client(base_url=proc.url, timeout=60) as client:
            response = client.post("/invocations", json=split_payload(frame))
            assert response.headers["X-Model-Variant"] == "canary"
            assert response.json()["predictions"] == pytest.approx(expected.tolist(), abs=1e-9)
            state = client.get("/admin/state",
                               headers={"Authorization": f"Bearer {TOKEN}"}).json()
            metrics = client.get("/metrics").text
    assert {s: state["slots"][s]["form"] for s in ("stable", "canary")} == \
        {"stable": "onnx", "canary": "spark"}
    for slot, version, form in (("stable", versions["onnx"], "onnx"),
                                ("canary", versions["rejected"], "spark")):
        assert metric_value(metrics, "ml_gateway_model_info", slot=slot, model_version=version,
                            form=form) == 1
        assert metric_value(metrics, "ml_gateway_request_duration_seconds_count", slot=slot,
                            form=form) >= 1


def test_onnx_scores_match_spark_on_many_rows(onnx_models, tracking_uri, tmp_path, spark):
    """Beyond six rows: a thousand rows of varied values, in one call and row by row."""
    from ml_actions.serving.app import registry_loader

    versions, _, _ = onnx_models
    frame = rows(1000, seed=5)
    model = registry_loader(tracking_uri, tmp_path)(uri(versions["onnx"]))
    try:
        assert model.form == "onnx"
        spark_model = registry_loader(tracking_uri, tmp_path, prefer_onnx=False)(
            uri(versions["onnx"]))
        try:
            expected = spark_model.score(spark_model.prepare(frame))
        finally:
            spark_model.release()
        batch = model.score(model.prepare(frame))
        single = np.array([model.score(model.prepare(frame.iloc[[i]]))[0] for i in range(50)])
    finally:
        model.release()
    assert np.max(np.abs(batch - expected)) < FLOAT32
    assert single == pytest.approx(batch[:50], abs=FLOAT32)  # float32 sums, other order
