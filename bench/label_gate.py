"""The label-delayed gate on data nobody here wrote: days to rollback, frauds missed, and
how often an equally good model is rolled back wrongly.

Data: the Fraud Detection Handbook's transactions (../shared/data/fraud-handbook), July-August
2018. The story, a training/serving skew that offline evaluation cannot see:

- the champion (A) uses each terminal's fraud rate over the previous 7 days *as known at the
  time*, i.e. only frauds whose labels had arrived (a 7-day delay, the handbook's protocol);
- the candidate (B) was built from a feature table computed after the fact, where that rate
  uses every fraud of the previous 7 days (labels known immediately). Offline, scored the same
  way, B beats A (compromised terminals stay compromised for 28 days, so fresh frauds are a
  strong signal); validate-model, shadow and canary pass it (no labels yet). Live, the gateway
  can only compute the rate from labels that have arrived, and B relies on a signal it no
  longer gets.

B is promoted on 2018-08-01 and A shadow-scores for the guard period (7 days). Labels arrive
1, 3 or 7 days after a transaction (the maturity); the monitor runs daily with the defaults
(alpha 0.05 per guard period, runs_per_guard_period = 7 + delay: every daily run until the
guard week's labels have all matured). Measured: days from promotion to the automatic rollback,
frauds B missed while it served, against no monitor (B serves the whole 4 weeks).

Then an equally good model (A retrained on a bootstrap of A's training data, another seed),
promoted the same way, over many bootstrap resamples of the guard week: the wrong-rollback rate.

The decisions use the monitor's own statistic functions (`paired_from_arrays` -> `decide`,
the numpy twin of the Spark path, equal to it on the same rows: tests/monitoring); the Spark
join itself is measured by the tests, not here, to keep this under two minutes on 2 cores.

    .venv/bin/python bench/label_gate.py [--resamples 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core")]

from ml_actions.config.monitor import MonitorConfig  # noqa: E402
from ml_actions.monitoring.paired_comparison import paired_from_arrays  # noqa: E402
from ml_actions.monitoring.verdict import decide  # noqa: E402

HANDBOOK = ROOT.parent / "shared" / "data" / "fraud-handbook" / "transactions"
MONTHS = ("2018-06", "2018-07", "2018-08")
TRAIN = ("2018-07-01", "2018-07-21")
OFFLINE_TEST = ("2018-07-22", "2018-07-28")
PROMOTION, HORIZON_DAYS, GUARD_DAYS = pd.Timestamp("2018-08-01"), 28, 7
DELAYS = (1, 3, 7)
ALERT_RATE = 0.01  # each model alerts on its top 1 % of the offline test week
FEATURES = ("TX_AMOUNT", "CUST_NB_TX_7D", "CUST_AVG_AMOUNT_7D", "CUST_NB_TX_1D",
            "TX_NIGHT", "TERMINAL_RISK_7D")


def load() -> pd.DataFrame:
    frames = [pd.read_parquet(HANDBOOK / f"{m}.parquet") for m in MONTHS]
    tx = pd.concat(frames, ignore_index=True).sort_values("TX_DATETIME", kind="stable")
    tx["DAY"] = tx["TX_DATETIME"].dt.normalize()
    tx["TX_NIGHT"] = (tx["TX_DATETIME"].dt.hour < 6).astype(float)
    return tx.reset_index(drop=True)


def customer_features(tx: pd.DataFrame) -> pd.DataFrame:
    """Per customer, over the previous 1 and 7 days (today excluded): counts, mean amount."""
    daily = tx.groupby(["CUSTOMER_ID", "DAY"]).agg(n=("TX_AMOUNT", "size"),
                                                    amount=("TX_AMOUNT", "sum"))
    full = daily.unstack(fill_value=0)
    n, amount = full["n"], full["amount"]
    n7 = n.T.rolling(7, min_periods=1).sum().shift(1).T
    a7 = amount.T.rolling(7, min_periods=1).sum().shift(1).T
    n1 = n.T.shift(1).T
    out = pd.DataFrame({"CUST_NB_TX_7D": n7.stack(), "CUST_AVG_AMOUNT_7D":
                        (a7 / n7.replace(0, np.nan)).stack(), "CUST_NB_TX_1D": n1.stack()})
    return tx.join(out.fillna(0.0), on=["CUSTOMER_ID", "DAY"])


def terminal_risk(tx: pd.DataFrame, delay_days: int) -> pd.Series:
    """Each terminal's fraud rate over the 7 days before `delay_days` ago (today excluded)."""
    daily = tx.groupby(["TERMINAL_ID", "DAY"]).agg(n=("TX_FRAUD", "size"),
                                                    f=("TX_FRAUD", "sum")).unstack(fill_value=0)
    n7 = daily["n"].T.rolling(7, min_periods=1).sum().shift(1 + delay_days).T
    f7 = daily["f"].T.rolling(7, min_periods=1).sum().shift(1 + delay_days).T
    rate = (f7 / n7.replace(0, np.nan)).fillna(0.0).stack().rename("risk")
    return tx.join(rate, on=["TERMINAL_ID", "DAY"])["risk"].fillna(0.0)


def fit(frame: pd.DataFrame, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=seed)
    return model.fit(frame[list(FEATURES)].to_numpy(), frame["TX_FRAUD"].to_numpy())


def scores(model, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame[list(FEATURES)].to_numpy())[:, 1]


def between(frame: pd.DataFrame, lo: str | pd.Timestamp, hi: str | pd.Timestamp) -> pd.DataFrame:
    return frame[(frame["DAY"] >= pd.Timestamp(lo)) & (frame["DAY"] <= pd.Timestamp(hi))]


