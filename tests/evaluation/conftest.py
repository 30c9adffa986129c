"""Fixtures of the evaluation tests: DataFrames from arrays, configs, logged real models."""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd
import pytest

from ml_actions.config.settings import load_config

# Python UDF workers (pyfunc spark_udf) must run this interpreter, not the system python3;
# set before the session-wide SparkSession starts (core/ml_actions/spark.py should do this itself).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def make_df(spark):
    """Build a Spark DataFrame from columns (numpy arrays or lists)."""

    def make(**columns):
        return spark.createDataFrame(pd.DataFrame(columns))

    return make


@pytest.fixture
def make_config():
    """A validated Config for an environment, with raw overrides merged like a user's file."""

    def make(environment: str = "prod", **sections):
        return load_config(environment=environment, overrides=sections or None)

    return make


def fraud_scores(n: int, rate: float, seed: int, strength: float = 2.0, decimals: int = 3):
    """Labels and two correlated model scores; rounding creates ties on purpose."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(int)
    base = rng.normal(size=n)
    a = 1 / (1 + np.exp(-(base + strength * y - 2)))
    b = 1 / (1 + np.exp(-(0.8 * base + 0.6 * rng.normal(size=n) + 0.9 * strength * y - 2)))
    return y, np.round(a, decimals), np.round(b, decimals)
