"""The label-gate story's first act on the real stack: the candidate's shadow phase and canary.

`bench/label_gate.py` calls this before its daily monitor runs. What it does, with the
product's own commands and services (MLflow server, `ml-actions gateway serve` with a
prediction log, Prometheus scraping it):

1. registers the champion A and the candidate as MLflow pyfunc models
   (`label_gate_model.PercentileModel`), loads A into the gateway's stable slot as @champion;
2. replays the handbook's transactions of the promotion day, in random order, at `rate`
   requests/s, keyed by customer, with the candidate's live feature as the online store
   would have it. In time order, the first minute is night traffic, on which the models'
   percentile scales differ (A2's mean paired score is 0.15 above A's on transactions before
   06:00, -0.02 after): the shadow phase's score-difference check then rolls back even the
   equally good A2 in 11 s. A real rollout spans hours of traffic, not one night minute;
3. runs `ml-actions canary-deploy --shadow ...` on the candidate, as a workflow would, and
   reads its report: the shadow phase's paired checks and each canary step's verdict. The
   offline gate is the bench's own table (B's offline AUC is far above A's), so the command
   runs with `--skip-validation-check`, which it records on the version;
4. reads the gateway's prediction log and checks that the scores it served and shadowed are
   the bench's own (the numpy arrays the 28-day story then uses), to 1e-9.

Why: the story's claim is that a model the label-free checks pass can still be worse, and
only the label-delayed gate sees it. This measures the first half instead of assuming it.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODEL = "handbook_fraud"
TEMPLATE_CONFIG = ROOT / "template" / "ml-actions.yaml"


@dataclass
class LiveRollout:
    """How the candidate's rollout on the real stack ended, and what it was judged on."""

    candidate: str
    result: str  # promoted | rolled_back | inconclusive | aborted
    seconds: float
    phases: list[str]  # "shadow: passed (flips 0.3 %/0.2 %, 6 012 pairs)", "5 %: passed", ...
    requests: int
    failed: int
    served_by: dict[str, int]
    log_records: int
    max_score_diff: float  # |gateway's served or shadow score - the bench's|, over the log
    report: Path


def bench_config(path: Path, log_dir: Path, threshold: float) -> Path:
    """The template's ml-actions.yaml with the bench's threshold, prediction log and the
    demo's timings (seconds, not minutes); every check keeps the template's settings."""
    config = yaml.safe_load(TEMPLATE_CONFIG.read_text(encoding="utf-8"))
    config["gateway"] = {**config.get("gateway", {}), "decision_threshold": threshold}
    config["serving"] = {"prediction_log": {"path": str(log_dir), "flush_interval": "1s"}}
    config["analysis"] = {**config.get("analysis", {}), "interval": "1s",
                          "scrape_interval": "1s", "inconclusive_timeout": "3m"}
    config["canary"] = {**config.get("canary", {}), "warmup_timeout": "3m"}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def register(tracking_uri: str, model, features: tuple[str, ...], knots: np.ndarray,
             example: pd.DataFrame) -> str:
    """A pyfunc version of `model` answering percentile scores; returns its version."""
    import mlflow
    from label_gate_model import PercentileModel, served_score
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    frame = example[list(features)].astype(float)
    python_model = PercentileModel(model, features, knots)
    signature = infer_signature(frame, served_score(python_model.raw(frame), knots))
    with mlflow.start_run(run_name=f"label-gate {len(features)} features"):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=python_model, signature=signature,
            code_paths=[str(Path(__file__).with_name("label_gate_model.py"))],
            registered_model_name=MODEL, input_example=frame.head(2))
    return str(info.registered_model_version)


def phase_lines(report: dict) -> list[str]:
    """One line per rollout phase: its verdict and, for the shadow phase, the paired flips."""
    lines = []
    for step in report.get("steps", []):
        name = "shadow" if step["phase"] == "shadow" else (
            "bake" if step["phase"] == "bake" else f"{step['weight']:g} %")
        detail = ""
        last = step["evaluations"][-1] if step.get("evaluations") else None
        checks = {c["name"]: c for c in last["checks"]} if last else {}
        if step["phase"] == "shadow" and "shadow_flips_total" in checks:
            flips, rate = checks["shadow_flips_total"], checks.get("shadow_decision_rate", {})
            detail = (f" ({round(flips['value'] * flips['sample_size'])} of "
                      f"{flips['sample_size']:,} decisions flipped, flags "
                      f"x{rate.get('value', 0):.2f} of the champion's)")
        lines.append(f"{name}: {step['verdict']}{detail}")
    return lines


