"""The label-delayed gate on data nobody here wrote: days to rollback, frauds missed, and
how often an equally good model is rolled back wrongly.

Data: the Fraud Detection Handbook's transactions (../shared/data/fraud-handbook), July-August
2018. The story, a feature that loses its signal between the training table and live traffic:

- the champion (A) uses the customer's spending and each terminal's fraud rate over 7 days as
  known at the time (labels 7 days late, the handbook's protocol);
- the candidate (B) adds `TERMINAL_FRAUD_1D`, yesterday's confirmed frauds at the terminal,
  backfilled from the labels table for training and for the offline test week. Offline it is
  a strong signal (a compromised terminal stays compromised for 28 days), so B beats A, and
  validate-model, shadow and canary pass it (no labels yet). Live, the online feature store can
  only count frauds whose chargebacks have arrived, days later: the feature is 0 on live
  traffic, and B has learnt to rely on it.

B is promoted on 2018-08-01 and A shadow-scores for the guard period (7 days). Labels arrive
1, 3 or 7 days after a transaction (the maturity); the monitor runs daily with the defaults
(alpha 0.05 per guard period, runs_per_guard_period 7: each guard day's paired rows mature on
one daily run; runs before see none, runs after see the same evidence again). Measured: days
from promotion to the automatic rollback, frauds B missed while it served, against no
monitor (B serves the whole 4 weeks).

Then an equally good model (A retrained on a bootstrap of A's training data, another seed),
promoted the same way, over many bootstrap resamples of the guard week: the wrong-rollback rate.

Before the daily runs, each promoted model goes through the real stack first
(`label_gate_rollout.py`): MLflow, the gateway with its prediction log, Prometheus, and
`ml-actions canary-deploy --shadow` against A on the promotion day's transactions replayed at
100 requests/s. B must pass the shadow phase and the canary, as it should with no labels yet;
the bench prints how each phase ended and checks that the scores the gateway served and
shadowed are the ones the 28-day story below uses. Every model answers with its score's
percentile among its own offline test week (`label_gate_model.py`), so the gateway's one
threshold, 0.99, is each model's own top 1 %. `--no-rollout` skips this act.

The decisions use the monitor's own statistic functions (`paired_from_arrays` -> `decide`,
the numpy twin of the Spark path), which keeps the resampled rate under two minutes on 2
cores. `--spark-monitor` also runs every daily run with matured labels through the real
`ml-actions monitor` command (Spark, on the prediction log and labels table of that day,
`bench/label_gate_spark.py`) and prints its verdict beside the numpy twin's; it exits 1 when
any disagree.

    .venv/bin/python bench/label_gate.py [--resamples 150] [--spark-monitor] [--no-rollout]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT)]

from ml_actions.config.monitor import MonitorConfig  # noqa: E402
from ml_actions.monitoring.paired_comparison import paired_from_arrays  # noqa: E402
from ml_actions.monitoring.verdict import decide  # noqa: E402

HANDBOOK = ROOT.parent / "shared" / "data" / "fraud-handbook" / "transactions"
MONTHS = ("2018-07", "2018-08")
TRAIN = ("2018-07-08", "2018-07-21")
OFFLINE_TEST = ("2018-07-22", "2018-07-28")
PROMOTION, HORIZON_DAYS, GUARD_DAYS = pd.Timestamp("2018-08-01"), 28, 7
DELAYS = (1, 3, 7)
ALERT_RATE = 0.01  # each model alerts on its top 1 % of the offline test week
THRESHOLD = 1 - ALERT_RATE  # on percentile scores: the gateway's one decision threshold
ROLLOUT = ["--shadow", "60s", "--steps", "5,25,50,100", "--interval", "10s", "--bake", "10s"]
FEATURES = ("TX_AMOUNT", "CUST_NB_TX_7D", "CUST_AVG_AMOUNT_7D", "CUST_NB_TX_1D",
            "AMOUNT_RATIO", "TX_NIGHT", "TERMINAL_RISK_7D")
B_FEATURES = (*FEATURES, "TERMINAL_FRAUD_1D")


def load() -> pd.DataFrame:
    frames = [pd.read_parquet(HANDBOOK / f"{m}.parquet") for m in MONTHS]
    tx = pd.concat(frames, ignore_index=True).sort_values("TX_DATETIME", kind="stable")
    tx["DAY"] = tx["TX_DATETIME"].dt.normalize()
    tx["TX_NIGHT"] = (tx["TX_DATETIME"].dt.hour < 6).astype(float)
    return tx.reset_index(drop=True)


def window_sums(ids: np.ndarray, day: np.ndarray, values: np.ndarray, lag: int,
                width: int) -> np.ndarray:
    """Per row: the sum of `values` of the same id over days [day-lag-width, day-lag-1]."""
    table = np.zeros((ids.max() + 1, day.max() + 2))
    np.add.at(table, (ids, day + 1), values)
    cumulative = np.cumsum(table, axis=1)  # cumulative[:, k]: days before k
    hi, lo = np.clip(day - lag + 1, 0, None), np.clip(day - lag - width + 1, 0, None)
    return cumulative[ids, hi] - cumulative[ids, lo]


def add_features(tx: pd.DataFrame) -> pd.DataFrame:
    """Customer spending over the previous 1 and 7 days, the amount against it, and the
    terminal's fraud rate over 7 days as known at the time (labels 7 days late)."""
    day = ((tx["DAY"] - tx["DAY"].min()).dt.days).to_numpy()
    cust, term = tx["CUSTOMER_ID"].to_numpy(), tx["TERMINAL_ID"].to_numpy()
    ones, amount = np.ones(len(tx)), tx["TX_AMOUNT"].to_numpy()
    n7 = window_sums(cust, day, ones, 1, 7)
    avg7 = np.divide(window_sums(cust, day, amount, 1, 7), n7, out=np.zeros(len(tx)),
                     where=n7 > 0)
    t_n = window_sums(term, day, ones, 8, 7)
    fraud = tx["TX_FRAUD"].to_numpy().astype(float)
    t_f = window_sums(term, day, fraud, 8, 7)
    return tx.assign(CUST_NB_TX_7D=n7, CUST_AVG_AMOUNT_7D=avg7,
                     CUST_NB_TX_1D=window_sums(cust, day, ones, 1, 1),
                     AMOUNT_RATIO=np.divide(amount, avg7, out=np.zeros(len(tx)),
                                            where=avg7 > 0),
                     TERMINAL_RISK_7D=np.divide(t_f, t_n, out=np.zeros(len(tx)),
                                                where=t_n > 0),
                     TERMINAL_FRAUD_1D=window_sums(term, day, fraud, 1, 1))


