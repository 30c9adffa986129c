"""Run by test_standalone_cluster in its own process: evaluate on a `spark://` master.

Generates the test set in Spark (no driver-side data), writes it as Parquet so the test can
recompute the metrics with scikit-learn, evaluates candidate vs champion with a slice, and
prints the result as JSON on the last line.
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import functions as F

from ml_actions.config.settings import load_config
from ml_actions.report_documents import to_jsonable
from ml_actions.spark import get_spark
from ml_actions.validation.evaluation import evaluate_scores
from ml_actions.validation.gates import decide
from ml_actions.validation.test_data import load_test_data


def main(master: str, out_dir: str) -> None:
    from ml_actions.config.settings import SparkConfig

    spark = get_spark(SparkConfig(master=master, conf={"spark.executor.memory": "512m",
                                                       "spark.cores.max": "1"}))
    label = (F.rand(1) < 0.1).cast("int")
    noise_a, noise_b = F.randn(2), F.randn(3)
    df = (spark.range(20000).select(label.alias("fraud_label"), noise_a.alias("na"),
                                    noise_b.alias("nb"), (F.rand(4) * 500).alias("amount"))
          .select("fraud_label", "amount",
                  F.round(1 / (1 + F.exp(-(F.col("na") + 2 * F.col("fraud_label") - 2))), 3)
                  .alias("cand"),
                  F.round(1 / (1 + F.exp(-(F.col("na") * 0.7 + F.col("nb") * 0.5
                                           + 1.6 * F.col("fraud_label") - 2))), 3)
                  .alias("champ")))
    df.write.mode("overwrite").parquet(out_dir)
    data = load_test_data(spark, out_dir, "fraud_label")
    config = load_config(environment="prod", overrides={"slices": {
        "buckets": {"amount": [100, 300]}, "min_size": 1000}})
    ev = evaluate_scores(data, "cand", "champ", config, "2", "1")
    decision = decide(ev, config)
    print(json.dumps({"master": spark.sparkContext.master,
                      "executors": spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size(),
                      "evaluation": to_jsonable(ev), "decision": to_jsonable(decision)}))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
