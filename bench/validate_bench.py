"""Benchmark: our validate-model evaluation vs the naive approach a user writes first.

    .venv/bin/python bench/validate_bench.py [--rows 1000000 5000000] [--workdir DIR]
                                             [--method delong|bootstrap] [--replicates B]

For each N, a test set is generated with Spark (three features, ~2% fraud) and two Spark
logistic-regression pipelines (candidate: three features; champion: two) are trained on a
sample. Each approach then runs in a fresh process (its own JVM), from reading the Parquet
file to the final numbers:

- ours: both models score one cached DataFrame; `ml_actions.validation.evaluation.evaluate_scores`
computes
  exact AUC-ROC/AUC-PR, threshold metrics, the paired interval (DeLong, or the Poisson
  bootstrap with `--method bootstrap`), flips and curves;
- naive: a separate `transform` per model, `BinaryClassificationEvaluator` for areaUnderROC
  and areaUnderPR per model (binned, approximate), and `toPandas()` + scikit-learn for
  precision / recall / F1.

Printed: wall seconds of each, the ratio, and peak RSS of the driver's Python process and of
its JVM (in local mode the JVM also hosts the executors).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT)]


def _spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from ml_actions.spark import get_spark

    return get_spark(app_name="validate-bench")


def generate(rows: int, workdir: Path) -> None:
    """Write the test set and the two trained pipelines under `workdir`."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    spark = _spark()
    label = (F.rand(11) < 0.02).cast("int")
    df = spark.range(rows).select(label.alias("fraud_label"), F.randn(12).alias("n1"),
                                  F.randn(13).alias("n2"), F.randn(14).alias("n3"),
                                  (F.rand(15) * 900).alias("amount"))
    df = df.select("fraud_label", "amount",
                   (F.col("n1") + 1.5 * F.col("fraud_label")).alias("f1"),
                   (F.col("n2") + 0.8 * F.col("fraud_label")).alias("f2"),
                   (F.col("n3") + 0.5 * F.col("fraud_label")).alias("f3"))
    df.write.mode("overwrite").parquet(str(workdir / "test.parquet"))
    sample = spark.read.parquet(str(workdir / "test.parquet")).limit(100_000)
    for name, features in (("candidate", ["f1", "f2", "f3"]), ("champion", ["f1", "f2"])):
        model = Pipeline(stages=[
            VectorAssembler(inputCols=features, outputCol="features"),
            LogisticRegression(labelCol="fraud_label", maxIter=10)]).fit(sample)
        model.write().overwrite().save(str(workdir / name))
    spark.stop()


def run_ours(workdir: Path, method: str = "delong", replicates: int = 200) -> dict:
    from pyspark.ml import PipelineModel

    from ml_actions.config.settings import load_config
    from ml_actions.registry import ModelVersionRef
    from ml_actions.validation.evaluation import SCORE, evaluate_scores
    from ml_actions.validation.scoring import Scorer

    spark = _spark()
    models = {r: PipelineModel.load(str(workdir / r)) for r in ("candidate", "champion")}
    started = time.perf_counter()
    scored = spark.read.parquet(str(workdir / "test.parquet"))
    columns = scored.columns
    scorers = {r: Scorer(ModelVersionRef("bench", r), "spark", m) for r, m in models.items()}
    for role, scorer in scorers.items():
        scored = scorer.score(scored, SCORE[role])
    config = load_config(environment="prod", overrides={
        "comparison": {"method": method, "bootstrap_replicates": replicates}})
    ev = evaluate_scores(scored, SCORE["candidate"], SCORE["champion"], config, "2", "1",
                         scorers=scorers, data_columns=columns)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "auc_candidate": ev.candidate.metrics["auc_roc"],
            "auc_champion": ev.champion.metrics["auc_roc"], **_rss(spark)}


