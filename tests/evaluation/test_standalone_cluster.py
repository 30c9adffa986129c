"""The evaluator on a real Spark standalone cluster (master + worker from the pyspark install)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn import metrics as skm

from tests.fixtures.local_services import free_port, start_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def standalone_cluster(tmp_path):
    """A master and one worker (1 core), started with spark-class, stopped by PID."""
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    spark_class = str(spark_home / "bin" / "spark-class")
    env = {"SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_NO_DAEMONIZE": "1", "PYSPARK_PYTHON": sys.executable,
           "SPARK_WORKER_DIR": str(tmp_path / "work")}
    port, ui, worker_ui = free_port(), free_port(), free_port()
    started = []
    try:
        started.append(start_process(
            "spark-master", [spark_class, "org.apache.spark.deploy.master.Master",
                             "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)],
            f"http://127.0.0.1:{ui}/json/", tmp_path, env=env, timeout=120))
        url = f"spark://127.0.0.1:{port}"
        started.append(start_process(
            "spark-worker", [spark_class, "org.apache.spark.deploy.worker.Worker", url,
                             "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                             "--webui-port", str(worker_ui)],
            f"http://127.0.0.1:{worker_ui}/json/", tmp_path, env=env, timeout=120))
        yield url, started
    finally:
        for proc in reversed(started):
            proc.stop()


def test_evaluate_on_standalone_cluster_matches_sklearn(standalone_cluster, tmp_path):
    url, processes = standalone_cluster
    out = tmp_path / "data"
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([str(ROOT / "core"), str(ROOT)]))
    env.pop("ML_ACTIONS_SPARK_MASTER", None)
    done = subprocess.run([sys.executable, "-m", "tests.evaluation.cluster_job", url, str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["master"] == url and result["executors"] >= 2  # driver + the worker's executor
    data = pd.read_parquet(out)
    y, a, b = data["fraud_label"].to_numpy(), data["cand"].to_numpy(), data["champ"].to_numpy()
    ev = result["evaluation"]
    assert ev["n_rows"] == 20000 and ev["n_positives"] == int(y.sum())
    assert ev["candidate"]["metrics"]["auc_roc"] == pytest.approx(skm.roc_auc_score(y, a),
                                                                  abs=1e-9)
    assert ev["champion"]["metrics"]["auc_pr"] == pytest.approx(
        skm.average_precision_score(y, b), abs=1e-9)
    assert ev["comparison"]["auc"]["delta"] == pytest.approx(
        skm.roc_auc_score(y, a) - skm.roc_auc_score(y, b), abs=1e-9)
    assert {s["segment"] for s in ev["slices"]} == {"<100", "[100, 300)", ">=300"}
    assert any(c["name"] == "auc_vs_champion" for c in result["decision"]["checks"])
    assert all(p.alive() for p in processes)  # the cluster outlived the job; teardown stops it