def fit(frame: pd.DataFrame, seed: int, features: tuple[str, ...] = FEATURES):
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.1, random_state=seed)
    model.features = features
    return model.fit(frame[list(features)].to_numpy(), frame["TX_FRAUD"].to_numpy())


def raw_scores(model, frame: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(frame[list(model.features)].to_numpy())[:, 1]


def between(frame: pd.DataFrame, lo: str | pd.Timestamp, hi: str | pd.Timestamp) -> pd.DataFrame:
    return frame[(frame["DAY"] >= pd.Timestamp(lo)) & (frame["DAY"] <= pd.Timestamp(hi))]


def auc(labels: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, s))


def numpy_verdict(live: pd.DataFrame, new: np.ndarray, old: np.ndarray, new_t: float,
                  old_t: float, delay: int, run_day: int, config: MonitorConfig) -> str | None:
    """The verdict of the daily run `run_day` days after promotion on the guard period's
    paired rows whose whole day ended `delay` days before it; None: nothing matured yet."""
    guard = (live["DAY"] < PROMOTION + pd.Timedelta(days=GUARD_DAYS)).to_numpy()
    days = ((live["DAY"] - PROMOTION).dt.days).to_numpy()
    matured = guard & (days + delay <= run_day - 1)  # whole days older than the maturity
    if not matured.any():
        return None
    labels = live["TX_FRAUD"].to_numpy()
    evidence = paired_from_arrays(labels[matured], new[matured], old[matured],
                                  new[matured] >= new_t, old[matured] >= old_t,
                                  days=int(len(np.unique(days[matured]))))
    return decide(evidence, config).verdict


def monitor_days(live: pd.DataFrame, new: np.ndarray, old: np.ndarray, new_t: float,
                 old_t: float, delay: int, config: MonitorConfig) -> int | None:
    """Days after promotion of the first `degraded` daily run (None: never in the window)."""
    for run_day in range(1, GUARD_DAYS + delay + 1):
        if numpy_verdict(live, new, old, new_t, old_t, delay, run_day, config) == "degraded":
            return run_day
    return None


