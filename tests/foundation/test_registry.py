"""Registry round trips against a real MLflow server: aliases, tags, clear errors, retries."""

from __future__ import annotations

import time

import pytest

from ml_actions.errors import InfrastructureError, RegistryError
from ml_actions.registry import Registry
from tests.fixtures.local_services import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registered(tracking_uri):
    """Two versions of a tiny model (no artifacts needed for registry semantics)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    name = "registry_test_model"
    client.create_registered_model(name)
    for _ in range(2):
        run = client.create_run(client.create_experiment(f"exp-{time.time_ns()}"))
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    return name


def test_resolve_by_number_and_alias(tracking_uri, registered):
    registry = Registry(tracking_uri)
    registry.set_alias(registered, "challenger", "2")
    by_number = registry.resolve(registered, "1")
    by_alias = registry.resolve(registered, "@challenger")
    assert by_number.version == "1" and by_alias.version == "2"
    assert registry.resolve(registered, "v2").version == "2"
    assert registry.resolve(registered, "challenger").version == "2"
    assert by_alias.uri == f"models:/{registered}/2"
    assert by_alias.run_id


def test_champion_alias_moves_and_is_absent_before_first_deploy(tracking_uri, registered):
    registry = Registry(tracking_uri)
    registry.delete_alias(registered, "champion")
    assert registry.find_alias(registered, "champion") is None
    registry.set_alias(registered, "champion", "1")
    assert registry.find_alias(registered, "champion").version == "1"
    registry.set_alias(registered, "champion", "2")
    assert registry.find_alias(registered, "champion").version == "2"
    registry.delete_alias(registered, "champion")
    registry.delete_alias(registered, "champion")  # idempotent
    assert registry.find_alias(registered, "champion") is None


def test_tags_round_trip(tracking_uri, registered):
    registry = Registry(tracking_uri)
    registry.set_tags(registered, "1", {"validation.status": "passed", "validation.auc_roc": 0.93,
                                        "empty": None})
    tags = registry.get_tags(registered, "1")
    assert tags["validation.status"] == "passed" and tags["validation.auc_roc"] == "0.93"
    registry.delete_tag(registered, "1", "validation.status")
    registry.delete_tag(registered, "1", "validation.status")
    assert "validation.status" not in registry.get_tags(registered, "1")


def test_unknown_model_version_and_alias_errors(tracking_uri, registered):
    registry = Registry(tracking_uri)
    with pytest.raises(RegistryError, match="registered model 'nope' not found"):
        registry.resolve("nope", "1")
    with pytest.raises(RegistryError, match=r"version 9 of model .* existing versions: 1, 2"):
        registry.resolve(registered, "9")
    with pytest.raises(RegistryError, match=r"alias @ghost is not set .* aliases set:"):
        registry.resolve(registered, "@ghost")
    with pytest.raises(RegistryError, match="empty model version"):
        registry.resolve(registered, " ")


def test_unreachable_server_fails_after_bounded_retries():
    registry = Registry(f"http://127.0.0.1:{free_port()}", retries=2, backoff_seconds=0.01)
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match=r"did not answer .*\(after 3 attempts"):
        registry.resolve("m", "1")
    assert time.monotonic() - started < 60
