"""The label-gate bench's models as the gateway serves them: a percentile-calibrated score.

The gateway has one operating threshold (`gateway.decision_threshold`) for every version it
serves. Each bench model therefore answers with its score's percentile among its own offline
test week (1001 quantiles, linear in between): a score of 0.99 means "above 99 % of the
offline week", and the gateway's threshold of 0.99 makes every model alert on its own top 1 %,
whatever the scale of its raw probabilities. The map is monotone, so it changes no ranking
(AUC) and no decision against the model's own offline top-1 % cut.

This file ships inside each registered model (`code_paths`), so the gateway process loads the
class without the bench on its path.
"""

from __future__ import annotations

import mlflow.pyfunc
import numpy as np
import pandas as pd

QUANTILES = 1001


def percentile_knots(offline_scores: np.ndarray) -> np.ndarray:
    """The raw scores at 0, 0.1 %, ..., 100 % of the offline week."""
    return np.quantile(np.asarray(offline_scores, dtype=float), np.linspace(0, 1, QUANTILES))


def served_score(raw: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """The raw score's percentile among the offline week (0 below it, 1 above it)."""
    return np.interp(np.asarray(raw, dtype=float), knots, np.linspace(0, 1, len(knots)),
                     left=0.0, right=1.0)


class PercentileModel(mlflow.pyfunc.PythonModel):
    """A scikit-learn classifier on named feature columns, answering calibrated scores."""

    def __init__(self, classifier, features: tuple[str, ...], knots: np.ndarray):
        self.classifier, self.features, self.knots = classifier, tuple(features), knots

    def raw(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[list(self.features)].to_numpy(dtype=float)
        return self.classifier.predict_proba(values)[:, 1]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        return served_score(self.raw(model_input), self.knots)
