"""Benchmark of the canary rollout and rollback, under steady load on the real gateway.

Starts a real MLflow server, the gateway, Prometheus (1 s scrape) and a load generator at the
issue's reference load (50 req/s), then measures with the real `ml-actions` commands:
- detection: a bad canary's first traffic (5 % step) -> the rollback decision;
- rollback: the decision -> the target confirming 100 % stable (and, from the clients' side,
  the last request the canary answered after the decision);
- failed requests across a full promotion (5, 25, 50, 100 % + bake) and a rollback of the
  promoted model back to the previous champion (goal 0).
Prints one table. Usage: .venv/bin/python bench/rollout_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT)]
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

import yaml  # noqa: E402

from ml_actions.cli.main import main  # noqa: E402
from ml_actions.cli.runner import ActionsRunner  # noqa: E402
from ml_actions.registry import Registry  # noqa: E402
from ml_actions.targets.gateway import GatewayTarget  # noqa: E402
from tests.fixtures.gateway import start_gateway, wait_ready  # noqa: E402
from tests.fixtures.local_services import start_mlflow_server, start_prometheus  # noqa: E402
from tests.rollout import canary_models as cm  # noqa: E402
from tests.rollout.load_generator import LoadGenerator  # noqa: E402

TOKEN = "rollout-bench-token"
MODEL = "bench_fraud"
CONFIG = {
    "canary": {"steps": [5, 25, 50, 100], "interval": "5s", "bake": "3s",
               "warmup_timeout": "120s"},
    "analysis": {
        "interval": "1s", "scrape_interval": "1s",
        "inconclusive_timeout": "40s",
        "checks": {"success_rate": {"min_effect": 0.15},
                   "latency": {"min_effect": 0.15, "max_seconds": 0.5},
                   "score_shift": {"min_effect": 0.3},
                   "decision_rate": {"min_effect": 1.0},
                   "sample_ratio": {"min_samples": 40}},
    },
}


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def cli(argv: list[str], folder: Path) -> tuple[int, str]:
    out = io.StringIO()
    env = {"ML_ACTIONS_ADMIN_TOKEN": TOKEN, "PATH": os.environ["PATH"]}
    code = main(argv, runner=ActionsRunner(env=env, stream=out))
    (folder / "log.txt").write_text(out.getvalue())
    return code, out.getvalue()


def percent(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


def run(runs: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="rollout-bench-"))
    mlflow = start_mlflow_server(work / "mlflow")
    gateway = prometheus = load = None
    try:
        uri = mlflow.url
        versions = {"champion": cm.register(uri, MODEL, cm.CanaryModel()),
                    "good": cm.register(uri, MODEL, cm.CanaryModel()),
                    "errors": cm.register(uri, MODEL, cm.CanaryModel(error_share=0.3)),
                    "shifted": cm.register(uri, MODEL, cm.CanaryModel(power=1.1)),
                    "slow": cm.register(uri, MODEL, cm.CanaryModel(delay=0.6))}
        registry = Registry(uri)
        registry.set_alias(MODEL, "champion", versions["champion"])
        gateway = start_gateway(work / "gateway", uri, TOKEN)
        target = GatewayTarget(gateway.url, token=TOKEN)
        target.load("stable", f"models:/{MODEL}/{versions['champion']}", timeout=120)
        wait_ready(gateway)
        prometheus = start_prometheus(work / "prometheus",
                                      [gateway.url.removeprefix("http://")], "1s")
        config_path = work / "ml-actions.yaml"
        config_path.write_text(yaml.safe_dump(CONFIG))
        load = LoadGenerator(gateway.url, rate=50, threads=5).start()
        time.sleep(3)

        def deploy(name: str, version: str) -> dict:
            folder = work / name
            folder.mkdir(parents=True, exist_ok=True)
            code, text = cli(["canary-deploy", "--model-name", MODEL, "--candidate", version,
                              "--target-url", gateway.url, "--prometheus-url", prometheus.url,
                              "--tracking-uri", uri, "--config", str(config_path),
                              "--report-dir", str(folder)], folder)
            report = json.loads((folder / "rollout-report.json").read_text())
            report["exit_code"] = code
            return report

        rows: list[tuple[str, str]] = []
        bad: dict[str, list[dict]] = {"errors": [], "shifted": [], "slow": []}
        for i in range(runs):
            for kind in bad:
                bad[kind].append(deploy(f"{kind}{i}", versions[kind]))
        for kind, reports in bad.items():
            outcomes = {r["result"] for r in reports}
            detect = [r["detection_seconds"] for r in reports if r["detection_seconds"]]
            rows.append((f"{kind}: result of {len(reports)} canaries", ", ".join(sorted(outcomes))))
            if detect:
                rows.append((f"{kind}: detection s (first 5 % traffic -> decision), median",
                             percent(detect)))
        all_bad = [r for reports in bad.values() for r in reports]
        flips = [r["rollback_seconds"] for r in all_bad if r["rollback_seconds"] is not None]
        rows.append(("rollback decision -> target confirms 100 % stable, s, median",
                     percent(flips)))
        tails = []
        for r in all_bad:
            step = r["steps"][-1]
            decided = ts(step["evaluations"][-1]["at"]) if step["evaluations"] else ts(step["end"])
            canary = r["candidate_version"]
            ended = ts(r["ended_at"]) + 1.0  # ended_at has whole seconds
            late = [x.at for x in load.since(decided, ended) if x.version == canary]
            tails.append(max(late) - decided if late else 0.0)
        rows.append(("last request sent to the canary after the decision, s, median",
                     percent(tails)))
        faulty = (versions["errors"],)
        promote_start = time.time()
        good = deploy("good", versions["good"])
        promote_end = time.time()
        rows.append(("good canary: result, seconds (4 steps + bake)",
                     f"{good['result']}, {promote_end - promote_start:.1f}"))
        promote_requests = len(load.since(promote_start, promote_end))
        promote_failed = len(load.failures(promote_start, promote_end))
        rows.append(("failed requests across the full promotion",
                     f"{promote_failed} of {promote_requests}"))
        time.sleep(2)
        rb_start = time.time()
        code, text = cli(["rollback", "--model-name", MODEL, "--target-url", gateway.url,
                          "--reason", "bench", "--tracking-uri", uri], work)
        time.sleep(3)
        rb_end = time.time()
        seconds = next((line.split("after ")[1].split(" s")[0] for line in text.splitlines()
                        if "after" in line and "rolled back" in line), "?")
        rows.append(("rollback after promotion (previous champion back): exit, s",
                     f"{code}, {seconds}"))
        rows.append(("failed requests across that rollback",
                     f"{len(load.failures(rb_start, rb_end))} of "
                     f"{len(load.since(rb_start, rb_end))}"))
        rows.append(("failed requests not caused by the 30 %-error model (whole run)",
                     f"{len(load.failures(0, None, faulty))} of {len(load.responses)}"))
        width = max(len(r[0]) for r in rows)
        print(f"\nrollout benchmark: load 50 req/s, first step 5 %, analysis every 1 s, "
              f"scrape 1 s, {runs} run(s) per bad kind\n")
        print(f"| {'measure'.ljust(width)} | value |")
        print(f"|{'-' * (width + 2)}|-------|")
        for name, value in rows:
            print(f"| {name.ljust(width)} | {value} |")
    finally:
        if load is not None:
            load.stop()
        for proc in (prometheus, gateway, mlflow):
            if proc is not None:
                proc.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    run(parser.parse_args().runs)
