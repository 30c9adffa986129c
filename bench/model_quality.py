"""Model quality, measured honestly: prints tables of AUC-ROC, AP and card precision@100.

1. The Fraud Detection Handbook's data (../shared/data/fraud-handbook) with its chapter-3
   protocol: train 7 days from 2018-07-25, a 7-day label delay, test the next 7 days, features
   over the full history, cards with a known fraud removed from the test set; repeated over 4
   consecutive weeks. Our Spark GBT and LR against scikit-learn LR / RF / HistGradientBoosting
   on the SAME split and features, and TX_AMOUNT alone as a score.
2. Our pipeline's AUC-ROC at label delays 7, 3 and 1 days (the trade-off a team controls).
3. The same on the default simulated data (ml_pipeline.simulate defaults, train.py's latest
   split), to show which default delay lets a good model clear AUC >= 0.92 and a weak one not.

    .venv/bin/python bench/model_quality.py [--weeks 4] [--skip-handbook] [--skip-simulated]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "template")]
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from ml_pipeline.estimators import feature_set_columns  # noqa: E402
from ml_pipeline.features import LABEL_COL, FeatureConfig, build_features  # noqa: E402
from ml_pipeline.metrics import auc_roc, average_precision, card_precision_at_k  # noqa: E402
from ml_pipeline.session import get_spark  # noqa: E402
from ml_pipeline.simulate import SimulationConfig, simulate, write_parquet  # noqa: E402
from ml_pipeline.split import DAY_COL, TimeSplit, history_for, split_features  # noqa: E402
from ml_pipeline.train import DEFAULT_DELAY_DAYS, fit_model, latest_split, read_transactions, score  # noqa: E402

HANDBOOK = ROOT.parent / "shared" / "data" / "fraud-handbook" / "transactions"
HANDBOOK_START = dt.date(2018, 7, 25)
SKLEARN_MODELS = ("sklearn_lr", "sklearn_rf", "sklearn_hgb", "amount_only_score")


@dataclass
class WeekResult:
    data: str
    delay: int
    model: str
    week: int
    auc: float
    ap: float
    cp100: float
    seconds: float


def sklearn_scores(name: str, train: pd.DataFrame, test: pd.DataFrame,
                   cols: list[str]) -> np.ndarray:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "amount_only_score":
        return test["TX_AMOUNT"].to_numpy()
    models = {
        "sklearn_lr": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "sklearn_rf": lambda: RandomForestClassifier(n_estimators=100, max_depth=20, n_jobs=2,
                                                     random_state=0),
        "sklearn_hgb": lambda: HistGradientBoostingClassifier(random_state=0),
    }
    model = models[name]().fit(train[cols].to_numpy(), train[LABEL_COL].to_numpy())
    return model.predict_proba(test[cols].to_numpy())[:, 1]


def evaluate(label: str, raw, first: TimeSplit, weeks: int, spark_models: list[str],
             sklearn_models: tuple[str, ...], workdir: Path) -> list[WeekResult]:
    """Features once over the history all weeks need, then each week's split and models."""
    config = FeatureConfig(delay_days=first.delay_days)
    last = first.shifted(weeks - 1)
    days = (last.test_end - first.train_start).days
    span = TimeSplit(first.train_start, days - 1, 0, 1)  # one period covering every week
    path = workdir / f"{label}_delay{first.delay_days}"
    build_features(history_for(raw, span, config.lookback_days), config) \
        .write.mode("overwrite").parquet(str(path))
    features = raw.sparkSession.read.parquet(str(path))
    cols = feature_set_columns("full", config)
    results = []
    for week in range(weeks):
        split = first.shifted(week)
        train, test = split_features(features, split)
        train, test = train.cache(), test.cache()
        test_pd = test.select(LABEL_COL, "CUSTOMER_ID", DAY_COL, *cols).toPandas()
        train_pd = train.select(LABEL_COL, *cols).toPandas() if sklearn_models else None
        for name in [*spark_models, *sklearn_models]:
            started = time.monotonic()
            if name in sklearn_models:
                frame = test_pd[["CUSTOMER_ID", DAY_COL, LABEL_COL]].assign(
                    score=sklearn_scores(name, train_pd, test_pd, cols))
            else:
                algorithm, feature_set = name.split(":")
                model = fit_model(train, feature_set_columns(feature_set, config), algorithm,
                                  seed=0)
                frame = score(model, test)
            labels, scores = frame[LABEL_COL].to_numpy(), frame["score"].to_numpy()
            result = WeekResult(label, split.delay_days, name, week, auc_roc(labels, scores),
                                average_precision(labels, scores),
                                card_precision_at_k(frame, 100, day_col=DAY_COL),
                                time.monotonic() - started)
            results.append(result)
            print(f"  {label} delay={split.delay_days} week={week} ({split.test_start}) "
                  f"{name}: AUC {result.auc:.4f} AP {result.ap:.4f} CP@100 {result.cp100:.3f} "
                  f"[{result.seconds:.0f} s]", flush=True)
        train.unpersist()
        test.unpersist()
    return results


def summary_table(results: list[WeekResult]) -> str:
    frame = pd.DataFrame([r.__dict__ for r in results])
    lines = ["| data | delay (days) | model | weeks | AUC-ROC mean (min-max) | AP mean | "
             "CP@100 mean |", "|---|---:|---|---:|---|---:|---:|"]
    for (data, delay, model), group in frame.groupby(["data", "delay", "model"], sort=False):
        lines.append(f"| {data} | {delay} | {model} | {len(group)} | {group.auc.mean():.3f} "
                     f"({group.auc.min():.3f}-{group.auc.max():.3f}) | {group.ap.mean():.3f} | "
                     f"{group.cp100.mean():.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--delays", default="7,3,1")
    parser.add_argument("--skip-handbook", action="store_true")
    parser.add_argument("--skip-simulated", action="store_true")
    args = parser.parse_args(argv)
    delays = [int(d) for d in args.delays.split(",")]
    spark = get_spark("model-quality-bench")
    results: list[WeekResult] = []
    with tempfile.TemporaryDirectory(prefix="model-quality-") as tmp:
        workdir = Path(tmp)
        if args.skip_handbook:
            pass
        elif not HANDBOOK.is_dir():
            print(f"skipping the handbook section: {HANDBOOK} is absent")
        else:
            raw = read_transactions(spark, str(HANDBOOK)).cache()
            for delay in delays:
                first = TimeSplit(HANDBOOK_START, 7, delay, 7)
                models = ["gbt:full", "logistic_regression:full"] if delay == 7 else ["gbt:full"]
                results += evaluate("handbook", raw, first, args.weeks, models,
                                    SKLEARN_MODELS if delay == 7 else (), workdir)
            raw.unpersist()
        if not args.skip_simulated:
            started = time.monotonic()
            path = write_parquet(simulate(SimulationConfig()), workdir / "sim.parquet")
            print(f"simulated default data in {time.monotonic() - started:.1f} s")
            raw = read_transactions(spark, str(path)).cache()
            last_day = raw.selectExpr("max(to_date(TX_DATETIME)) AS d").first()["d"]
            for delay in sorted({DEFAULT_DELAY_DAYS, *delays}, reverse=True):
                weeks = args.weeks if delay == DEFAULT_DELAY_DAYS else 1
                first = latest_split(last_day, 7, delay, 7).shifted(-(weeks - 1))
                models = ["gbt:full", "gbt:amount_only", "logistic_regression:full"]
                results += evaluate("simulated-default", raw, first, weeks, models, (), workdir)
    print()
    print(summary_table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
