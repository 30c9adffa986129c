"""Poisson bootstrap of the paired AUC difference: exact weighted AUCs, reproducible, sane."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import functions as F
from sklearn import metrics as skm

from ml_actions.errors import ConfigurationError
from ml_actions.validation import auc_bootstrap
from ml_actions.validation import exact_metrics as metrics
from ml_actions.validation import paired_statistics as stats
from ml_actions.validation.evaluation import evaluate_scores
from ml_actions.validation.gates import decide
from tests.evaluation.conftest import fraud_scores

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def paired_df(make_df):
    y, a, b = fraud_scores(1200, 0.1, seed=21, decimals=2)  # rounded: many ties
    return y, a, b, make_df(y=y, a=a, b=b, row=np.arange(len(y)))


def _weights(df, replicates: int, seed: int) -> np.ndarray:
    cols = [auc_bootstrap.poisson_weight(F.col("row"), r, seed).alias(f"w{r}")
            for r in range(replicates)]
    rows = df.orderBy("row").select(*cols).toPandas()
    return rows.to_numpy().T


def test_each_replicate_is_sklearns_weighted_auc(paired_df):
    y, a, b, df = paired_df
    sliced = metrics.sliced_frame(df.withColumnRenamed("row", auc_bootstrap.ROW_ID), "y",
                                  ["a", "b"], keep=[auc_bootstrap.ROW_ID])
    found = auc_bootstrap.replicate_aucs(sliced, {"candidate": "a", "champion": "b"}, 6, seed=3)
    aucs = found[metrics.OVERALL]
    weights = _weights(df, 6, seed=3)
    for r, w in enumerate(weights):
        assert aucs["candidate"][r] == pytest.approx(
            skm.roc_auc_score(y, a, sample_weight=w), abs=1e-9)
        assert aucs["champion"][r] == pytest.approx(
            skm.roc_auc_score(y, b, sample_weight=w), abs=1e-9)
    deltas = auc_bootstrap.paired_deltas(aucs)
    assert deltas == pytest.approx([x - z for x, z in zip(aucs["candidate"], aucs["champion"],
                                                          strict=True)])


def test_weights_are_poisson_one_and_reproducible(make_df):
    df = make_df(row=np.arange(20_000))
    w = _weights(df, 2, seed=11)
    assert abs(w[0].mean() - 1) < 4 * np.sqrt(1 / 20_000)
    assert abs(w[0].var() - 1) < 0.06
    assert (w[0] == 0).mean() == pytest.approx(np.exp(-1), abs=0.015)
    assert np.array_equal(w, _weights(df, 2, seed=11))  # same seed, same draws
    assert not np.array_equal(w[0], w[1])  # replicates differ
    assert not np.array_equal(w[0], _weights(df, 1, seed=12)[0])  # seeds differ


def test_bootstrap_interval_agrees_with_delong(make_df, make_config):
    y, a, b = fraud_scores(3000, 0.08, seed=5, decimals=3)
    df = make_df(fraud_label=y, cand=a, champ=b)
    delong = evaluate_scores(df, "cand", "champ", make_config("prod"), "2", "1")
    config = make_config("prod", comparison={"method": "bootstrap", "bootstrap_replicates": 100})
    boot = evaluate_scores(df, "cand", "champ", config, "2", "1")
    auc, ref = boot.comparison["auc"], delong.comparison["auc"]
    assert auc["method"] == "bootstrap" and auc["replicates"] == 100
    assert ref["method"] == "delong"
    assert auc["delta"] == pytest.approx(ref["delta"], abs=1e-12)  # the point estimate is exact
    assert 0.7 < auc["se"] / ref["se"] < 1.4
    lo, hi = auc["interval"]
    assert lo < auc["delta"] < hi
    assert lo == pytest.approx(ref["interval"][0], abs=2 * ref["se"])
    again = evaluate_scores(df, "cand", "champ", config, "2", "1")
    assert again.comparison["auc"]["interval"] == auc["interval"]  # seeded: same every run
    check = next(c for c in decide(again, config).checks if c.name == "auc_vs_champion")
    assert "(bootstrap, 100 replicates)" in check.message and check.interval == (lo, hi)


def test_replicate_statistics():
    deltas = [-0.03, -0.01, 0.0, 0.01, 0.02, 0.05]
    auc = stats.with_replicates(stats.PairedAuc(0.01, 0.0, 40, 900), deltas)
    assert auc.method == "bootstrap" and auc.se == pytest.approx(np.std(deltas, ddof=1))
    assert auc.interval(0.8) == pytest.approx(tuple(np.percentile(deltas, [10, 90])))
    assert auc.p_regression(0.005) == pytest.approx((4 + 1) / (6 + 1))
    assert stats.PairedAuc(0.01, 0.02, 40, 900).method == "delong"
    empty = stats.with_replicates(stats.PairedAuc(0.0, 0.0, 1, 1), [])
    lo, hi = empty.interval(0.95)
    assert np.isnan(lo) and np.isnan(hi) and np.isnan(empty.se)


def test_slices_keep_delong_under_bootstrap(make_df, make_config):
    """A segment's one-sided bound needs tails finer than a few replicates give: DeLong."""
    y, a, b = fraud_scores(3000, 0.08, seed=5, decimals=3)
    amount = np.random.default_rng(5).exponential(120, len(y))
    df = make_df(fraud_label=y, cand=a, champ=b, amount=amount)
    slices = {"buckets": {"amount": [50, 200]}, "min_size": 300, "min_positives": 5}
    delong = evaluate_scores(df, "cand", "champ", make_config("prod", slices=slices), "2", "1")
    config = make_config("prod", slices=slices,
                         comparison={"method": "bootstrap", "bootstrap_replicates": 30})
    boot = evaluate_scores(df, "cand", "champ", config, "2", "1")
    assert boot.comparison["auc"]["method"] == "bootstrap"
    judged = [s for s in boot.slices if s.comparison]
    assert len(judged) == 3
    for got, ref in zip(judged, [s for s in delong.slices if s.comparison], strict=True):
        assert got.comparison["p_regression"] == ref.comparison["p_regression"]
        assert got.comparison["se"] == ref.comparison["se"]


def test_seed_outside_the_hash_range_is_a_config_error(make_config):
    with pytest.raises(ConfigurationError, match="bootstrap_seed"):
        make_config("prod", comparison={"bootstrap_seed": 2**40})
