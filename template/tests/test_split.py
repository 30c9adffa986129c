"""Time split with a delay gap; cards with an already-known fraud leave the test set."""

from __future__ import annotations

import datetime as dt

import pytest

from ml_pipeline.features import FeatureConfig, build_features
from ml_pipeline.split import TimeSplit, history_for, latest_split, split_features

MONDAY = dt.date(2018, 4, 2)


def test_split_periods_follow_each_other_with_the_delay_gap():
    split = TimeSplit(MONDAY, train_days=7, delay_days=3, test_days=5)
    assert split.train_end == dt.date(2018, 4, 9)
    assert split.test_start == dt.date(2018, 4, 12)
    assert split.test_end == dt.date(2018, 4, 17)
    assert split.shifted(1).train_start == dt.date(2018, 4, 9)
    latest = latest_split(dt.date(2018, 4, 30), 7, 7, 7)
    assert latest.test_end == dt.date(2018, 5, 1) and latest.train_start == dt.date(2018, 4, 10)


@pytest.mark.parametrize("kwargs", [{"train_days": 0}, {"test_days": 0}, {"delay_days": -1}])
def test_split_rejects_empty_periods(kwargs):
    args = {"train_days": 7, "delay_days": 7, "test_days": 7, **kwargs}
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TimeSplit(MONDAY, **args)


@pytest.mark.integration
def test_split_rows_and_known_fraud_cards(make_rows):
    rows = make_rows([
        (1, 1, 100, 0, 10, 5, 0), (2, 2, 100, 1, 10, 5, 1),  # train; card 2 fraud on day 1
        (3, 3, 100, 2, 10, 5, 0),                             # gap: in no set
        (4, 2, 101, 3, 10, 5, 0),                             # card 2 known: removed
        (5, 4, 101, 3, 10, 5, 1), (6, 4, 101, 4, 10, 5, 0),   # card 4's fraud on day 3 is
        (7, 4, 101, 5, 10, 5, 0),                             # known from day 5 (delay 1)
        (8, 5, 101, 5, 10, 5, 0), (9, 5, 101, 6, 10, 5, 0),   # day 6: after the test period
    ])
    features = build_features(rows, FeatureConfig(delay_days=1))
    split = TimeSplit(MONDAY, train_days=2, delay_days=1, test_days=3)
    train, test = split_features(features, split)
    assert sorted(r["TRANSACTION_ID"] for r in train.collect()) == [1, 2]
    assert sorted(r["TRANSACTION_ID"] for r in test.collect()) == [5, 6, 8]
    assert test.columns == train.columns
    _, everyone = split_features(features, split, exclude_known_fraud_cards=False)
    assert sorted(r["TRANSACTION_ID"] for r in everyone.collect()) == [4, 5, 6, 7, 8]
    pruned = history_for(rows, TimeSplit(dt.date(2018, 4, 5), 1, 1, 1), lookback_days=1)
    assert sorted(r["TRANSACTION_ID"] for r in pruned.collect()) == [2, 3, 4, 5, 6, 7, 8]