def spark_agreement(live: pd.DataFrame, candidates: dict[str, tuple[np.ndarray, float]],
                    champion: tuple[np.ndarray, float]) -> int:
    """Every daily run with matured labels through the real `ml-actions monitor` (Spark),
    beside the numpy twin's verdict on the same rows; B's runs stop at its rollback.
    Returns how many runs disagreed."""
    import tempfile

    from label_gate_spark import Served, run_monitor_cli

    guard = (live["DAY"] < PROMOTION + pd.Timedelta(days=GUARD_DAYS)).to_numpy()
    print("\n`ml-actions monitor` (Spark CLI, --as-of each run) against the numpy twin:\n\n"
          "| champion | label delay | run day | numpy | CLI | exit | CLI s |\n"
          "|---|---|---|---|---|---|---|")
    disagreements = 0
    with tempfile.TemporaryDirectory(prefix="label-gate-") as work:
        for name, (scores_new, threshold) in candidates.items():
            served = Served(live, scores_new, champion[0], threshold, champion[1], guard)
            for delay in DELAYS:
                config = MonitorConfig(label_maturity=f"{delay}d")
                for run_day in range(1, GUARD_DAYS + delay + 1):
                    expected = numpy_verdict(live, scores_new, champion[0], threshold,
                                             champion[1], delay, run_day, config)
                    if expected is None:
                        continue
                    as_of = PROMOTION + pd.Timedelta(days=run_day) - pd.Timedelta(seconds=1)
                    verdict, code, seconds, reason = run_monitor_cli(
                        Path(work) / f"{name}-{delay}d-{run_day}", served, delay, as_of)
                    disagreements += verdict != expected
                    print(f"| {name} | {delay} d | {run_day} | {expected} | {verdict} | {code} "
                          f"| {seconds:.0f} |" + (f" {reason}" if verdict == "error" else ""),
                          flush=True)
                    if verdict == expected == "degraded":
                        break  # rolled back: no later run judges this champion
    print(f"\n{disagreements} run(s) where the CLI and the numpy twin disagree")
    return disagreements


@dataclass
class Story:
    """The three models, their served (percentile) scores offline and live, and the data."""

    models: dict[str, tuple]  # name -> (classifier, features, knots, live served scores)
    offline: pd.DataFrame
    offline_scores: dict[str, np.ndarray]
    live: pd.DataFrame


def prepare() -> Story:
    from label_gate_model import percentile_knots, served_score

    tx = add_features(load())
    train = between(tx, *TRAIN)
    fitted = {"A": fit(train, seed=0), "B": fit(train, seed=0, features=B_FEATURES),
              "A2": fit(train.sample(frac=1.0, replace=True, random_state=1), seed=1)}
    offline = between(tx, *OFFLINE_TEST)
    end = PROMOTION + pd.Timedelta(days=HORIZON_DAYS - 1)
    live = between(tx, PROMOTION, end).assign(TERMINAL_FRAUD_1D=0.0)  # not known live
    models, offline_scores = {}, {}
    for name, model in fitted.items():
        knots = percentile_knots(raw_scores(model, offline))
        offline_scores[name] = served_score(raw_scores(model, offline), knots)
        models[name] = (model, model.features, knots, served_score(raw_scores(model, live),
                                                                   knots))
    return Story(models, offline, offline_scores, live.reset_index(drop=True))