def auc(labels: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, s))


def monitor_days(live: pd.DataFrame, new: np.ndarray, old: np.ndarray, new_t: float,
                 old_t: float, delay: int, config: MonitorConfig) -> int | None:
    """Days after promotion of the first `degraded` daily run (None: never in the window)."""
    guard = (live["DAY"] < PROMOTION + pd.Timedelta(days=GUARD_DAYS)).to_numpy()
    days = ((live["DAY"] - PROMOTION).dt.days).to_numpy()
    labels = live["TX_FRAUD"].to_numpy()
    for run_day in range(1, GUARD_DAYS + delay + 1):
        matured = guard & (days + delay <= run_day - 1)  # whole days older than the maturity
        if not matured.any():
            continue
        evidence = paired_from_arrays(labels[matured], new[matured], old[matured],
                                      new[matured] >= new_t, old[matured] >= old_t,
                                      days=int(len(np.unique(days[matured]))))
        if decide(evidence, config).verdict == "degraded":
            return run_day
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=100)
    args = parser.parse_args()
    if not HANDBOOK.is_dir():
        print(f"skipping: {HANDBOOK} is absent")
        return 0
    started = time.monotonic()
    tx = customer_features(load())
    honest, leaky = terminal_risk(tx, 7), terminal_risk(tx, 0)
    tx_honest, tx_leaky = tx.assign(TERMINAL_RISK_7D=honest), tx.assign(TERMINAL_RISK_7D=leaky)
    model_a = fit(between(tx_honest, *TRAIN), seed=0)
    model_b = fit(between(tx_leaky, *TRAIN), seed=0)
    boot = between(tx_honest, *TRAIN).sample(frac=1.0, replace=True, random_state=1)
    model_a2 = fit(boot, seed=1)
    off_h, off_l = between(tx_honest, *OFFLINE_TEST), between(tx_leaky, *OFFLINE_TEST)
    off_a, off_b, off_a2 = scores(model_a, off_h), scores(model_b, off_l), scores(model_a2, off_h)
    thresholds = {k: float(np.quantile(s, 1 - ALERT_RATE)) for k, s in
                  (("A", off_a), ("B", off_b), ("A2", off_a2))}
    end = PROMOTION + pd.Timedelta(days=HORIZON_DAYS - 1)
    live = between(tx_honest, PROMOTION, end)  # live: only labels that have arrived
    live_a, live_b, live_a2 = scores(model_a, live), scores(model_b, live), scores(model_a2, live)
    y = live["TX_FRAUD"].to_numpy()
    print(f"handbook {MONTHS[0]}..{MONTHS[-1]}: {len(tx):,} transactions; prepared in "
          f"{time.monotonic() - started:.0f} s\n")
    print("| model | offline AUC (test week) | live AUC (4 weeks after promotion) | "
          "live recall at its threshold |\n|---|---|---|---|")
    for name, off, lv, label in (("A champion", off_a, live_a, "A"),
                                 ("B candidate (skewed feature)", off_b, live_b, "B"),
                                 ("A2 equally good", off_a2, live_a2, "A2")):
        off_y = (off_l if label == "B" else off_h)["TX_FRAUD"].to_numpy()
        recall = float((lv[y == 1] >= thresholds[label]).mean())
        print(f"| {name} | {auc(off_y, off):.4f} | {auc(y, lv):.4f} | {recall:.3f} |")
    days = ((live["DAY"] - PROMOTION).dt.days).to_numpy()
    b_missed = (y == 1) & (live_b < thresholds["B"])
    extra = b_missed & (live_a >= thresholds["A"])  # frauds A would have caught
    print("\n| label delay | days from promotion to rollback | frauds B missed until then "
          "(of which A would have caught) | without a monitor (28 days) |\n|---|---|---|---|")
    for delay in DELAYS:
        config = MonitorConfig(label_maturity=f"{delay}d", runs_per_guard_period=GUARD_DAYS + delay)
        day = monitor_days(live, live_b, live_a, thresholds["B"], thresholds["A"], delay, config)
        served = days < (day if day is not None else HORIZON_DAYS)
        print(f"| {delay} d | {day if day is not None else 'no rollback'} | "
              f"{int(b_missed[served].sum())} ({int(extra[served].sum())}) | "
              f"{int(b_missed.sum())} ({int(extra.sum())}) |")
    guard_week = live[days < GUARD_DAYS]
    idx = np.flatnonzero(days < GUARD_DAYS)
    rng = np.random.default_rng(0)
    print(f"\nequally good model A2 vs A, {args.resamples} bootstrap resamples of the guard "
          "week, daily runs:\n\n| label delay | wrong rollbacks | rate | 95 % upper bound |"
          "\n|---|---|---|---|")
    for delay in DELAYS:
        config = MonitorConfig(label_maturity=f"{delay}d", runs_per_guard_period=GUARD_DAYS + delay)
        wrong = 0
        for _ in range(args.resamples):
            pick = np.sort(rng.choice(idx, size=len(idx), replace=True))
            frame = guard_week.iloc[np.searchsorted(idx, pick)]
            wrong += monitor_days(frame, live_a2[pick], live_a[pick], thresholds["A2"],
                                  thresholds["A"], delay, config) is not None
        upper = 1 - 0.05 ** (1 / args.resamples) if wrong == 0 else None
        print(f"| {delay} d | {wrong} / {args.resamples} | {wrong / args.resamples:.3f} | "
              f"{'%.3f' % upper if upper is not None else '–'} |")
    print(f"\n(alpha = {MonitorConfig().alpha} per guard period; total "
          f"{time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
