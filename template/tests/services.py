"""Spark and MLflow fixtures for a copied template, where ml-actions' shared fixtures are absent.

Inside the ml-actions repository the same fixture names come from tests/fixtures/services.py
(registered by the root conftest.py) and this module is not loaded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def spark():
    from ml_pipeline.session import get_spark

    session = get_spark("ml-pipeline-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory):
    """A real `mlflow server` on a free port (sqlite backend), stopped by PID at the end."""
    workdir = tmp_path_factory.mktemp("mlflow")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(workdir / "mlflow.log", "wb")  # noqa: SIM115 - owned by the child process
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
         "--artifacts-destination", str(workdir / "artifacts"), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log_path = workdir / "mlflow.log"
                    raise RuntimeError(f"mlflow server did not start; see {log_path}") from None
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
