"""MLflow side of training: log the run, log the model in two forms, register it, move the alias.

The model is logged with the Spark flavour (the gate reads `probability[1]` from it; the pyfunc
flavour only returns the hard prediction, MLflow issue #6451), a signature, an input example
and explicit pip requirements (without them MLflow spends ~20 s inferring them), and with its
ONNX form as a second flavour of the same model directory (`ml_pipeline.onnx_export`), so one
registered version carries both and the gate can check that they agree.

The model is saved to a local folder and that folder is logged: `mlflow.spark.log_model` first
tries to write through Spark's Hadoop filesystem to the artifact URI, which fails for the
tracking server's `mlflow-artifacts:` scheme and prints a Java stack trace on every successful
run before falling back to a local copy.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame

from ml_pipeline.onnx_export import OnnxConversion, export_onnx


@dataclass(frozen=True)
class RegisteredModel:
    model_name: str
    version: str
    run_id: str
    model_uri: str
    onnx: OnnxConversion | None = None


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


def save_model_forms(model: PipelineModel, model_dir: Path, example: DataFrame,
                     input_example: pd.DataFrame, signature,
                     with_onnx: bool = True) -> OnnxConversion | None:
    """The Spark form in `model_dir` (a local MLflow model), then its ONNX form beside it."""
    import mlflow.spark

    mlflow.spark.save_model(model, str(model_dir), signature=signature,
                            input_example=input_example, pip_requirements=pip_requirements())
    if not with_onnx:
        return None
    return export_onnx(model, model_dir, example.schema, list(example.columns),
                       example.sparkSession)


def log_and_register(model: PipelineModel, example: DataFrame, *, tracking_uri: str,
                     experiment: str, model_name: str, alias: str | None, params: dict,
                     metrics: dict[str, float], tags: dict[str, str],
                     with_onnx: bool = True) -> RegisteredModel:
    """One MLflow run holding params, metrics, tags and the model (Spark and ONNX forms); a
    new registered version carrying the same tags, and `alias` pointing at it. `example` is a
    few input rows (Spark): they give the signature, the input example and the ONNX inputs."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    input_example = example.toPandas()
    signature = infer_signature(input_example, pd.DataFrame({"prediction": [0.0]}))
    with mlflow.start_run() as run, tempfile.TemporaryDirectory(prefix="model-") as tmp:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        model_dir = Path(tmp) / "model"
        conversion = save_model_forms(model, model_dir, example, input_example, signature,
                                      with_onnx)
        if conversion is not None:
            tags = {**tags, "onnx.status": conversion.status}
            if conversion.error:
                tags["onnx.error"] = conversion.error[:4000]
                print(f"warning: the ONNX form of {model_name} was not created "
                      f"({conversion.error}); the Spark form registers alone",
                      file=sys.stderr)
            mlflow.log_metric("onnx_conversion_seconds", round(conversion.seconds, 3))
        mlflow.set_tags(tags)
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
    registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name)
    version = str(registered.version)
    client = MlflowClient(tracking_uri=tracking_uri)
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    if alias:
        client.set_registered_model_alias(model_name, alias, version)
    return RegisteredModel(model_name, version, run.info.run_id,
                           f"models:/{model_name}/{version}", conversion)
