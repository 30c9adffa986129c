"""The ONNX part of the gateway benchmark: the template's GBT and LR served in three ways.

For each model, one registered version (trained by the template, so it carries both forms):
single-row latency in process (Spark transform, MLflow pyfunc, onnxruntime), then open-loop
load at fixed offered rates through the gateway serving the Spark form, the gateway serving
the ONNX form, and `mlflow models serve` on the same version (what a team would otherwise run).
Used by bench/gateway_bench.py, which prints the tables.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bench_template"
ALGORITHMS = {"GBT": "gbt", "LR": "logistic_regression"}


def train_template_models(work: Path, tracking_uri: str) -> tuple[dict[str, str], pd.DataFrame]:
    """({"GBT": version, "LR": version}, held-out feature rows) from the template's training
    on simulated data (two weeks of 1 000 customers: enough for a real model, quick)."""
    sys.path.insert(0, str(ROOT / "template"))
    from ml_pipeline.estimators import feature_set_columns
    from ml_pipeline.simulate import SimulationConfig, simulate, write_parquet
    from ml_pipeline.train import train_and_register

    data = write_parquet(simulate(SimulationConfig(customers=1000, terminals=2000, days=45,
                                                   seed=5)), work / "transactions.parquet")
    versions = {}
    for label, algorithm in ALGORITHMS.items():
        out = work / f"test-{algorithm}"
        result = train_and_register(str(data), tracking_uri, MODEL, algorithm=algorithm,
                                    alias=None, test_output=str(out))
        versions[label] = result["version"]
        print(f"trained {label}: v{result['version']} AUC {result['auc_roc']:.3f} in "
              f"{result['train_seconds']} s", file=sys.stderr, flush=True)
    test = pd.read_parquet(work / "test-gbt")
    return versions, test[["CUSTOMER_ID", *feature_set_columns("full")]].reset_index(drop=True)


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def inprocess_latency(spark, uri: str, row: pd.DataFrame) -> dict[str, float]:
    """Median ms to score one row: Spark transform, MLflow pyfunc, onnxruntime (from a
    DataFrame, from the request's JSON as the gateway does, and on ready tensors)."""
    import mlflow
    from pyspark.ml.functions import vector_to_array

    from ml_actions.onnx_form import OnnxSession
    from ml_actions.serving.columnar_request import read_invocations
    from ml_actions.serving.model_loading import ModelRef, build_served_model
    from tests.serving.gateway_client import split_payload

    pipeline = mlflow.spark.load_model(uri)
    pyfunc = mlflow.pyfunc.load_model(uri)
    model_dir = Path(mlflow.artifacts.download_artifacts(uri))
    session = OnnxSession(model_dir / "model.onnx")
    feeds = session.feeds(row)
    served = build_served_model(ModelRef(MODEL, uri), model_dir, lambda: None)
    payload = split_payload(row)
    return {
        "Spark transform": median_ms(lambda: pipeline.transform(spark.createDataFrame(row))
                                     .select(vector_to_array("probability")[1]).toPandas(), 30),
        "MLflow pyfunc (Spark)": median_ms(lambda: pyfunc.predict(row), 30),
        "onnxruntime, from a DataFrame": median_ms(lambda: session.positive(row), 2000),
        "onnxruntime, from the request's JSON (gateway)": median_ms(
            lambda: served.score_columns(read_invocations(payload, 10_000)), 2000),
        "onnxruntime, tensors ready": median_ms(
            lambda: session.session.run([session.output], feeds), 5000),
    }


def start_mlflow_serve(work: Path, tracking_uri: str, uri: str):
    """`mlflow models serve` on `uri` with the current environment (no conda, no download)."""
    from tests.fixtures.local_services import free_port, start_process

    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager",
            "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {"MLFLOW_TRACKING_URI": tracking_uri, "SPARK_LOCAL_IP": "127.0.0.1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT)]),
           # it execs `uvicorn` from PATH: the venv's, even when the venv is not activated
           "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                    os.environ.get("PATH", "")])}
    url = f"http://127.0.0.1:{port}"
    return start_process("mlflow-serve", argv, f"{url}/ping", work, env=env, timeout=300,
                         url=url)


