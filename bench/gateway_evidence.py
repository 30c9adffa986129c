"""What the evidence costs: the prediction log on vs off, and a shadow model on vs off.

Two gateways serve the same scikit-learn model: one without a prediction log, one with it.
The shadow (another scikit-learn version, every request mirrored) is switched on and off on
the first. Each configuration gets the same open-loop rate (latency) and the same closed-loop
run (16 clients, throughput), measured in one run and alternated twice so a slow minute on a
shared machine does not land on one side only. Ratios are on / off (1.0 = no cost).
Used by bench/gateway_bench.py (`--only evidence`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path


def _closed_loop(generator_class, url: str, payloads: list[dict], total: int) -> float:
    results, elapsed = generator_class(url, None, 0, payloads, total=total).join()
    return sum(r[2] == 200 for r in results) / elapsed


def compare_evidence_costs(work: Path, tracking_uri: str, seconds: float, run_rate: Callable,
                           generator_class, token: str, rate: float = 50.0,
                           total: int = 3000) -> list[tuple[str, str]]:
    from ml_actions.targets.gateway import GatewayTarget
    from tests.fixtures.gateway import start_gateway, wait_ready
    from tests.serving import model_zoo
    from tests.serving.gateway_client import rows, split_payload

    primary = model_zoo.register_sklearn(tracking_uri, "bench_evidence", seed=0)
    shadow = model_zoo.register_sklearn(tracking_uri, "bench_evidence", seed=1, c=0.1)
    payloads = [split_payload(rows(1, seed=s)) for s in range(50)]
    gateways, targets = {}, {}
    base = "gateway:\n  max_batch_wait_ms: 2\n  max_batch_size: 128\n"
    log_dir = work / "prediction-log"
    configs = {"off": base,
               "log": base + f"serving:\n  prediction_log:\n    path: {log_dir}\n"}
    try:
        for name, text in configs.items():
            config = work / f"evidence-{name}.yaml"
            config.write_text(text)
            gateways[name] = start_gateway(work / f"evidence-{name}", tracking_uri, token,
                                           config=config)
            targets[name] = GatewayTarget(gateways[name].url, token, actor="bench")
            targets[name].load("stable", f"models:/bench_evidence/{primary}")
            wait_ready(gateways[name])
        runs: dict[str, list[dict]] = {"off": [], "log": [], "shadow": []}
        for _ in range(2):
            for name in ("off", "log", "shadow"):
                gateway = gateways["log" if name == "log" else "off"]
                if name == "shadow":
                    targets["off"].start_shadow(f"models:/bench_evidence/{shadow}", share=1.0,
                                                until=time.time() + 3600)
                measured = run_rate(gateway.url, rate, seconds, payloads)
                measured["max_throughput"] = _closed_loop(generator_class, gateway.url,
                                                          payloads, total)
                if name == "shadow":
                    targets["off"].stop_shadow()
                runs[name].append(measured)
    finally:
        for target in targets.values():
            target.close()
        for gateway in gateways.values():
            gateway.stop()
    logged = _logged_records(log_dir)
    return _table(runs, rate, logged)


def _logged_records(log_dir: Path) -> int:
    import pyarrow.dataset as ds

    if not log_dir.exists():
        return 0
    return ds.dataset(str(log_dir), partitioning="hive").count_rows()


def _table(runs: dict[str, list[dict]], rate: float, logged: int) -> list[tuple[str, str]]:
    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    table = []
    for name, label in (("off", "no log, no shadow"), ("log", "prediction log on"),
                        ("shadow", "shadow on (share 1.0)")):
        table.append((f"evidence: {label} @ {rate:.0f} req/s",
                      f"p50 {median(name, 'p50'):.1f} ms, p99 {median(name, 'p99'):.1f} ms, "
                      f"closed-loop {median(name, 'max_throughput'):.0f} req/s "
                      f"(median of {len(runs[name])})"))
    for name, label in (("log", "prediction log"), ("shadow", "shadow")):
        ratios = [median(name, key) / median("off", key)
                  for key in ("p50", "p99", "max_throughput")]
        table.append((f"evidence: {label} on / off ratios",
                      "p50 x{:.2f}, p99 x{:.2f}, throughput x{:.2f}".format(*ratios)))
    table.append(("evidence: records in the prediction log after the runs", f"{logged}"))
    return table
