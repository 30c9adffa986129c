"""MLflow side of training: log the run, log the Spark model, register it, move the alias.

The model is logged with the Spark flavour (the gate reads `probability[1]` from it; the pyfunc
flavour only returns the hard prediction, MLflow issue #6451), a signature, an input example
and explicit pip requirements (without them MLflow spends ~20 s inferring them).
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from pyspark.ml import PipelineModel


@dataclass(frozen=True)
class RegisteredModel:
    model_name: str
    version: str
    run_id: str
    model_uri: str


def data_fingerprint(path: str | Path) -> str:
    """sha256 over the bytes of every Parquet file under `path` (names included), so the
    same data always gets the same fingerprint wherever it lives."""
    root = Path(path)
    files = sorted(root.rglob("*.parquet")) if root.is_dir() else [root]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(root) if root.is_dir() else file.name).encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def git_commit(cwd: str | Path | None = None) -> str | None:
    """HEAD of the repository the job runs in ($GITHUB_SHA is not always a checkout's HEAD)."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def pip_requirements() -> list[str]:
    import pyspark

    return [f"mlflow=={mlflow.__version__}", f"pyspark=={pyspark.__version__}"]


def log_and_register(model: PipelineModel, input_example: pd.DataFrame, *, tracking_uri: str,
                     experiment: str, model_name: str, alias: str | None, params: dict,
                     metrics: dict[str, float], tags: dict[str, str]) -> RegisteredModel:
    """One MLflow run holding params, metrics, tags and the model; a new registered version
    carrying the same tags, and `alias` pointing at it."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    signature = infer_signature(input_example, pd.DataFrame({"prediction": [0.0]}))
    with mlflow.start_run() as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(tags)
        info = mlflow.spark.log_model(model, artifact_path="model", signature=signature,
                                      input_example=input_example,
                                      pip_requirements=pip_requirements(),
                                      registered_model_name=model_name)
    version = str(info.registered_model_version)
    client = MlflowClient(tracking_uri=tracking_uri)
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    if alias:
        client.set_registered_model_alias(model_name, alias, version)
    return RegisteredModel(model_name, version, run.info.run_id,
                           f"models:/{model_name}/{version}")
