"""The one SparkSession builder: local by default, master/remote from config or environment."""

from __future__ import annotations

import pytest

from ml_actions.config.settings import SparkConfig
from ml_actions.spark import spark_target


def test_target_defaults_to_local():
    assert spark_target(None) == ("master", "local[*]")


def test_config_and_environment(monkeypatch):
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.delenv("ML_ACTIONS_SPARK_REMOTE", raising=False)
    assert spark_target(SparkConfig(master="spark://h:7077")) == ("master", "spark://h:7077")
    monkeypatch.setenv("ML_ACTIONS_SPARK_MASTER", "local[2]")
    assert spark_target(SparkConfig(master="spark://h:7077")) == ("master", "local[2]")
    assert spark_target(SparkConfig(remote="sc://h:15002")) == ("remote", "sc://h:15002")
    monkeypatch.setenv("SPARK_REMOTE", "sc://env:15002")
    assert spark_target(SparkConfig()) == ("remote", "sc://env:15002")


@pytest.mark.integration
def test_session_runs_a_job(spark):
    assert spark.range(10).selectExpr("sum(id) as s").first()["s"] == 45
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
