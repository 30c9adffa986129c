"""Our metrics against scikit-learn (an independent reference) and the handbook's CP@k."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from ml_pipeline.metrics import (
    auc_roc,
    average_precision,
    card_precision_at_k,
    classification_metrics,
)


def test_ranking_metrics_match_scikit_learn_with_ties():
    rng = np.random.default_rng(1)
    labels = rng.random(2000) < 0.05
    scores = np.round(rng.random(2000) + labels * 0.3, 2)  # rounding creates ties
    assert math.isclose(auc_roc(labels, scores), roc_auc_score(labels, scores), rel_tol=1e-12)
    assert math.isclose(average_precision(labels, scores),
                        average_precision_score(labels, scores), rel_tol=1e-12)


def test_threshold_metrics_match_scikit_learn():
    rng = np.random.default_rng(2)
    labels = rng.random(500) < 0.2
    scores = rng.random(500) * 0.6 + labels * 0.3
    result = classification_metrics(labels, scores, threshold=0.5)
    p, r, f, _ = precision_recall_fscore_support(labels, scores >= 0.5, average="binary")
    assert (result.precision, result.recall, result.f1_score) == \
        (float(p), float(r), float(f))
    assert set(result.as_dict()) == {"auc_roc", "auc_pr", "precision", "recall", "f1_score"}


def test_degenerate_inputs_are_nan_or_zero_not_errors():
    assert math.isnan(auc_roc(np.zeros(5), np.arange(5)))
    assert math.isnan(average_precision(np.zeros(5), np.arange(5)))
    result = classification_metrics(np.array([0, 1]), np.array([0.1, 0.2]), threshold=0.9)
    assert (result.precision, result.recall, result.f1_score) == (0.0, 0.0, 0.0)


def test_card_precision_at_k_uses_max_score_per_card_per_day():
    frame = pd.DataFrame({
        "day": [1, 1, 1, 1, 2, 2],
        "CUSTOMER_ID": [10, 10, 11, 12, 10, 11],
        "fraud_label": [0, 1, 0, 0, 0, 1],
        "score": [0.9, 0.1, 0.8, 0.2, 0.7, 0.6],
    })
    # day 1: top-2 cards by max score are 10 (has a fraud) and 11 -> 1/2; card 10 is then
    # blocked, so day 2 ranks only card 11 (fraud) -> 1/2 again
    assert card_precision_at_k(frame, k=2) == 0.5
    # top-1: day 1 card 10 (fraud) -> 1; day 2 without the blocked card 10: card 11 -> 1
    assert card_precision_at_k(frame, k=1) == 1.0
    # without blocking, day 2's top card is 10 again (no fraud that day) -> 0
    assert card_precision_at_k(frame, k=1, remove_detected=False) == 0.5
