"""What the prediction log holds: one record per scored row, and its Parquet schema.

The schema is a contract with the monitor (`ml-actions monitor` joins it with labels in Spark):
keep the column names and types. A request is captured once as a `PredictionEntry` (a few
references, no per-row work on the request path); the writer thread expands entries into rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

SCHEMA = pa.schema([
    ("request_id", pa.string()),
    ("row", pa.int32()),  # the row's index within its request
    ("transaction_key", pa.string()),  # serving.prediction_log.key_column; null when absent
    ("routing_key", pa.string()),
    ("time", pa.timestamp("us", tz="UTC")),
    ("slot", pa.string()),  # the slot that answered: stable | canary
    ("model_name", pa.string()),
    ("model_version", pa.string()),
    ("score", pa.float64()),
    ("decision", pa.int8()),  # 1 = fraud: score >= threshold
    ("threshold", pa.float64()),
    ("shadow_version", pa.string()),
    ("shadow_score", pa.float64()),
    ("shadow_decision", pa.int8()),
    ("amount", pa.float64()),  # serving.prediction_log.amount_column; null when absent
])


@dataclass
class PredictionEntry:
    """One answered request; `keys`/`amounts` are the request's columns (or None)."""

    request_id: str
    time: float  # epoch seconds the answer was made
    routing_key: str | None
    slot: str
    model_name: str
    model_version: str
    scores: list[float]
    threshold: float
    keys: Any = None  # a pandas Series, converted to strings by the writer
    amounts: Any = None
    shadow_version: str | None = None
    shadow_scores: list[float] | None = None

    @property
    def rows(self) -> int:
        return len(self.scores)


def _is_null(value: Any) -> bool:
    """None, NaN and pandas' NA (whose comparison cannot be made a bool) are null."""
    try:
        return value is None or bool(value != value)
    except (TypeError, ValueError):
        return True


def _strings(values: Any, rows: int) -> list[str | None]:
    if values is None:
        return [None] * rows
    return [None if _is_null(v) else str(v) for v in list(values)]


def _floats(values: Any, rows: int) -> pa.Array:
    if values is None:
        return pa.nulls(rows, pa.float64())
    try:
        return pa.array(np.asarray(values, dtype="float64"), pa.float64(), from_pandas=True)
    except (TypeError, ValueError):  # a column that is not numeric: not an amount
        return pa.nulls(rows, pa.float64())


def entries_to_table(entries: list[PredictionEntry]) -> pa.Table:
    """The records of `entries`, one per row, in `SCHEMA`."""
    if not entries:
        return SCHEMA.empty_table()
    counts = np.array([e.rows for e in entries], dtype="int64")

    def repeat(values: list) -> list:
        return [v for v, n in zip(values, counts, strict=True) for _ in range(n)]

    scores = np.concatenate([np.asarray(e.scores, dtype="float64") for e in entries])
    thresholds = np.repeat([e.threshold for e in entries], counts)
    shadow = np.concatenate([np.asarray(e.shadow_scores, dtype="float64")
                             if e.shadow_scores is not None else np.full(e.rows, np.nan)
                             for e in entries])
    no_shadow = np.isnan(shadow)
    keys: list = []
    amounts: list[pa.Array] = []
    for e in entries:
        keys.extend(_strings(e.keys, e.rows))
        amounts.append(_floats(e.amounts, e.rows))
    columns = {
        "request_id": pa.array(repeat([e.request_id for e in entries]), pa.string()),
        "row": pa.array(np.concatenate([np.arange(n, dtype="int32") for n in counts])),
        "transaction_key": pa.array(keys, pa.string()),
        "routing_key": pa.array(repeat([e.routing_key for e in entries]), pa.string()),
        "time": pa.array(np.repeat([int(e.time * 1e6) for e in entries], counts),
                         pa.timestamp("us", tz="UTC")),
        "slot": pa.array(repeat([e.slot for e in entries]), pa.string()),
        "model_name": pa.array(repeat([e.model_name for e in entries]), pa.string()),
        "model_version": pa.array(repeat([e.model_version for e in entries]), pa.string()),
        "score": pa.array(scores, pa.float64()),
        "decision": pa.array((scores >= thresholds).astype("int8")),
        "threshold": pa.array(thresholds, pa.float64()),
        "shadow_version": pa.array(repeat([e.shadow_version if e.shadow_scores is not None
                                           else None for e in entries]), pa.string()),
        "shadow_score": pa.array(shadow, pa.float64(), mask=no_shadow),
        "shadow_decision": pa.array((shadow >= thresholds).astype("int8"), pa.int8(),
                                    mask=no_shadow),
        "amount": pa.concat_arrays(amounts),
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)
