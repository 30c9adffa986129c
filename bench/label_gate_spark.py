"""The handbook's daily monitor runs through the real `ml-actions monitor` CLI (Spark).

`bench/label_gate.py --spark-monitor` calls this: for each label delay and each daily run it
writes what would exist that day (the prediction log up to the run, the champion on stable and
its predecessor in the shadow slot for the guard period; the labels known by then) and runs
`python -m ml_actions monitor ... --as-of <the run>` on them, as the scheduled workflow would,
then compares its verdict with the numpy twin's on the same rows. Why: the numpy path is what
makes the resampled wrong-rollback rate cheap, and it is only trustworthy if the Spark join,
maturity filter and paired statistics of the shipped command decide the same.

A run at day D is judged as of D 00:00 minus one second, so a transaction counts as matured
exactly when the numpy path counts it (its whole day ended `delay` days before the run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT)]

from tests.monitoring.constructed_logs import LOG_SCHEMA, write_partition  # noqa: E402

MODEL = "handbook_fraud"


@dataclass
class DailyRun:
    """One scheduled run of the monitor: its day after the promotion and both verdicts."""

    day: int
    numpy_verdict: str
    cli_verdict: str
    exit_code: int
    seconds: float
    reason: str = ""


@dataclass
class Served:
    """Live traffic after the promotion: the champion's and the shadowed predecessor's
    scores and decisions per row, and which rows the predecessor shadowed (the guard)."""

    live: pd.DataFrame
    champion: np.ndarray
    predecessor: np.ndarray
    champion_threshold: float
    predecessor_threshold: float
    guard: np.ndarray


def write_log(folder: Path, served: Served, before: pd.Timestamp) -> Path:
    """The gateway's prediction log of every answer before `before`, one partition a day."""
    log_dir = folder / "prediction-log"
    live = served.live
    keep = (live["TX_DATETIME"] < before).to_numpy()
    for day, rows in pd.Series(np.flatnonzero(keep)).groupby(
            live["DAY"].to_numpy()[keep]):
        idx = rows.to_numpy()
        n, guard = len(idx), served.guard[idx]
        new, old = served.champion[idx], served.predecessor[idx]
        table = pa.table({
            "request_id": [f"req-{k}" for k in live["TRANSACTION_ID"].to_numpy()[idx]],
            "row": np.zeros(n, np.int32),
            "transaction_key": live["TRANSACTION_ID"].to_numpy()[idx].astype(str),
            "routing_key": live["CUSTOMER_ID"].to_numpy()[idx].astype(str),
            "time": pd.to_datetime(live["TX_DATETIME"].to_numpy()[idx]).tz_localize("UTC"),
            "slot": ["stable"] * n, "model_name": [MODEL] * n, "model_version": ["2"] * n,
            "score": new, "decision": (new >= served.champion_threshold).astype(np.int8),
            "threshold": np.full(n, served.champion_threshold),
            "shadow_version": np.where(guard, "1", None),
            "shadow_score": pa.array(np.where(guard, old, np.nan), from_pandas=True),
            "shadow_decision": pa.array(
                np.where(guard, (old >= served.predecessor_threshold).astype(float), np.nan),
                from_pandas=True).cast(pa.int8()),
            "amount": live["TX_AMOUNT"].to_numpy()[idx],
        }, schema=LOG_SCHEMA)
        write_partition(log_dir, table, pd.Timestamp(day).date())
    return log_dir


def write_labels(folder: Path, live: pd.DataFrame, delay: int, known_by: pd.Timestamp) -> Path:
    """The label feed as of `known_by`: every transaction's label `delay` days after it."""
    label_time = live["TX_DATETIME"] + pd.Timedelta(days=delay)
    known = label_time <= known_by
    path = folder / "labels.parquet"
    pq.write_table(pa.table({
        "TRANSACTION_ID": live["TRANSACTION_ID"][known].astype(str).to_numpy(),
        "fraud_label": live["TX_FRAUD"][known].astype(np.int64).to_numpy(),
        # microseconds: Spark cannot read Parquet's nanosecond timestamps (pandas' default)
        "label_time": pa.array(pd.to_datetime(label_time[known]).dt.tz_localize("UTC"),
                               type=pa.timestamp("us", tz="UTC"))}), path)
    return path


def run_monitor_cli(folder: Path, served: Served, delay: int, as_of: pd.Timestamp
                    ) -> tuple[str, int, float, str]:
    """`ml-actions monitor` on the log and labels of `as_of`: (verdict, exit code, s, reason)."""
    folder.mkdir(parents=True, exist_ok=True)
    log_dir = write_log(folder, served, as_of)
    labels = write_labels(folder, served.live, delay, as_of)
    config = folder / "ml-actions.yaml"
    config.write_text("monitor:\n  rollback: false\n")  # no target here: the verdict only
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT)]),
           "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the champion is the log's stable version
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ml_actions", "monitor", "--model-name", MODEL,
         "--prediction-log", str(log_dir), "--labels", str(labels),
         "--label-maturity", f"{delay}d", "--config", str(config),
         "--report-dir", str(folder / "report"), "--as-of", as_of.isoformat()],
        env=env, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    report = folder / "report" / "monitor-report.json"
    if done.returncode == 2 or not report.exists():
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        return "error", done.returncode, seconds, " | ".join(tail)
    data = json.loads(report.read_text())
    return data["verdict"], done.returncode, seconds, data.get("reason", "")
