"""Benchmark of the serving gateway: throughput, latency, overhead, swaps under load, rollback.

Starts a real MLflow server and a real gateway subprocess; a load generator runs in a separate
process (open loop: requests are sent on a fixed schedule whatever the answers' latency).
Prints three tables: the gateway with scikit-learn and Spark models (swaps, rollback), the
template's GBT and LR in their Spark and ONNX forms and `mlflow models serve` (serving_forms.py),
and what the prediction log and a shadow model cost (gateway_evidence.py).
Usage: .venv/bin/python bench/gateway_bench.py [--quick] [--only base|forms|evidence]"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT)]
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
TOKEN = "bench-token"

from bench.http_load import LoadGenerator  # noqa: E402


# -- measurements -----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_rate(url: str, rate: float, seconds: float, payloads: list[dict]) -> dict:
    time.sleep(1.0)
    results, elapsed = LoadGenerator(url, rate, seconds, payloads).join()
    shed = sum(r[2] == "shed" for r in results)
    results = [r for r in results if r[2] != "shed"]
    ok = [r for r in results if r[2] == 200]
    latencies = [r[1] for r in ok]
    failures = sorted({str(r[2]) for r in results if r[2] != 200})
    print(f"measured {rate} req/s: ok {len(ok)}, shed {shed}, p50 "
          f"{percentile(latencies, 0.5) * 1000:.1f} ms", file=sys.stderr, flush=True)
    return {"sent": len(results), "ok": len(ok), "throughput": len(ok) / elapsed, "shed": shed,
            "p50": percentile(latencies, 0.5) * 1000, "p99": percentile(latencies, 0.99) * 1000,
            "failures": ", ".join(failures)}


def inprocess_latency(score, frame, repeats: int) -> float:
    score(frame)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        score(frame)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def swaps_under_load(url: str, target, uri_v2: str, total: int, capacity: float,
                     payloads: list[dict]) -> dict:
    """Closed-loop load (16 clients) while the canary is loaded, moved through 10 weights,
    promoted, and the promotion rolled back; the load goes on until `total` requests are sent
    and every operation is done."""
    generator = LoadGenerator(url, None, 0, payloads, total=total)
    pause = min(10.0, max(0.5, total / max(capacity, 1.0) / 16))
    time.sleep(pause)
    target.load("canary", uri_v2)
    for weight in (5, 10, 20, 30, 40, 50, 60, 75, 90, 100):
        time.sleep(pause)
        target.set_canary_weight(weight)
    time.sleep(pause)
    target.promote()
    time.sleep(pause)
    target.rollback()
    ops_done = time.time()
    results, elapsed = generator.join()
    failed = [r for r in results if r[2] != 200]
    print(f"measured swaps: {len(failed)} failed of {len(results)}", file=sys.stderr, flush=True)
    return {"sent": len(results), "failed": len(failed), "elapsed": elapsed,
            "after_ops": sum(r[0] > ops_done for r in results),
            "failures": ", ".join(sorted({str(r[2]) for r in failed}))}


def rollback_latency(url: str, target, uri_v2: str, payloads: list[dict],
                     rate: float = 200.0, repeats: int = 5) -> list[tuple[float, float]]:
    """(admin call ms, ms until the last request still routed to canary was sent) per run."""
    runs = []
    for _ in range(repeats):
        target.load("canary", uri_v2)
        target.set_canary_weight(100)
        generator = LoadGenerator(url, rate, 4.0, payloads)
        time.sleep(2.0)
        posted = time.time()
        target.rollback()
        answered = time.time()
        results, _ = generator.join()
        late_canary = [r[0] for r in results if r[0] >= posted and r[3] == "canary"]
        after = [r for r in results if r[0] >= posted]
        assert after, "no request was sent after the rollback"
        runs.append(((answered - posted) * 1000,
                     (max(late_canary) - posted) * 1000 if late_canary else 0.0))
    return runs


# -- setup ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--only", choices=("base", "forms", "evidence"), default=None,
                        help="only the first table (base), the ONNX one (forms), or the "
                             "prediction log / shadow costs (evidence)")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else 10.0
    swap_total = 2000 if args.quick else 20000

    import mlflow

    from ml_actions.spark import get_spark
    from ml_actions.targets.gateway import GatewayTarget
    from tests.fixtures.gateway import start_gateway, wait_ready
    from tests.fixtures.local_services import start_mlflow_server
    from tests.serving import model_zoo
    from tests.serving.gateway_client import rows, split_payload

    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    mlflow_server = start_mlflow_server(work / "mlflow")
    gateway = None
    table: list[tuple[str, str]] = []
    forms, evidence = [], []  # (measure, value) rows, like `table`
    try:
        uri = mlflow_server.url
        if args.only in (None, "forms"):
            from bench.serving_forms import compare_forms

            forms = compare_forms(work, uri, get_spark(app_name="gateway-bench"), seconds,
                                  (50.0, 200.0, 1000.0, 2000.0), run_rate, TOKEN)
        if args.only in (None, "evidence"):
            from bench.gateway_evidence import compare_evidence_costs
            evidence = compare_evidence_costs(work, uri, seconds, run_rate, LoadGenerator, TOKEN,
                                              total=1000 if args.quick else 5000)
        if args.only in ("forms", "evidence"):
            return print_tables(table, forms, evidence)
        v1 = model_zoo.register_sklearn(uri, "bench_sklearn", seed=0)
        v2 = model_zoo.register_sklearn(uri, "bench_sklearn", seed=1, c=0.1)
        spark = get_spark(app_name="gateway-bench")
        spark_version, pipeline = model_zoo.register_spark(spark, uri, "bench_spark")
        payloads = [split_payload(rows(1, seed=s)) for s in range(50)]
        frame = rows(1)[model_zoo.FEATURES]

        sk_model = mlflow.pyfunc.load_model(f"models:/bench_sklearn/{v1}")
        sk_inproc = inprocess_latency(sk_model.predict, frame, 500)
        from pyspark.ml.functions import vector_to_array

        def spark_score(pdf):
            return (pipeline.transform(spark.createDataFrame(pdf))
                    .select(vector_to_array("probability")[1]).toPandas())

        spark_inproc = inprocess_latency(spark_score, frame, 30)
        spark.stop()

        config = work / "ml-actions.yaml"
        config.write_text("gateway:\n  max_batch_wait_ms: 2\n  max_batch_size: 128\n")
        gateway = start_gateway(work / "gateway", uri, TOKEN, config=config)
        target = GatewayTarget(gateway.url, TOKEN, actor="bench")
        target.load("stable", f"models:/bench_sklearn/{v1}")
        wait_ready(gateway)

        rates = (50.0, 100.0, 200.0)
        sk = {rate: run_rate(gateway.url, rate, seconds, payloads) for rate in rates}
        swaps = swaps_under_load(gateway.url, target, f"models:/bench_sklearn/{v2}",
                                 swap_total, sk[200.0]["throughput"], payloads)
        rollbacks = rollback_latency(gateway.url, target, f"models:/bench_sklearn/{v2}",
                                     payloads, repeats=3 if args.quick else 5)

        state = target.load("stable", f"models:/bench_spark/{spark_version}", timeout=600)
        assert state.status == "ready", state.error
        sp = {rate: run_rate(gateway.url, rate, seconds, payloads) for rate in rates}

        for name, runs, inproc in (("scikit-learn", sk, sk_inproc),
                                   ("Spark PipelineModel", sp, spark_inproc)):
            for rate, r in runs.items():
                table.append((f"{name} @ {rate:.0f} req/s offered",
                              f"{r['throughput']:.1f} req/s ok ({r['ok']}/{r['sent']}"
                              + (f", {r['shed']} shed" if r["shed"] else "") + "), "
                              f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms"
                              + (f", failed: {r['failures']}" if r["failures"] else "")))
            table.append((f"{name}: in-process pyfunc/transform, 1 row (median)",
                          f"{inproc:.2f} ms"))
            table.append((f"{name}: gateway overhead at 50 req/s (p50 - in-process)",
                          f"{runs[50.0]['p50'] - inproc:.1f} ms"))
        table.append(("failed requests, canary load + 10 weight changes + promote + rollback "
                       "(16 closed-loop clients)",
                       f"{swaps['failed']} of {swaps['sent']} "
                       f"({swaps['sent'] / swaps['elapsed']:.0f}"
                       f" req/s; {swaps['after_ops']} sent after the last operation)"
                       + (f" failed: {swaps['failures']}" if swaps["failures"] else "")))
        admin = [a for a, _ in rollbacks]
        lag = [b for _, b in rollbacks]
        table.append((f"rollback: POST /admin/rollback round trip ({len(rollbacks)} runs)",
                      f"median {statistics.median(admin):.1f} ms, max {max(admin):.1f} ms"))
        table.append(("rollback: POST -> last request routed to canary was sent",
                      f"median {statistics.median(lag):.1f} ms, max {max(lag):.1f} ms "
                      "(after that 100 % stable)"))
    finally:
        if gateway is not None:
            gateway.stop()
        mlflow_server.stop()
    print_tables(table, forms, evidence)


def print_tables(*tables: list[tuple[str, str]]) -> None:
    for table in tables:
        if not table:
            continue
        width = max(len(k) for k, _ in table)
        print(f"\n{'measure':<{width}} | value")
        print(f"{'-' * width}-|-{'-' * 60}")
        for key, value in table:
            print(f"{key:<{width}} | {value}")
    print(f"\ncpus: {os.cpu_count()}, load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