def run_naive(workdir: Path) -> dict:
    from pyspark.ml import PipelineModel
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F
    from sklearn.metrics import f1_score, precision_score, recall_score

    spark = _spark()
    models = {r: PipelineModel.load(str(workdir / r)) for r in ("candidate", "champion")}
    started = time.perf_counter()
    data = spark.read.parquet(str(workdir / "test.parquet"))
    out = {}
    for role, model in models.items():
        pred = model.transform(data)
        for metric in ("areaUnderROC", "areaUnderPR"):
            evaluator = BinaryClassificationEvaluator(labelCol="fraud_label", metricName=metric)
            out[f"{role}_{metric}"] = evaluator.evaluate(pred)
        local = pred.select("fraud_label", vector_to_array("probability")[1].alias("p"),
                            F.col("prediction")).toPandas()
        out[f"{role}_precision"] = precision_score(local["fraud_label"], local["prediction"])
        out[f"{role}_recall"] = recall_score(local["fraud_label"], local["prediction"])
        out[f"{role}_f1"] = f1_score(local["fraud_label"], local["prediction"])
        del local
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "auc_candidate": out["candidate_areaUnderROC"],
            "auc_champion": out["champion_areaUnderROC"], **_rss(spark)}


def _rss(spark) -> dict:
    """Peak RSS (MB) of this Python process and of the driver JVM it launched."""
    python_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jvm_mb = float("nan")
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    if proc is not None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    jvm_mb = int(line.split()[1]) / 1024
        except OSError:
            pass
    spark.stop()
    return {"python_peak_mb": python_mb, "jvm_peak_mb": jvm_mb}


def _child(mode: str, workdir: Path, rows: int | None = None, method: str = "delong",
           replicates: int = 200) -> dict:
    argv = [sys.executable, __file__, "--child", mode, "--workdir", str(workdir),
            "--method", method, "--replicates", str(replicates)]
    if rows:
        argv += ["--rows", str(rows)]
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if mode != "generate" else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", choices=("generate", "ours", "naive"), default=None)
    parser.add_argument("--method", choices=("delong", "bootstrap"), default="delong")
    parser.add_argument("--replicates", type=int, default=200)
    args = parser.parse_args()
    if args.child:
        if args.child == "generate":
            generate(args.rows[0], args.workdir)
            return
        result = (run_ours(args.workdir, args.method, args.replicates) if args.child == "ours"
                  else run_naive(args.workdir))
        print(json.dumps(result))
        return
    base = args.workdir or Path(tempfile.mkdtemp(prefix="validate-bench-"))
    header = (f"{'rows':>10} | {'ours s':>8} | {'naive s':>8} | {'speed-up':>8} | "
              f"{'ours py MB':>10} | {'naive py MB':>11} | {'ours JVM MB':>11} | "
              f"{'naive JVM MB':>12} | {'AUC ours':>9} | {'AUC naive':>9}")
    rows_out = []
    for rows in args.rows:
        workdir = base / f"n{rows}"
        workdir.mkdir(parents=True, exist_ok=True)
        if not (workdir / "champion").exists():  # reuse a generated set: same data, same models
            _child("generate", workdir, rows)
        ours = _child("ours", workdir, method=args.method, replicates=args.replicates)
        naive = _child("naive", workdir)
        rows_out.append(
            f"{rows:>10,} | {ours['seconds']:>8.1f} | {naive['seconds']:>8.1f} | "
            f"{naive['seconds'] / ours['seconds']:>7.2f}x | {ours['python_peak_mb']:>10.0f} | "
            f"{naive['python_peak_mb']:>11.0f} | {ours['jvm_peak_mb']:>11.0f} | "
            f"{naive['jvm_peak_mb']:>12.0f} | {ours['auc_candidate']:>9.6f} | "
            f"{naive['auc_candidate']:>9.6f}")
        print(rows_out[-1], file=sys.stderr, flush=True)
    print(header)
    print("-" * len(header))
    print("\n".join(rows_out))


if __name__ == "__main__":
    main()
