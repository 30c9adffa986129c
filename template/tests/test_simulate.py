"""The simulator follows the handbook's generative process and is deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_pipeline.simulate import (
    COLUMNS,
    SimulationConfig,
    customer_profiles,
    main,
    simulate,
    terminal_profiles,
    terminals_within_radius,
)

SMALL = SimulationConfig(customers=200, terminals=400, days=40, seed=3)


def test_same_seed_same_data_other_seed_other_data():
    first, second = simulate(SMALL), simulate(SMALL)
    pd.testing.assert_frame_equal(first, second)
    other = simulate(SMALL, seed=4)
    assert len(other) != len(first) or not other["TX_AMOUNT"].equals(first["TX_AMOUNT"])


def test_columns_types_and_time_order(tiny_transactions):
    df = tiny_transactions
    assert list(df.columns) == COLUMNS
    assert (df["TRANSACTION_ID"].to_numpy() == np.arange(len(df))).all()
    assert df["TX_TIME_SECONDS"].is_monotonic_increasing
    assert (df["TX_TIME_DAYS"] == df["TX_TIME_SECONDS"] // 86_400).all()
    expected = pd.Timestamp("2018-04-01") + pd.to_timedelta(df["TX_TIME_SECONDS"], unit="s")
    assert (df["TX_DATETIME"] == expected).all()
    assert df["TX_TIME_DAYS"].between(0, 49).all() and df["TX_AMOUNT"].ge(0).all()


def test_every_amount_above_220_is_fraud_and_labels_match_scenarios(tiny_transactions):
    df = tiny_transactions
    assert (df.loc[df["TX_AMOUNT"] > 220, "TX_FRAUD"] == 1).all()
    assert ((df["TX_FRAUD"] == 1) == (df["TX_FRAUD_SCENARIO"] > 0)).all()
    assert set(df["TX_FRAUD_SCENARIO"].unique()) == {0, 1, 2, 3}


def test_compromised_terminal_frauds_cover_every_transaction_that_day(tiny_transactions):
    """Scenario 2 makes ALL of a terminal's transactions fraud for 28 days; scenario 3 may
    overwrite some labels' scenario but never clears a fraud."""
    df = tiny_transactions
    hit = df.loc[df["TX_FRAUD_SCENARIO"] == 2, ["TERMINAL_ID", "TX_TIME_DAYS"]].drop_duplicates()
    same_day = df.merge(hit, on=["TERMINAL_ID", "TX_TIME_DAYS"])
    assert len(same_day) > 50 and (same_day["TX_FRAUD"] == 1).all()
    # 2 new terminals a day, 28 days each: at most 2 x 28 compromised at once
    assert hit.groupby("TX_TIME_DAYS")["TERMINAL_ID"].nunique().max() <= 2 * 28


def test_compromised_customer_frauds_are_amounts_times_five():
    df = simulate(SMALL)
    genuine_mean = df[df["TX_FRAUD"] == 0].groupby("CUSTOMER_ID")["TX_AMOUNT"].mean()
    s3 = df[df["TX_FRAUD_SCENARIO"] == 3]
    ratio = s3["TX_AMOUNT"] / s3["CUSTOMER_ID"].map(genuine_mean)
    assert len(s3) > 30 and ratio.median() > 3.5
    # about a third of a compromised customer's transactions in the window are fraud
    share = len(s3) / len(df[df["CUSTOMER_ID"].isin(s3["CUSTOMER_ID"])])
    assert 0.02 < share < 0.34


def test_customers_pay_only_at_terminals_within_the_radius():
    rng = np.random.default_rng(0)
    customers, terminals = customer_profiles(50, rng), terminal_profiles(300, rng)
    ids, offsets = terminals_within_radius(customers, terminals, radius=10.0)
    for c in range(50):
        dx = terminals["x"] - customers.loc[c, "x"]
        dy = terminals["y"] - customers.loc[c, "y"]
        expected = set(np.nonzero(np.hypot(dx, dy) < 10.0)[0])
        assert set(ids[offsets[c]:offsets[c + 1]]) == expected


def test_customer_profiles_follow_the_handbook_ranges():
    customers = customer_profiles(2000, np.random.default_rng(5))
    assert customers["mean_amount"].between(5, 100).all()
    assert (customers["std_amount"] == customers["mean_amount"] / 2).all()
    assert customers["mean_nb_tx_per_day"].between(0, 4).all()
    assert customers[["x", "y"]].stack().between(0, 100).all()


def test_cli_writes_parquet(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["--customers", "50", "--terminals", "100", "--days", "10", "--seed", "1",
                 "--out", str(out)]) == 0
    written = pd.read_parquet(out / "transactions.parquet")
    assert list(written.columns) == COLUMNS and len(written) > 100
    assert "wrote" in capsys.readouterr().out


def test_labels_arrive_with_the_configured_delay(tiny_transactions):
    from ml_pipeline.simulate import LABEL_COLUMNS, labels_table

    fast = SimulationConfig(fraud_label_delay_days=1.0, label_maturity_days=7.0)
    slow = SimulationConfig(fraud_label_delay_days=3.0, label_maturity_days=7.0)
    labels = labels_table(tiny_transactions, fast)
    assert list(labels.columns) == LABEL_COLUMNS
    assert (labels["fraud_label"].to_numpy() == tiny_transactions["TX_FRAUD"].to_numpy()).all()
    tx_time = tiny_transactions["TX_DATETIME"].dt.tz_localize("UTC")
    delay = (labels["label_time"] - tx_time).dt.total_seconds() / 86_400
    fraud = labels["fraud_label"] == 1
    assert (delay[~fraud] == 7.0).all()  # legitimate: known once the maturity passed
    assert delay[fraud].between(0, 7.0).all()
    assert 0.7 < delay[fraud].mean() < 1.3  # exponential with mean 1 day, few capped
    slow_delay = (labels_table(tiny_transactions, slow)["label_time"] - tx_time)
    assert slow_delay[fraud].mean() > 2 * (labels["label_time"] - tx_time)[fraud].mean()
    pd.testing.assert_frame_equal(labels, labels_table(tiny_transactions, fast))


def test_main_writes_the_labels_table(tmp_path):
    code = main(["--customers", "50", "--terminals", "100", "--days", "10", "--out",
                 str(tmp_path / "tx.parquet"), "--labels-out", str(tmp_path / "labels.parquet"),
                 "--label-delay-days", "2"])
    assert code == 0
    tx, labels = (pd.read_parquet(tmp_path / n) for n in ("tx.parquet", "labels.parquet"))
    assert len(labels) == len(tx) and str(labels["label_time"].dt.tz) == "UTC"
