"""Prediction logs and labels tables written exactly as the gateway and a label feed would.

The log follows the serving contract's Parquet schema column for column (types included) and
its layout `<dir>/date=YYYY-MM-DD/part-*.parquet`; scores come from the numpy traffic
simulator (`tests/fixtures/label_weeks.py`), squashed into (0, 1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.fixtures.label_weeks import Traffic, simulate_day

LOG_SCHEMA = pa.schema([
    ("request_id", pa.string()), ("row", pa.int32()), ("transaction_key", pa.string()),
    ("routing_key", pa.string()), ("time", pa.timestamp("us", tz="UTC")),
    ("slot", pa.string()), ("model_name", pa.string()), ("model_version", pa.string()),
    ("score", pa.float64()), ("decision", pa.int8()), ("threshold", pa.float64()),
    ("shadow_version", pa.string()), ("shadow_score", pa.float64()),
    ("shadow_decision", pa.int8()), ("amount", pa.float64()),
])


@dataclass
class Scenario:
    champion: str = "2"
    predecessor: str = "1"
    days: int = 10  # days of paired traffic, the last one ending `end_days_ago` before now
    end_days_ago: float = 8.0
    traffic: Traffic = Traffic(rows_per_day=2000, fraud_rate=0.03, noise=0.1,
                               shared_noise=1.0)
    label_delay_days: float = 3.0  # labels become known this long after the transaction
    predecessor_days: int = 0  # days before the promotion, the predecessor alone on stable
    model_name: str = "fraud"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def write_scenario(folder: Path, scenario: Scenario, now: dt.datetime,
                   seed: int = 0) -> tuple[Path, Path]:
    """(log dir, labels parquet) of `scenario`'s paired traffic; all labels, 0 and 1."""
    rng = np.random.default_rng(seed)
    log_dir, labels_path = folder / "prediction-log", folder / "labels.parquet"
    threshold = float(sigmoid(np.array(scenario.traffic.threshold)))
    keys, times, label_values = [], [], []
    first = (now - dt.timedelta(days=scenario.end_days_ago + scenario.days
                                + scenario.predecessor_days)).replace(
        hour=0, minute=0, second=0, microsecond=0)  # a day's rows in its date= partition
    for d in range(scenario.predecessor_days + scenario.days):
        before = d < scenario.predecessor_days
        day = simulate_day(scenario.traffic, rng)
        n = len(day.labels)
        start = first + dt.timedelta(days=d)
        offsets = np.sort(rng.uniform(0, 86_000, size=n))
        stamps = [start + dt.timedelta(seconds=float(s)) for s in offsets]
        new, old = sigmoid(day.new_scores), sigmoid(day.old_scores)
        if before:  # the predecessor answers; nothing shadows it
            new, old = old, np.full(n, np.nan)
        ids = [f"tx-{d}-{i}" for i in range(n)]
        table = pa.table({
            "request_id": [f"req-{d}-{i}" for i in range(n)], "row": np.zeros(n, np.int32),
            "transaction_key": ids, "routing_key": [f"cust-{i % 97}" for i in range(n)],
            "time": stamps, "slot": ["stable"] * n, "model_name": [scenario.model_name] * n,
            "model_version": [scenario.predecessor if before else scenario.champion] * n,
            "score": new,
            "decision": (new >= threshold).astype(np.int8), "threshold": np.full(n, threshold),
            "shadow_version": [None if before else scenario.predecessor] * n,
            "shadow_score": pa.nulls(n, pa.float64()) if before else old,
            "shadow_decision": pa.nulls(n, pa.int8()) if before
            else (old >= threshold).astype(np.int8),
            "amount": rng.gamma(2.0, 50.0, size=n),
        }, schema=LOG_SCHEMA)
        write_partition(log_dir, table, start.date())
        keys += ids
        times += stamps
        label_values += day.labels.astype(int).tolist()
    delay = dt.timedelta(days=scenario.label_delay_days)
    pq.write_table(pa.table({
        "TRANSACTION_ID": keys, "fraud_label": label_values,
        "label_time": [min(t + delay, now - dt.timedelta(minutes=1)) for t in times]}),
        labels_path)
    return log_dir, labels_path


def write_partition(log_dir: Path, table: pa.Table, day: dt.date, part: int = 0) -> Path:
    folder = log_dir / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{part:05d}.parquet"
    pq.write_table(table, path)
    return path
