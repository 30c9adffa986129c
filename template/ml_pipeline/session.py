"""The project's SparkSession: the one that is running, or a small local one.

The template must run without ml-actions' `ml_actions` package, so it builds its own session;
under pytest or
inside a job that already started Spark, `getOrCreate` returns that session unchanged.
"""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "2g",
    "spark.ui.showConsoleProgress": "false",
}


def get_spark(app_name: str = "ml-pipeline") -> SparkSession:
    """Active session if any; otherwise `local[*]` (or `$SPARK_MASTER`) with UTC time."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name).master(
        os.environ.get("SPARK_MASTER", "local[*]"))
    for key, value in LOCAL_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
