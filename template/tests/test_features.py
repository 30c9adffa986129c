"""Features see neither the future nor a label inside the delay window (hand-built rows)."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from ml_pipeline.features import FeatureConfig, build_features, feature_columns

pytestmark = pytest.mark.integration

DAY = 86_400


def by_id(features):
    return {r["TRANSACTION_ID"]: r.asDict() for r in features.collect()}


def test_terminal_fraud_is_invisible_until_the_label_delay_has_passed(make_rows):
    rows = make_rows([
        (1, 1, 100, 0, 10, 50, 1),   # fraud on terminal 100 at day 0
        (2, 2, 100, 3, 10, 50, 0),   # day 3: label not known yet (delay 7)
        (3, 3, 100, 7, 10, 50, 0),   # exactly 7 days later: label just became usable
        (4, 4, 100, 8, 10, 50, 0),   # day 8: known
        (5, 5, 200, 8, 10, 50, 0),   # another terminal: never affected
    ])
    out = by_id(build_features(rows, FeatureConfig(delay_days=7)))
    for name in ("terminal_risk_1d", "terminal_risk_7d", "terminal_risk_30d",
                 "terminal_nb_tx_7d", "terminal_last_known_fraud"):
        assert out[2][name] == 0.0, name
        assert out[5][name] == 0.0, name
    assert out[2]["terminal_days_since_known_fraud"] == 7 + 30  # "no known fraud" default
    for tx in (3, 4):
        assert out[tx]["terminal_risk_7d"] == 1.0
        assert out[tx]["terminal_risk_30d"] == 1.0
        assert out[tx]["terminal_nb_tx_7d"] == 1.0
        assert out[tx]["terminal_last_known_fraud"] == 1.0
    assert out[4]["terminal_days_since_known_fraud"] == 8.0
    # the 1-day window ending 7 days before day 8 covers (day 0 10:00, day 1 10:00]
    assert out[4]["terminal_risk_1d"] == 0.0


def test_terminal_episode_counts_known_frauds_and_dates_the_first_one(make_rows):
    """A compromise ends: the age of the first KNOWN fraud tells an old episode from a live
    one, and the count of known frauds a compromise from one stolen card passing by."""
    rows = make_rows([
        (1, 1, 100, 0, 10, 50, 1),   # first fraud on terminal 100 at day 0
        (2, 2, 100, 2, 10, 50, 1),   # second fraud at day 2
        (3, 3, 100, 8, 10, 50, 0),   # day 8: only the day-0 fraud is known (delay 7)
        (4, 4, 100, 10, 10, 50, 0),  # day 10: both are known
        (5, 5, 100, 5, 10, 50, 0),   # day 5: none is known yet, whatever the label says
    ])
    out = by_id(build_features(rows, FeatureConfig(delay_days=7)))
    assert out[3]["terminal_nb_known_frauds"] == 1.0
    assert out[4]["terminal_nb_known_frauds"] == 2.0
    assert out[3]["terminal_days_since_first_known_fraud"] == 8.0
    assert out[4]["terminal_days_since_first_known_fraud"] == 10.0
    assert out[4]["terminal_days_since_known_fraud"] == 8.0  # the last one, for contrast
    assert out[5]["terminal_nb_known_frauds"] == 0.0
    assert out[5]["terminal_days_since_first_known_fraud"] == 7 + 30  # the "none" default


def test_the_delay_is_configurable(make_rows):
    rows = make_rows([(1, 1, 100, 0, 10, 50, 1), (2, 2, 100, 3, 10, 50, 0)])
    assert by_id(build_features(rows, FeatureConfig(delay_days=3)))[2]["terminal_risk_7d"] == 1.0
    assert by_id(build_features(rows, FeatureConfig(delay_days=4)))[2]["terminal_risk_7d"] == 0.0


def test_a_row_never_sees_its_own_label_even_without_delay(make_rows):
    rows = make_rows([(1, 1, 100, 0, 10, 50, 1), (2, 2, 100, 0, 11, 50, 0)])
    out = by_id(build_features(rows, FeatureConfig(delay_days=0)))
    assert out[1]["terminal_risk_1d"] == 0.0 and out[1]["terminal_last_known_fraud"] == 0.0
    assert out[2]["terminal_risk_1d"] == 1.0


def test_future_rows_and_unknown_labels_never_change_a_row(spark, tiny_transactions):
    """Cut at time C: dropping every later row, and flipping every label not yet known at C,
    leaves the features of all rows up to C exactly as they were."""
    sample = tiny_transactions[tiny_transactions["CUSTOMER_ID"] < 60]
    raw = spark.createDataFrame(sample.drop(columns=["TX_FRAUD_SCENARIO"]))
    config = FeatureConfig(delay_days=3)
    cut = int(sample["TX_TIME_SECONDS"].quantile(0.6))
    cut_epoch = F.unix_timestamp(F.lit("2018-04-01 00:00:00").cast("timestamp")) + cut
    ts = F.unix_timestamp(F.col("TX_DATETIME").cast("timestamp"))
    full = build_features(raw, config)
    past_only = build_features(raw.where(ts <= cut_epoch), config)
    flipped = build_features(raw.withColumn(
        "TX_FRAUD", F.when(ts > cut_epoch - 3 * DAY, 1 - F.col("TX_FRAUD"))
        .otherwise(F.col("TX_FRAUD"))), config)
    cols = ["TRANSACTION_ID", *feature_columns(config)]

    def rows(df):  # rounded: equal sets may be summed in a different order
        return sorted(tuple(round(v, 9) for v in r) for r in df.select(*cols).collect())

    def past(df):
        return rows(df.where(F.col("event_seconds") <= cut_epoch))

    reference = past(full)
    assert len(reference) > 1000
    assert past(past_only) == reference
    assert past(flipped) == reference
    # ...and the flip does change later rows, so the check above can fail.
    assert rows(flipped) != rows(full)


def test_customer_windows_count_and_average_amounts(make_rows):
    rows = make_rows([
        (1, 1, 100, 0, 10, 10, 0), (2, 1, 101, 0, 20, 30, 0),
        (3, 1, 102, 5, 10, 50, 0), (4, 1, 103, 40, 10, 70, 0), (5, 2, 100, 5, 10, 99, 0),
    ])
    out = by_id(build_features(rows))
    assert (out[3]["customer_nb_tx_1d"], out[3]["customer_avg_amount_1d"]) == (1.0, 50.0)
    assert (out[3]["customer_nb_tx_7d"], out[3]["customer_avg_amount_7d"]) == (3.0, 30.0)
    assert (out[4]["customer_nb_tx_30d"], out[4]["customer_avg_amount_30d"]) == (1.0, 70.0)
    # amount against the card's own PAST (not counting the row itself)
    assert out[2]["amount_vs_customer_avg_30d"] == 3.0
    assert out[2]["amount_zscore_customer_30d"] == 20.0
    assert out[1]["amount_vs_customer_avg_30d"] == 1.0  # no history: neutral
    assert out[4]["amount_vs_customer_avg_30d"] == 1.0  # history older than 30 days ignored
    assert out[5]["customer_nb_tx_7d"] == 1.0  # another card's rows are not counted


def test_weekend_and_night_flags(make_rows):
    # 2018-04-02 is a Monday; day 5 a Saturday, day 6 a Sunday
    rows = make_rows([(1, 1, 1, 0, 10, 5, 0), (2, 1, 1, 5, 3, 5, 0), (3, 1, 1, 6, 12, 5, 0),
                      (4, 1, 1, 1, 6, 5, 0), (5, 1, 1, 1, 7, 5, 0)])
    out = by_id(build_features(rows))
    flags = {tx: (r["tx_during_weekend"], r["tx_during_night"]) for tx, r in out.items()}
    assert flags == {1: (0, 0), 2: (1, 1), 3: (1, 0), 4: (0, 1), 5: (0, 0)}


def test_feature_table_has_label_and_no_scenario(make_rows):
    out = build_features(make_rows([(1, 1, 1, 0, 10, 5, 1)]).withColumn(
        "TX_FRAUD_SCENARIO", F.lit(1)))
    assert "fraud_label" in out.columns and "TX_FRAUD" not in out.columns
    assert "TX_FRAUD_SCENARIO" not in out.columns
    assert out.first()["fraud_label"] == 1


def test_missing_raw_columns_and_bad_delay_are_errors(make_rows):
    with pytest.raises(ValueError, match=r"^Missing columns: TERMINAL_ID"):
        build_features(make_rows([(1, 1, 1, 0, 10, 5, 0)]).drop("TERMINAL_ID"))
    with pytest.raises(ValueError, match="delay_days"):
        FeatureConfig(delay_days=-1)


def test_baseline_ignores_the_last_two_weeks_so_a_stolen_cards_amounts_stand_out(make_rows):
    """The baseline ends 14 days before the row: recent (possibly fraudulent) amounts never
    raise it, and each recent amount above 3x the baseline is counted."""
    rows = make_rows([
        (1, 1, 100, 0, 10, 20, 0), (2, 1, 100, 2, 10, 40, 0),   # the card's normal spending
        (3, 1, 100, 20, 10, 150, 1), (4, 1, 100, 21, 10, 200, 1),  # stolen: amounts x5
        (5, 1, 100, 22, 10, 90, 0),  # 3x the baseline exactly: not "high"
        (6, 1, 100, 80, 10, 150, 0),  # every earlier row is more than 14 + 30 days back
        (7, 2, 100, 21, 10, 500, 0),  # another card with no history at all
    ])
    out = by_id(build_features(rows))
    # rows 3-5: baseline = days (-24, 6] -> rows 1 and 2, mean 30, std 10
    assert out[3]["amount_vs_customer_baseline_14d"] == 5.0
    assert out[3]["amount_zscore_customer_baseline_14d"] == 12.0
    assert out[4]["amount_vs_customer_baseline_14d"] == pytest.approx(200 / 30)
    assert [out[tx]["customer_nb_high_amounts_14d"] for tx in (3, 4, 5)] == [1.0, 2.0, 2.0]
    # the recent 30-day average is already pulled up by the fraud it should expose
    assert out[5]["amount_vs_customer_avg_30d"] < 1.0 < out[5]["amount_vs_customer_baseline_14d"]
    # no baseline (nothing between 44 and 14 days back, or a new card): neutral
    assert out[6]["amount_vs_customer_baseline_14d"] == 1.0
    assert out[7]["amount_vs_customer_baseline_14d"] == 1.0
    assert out[7]["amount_zscore_customer_baseline_14d"] == 0.0
    assert out[7]["customer_nb_high_amounts_14d"] == 0.0