def log_agreement(log_dir: Path, expected: dict[str, pd.Series]) -> tuple[int, float]:
    """Records in the gateway's prediction log, and the largest difference between a score it
    served or shadowed and the bench's score of the same transaction for that version."""
    files = sorted(log_dir.rglob("*.parquet"))
    if not files:
        return 0, float("nan")
    log = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    worst = 0.0
    for version_col, score_col in (("model_version", "score"),
                                   ("shadow_version", "shadow_score")):
        for version, rows in log.dropna(subset=[score_col]).groupby(version_col):
            bench = expected[str(version)].reindex(rows["transaction_key"].astype(str))
            worst = max(worst, float(np.nanmax(np.abs(bench.to_numpy()
                                                      - rows[score_col].to_numpy()))))
    return len(log), worst


def roll_out(live_day: pd.DataFrame, models: dict[str, tuple], candidate: str,
             threshold: float, rate: float, schedule: list[str], log=print) -> LiveRollout:
    """`models`: name -> (classifier, features, knots, served scores of `live_day`); "A" is
    the champion. The candidate goes through `schedule` on a fresh stack."""
    from demo.stack import start_stack
    from demo.steps import StepRunner
    from demo.traffic import TrafficGenerator
    from ml_actions.targets.gateway import GatewayTarget

    out = Path(tempfile.mkdtemp(prefix=f"label-gate-{candidate}-"))
    config = bench_config(out / "ml-actions.yaml", out / "prediction-log", threshold)
    stack = start_stack(out / "services", gateway_config=config, log=log)
    traffic = None
    try:
        tracking, gateway = stack.url("mlflow"), stack.url("gateway")
        versions = {name: register(tracking, m[0], m[1], m[2], live_day)
                    for name, m in models.items() if name in ("A", candidate)}
        target = GatewayTarget(gateway, token=stack.admin_token)
        target.load("stable", f"models:/{MODEL}/{versions['A']}")
        steps = StepRunner(out, "prod", config)
        steps.env.update({"MLFLOW_TRACKING_URI": tracking,
                          "ML_ACTIONS_ADMIN_TOKEN": stack.admin_token})
        steps.registry_alias(tracking, MODEL, "champion", versions["A"])
        columns = sorted({c for m in models.values() for c in m[1]})
        # the day in random order: each minute of the compressed replay is a sample of the
        # whole day, not of its first (night) hours, as a rollout spread over a day would see
        rows = live_day[["CUSTOMER_ID", "TRANSACTION_ID", *columns]].sample(frac=1.0,
                                                                            random_state=0)
        traffic = TrafficGenerator(gateway, rows, "CUSTOMER_ID", rate=rate).start()
        log(f"{candidate}: v{versions[candidate]} against A v{versions['A']}, "
            f"{rate:g} requests/s of {len(rows):,} promotion-day transactions")
        traffic.set_phase("rollout")
        started = time.monotonic()
        run = steps.cli(f"{candidate}-canary", "canary-deploy", "--model-name", MODEL,
                        "--candidate", versions[candidate], "--target-url", gateway,
                        "--prometheus-url", stack.url("prometheus"), "--config", str(config),
                        "--environment", "prod", "--tracking-uri", tracking, "--report-dir",
                        str(out / "report"), "--skip-validation-check", *schedule,
                        expect=(0, 1, 2))
        seconds = time.monotonic() - started
        traffic.stop()
        counts = traffic.snapshot("rollout")
        time.sleep(2.5)  # two flush intervals: the log holds every answer
        keys = live_day["TRANSACTION_ID"].astype(str).to_numpy()
        expected = {versions[name]: pd.Series(m[3], index=keys) for name, m in models.items()
                    if name in versions}
        records, worst = log_agreement(out / "prediction-log", expected)
        report_path = out / "report" / "rollout-report.json"
        report = json.loads(report_path.read_text()) if report_path.is_file() else {}
        by_version = {("A" if v == versions["A"] else candidate): n
                      for v, n in counts.by_version.items() if v in versions.values()}
        return LiveRollout(candidate, run.outputs.get("result", f"exit {run.code}"), seconds,
                           phase_lines(report), counts.sent, counts.failed, by_version,
                           records, worst, report_path)
    finally:
        if traffic is not None:
            traffic.stop()
        stack.stop()


def rollout_table(rollouts: list[LiveRollout]) -> str:
    lines = ["| candidate | result | phases (verdict) | requests (failed) | answered by | "
             "log records | max score diff vs bench |", "|---|---|---|---|---|---|---|"]
    for r in rollouts:
        served = ", ".join(f"{k} {v:,}" for k, v in sorted(r.served_by.items()))
        lines.append(f"| {r.candidate} | {r.result} in {r.seconds:.0f} s | "
                     f"{'; '.join(r.phases)} | {r.requests:,} ({r.failed}) | {served} | "
                     f"{r.log_records:,} | {r.max_score_diff:.1e} |")
    return "\n".join(lines)
