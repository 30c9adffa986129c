"""A Spark PipelineModel served through the Spark flavour, its requests micro-batched.

The pyfunc of a Spark model returns only the hard label (MLflow #6451); the gateway must
return `probability[1]`, the same number Spark computes in-process.
"""

from __future__ import annotations

import threading

import httpx
import numpy as np
import pytest

from ml_actions.targets.gateway import GatewayTarget
from tests.serving.conftest import TOKEN
from tests.serving.gateway_client import metric_value, rows, split_payload, v2_payload
from tests.serving.model_zoo import FEATURES, register_spark

pytestmark = pytest.mark.integration
SPARK_MODEL = "gw_fraud_spark"


@pytest.fixture(scope="module")
def spark_model(spark, tracking_uri):
    """(version, rows, Spark's own probability[1] for them)."""
    from pyspark.ml.functions import vector_to_array

    version, pipeline = register_spark(spark, tracking_uri, SPARK_MODEL)
    frame = rows(6, seed=11)
    expected = (pipeline.transform(spark.createDataFrame(frame[FEATURES]))
                .select(vector_to_array("probability")[1].alias("p")).toPandas()["p"].to_numpy())
    assert not set(np.round(expected, 6)) <= {0.0, 1.0}  # probabilities, not labels
    return version, frame, expected


def test_spark_flavour_loader_reads_probability_in_process(spark, spark_model, tracking_uri,
                                                           tmp_path):
    from ml_actions.serving.app import registry_loader

    version, frame, expected = spark_model
    model = registry_loader(tracking_uri, tmp_path)(f"models:/{SPARK_MODEL}/{version}")
    try:
        assert model.flavor == "spark"
        assert model.score(model.prepare(frame)) == pytest.approx(expected, abs=1e-9)
        assert len(model.warmup_frame(4)) == 4
    finally:
        model.release()
    # released, the files stay in the artifact cache for the next load (or a restart)
    assert (tmp_path / SPARK_MODEL / version / "COMPLETE").is_file()


def test_spark_model_serves_probability_and_batches_concurrent_requests(
        spark_model, tracking_uri, gateway_factory, tmp_path):
    from tests.fixtures.gateway import wait_ready

    version, frame, expected = spark_model
    config = tmp_path / "ml-actions.yaml"
    config.write_text("gateway:\n  max_batch_wait_ms: 20\n  max_batch_size: 256\n")
    proc = gateway_factory(tracking_uri, TOKEN, config=config, timeout=90)
    with GatewayTarget(proc.url, TOKEN) as target:
        slot = target.load("stable", f"models:/{SPARK_MODEL}/{version}", timeout=240)
        assert slot.status == "ready", slot.error
        assert slot.flavor == "spark"
    wait_ready(proc)
    with httpx.Client(base_url=proc.url, timeout=60) as client:
        response = client.post("/invocations", json=split_payload(frame))
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == pytest.approx(expected.tolist(), abs=1e-9)
        v2 = client.post(f"/v2/models/{SPARK_MODEL}/infer", json=v2_payload(frame))
        assert v2.json()["outputs"][0]["data"] == pytest.approx(expected.tolist(), abs=1e-9)
        calls_before = metric_value(client.get("/metrics").text, "ml_gateway_batch_size_count")

    codes: list[int] = []

    def one(i: int):
        with httpx.Client(base_url=proc.url, timeout=60) as own:
            answer = own.post("/invocations", json=split_payload(frame.iloc[[i % 6]]))
            codes.append(answer.status_code)
            assert answer.json()["predictions"] == pytest.approx([expected[i % 6]], abs=1e-9)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 24
    metrics = httpx.get(f"{proc.url}/metrics").text
    calls = metric_value(metrics, "ml_gateway_batch_size_count") - calls_before
    assert 0 < calls < 24  # 24 concurrent requests, fewer Spark transforms
