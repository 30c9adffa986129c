"""Fixtures of the template's tests: tiny simulated data and hand-built transaction rows.

`spark`, `tracking_uri` and `mlflow_server` come from the repository's shared fixtures
(tests/fixtures/services.py): one local Spark and one real MLflow server per session.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from ml_pipeline.simulate import SimulationConfig, simulate, write_parquet

TINY = SimulationConfig(customers=300, terminals=600, days=50, seed=7)
START = dt.datetime(2018, 4, 2)  # a Monday


@pytest.fixture(scope="session")
def tiny_transactions() -> pd.DataFrame:
    return simulate(TINY)


@pytest.fixture(scope="session")
def tiny_parquet(tiny_transactions, tmp_path_factory):
    return write_parquet(tiny_transactions, tmp_path_factory.mktemp("sim") / "tx.parquet")


@pytest.fixture
def make_rows(spark):
    """Hand-built raw transactions: (tx_id, customer, terminal, day offset, hour, amount,
    fraud) tuples -> a Spark DataFrame with the handbook's columns."""

    def build(rows):
        records = [{
            "TRANSACTION_ID": tx_id, "CUSTOMER_ID": customer, "TERMINAL_ID": terminal,
            "TX_DATETIME": START + dt.timedelta(days=day, hours=hour),
            "TX_AMOUNT": float(amount), "TX_FRAUD": fraud,
        } for tx_id, customer, terminal, day, hour, amount, fraud in rows]
        frame = pd.DataFrame(records)
        return spark.createDataFrame(frame).select(
            "TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT",
            "TX_FRAUD")

    return build
