"""The one place a SparkSession is built.

`local[*]` by default; a standalone master (`spark://host:7077`) or a Spark Connect remote
(`sc://host:15002`) from config or the environment (`ML_ACTIONS_SPARK_MASTER`,
`ML_ACTIONS_SPARK_REMOTE` / `SPARK_REMOTE`). Defaults are tuned for a CI runner with two cores:
few shuffle partitions, no UI, Arrow on.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from ml_actions.errors import InfrastructureError, first_line

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ml_actions.config.settings import SparkConfig

BASE_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "2g",
    "spark.ui.showConsoleProgress": "false",
}


def spark_target(config: SparkConfig | None = None) -> tuple[str, str]:
    """("remote", url) or ("master", url): the environment wins over the config file."""
    remote = os.environ.get("ML_ACTIONS_SPARK_REMOTE") or os.environ.get("SPARK_REMOTE")
    if not remote and config is not None:
        remote = config.remote
    if remote:
        return "remote", remote
    master = os.environ.get("ML_ACTIONS_SPARK_MASTER") or (config.master if config else None)
    return "master", master or "local[*]"


def get_spark(config: SparkConfig | None = None, app_name: str | None = None) -> SparkSession:
    """Return the process's SparkSession, creating it on first use."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run this interpreter (the venv), not whatever `python3` is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    from pyspark.sql import SparkSession

    kind, url = spark_target(config)
    name = app_name or (config.app_name if config else "ml-actions")
    builder = SparkSession.builder.appName(name)
    if kind == "remote":
        builder = builder.remote(url)
    else:
        builder = builder.master(url)
        for key, value in BASE_CONF.items():
            builder = builder.config(key, value)
    for key, value in (config.conf if config else {}).items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as err:  # py4j / grpc errors carry no common base class
        raise InfrastructureError(
            f"cannot start Spark at {url} ({type(err).__name__}: {first_line(err)}); "
            "check spark.master / spark.remote in ml-actions.yaml, ML_ACTIONS_SPARK_MASTER, "
            "and that Java 17 is installed"
        ) from err
    if kind == "master":
        spark.sparkContext.setLogLevel("ERROR")
    return spark
