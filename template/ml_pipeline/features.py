"""Fraud features as Spark window functions over event time, honest about label delay.

Every window is a `rangeBetween` on the transaction's epoch seconds, partitioned by customer
or terminal, and ends at the transaction itself (customer windows), `baseline_gap_days` before
it (the customer's baseline) or `delay_days` before it (terminal windows, the only ones that
read labels). A fraud label reaches the bank late: a label is usable only `delay_days` after
its transaction, so a terminal's fraud rate for a transaction at time t counts labels of
transactions in (t - delay - w, t - delay]. No window reaches past t, so a later transaction
can never change an earlier row's features.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

SECONDS_PER_DAY = 86_400
LABEL_COL = "fraud_label"
EVENT_TIME_COL = "event_seconds"
REQUIRED_RAW_COLS = ("TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT")
# Columns of the feature table that are not model inputs.
KEY_COLS = ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", EVENT_TIME_COL]


@dataclass(frozen=True)
class FeatureConfig:
    """Window sizes, the label delay and what counts as night (hour <= night_end_hour)."""

    customer_windows_days: tuple[int, ...] = (1, 7, 30)
    terminal_windows_days: tuple[int, ...] = (1, 7, 30)
    delay_days: int = 7
    history_days: int = 30
    night_end_hour: int = 6
    episode_days: int = 30
    baseline_gap_days: int = 14
    baseline_days: int = 30
    high_amount_ratio: float = 3.0
    source_label_col: str = "TX_FRAUD"

    def __post_init__(self) -> None:
        if self.delay_days < 0:
            raise ValueError(f"delay_days must be >= 0, got {self.delay_days}")

    @property
    def lookback_days(self) -> int:
        """How far back any feature looks: rows older than this cannot change a feature."""
        return max(max(self.customer_windows_days), self.history_days,
                   self.delay_days + max(*self.terminal_windows_days, self.episode_days),
                   2 * self.baseline_gap_days + self.baseline_days)


def feature_columns(config: FeatureConfig | None = None) -> list[str]:
    """Model input columns, in a stable order (the model's VectorAssembler uses it)."""
    config = config or FeatureConfig()
    cols = ["TX_AMOUNT", "tx_during_weekend", "tx_during_night"]
    for days in config.customer_windows_days:
        cols += [f"customer_nb_tx_{days}d", f"customer_avg_amount_{days}d"]
    cols += [f"amount_vs_customer_avg_{config.history_days}d",
             f"amount_zscore_customer_{config.history_days}d"]
    cols += baseline_feature_columns(config)
    for days in config.terminal_windows_days:
        cols += [f"terminal_nb_tx_{days}d", f"terminal_risk_{days}d"]
    cols += ["terminal_last_known_fraud", "terminal_days_since_known_fraud",
             "terminal_nb_known_frauds", "terminal_days_since_first_known_fraud"]
    return cols


def baseline_feature_columns(config: FeatureConfig) -> list[str]:
    gap = config.baseline_gap_days
    return [f"amount_vs_customer_baseline_{gap}d", f"amount_zscore_customer_baseline_{gap}d",
            f"customer_nb_high_amounts_{gap}d"]


def event_seconds(df: DataFrame) -> Column:
    """Epoch seconds of TX_DATETIME (TIMESTAMP or TIMESTAMP_NTZ; the session is UTC)."""
    return F.unix_timestamp(F.col("TX_DATETIME").cast("timestamp")).cast("long")


def _window(key: str, start_seconds: int, end_seconds: int):
    return (Window.partitionBy(key).orderBy(F.col(EVENT_TIME_COL))
            .rangeBetween(start_seconds, end_seconds))


def build_features(df: DataFrame, config: FeatureConfig | None = None) -> DataFrame:
    """Raw transactions (handbook columns) -> one feature row per transaction.

    Output: the key columns, TX_AMOUNT, the features of `feature_columns(config)` and the
    label as `fraud_label` (int). TX_FRAUD_SCENARIO is dropped: it is simulator ground truth.
    """
    config = config or FeatureConfig()
    missing = [c for c in (*REQUIRED_RAW_COLS, config.source_label_col) if c not in df.columns]
    if missing:
        raise ValueError(f"Missing columns: {', '.join(missing)}")
    if "TRANSACTION_ID" not in df.columns:
        df = df.withColumn("TRANSACTION_ID", F.monotonically_increasing_id())
    base = df.select(
        F.col("TRANSACTION_ID").cast("long"), "TX_DATETIME",
        F.col("CUSTOMER_ID").cast("long"), F.col("TERMINAL_ID").cast("long"),
        F.col("TX_AMOUNT").cast("double"),
        F.col(config.source_label_col).cast("int").alias(LABEL_COL),
    ).withColumn(EVENT_TIME_COL, event_seconds(df))
    hour = F.hour(F.col("TX_DATETIME").cast("timestamp"))
    weekday = F.dayofweek(F.col("TX_DATETIME").cast("timestamp"))  # 1 = Sunday, 7 = Saturday
    out = base.withColumns({
        "tx_during_weekend": weekday.isin(1, 7).cast("int"),
        "tx_during_night": (hour <= config.night_end_hour).cast("int"),
    })
    out = add_customer_features(out, config)
    out = add_baseline_features(out, config)
    out = add_terminal_features(out, config)
    return out.select(*KEY_COLS, *feature_columns(config), LABEL_COL)


def add_customer_features(df: DataFrame, config: FeatureConfig) -> DataFrame:
    """Spending behaviour of the card up to and including this transaction (no labels)."""
    cols: dict[str, Column] = {}
    for days in config.customer_windows_days:
        window = _window("CUSTOMER_ID", -days * SECONDS_PER_DAY + 1, 0)
        cols[f"customer_nb_tx_{days}d"] = F.count("TX_AMOUNT").over(window).cast("double")
        cols[f"customer_avg_amount_{days}d"] = F.avg("TX_AMOUNT").over(window)
    # The card's own history strictly before this transaction: how unusual is this amount?
    past = _window("CUSTOMER_ID", -config.history_days * SECONDS_PER_DAY, -1)
    (cols[f"amount_vs_customer_avg_{config.history_days}d"],
     cols[f"amount_zscore_customer_{config.history_days}d"]) = _amount_against(past)
    return df.withColumns(cols)


def _amount_against(window) -> tuple[Column, Column]:
    """The amount's ratio to the window's average and its z-score; no history is neutral."""
    avg, std = F.avg("TX_AMOUNT").over(window), F.stddev_pop("TX_AMOUNT").over(window)
    # greatest() skips nulls, so "no history" must be tested explicitly: it is neutral (1.0)
    ratio = F.when(avg.isNull(), F.lit(1.0)).otherwise(
        F.col("TX_AMOUNT") / F.greatest(avg, F.lit(1.0)))
    zscore = F.coalesce((F.col("TX_AMOUNT") - avg) / F.greatest(std, F.lit(1.0)), F.lit(0.0))
    return ratio, zscore


def add_baseline_features(df: DataFrame, config: FeatureConfig) -> DataFrame:
    """The card's spending as it was before any recent compromise (no labels).

    A stolen card's fraudulent amounts sit inside its own recent history and pull the recent
    average up with them, so `amount_vs_customer_avg` fades exactly while the card is being
    abused. A baseline window that ends `baseline_gap_days` before the row is still clean for
    a compromise younger than the gap; the count of recent transactions well above that
    baseline says how many of them looked like that.
    """
    gap = config.baseline_gap_days
    baseline = _window("CUSTOMER_ID", -(gap + config.baseline_days) * SECONDS_PER_DAY,
                       -gap * SECONDS_PER_DAY)
    ratio_name, zscore_name, high_name = baseline_feature_columns(config)
    ratio, zscore = _amount_against(baseline)
    out = df.withColumns({ratio_name: ratio, zscore_name: zscore})
    # Each recent row was judged against its own baseline, so it is counted in a second pass.
    high = (F.col(ratio_name) > config.high_amount_ratio).cast("int")
    recent = _window("CUSTOMER_ID", -gap * SECONDS_PER_DAY + 1, 0)
    return out.withColumn(high_name, F.sum(high).over(recent).cast("double"))


def add_terminal_features(df: DataFrame, config: FeatureConfig) -> DataFrame:
    """Terminal traffic and fraud rate over windows that end `delay_days` before the row."""
    delay = config.delay_days * SECONDS_PER_DAY
    # With no delay the row's own label is still unknown when it is scored: stop 1 s before.
    end = -delay if delay > 0 else -1
    cols: dict[str, Column] = {}
    for days in config.terminal_windows_days:
        window = _window("TERMINAL_ID", -(delay + days * SECONDS_PER_DAY) + 1, end)
        count = F.count(LABEL_COL).over(window)
        frauds = F.sum(LABEL_COL).over(window)
        cols[f"terminal_nb_tx_{days}d"] = count.cast("double")
        cols[f"terminal_risk_{days}d"] = F.when(count > 0, frauds / count).otherwise(F.lit(0.0))
    # Episode view: a compromised terminal stays compromised for weeks, so the most recent
    # KNOWN label at the terminal and how long ago its last known fraud was say more than a
    # rate diluted by the genuine traffic before the compromise.
    horizon = config.episode_days * SECONDS_PER_DAY
    known = _window("TERMINAL_ID", -(delay + horizon), end)
    cols["terminal_last_known_fraud"] = F.coalesce(
        F.last(LABEL_COL, ignorenulls=True).over(known), F.lit(0)).cast("double")
    last_fraud = F.max(F.when(F.col(LABEL_COL) == 1, F.col(EVENT_TIME_COL))).over(known)
    cols["terminal_days_since_known_fraud"] = F.coalesce(
        (F.col(EVENT_TIME_COL) - last_fraud) / SECONDS_PER_DAY,
        F.lit(float(config.delay_days + config.episode_days)))
    # How many known frauds and how long ago the first one: a compromise ends, so a terminal
    # whose known frauds began long ago is likely clean again although its last known label is
    # still a fraud, and a single known fraud is a stolen card that passed by, not a compromise.
    cols["terminal_nb_known_frauds"] = F.coalesce(
        F.sum(LABEL_COL).over(known), F.lit(0)).cast("double")
    first_fraud = F.min(F.when(F.col(LABEL_COL) == 1, F.col(EVENT_TIME_COL))).over(known)
    cols["terminal_days_since_first_known_fraud"] = F.coalesce(
        (F.col(EVENT_TIME_COL) - first_fraud) / SECONDS_PER_DAY,
        F.lit(float(config.delay_days + config.episode_days)))
    return df.withColumns(cols)
