"""evaluate_scores on score columns: champion statistics, flips, slices, bad scores, test data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from ml_actions.errors import ConfigurationError, DataError
from ml_actions.validation import paired_statistics as stats
from ml_actions.validation.evaluation import evaluate_scores
from ml_actions.validation.gates import decide
from ml_actions.validation.test_data import load_test_data
from tests.evaluation.conftest import fraud_scores

pytestmark = pytest.mark.integration


def delong_reference(y, a, b):
    """DeLong et al. (1988) by brute force: placements, covariance matrix, var(A - B)."""
    pos, neg = y == 1, y == 0

    def place(s):
        sp, sn = s[pos], s[neg]
        v10 = np.array([((sn < x).sum() + 0.5 * (sn == x).sum()) / len(sn) for x in sp])
        v01 = np.array([((sp > x).sum() + 0.5 * (sp == x).sum()) / len(sp) for x in sn])
        return v10, v01

    a10, a01 = place(a)
    b10, b01 = place(b)
    cov = np.cov(np.vstack([a10, b10])) / pos.sum() + np.cov(np.vstack([a01, b01])) / neg.sum()
    return a10.mean() - b10.mean(), float(np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))


@pytest.fixture(scope="module")
def scored(make_df):
    y, a, b = fraud_scores(3000, 0.08, seed=5, decimals=3)
    rng = np.random.default_rng(5)
    amount = np.round(rng.exponential(120, len(y)), 2)
    weekend = rng.random(len(y)) < 0.3
    return y, a, b, amount, weekend, make_df(fraud_label=y, cand=a, champ=b, amount=amount,
                                             is_weekend=weekend)


def test_candidate_vs_champion_statistics(scored, make_config):
    y, a, b, amount, weekend, df = scored
    config = make_config("prod", evaluation={"money": {"amount_column": "amount"}},
                         slices={"columns": ["is_weekend"], "buckets": {"amount": [50, 200]},
                                 "min_size": 600, "min_positives": 5})
    ev = evaluate_scores(df, "cand", "champ", config, "7", "6")
    assert ev.n_rows == 3000 and ev.n_positives == int(y.sum())
    assert ev.candidate.metrics["auc_roc"] == pytest.approx(skm.roc_auc_score(y, a), abs=1e-9)
    assert ev.champion.metrics["auc_roc"] == pytest.approx(skm.roc_auc_score(y, b), abs=1e-9)
    delta, se = delong_reference(y, a, b)
    auc = ev.comparison["auc"]
    assert auc["delta"] == pytest.approx(delta, abs=1e-9)
    assert auc["se"] == pytest.approx(se, rel=1e-6)
    lo, hi = auc["interval"]
    assert lo == pytest.approx(delta - 1.959963984540054 * se, rel=1e-6) and hi > lo
    ca, cb = a >= 0.5, b >= 0.5
    flips = ev.comparison["flips"]
    assert flips["newly_blocked"] == int((ca & ~cb).sum())
    assert flips["newly_missed"] == int(((y == 1) & cb & ~ca).sum())
    assert flips["newly_caught"] == int(((y == 1) & ca & ~cb).sum())
    # the candidate's precision at the champion's number of alerts, computed by brute force
    k = int(cb.sum())
    rate = ev.comparison["alert_rate"]
    best = max((t for t in np.unique(a) if (a >= t).sum() <= k), key=lambda t: (a >= t).sum())
    assert rate["candidate_alerts"] == int((a >= best).sum()) <= k
    assert rate["candidate_precision"] == pytest.approx(y[a >= best].mean(), abs=1e-12)
    # McNemar's discordant frauds at that alert count, and legitimate rows unblocked
    assert rate["positives"] == int(y.sum())
    assert rate["only_candidate"] == int(((y == 1) & (a >= best) & ~cb).sum())
    assert rate["only_champion"] == int(((y == 1) & ~(a >= best) & cb).sum())
    assert flips["newly_unblocked_legit"] == int(((y == 0) & ~ca & cb).sum())
    assert ev.candidate.money["fraud_amount_caught"] == pytest.approx(
        amount[(y == 1) & ca].sum(), abs=1e-6)
    assert ev.candidate.intervals["auc_roc"][0] < ev.candidate.metrics["auc_roc"]
    assert ev.candidate.roc_curve[0] == (0.0, 0.0) and len(ev.candidate.pr_curve) > 3
    assert len(ev.test_data_digest) == 16
    # slices: per-segment AUC equals sklearn on the subset; small segments are not judged
    segs = {(s.column, s.segment): s for s in ev.slices}
    assert set(segs) == {("is_weekend", "true"), ("is_weekend", "false"), ("amount", "<50"),
                         ("amount", "[50, 200)"), ("amount", ">=200")}
    mask = weekend
    assert segs[("is_weekend", "true")].metrics["auc_roc"] == pytest.approx(
        skm.roc_auc_score(y[mask], a[mask]), abs=1e-9)
    mask = (amount >= 50) & (amount < 200)
    assert segs[("amount", "[50, 200)")].size == int(mask.sum())
    judged = [s for s in ev.slices if s.judged]
    assert all(s.size >= 600 for s in judged) and any(not s.judged for s in ev.slices)
    assert all(s.comparison["se"] > 0 for s in judged)
    decision = decide(ev, config)
    names = {c.name for c in decision.checks}
    assert "auc_vs_champion" in names and any(n.startswith("slice_vs_champion[") for n in names)


def test_same_model_twice_has_zero_difference(scored, make_config):
    df = scored[-1]
    ev = evaluate_scores(df, "cand", "cand", make_config("prod"))
    assert ev.comparison["auc"]["delta"] == 0 and ev.comparison["auc"]["se"] == pytest.approx(
        0, abs=1e-7)
    assert ev.comparison["flips"]["newly_blocked"] == 0
    assert decide(ev, make_config("prod")).checks  # evaluable


def test_target_precision_strategy_and_no_champion(scored, make_config):
    y, a, *_ , df = scored
    config = make_config("prod", evaluation={"threshold_strategy": "target_precision",
                                             "target_precision": 0.5})
    ev = evaluate_scores(df, "cand", None, config)
    t = ev.candidate.decision_threshold
    assert y[a >= t].mean() >= 0.5 and ev.champion is None and ev.comparison == {}
    lower = a[a < t].max()
    assert y[a >= lower].mean() < 0.5
    assert ev.candidate.metrics["precision"] == pytest.approx(y[a >= t].mean(), abs=1e-12)


@pytest.mark.parametrize("scores,match", [
    ([0.1, float("nan"), 0.3, 0.9], "NaN"),
    ([0.1, 1.2, 0.3, 0.9], "outside"),
    ([0.0, 1.0, 0.0, 1.0], "hard 0/1 labels"),
])
def test_unusable_scores_are_refused(make_df, make_config, scores, match):
    df = make_df(fraud_label=[0, 1, 0, 1], s=scores)
    with pytest.raises(DataError, match=match):
        evaluate_scores(df, "s", None, make_config("dev"))


def test_bad_slice_and_amount_config(scored, make_config):
    df = scored[-1]
    with pytest.raises(ConfigurationError, match="not in the test data"):
        evaluate_scores(df, "cand", None, make_config("dev", slices={"columns": ["nope"]}))
    with pytest.raises(ConfigurationError, match="max_segments"):
        evaluate_scores(df, "cand", None, make_config("dev", slices={"columns": ["amount"],
                                                                      "max_segments": 10}))
    with pytest.raises(ConfigurationError, match="amount_column"):
        evaluate_scores(df, "cand", None,
                        make_config("dev", evaluation={"money": {"amount_column": "x"}}))
    with pytest.raises(ConfigurationError, match="increasing"):
        make_config("dev", slices={"buckets": {"amount": [200, 50]}})


def test_load_test_data_formats(spark, tmp_path, make_df):
    df = make_df(fraud_label=[0, 1, 0, 1], f=[1.0, 2.0, 3.0, 4.0])
    df.write.parquet(str(tmp_path / "data"))
    assert load_test_data(spark, str(tmp_path / "data"), "fraud_label").count() == 4
    csv = tmp_path / "test.csv"
    csv.write_text("fraud_label,f\n0,1.5\n1,2.5\n0,0.5\n")
    loaded = load_test_data(spark, f"file://{csv}", "fraud_label")
    assert loaded.count() == 3 and "f" in loaded.columns


@pytest.mark.parametrize("content,match", [
    (None, "no such file"),
    ("", "is empty"),
    ("fraud_label,f\n", "no rows"),
    ("label,f\n0,1\n1,2\n", "column not found"),
    ("fraud_label,f\n0,1\n2,2\n1,3\n", "must be binary"),
    ("fraud_label,f\n0,1\n,2\n1,3\n", "must be binary"),
    ("fraud_label,f\n0,1\n0,2\n", "single class"),
    ("fraud_label,f\nno,1\nyes,2\n", r"must be binary.*'no'"),  # text labels: not unreadable
])
def test_bad_test_data(spark, tmp_path, content, match):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=match):
        load_test_data(spark, str(path), "fraud_label")


def test_corrupt_parquet_is_unreadable(spark, tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet at all" * 10)
    with pytest.raises(DataError, match="cannot read"):
        load_test_data(spark, str(path), "fraud_label")


def test_nanosecond_timestamps_say_how_to_write_them(spark, tmp_path):
    """pandas writes nanosecond timestamps, which Spark cannot read: the one line says what to
    do instead of calling the file corrupt (a labels table's `label_time`, typically)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"fraud_label": [0, 1], "label_time": pa.array(
        [0, 1], type=pa.timestamp("ns", tz="UTC"))}), path)
    with pytest.raises(DataError, match="coerce_timestamps='us'") as error:
        load_test_data(spark, str(path), "fraud_label")
    assert "corrupt" not in str(error.value)


def test_wilson_and_mde():
    lo, hi = stats.wilson_interval(8, 10, 0.95)
    assert lo == pytest.approx(0.4901624, abs=1e-6) and hi == pytest.approx(0.9433178, abs=1e-6)
    assert stats.wilson_interval(0, 0, 0.95) is None
    paired = stats.PairedAuc(delta=-0.01, se=0.004, positives=50, negatives=5000)
    assert paired.minimum_detectable_effect(0.95, 0.8) == pytest.approx(0.004 * 2.8015852, rel=1e-6)
    assert paired.p_regression(0.005) == pytest.approx(0.1056498, abs=1e-6)
    assert stats.PairedAuc(-0.01, float("nan"), 1, 9).p_regression(0.005) == 0.0