def live_rollouts(story: Story) -> None:
    """B and A2 through the shadow phase and canary of the real stack, against A."""
    from label_gate_rollout import roll_out, rollout_table

    first_day = (story.live["DAY"] == PROMOTION).to_numpy()
    day = story.live[first_day]
    served = {name: (*m[:3], m[3][first_day]) for name, m in story.models.items()}
    rollouts = [roll_out(day, served, name, THRESHOLD, 100.0, ROLLOUT,
                         log=lambda m: print(f"  {m}", flush=True)) for name in ("B", "A2")]
    print(f"\nthe promotion on the real stack (`canary-deploy {' '.join(ROLLOUT)}`, "
          f"prod settings of template/ml-actions.yaml, threshold {THRESHOLD}):\n")
    print(rollout_table(rollouts))
    for r in rollouts:
        print(f"  {r.candidate}: report {r.report}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=150)
    parser.add_argument("--spark-monitor", action="store_true",
                        help="also run every daily run through the real `ml-actions monitor` "
                             "CLI (Spark) and compare its verdicts with the numpy twin's")
    parser.add_argument("--no-rollout", action="store_true",
                        help="skip the shadow phase and canary on the real stack")
    args = parser.parse_args()
    if not HANDBOOK.is_dir():
        print(f"skipping: {HANDBOOK} is absent")
        return 0
    started = time.monotonic()
    story = prepare()
    live, models = story.live, story.models
    live_a, live_b, live_a2 = (models[k][3] for k in ("A", "B", "A2"))
    y = live["TX_FRAUD"].to_numpy()
    print(f"handbook {MONTHS[0]}..{MONTHS[-1]}; prepared in {time.monotonic() - started:.0f} s\n")
    off_y = story.offline["TX_FRAUD"].to_numpy()
    print("| model | offline AUC (test week) | live AUC (4 weeks after promotion) | "
          "live recall at its threshold |\n|---|---|---|---|")
    for name, label in (("A champion", "A"), ("B candidate (feature lost live)", "B"),
                        ("A2 equally good", "A2")):
        lv = models[label][3]
        recall = float((lv[y == 1] >= THRESHOLD).mean())
        print(f"| {name} | {auc(off_y, story.offline_scores[label]):.4f} | {auc(y, lv):.4f} | "
              f"{recall:.3f} |")
    if not args.no_rollout:
        live_rollouts(story)
    days = ((live["DAY"] - PROMOTION).dt.days).to_numpy()
    b_missed = (y == 1) & (live_b < THRESHOLD)
    extra = b_missed & (live_a >= THRESHOLD)  # frauds A would have caught
    print("\n| label delay | days from promotion to rollback | frauds B missed until then "
          "(of which A would have caught) | without a monitor (28 days) |\n|---|---|---|---|")
    for delay in DELAYS:
        config = MonitorConfig(label_maturity=f"{delay}d")
        day = monitor_days(live, live_b, live_a, THRESHOLD, THRESHOLD, delay, config)
        served = days < (day if day is not None else HORIZON_DAYS)
        print(f"| {delay} d | {day if day is not None else 'no rollback'} | "
              f"{int(b_missed[served].sum())} ({int(extra[served].sum())}) | "
              f"{int(b_missed.sum())} ({int(extra.sum())}) |")
    wrong_rollbacks(live, live_a2, live_a, days, args.resamples)
    disagreements = 0
    if args.spark_monitor:
        disagreements = spark_agreement(
            live, {"B": (live_b, THRESHOLD), "A2": (live_a2, THRESHOLD)}, (live_a, THRESHOLD))
    print(f"\n(alpha = {MonitorConfig().alpha} per guard period; total "
          f"{time.monotonic() - started:.0f} s)")
    return 1 if disagreements else 0


def wrong_rollbacks(live: pd.DataFrame, live_a2: np.ndarray, live_a: np.ndarray,
                    days: np.ndarray, resamples: int) -> None:
    """A2 against A over bootstrap resamples of the guard week: how often it is rolled back."""
    from scipy.stats import beta  # Clopper-Pearson one-sided 95 % upper bound

    guard_week = live[days < GUARD_DAYS]
    idx = np.flatnonzero(days < GUARD_DAYS)
    rng = np.random.default_rng(0)
    print(f"\nequally good model A2 vs A, {resamples} bootstrap resamples of the guard "
          "week, daily runs:\n\n| label delay | wrong rollbacks | rate | 95 % upper bound |"
          "\n|---|---|---|---|")
    for delay in DELAYS:
        config = MonitorConfig(label_maturity=f"{delay}d")
        wrong = 0
        for _ in range(resamples):
            pick = np.sort(rng.choice(idx, size=len(idx), replace=True))
            frame = guard_week.iloc[np.searchsorted(idx, pick)]
            wrong += monitor_days(frame, live_a2[pick], live_a[pick], THRESHOLD, THRESHOLD,
                                  delay, config) is not None
        upper = 1.0 if wrong == resamples else float(beta.ppf(0.95, wrong + 1, resamples - wrong))
        print(f"| {delay} d | {wrong} / {resamples} | {wrong / resamples:.3f} | {upper:.3f} |")


if __name__ == "__main__":
    raise SystemExit(main())
