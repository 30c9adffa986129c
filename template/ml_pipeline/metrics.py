"""Ranking and threshold metrics computed from (label, score) arrays, the handbook's way.

Written with numpy rather than Spark's BinaryClassificationEvaluator because Spark's
areaUnderPR interpolates linearly, while the handbook (and scikit-learn) report average
precision as a step sum; the tests check these against scikit-learn as an independent
reference. Card precision@k is the handbook's fraud-investigator metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata


@dataclass(frozen=True)
class ClassificationMetrics:
    auc_roc: float
    auc_pr: float
    precision: float
    recall: float
    f1_score: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def auc_roc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties (nan if only one class is present)."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Sum over distinct thresholds of (recall step) x precision: scikit-learn's definition."""
    labels = np.asarray(labels).astype(float)
    if labels.sum() == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=float), kind="mergesort")
    sorted_scores, sorted_labels = np.asarray(scores, dtype=float)[order], labels[order]
    last_of_tie = np.r_[np.diff(sorted_scores) != 0, True]
    tp = np.cumsum(sorted_labels)[last_of_tie]
    predicted = (np.arange(len(sorted_labels)) + 1)[last_of_tie]
    precision, recall = tp / predicted, tp / labels.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def threshold_metrics(labels: np.ndarray, scores: np.ndarray,
                      threshold: float) -> tuple[float, float, float]:
    """Precision, recall, F1 of `score >= threshold` (0.0 where undefined)."""
    labels = np.asarray(labels).astype(bool)
    predicted = np.asarray(scores, dtype=float) >= threshold
    tp = int((predicted & labels).sum())
    precision = tp / predicted.sum() if predicted.sum() else 0.0
    recall = tp / labels.sum() if labels.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(precision), float(recall), float(f1)


def classification_metrics(labels: np.ndarray, scores: np.ndarray,
                           threshold: float = 0.5) -> ClassificationMetrics:
    precision, recall, f1 = threshold_metrics(labels, scores, threshold)
    return ClassificationMetrics(auc_roc=auc_roc(labels, scores),
                                 auc_pr=average_precision(labels, scores),
                                 precision=precision, recall=recall, f1_score=f1)


def card_precision_at_k(frame: pd.DataFrame, k: int = 100, day_col: str = "day",
                        card_col: str = "CUSTOMER_ID", label_col: str = "fraud_label",
                        score_col: str = "score", remove_detected: bool = True) -> float:
    """The handbook's card precision top-k: per day, the k cards with the highest max score,
    the share of them with a fraud that day; averaged over days. As in the handbook, a card
    found compromised in an earlier day's top k is blocked and leaves the later days."""
    per_card = frame.groupby([day_col, card_col]).agg(score=(score_col, "max"),
                                                      fraud=(label_col, "max"))
    detected: set = set()
    daily = []
    for _, group in per_card.groupby(level=0):
        cards = group.index.get_level_values(1)
        top = group[~cards.isin(detected)].nlargest(k, "score")
        daily.append(top["fraud"].sum() / k)
        if remove_detected:
            detected.update(top.index.get_level_values(1)[top["fraud"].to_numpy() == 1])
    return float(np.mean(daily)) if daily else float("nan")
