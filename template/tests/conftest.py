"""Fixtures of the template's tests: tiny simulated data and hand-built transaction rows.

`spark` and `tracking_uri` come from ml-actions' shared fixtures (tests/fixtures/services.py)
inside that repository, and from tests/services.py in a copied template: one local Spark and
one real MLflow server per session either way.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pandas as pd
import pytest

# a copied template has no packaging: make `ml_pipeline` importable from the repo root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ml_pipeline.simulate import SimulationConfig, simulate, write_parquet

try:  # inside the ml-actions repository the root conftest already provides them
    import tests.fixtures.services  # noqa: F401
except ImportError:  # a copied template: bring our own
    from services import spark, tracking_uri  # noqa: F401

TINY = SimulationConfig(customers=300, terminals=600, days=50, seed=7)


def pytest_configure(config):
    """`pytest -m "not integration"` in a copied template, without an unknown-marker warning."""
    config.addinivalue_line("markers", "integration: starts Spark or a real MLflow server")
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
