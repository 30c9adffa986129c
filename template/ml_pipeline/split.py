"""Time-based train / test split with a label-delay gap, as in the handbook's chapter 3.

train [start, start + train_days) | gap of delay_days | test [.., + test_days)

The gap exists because the training labels of the last days are not known until delay_days
later; the model is trained on day T+train_days+delay at the earliest, and tested on what
follows. Cards with a fraud already known at scoring time are removed from the test set (the
bank has blocked them), as the handbook does: for a test day D that is any card with a fraud
on a day in [train start, D - delay - 1].
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_pipeline.features import EVENT_TIME_COL, LABEL_COL, SECONDS_PER_DAY

DAY_COL = "event_day"


@dataclass(frozen=True)
class TimeSplit:
    train_start: dt.date
    train_days: int
    delay_days: int
    test_days: int

    def __post_init__(self) -> None:
        for name in ("train_days", "test_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.delay_days < 0:
            raise ValueError(f"delay_days must be >= 0, got {self.delay_days}")

    @property
    def train_end(self) -> dt.date:
        return self.train_start + dt.timedelta(days=self.train_days)

    @property
    def test_start(self) -> dt.date:
        return self.train_end + dt.timedelta(days=self.delay_days)

    @property
    def test_end(self) -> dt.date:
        """Exclusive."""
        return self.test_start + dt.timedelta(days=self.test_days)

    def shifted(self, weeks: int) -> TimeSplit:
        return TimeSplit(self.train_start + dt.timedelta(weeks=weeks), self.train_days,
                         self.delay_days, self.test_days)


def epoch_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def latest_split(last_day: dt.date, train_days: int, delay_days: int,
                 test_days: int) -> TimeSplit:
    """The most recent split whose test period ends with `last_day` (inclusive)."""
    span = train_days + delay_days + test_days
    return TimeSplit(last_day - dt.timedelta(days=span - 1), train_days, delay_days, test_days)


def data_day_range(raw: DataFrame) -> tuple[dt.date, dt.date]:
    row = raw.select(F.min(F.to_date("TX_DATETIME")).alias("lo"),
                     F.max(F.to_date("TX_DATETIME")).alias("hi")).first()
    if row is None or row["lo"] is None:
        raise ValueError("the transaction data is empty")
    return row["lo"], row["hi"]


def history_for(raw: DataFrame, split: TimeSplit, lookback_days: int) -> DataFrame:
    """Raw rows that can influence a feature of the split: older rows fall outside every
    window, later rows are never read by a window. Pruning is purely a speed-up."""
    lo = split.train_start - dt.timedelta(days=lookback_days + 1)
    day = F.to_date("TX_DATETIME")
    return raw.where((day >= F.lit(lo)) & (day < F.lit(split.test_end)))


def _with_day(features: DataFrame) -> DataFrame:
    if DAY_COL in features.columns:
        return features
    return features.withColumn(DAY_COL, F.floor(F.col(EVENT_TIME_COL) / SECONDS_PER_DAY)
                               .cast("long"))


def split_features(features: DataFrame, split: TimeSplit,
                   exclude_known_fraud_cards: bool = True) -> tuple[DataFrame, DataFrame]:
    """(train, test) feature rows; both carry `event_day` (days since 1970-01-01, UTC)."""
    rows = _with_day(features)
    start, train_end = epoch_day(split.train_start), epoch_day(split.train_end)
    test_start, test_end = epoch_day(split.test_start), epoch_day(split.test_end)
    day = F.col(DAY_COL)
    train = rows.where((day >= start) & (day < train_end))
    test = rows.where((day >= test_start) & (day < test_end))
    if exclude_known_fraud_cards:
        first_fraud = (rows.where((F.col(LABEL_COL) == 1) & (day >= start) & (day < test_end))
                       .groupBy("CUSTOMER_ID").agg(F.min(DAY_COL).alias("__first_fraud_day")))
        known = F.col("__first_fraud_day") <= day - split.delay_days - 1
        test = (test.join(first_fraud, on="CUSTOMER_ID", how="left")
                .where(F.col("__first_fraud_day").isNull() | ~known)
                .select(*rows.columns))
    return train, test