def best_sustained(runs: dict[float, dict]) -> dict | None:
    """The highest-rate run served without errors or shed requests."""
    clean = [r for r in runs.values() if not r["failures"] and not r["shed"]]
    return max(clean, key=lambda r: r["throughput"]) if clean else None


def throughput_ratio(onnx: dict[float, dict], spark: dict[float, dict]) -> str:
    """ONNX form's throughput / the Spark form's, at a p99 no worse than the Spark form's."""
    base = best_sustained(spark)
    if base is None:
        return "Spark form sustained no offered rate without errors"
    fast = [r for r in onnx.values() if not r["failures"] and not r["shed"]
            and r["p99"] <= base["p99"]]
    if not fast:
        return "no ONNX run at or under the Spark form's p99"
    best = max(fast, key=lambda r: r["throughput"])
    return (f"{best['throughput'] / base['throughput']:.1f}x ({best['throughput']:.0f} req/s at "
            f"p99 {best['p99']:.1f} ms vs {base['throughput']:.0f} req/s at p99 "
            f"{base['p99']:.1f} ms)")


def compare_forms(work: Path, tracking_uri: str, spark, seconds: float, rates: tuple,
                  run_rate: Callable[..., dict], token: str) -> list[tuple[str, str]]:
    """Rows of the ONNX table: in-process latency, then each way of serving at each rate."""
    from ml_actions.targets.gateway import GatewayTarget
    from tests.fixtures.gateway import start_gateway, wait_ready
    from tests.serving.gateway_client import split_payload

    versions, test = train_template_models(work, tracking_uri)
    payloads = [split_payload(test.iloc[[i]]) for i in range(0, min(len(test), 500), 5)]
    table: list[tuple[str, str]] = []
    for label, version in versions.items():
        uri = f"models:/{MODEL}/{version}"
        for name, ms in inprocess_latency(spark, uri, test.iloc[[0]].drop(
                columns="CUSTOMER_ID")).items():
            table.append((f"{label}: in-process 1 row, {name} (median)", f"{ms:.3f} ms"))
        runs: dict[str, dict[float, dict]] = {}
        for form in ("spark", "onnx"):
            config = work / f"gateway-{form}.yaml"
            config.write_text(f"gateway:\n  serve_onnx: {str(form == 'onnx').lower()}\n"
                              "  max_batch_wait_ms: 2\n  max_batch_size: 128\n")
            gateway = start_gateway(work / f"gateway-{label}-{form}", tracking_uri, token,
                                    config=config)
            try:
                slot = GatewayTarget(gateway.url, token, actor="bench").load(
                    "stable", uri, timeout=600)
                assert (slot.status, slot.form) == ("ready", form), (slot.error, slot.form)
                wait_ready(gateway)
                runs[form] = {rate: run_rate(gateway.url, rate, seconds, payloads)
                              for rate in rates}
            finally:
                gateway.stop()
        try:
            served = start_mlflow_serve(work / f"mlflow-serve-{label}", tracking_uri, uri)
        except Exception as err:  # noqa: BLE001 - reported in the table, not hidden
            table.append((f"{label}: mlflow models serve", f"could not start: {err}"[:300]))
        else:
            try:
                runs["mlflow models serve"] = {rate: run_rate(served.url, rate, seconds,
                                                              payloads) for rate in rates}
            finally:
                served.stop()
        for form, by_rate in runs.items():
            name = {"spark": "gateway, Spark form", "onnx": "gateway, ONNX form"}.get(form, form)
            for rate, r in by_rate.items():
                table.append((f"{label}: {name} @ {rate:.0f} req/s offered",
                              f"{r['throughput']:.0f} req/s ok ({r['ok']}/{r['sent']}"
                              + (f", {r['shed']} shed" if r["shed"] else "") + "), "
                              f"p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, errors "
                              f"{r['sent'] - r['ok']}"
                              + (f" ({r['failures']})" if r["failures"] else "")))
        if "onnx" in runs and "spark" in runs:
            table.append((f"{label}: ONNX form vs Spark form throughput at equal p99",
                          throughput_ratio(runs["onnx"], runs["spark"])))
    return table
