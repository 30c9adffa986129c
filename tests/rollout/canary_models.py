"""Candidate models for the end-to-end canary tests: real pyfunc models in a real registry.

Scores come from a hash of the row, so each model's behaviour is fixed by its parameters:
`power` shapes the score distribution (flag rate at 0.5 is 1 - 0.5 ** (1 / power)), a share
of rows can raise (a 5xx for that request), and every call can sleep.
"""

from __future__ import annotations

import sys
import time

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

FEATURES = ["TX_AMOUNT", "TX_HOUR", "N_TX_24H"]
PIP = ["pandas", "numpy"]

cloudpickle.register_pickle_by_value(sys.modules[__name__])


class CanaryModel(mlflow.pyfunc.PythonModel):
    """P(fraud) = u ** power for a per-row pseudo-random u; optional errors and delay."""

    def __init__(self, power: float = 7.0, error_share: float = 0.0, delay: float = 0.0):
        self.power, self.error_share, self.delay = power, error_share, delay

    def predict(self, context, model_input, params=None):
        amounts = model_input["TX_AMOUNT"].to_numpy(dtype="float64")
        if self.delay and (amounts > 0).any():  # warm-up rows (zeros) are fast
            time.sleep(self.delay)
        if self.error_share and ((amounts > 0) & (np.modf(amounts * 13.7)[0]
                                                  < self.error_share)).any():
            raise ValueError("simulated model failure")
        u = np.modf(np.abs(amounts) * 7.31 + model_input["TX_HOUR"].to_numpy() * 0.137)[0]
        return pd.Series(u ** self.power)


class FlippingModel(CanaryModel):
    """The champion's scores, except that `flip_share` of all rows (chosen by a second hash of
    the row) that the champion calls legit are scored above 0.5: a candidate that flips that
    share of decisions legit -> fraud at the gateway's default threshold."""

    def __init__(self, flip_share: float, power: float = 7.0):
        super().__init__(power)
        self.flip_share = flip_share

    def predict(self, context, model_input, params=None):
        scores = super().predict(context, model_input, params).to_numpy()
        amounts = model_input["TX_AMOUNT"].to_numpy(dtype="float64")
        w = np.modf(np.abs(amounts) * 3.17 + model_input["TX_HOUR"].to_numpy() * 0.71)[0]
        legit_share = 0.5 ** (1.0 / self.power)  # P(u ** power < 0.5)
        flip = (scores < 0.5) & (w < self.flip_share / legit_share)
        return pd.Series(np.where(flip, 0.5 + 0.5 * scores + 1e-6, scores))


def request_rows(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame({
        "CUSTOMER_ID": rng.integers(0, 100_000, n),
        "TX_AMOUNT": rng.uniform(1, 500, n).round(2),
        "TX_HOUR": rng.integers(0, 24, n).astype("float64"),
        "N_TX_24H": rng.integers(0, 20, n).astype("int64"),
    })


def register(tracking_uri: str, name: str, model: CanaryModel,
             validated: bool = True, extra_columns: tuple[str, ...] = ()) -> str:
    """`extra_columns`: more columns the signature requires (clients do not send them)."""
    mlflow.set_tracking_uri(tracking_uri)
    data = request_rows(20, np.random.default_rng(0))[FEATURES]
    for column in extra_columns:
        data[column] = 1.0
    signature = infer_signature(data, np.zeros(len(data)))
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=model,
                                       registered_model_name=name, signature=signature,
                                       pip_requirements=PIP)
    version = str(info.registered_model_version)
    if validated:
        mlflow.MlflowClient(tracking_uri).set_model_version_tag(name, version,
                                                                "validation.status", "passed")
    return version
