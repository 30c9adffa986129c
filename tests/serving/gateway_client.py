"""Small client-side pieces shared by the gateway's process tests and the benchmark."""

from __future__ import annotations

import json
import re

import pandas as pd

from tests.serving.model_zoo import FEATURES, fraud_frame


def split_payload(frame: pd.DataFrame) -> dict:
    return {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}


def rows(n: int, seed: int = 0) -> pd.DataFrame:
    return fraud_frame(n, seed)[["CUSTOMER_ID", *FEATURES]]


def v2_payload(frame: pd.DataFrame) -> dict:
    types = {"int64": "INT64", "float64": "FP64"}
    return {"id": "req-1", "inputs": [
        {"name": c, "shape": [len(frame)], "datatype": types[str(frame[c].dtype)],
         "data": frame[c].tolist()} for c in frame.columns]}


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` in a /metrics exposition."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match[3])
    return total
