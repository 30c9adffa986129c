"""Every metric equals scikit-learn's on the same scores (ties, tiny sets, extreme imbalance)."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F
from sklearn import metrics as skm

from ml_actions.validation import exact_metrics as metrics
from tests.evaluation.conftest import fraud_scores

pytestmark = pytest.mark.integration
TOL = 1e-9


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    y_ties, s_ties, _ = fraud_scores(600, 0.2, seed=1, decimals=1)
    y_cont = (rng.random(1500) < 0.1).astype(int)
    s_cont = rng.beta(2, 5, 1500) * (1 - y_cont) + rng.beta(4, 3, 1500) * y_cont
    y_imb = np.zeros(4000, dtype=int)
    y_imb[[5, 900, 3100]] = 1
    s_imb = np.round(rng.random(4000), 2)
    s_imb[[5, 900, 3100]] = [0.99, 0.42, 0.07]
    return {
        "ties": (y_ties, s_ties),
        "continuous": (y_cont, s_cont),
        "imbalance_3_in_4000": (y_imb, s_imb),
        "tiny2": (np.array([0, 1]), np.array([0.3, 0.7])),
        "tiny3_tie": (np.array([0, 1, 1]), np.array([0.5, 0.5, 0.2])),
        "all_tied": (np.array([0, 1, 0, 1, 1]), np.full(5, 0.5)),
        "perfect": (np.array([0, 0, 0, 1, 1]), np.array([0.0, 0.1, 0.2, 0.9, 1.0])),
        "inverted": (np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.8, 0.9])),
        "extremes": (np.array([0, 1, 0, 1, 0, 1]), np.array([0.0, 1.0, 0.5, 0.5, 1.0, 0.0])),
    }


CASES = _cases()


def sklearn_metrics(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, float]:
    pred = (s >= threshold).astype(int)
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {
        "auc_roc": skm.roc_auc_score(y, s), "auc_pr": skm.average_precision_score(y, s),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1_score": skm.f1_score(y, pred, zero_division=0),
        "accuracy": skm.accuracy_score(y, pred), "brier_score": skm.brier_score_loss(y, s),
        "recall_at_1pct_fpr": float(tpr[fpr <= 0.01].max()),
        "false_positive_rate": fp / (fp + tn),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
    }


@pytest.fixture(scope="module")
def all_cases(make_df):
    """All cases in one frame, one segment each: one Spark aggregation measures them all."""
    names, ys, ss, amounts = [], [], [], []
    for name, (y, s) in CASES.items():
        names += [name] * len(y)
        ys.append(y)
        ss.append(s)
        amounts.append(np.arange(len(y), dtype=float) + 1.5)
    df = make_df(case=names, y=np.concatenate(ys), s=np.concatenate(ss),
                 amt=np.concatenate(amounts))
    ranked = metrics.ranked_frame(df, "y", {"m": "s"}, "amt", [("case", F.col("case"))]).cache()
    yield df, ranked
    ranked.unpersist()


@pytest.mark.parametrize("threshold", [0.5, 0.2])
def test_every_metric_equals_sklearn_per_case(all_cases, threshold):
    _, ranked = all_cases
    summary = metrics.summarize(ranked, {"m": threshold}, review_cost=2.0)
    for name, (y, s) in CASES.items():
        got = summary[("m", "case", name)]
        ref = sklearn_metrics(y, s, threshold)
        for key in ("auc_roc", "auc_pr", "precision", "recall", "f1_score", "accuracy",
                    "brier_score", "recall_at_1pct_fpr", "false_positive_rate"):
            assert got["metrics"][key] == pytest.approx(ref[key], abs=TOL), (name, key)
        assert got["confusion"] == {k: int(ref[k]) for k in ("tp", "fp", "tn", "fn")}, name
        assert got["size"] == len(y) and got["positives"] == int(y.sum())


def test_overall_segment_equals_sklearn_on_all_rows(all_cases):
    df, ranked = all_cases
    summary = metrics.summarize(ranked, {"m": 0.5})
    y = np.concatenate([c[0] for c in CASES.values()])
    s = np.concatenate([c[1] for c in CASES.values()])
    got = summary[("m", *metrics.OVERALL)]["metrics"]
    assert got["auc_roc"] == pytest.approx(skm.roc_auc_score(y, s), abs=TOL)
    assert got["auc_pr"] == pytest.approx(skm.average_precision_score(y, s), abs=TOL)


def test_money_metric_matches_numpy(all_cases):
    _, ranked = all_cases
    summary = metrics.summarize(ranked, {"m": 0.5}, review_cost=2.0, false_positive_cost=0.5)
    y, s = CASES["ties"]
    amt = np.arange(len(y), dtype=float) + 1.5
    alert = s >= 0.5
    money = summary[("m", "case", "ties")]["money"]
    caught = amt[(y == 1) & alert].sum()
    assert money["fraud_amount_caught"] == pytest.approx(caught, abs=1e-6)
    assert money["fraud_amount_missed"] == pytest.approx(amt[(y == 1) & ~alert].sum(), abs=1e-6)
    cost = alert.sum() * 2.0 + (alert & (y == 0)).sum() * 0.5
    assert money["net_savings"] == pytest.approx(caught - cost, abs=1e-6)


@pytest.mark.parametrize("strategy,target", [("target_precision", 0.6), ("target_fpr", 0.05),
                                             ("target_precision", 0.999)])
def test_chosen_threshold_is_the_lowest_meeting_the_target(make_df, strategy, target):
    y, s, _ = fraud_scores(800, 0.15, seed=3, decimals=2)
    ranked = metrics.ranked_frame(make_df(y=y, s=s), "y", {"m": "s"})
    threshold, note = metrics.choose_threshold(ranked, "m", strategy, 0.5, target_precision=target,
                                               target_fpr=target)
    meets = []
    for t in np.unique(s):
        pred = s >= t
        value = (skm.precision_score(y, pred, zero_division=0) if strategy == "target_precision"
                 else (pred & (y == 0)).sum() / (y == 0).sum())
        if (value >= target) if strategy == "target_precision" else (value <= target):
            meets.append(t)
    if meets:
        assert note is None and threshold == pytest.approx(min(meets), abs=TOL)
    else:
        assert note and "nothing is alerted" in note and threshold > s.max()


def test_fixed_strategy_returns_configured_threshold(make_df):
    ranked = metrics.ranked_frame(make_df(y=[0, 1], s=[0.2, 0.8]), "y", {"m": "s"})
    assert metrics.choose_threshold(ranked, "m", "fixed", 0.37) == (0.37, None)
    with pytest.raises(ValueError):
        metrics.choose_threshold(ranked, "m", "bogus", 0.5)


def test_thinned_curves_are_points_of_sklearns_curves(all_cases):
    df, _ = all_cases
    y, s = CASES["continuous"]
    one = df.where(F.col("case") == "continuous")
    ranked = metrics.ranked_frame(one, "y", {"m": "s"})
    roc, pr = metrics.curve_points(ranked, "m", points=10)
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    ref_roc = set(zip(np.round(fpr, 12), np.round(tpr, 12), strict=True))
    assert len(roc) <= 21 and roc[0] == (0.0, 0.0) and roc[-1] == pytest.approx((1.0, 1.0))
    assert all((round(a, 12), round(b, 12)) in ref_roc for a, b in roc)
    assert all(b1 <= b2 for (_, b1), (_, b2) in zip(roc, roc[1:], strict=False))
    precision, recall, _ = skm.precision_recall_curve(y, s)
    ref_pr = set(zip(np.round(recall, 12), np.round(precision, 12), strict=True))
    assert 0 < len(pr) <= 21 and all((round(r, 12), round(p, 12)) in ref_pr for r, p in pr)


def test_binary_metrics_standalone_entry(make_df):
    y, s, _ = fraud_scores(400, 0.1, seed=11)
    amt = np.linspace(1, 100, len(y))
    got = metrics.binary_metrics(make_df(y=y, s=s, amt=amt), "y", "s", 0.3, "amt",
                                 {"review_cost": 1.0})
    ref = sklearn_metrics(y, s, 0.3)
    for key in ("auc_roc", "auc_pr", "precision", "recall", "f1_score", "brier_score"):
        assert got[key] == pytest.approx(ref[key], abs=TOL)
    assert got["tp"] == ref["tp"] and got["fn"] == ref["fn"]
    assert got["review_cost"] == (got["tp"] + got["fp"]) * 1.0


def test_thin_keeps_ends_and_bounds_count():
    pts = [(i / 999, i / 999) for i in range(1000)]
    thinned = metrics._thin(pts, 50)
    assert len(thinned) == 50 and thinned[0] == pts[0] and thinned[-1] == pts[-1]
