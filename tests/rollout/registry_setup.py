"""Registered model versions for the state-machine tests (no artifacts: the simulated target
only reads their URIs), and real pyfunc canaries for the end-to-end tests."""

from __future__ import annotations

import itertools

from mlflow.tracking import MlflowClient

_names = itertools.count()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{next(_names)}"


def register_versions(tracking_uri: str, name: str, count: int,
                      validated: bool = True) -> list[str]:
    """`count` versions of `name`, each from its own run, tagged validation.status=passed."""
    client = MlflowClient(tracking_uri, tracking_uri)
    client.create_registered_model(name)
    versions = []
    for _ in range(count):
        run = client.create_run("0")
        mv = client.create_model_version(name, f"{run.info.artifact_uri}/model",
                                         run_id=run.info.run_id)
        client.set_terminated(run.info.run_id)
        if validated:
            client.set_model_version_tag(name, mv.version, "validation.status", "passed")
        versions.append(str(mv.version))
    return versions
