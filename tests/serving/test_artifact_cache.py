"""The artifact cache: one download per version, served while MLflow is down, bounded.

`ModelSource` is driven with a fake registry and download (counted, and switched off to play
an unreachable MLflow); the last test uses the real MLflow server and a closed port.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ml_actions.config.gateway import GatewayConfig
from ml_actions.errors import InfrastructureError, RegistryError
from ml_actions.registry import ModelVersionRef
from ml_actions.serving.artifact_cache import MARKER, ArtifactCache
from ml_actions.serving.model_loading import ModelRef, ServedModel
from ml_actions.serving.model_source import ModelSource, RegistryUnavailable, RetryPolicy
from ml_actions.serving.state_store import StateStore
from ml_actions.serving_contract import SlotState, TargetState


class FakeMlflow:
    """Versions 1-9 of `fraud`, `@champion` -> 3; `up = False` refuses every connection."""

    def __init__(self) -> None:
        self.up = True
        self.resolves: list[str] = []
        self.downloads: list[str] = []
        self.fail_next = 0  # connection failures before the next call works

    def _reach(self) -> None:
        if not self.up or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            raise ConnectionRefusedError("[Errno 111] Connection refused")

    def resolve(self, name: str, reference: str) -> ModelVersionRef:
        self.resolves.append(f"{name}:{reference}")
        self._reach()
        version = "3" if reference == "@champion" else reference.lstrip("v")
        if not version.isdigit():
            raise RegistryError(f"alias {reference} is not set on model {name!r}")
        return ModelVersionRef(name, version, run_id="run1", source=f"runs:/run1/{version}",
                               tags={"validation.status": "passed"})

    def download(self, uri: str, dst: Path) -> Path:
        self.downloads.append(uri)
        self._reach()
        dst.mkdir(parents=True)
        (dst / "MLmodel").write_text(f"uri: {uri}\n")
        return dst


def source(root: Path, mlflow: FakeMlflow, keep: int = 8, protected=lambda: (),
           attempts: int = 3) -> tuple[ModelSource, list[float]]:
    sleeps: list[float] = []
    cache = ArtifactCache(root, keep, protected)
    policy = RetryPolicy(attempts, backoff_seconds=0.5, max_backoff_seconds=1.5)
    return ModelSource(mlflow.resolve, mlflow.download, cache, policy, sleeps.append), sleeps


def test_a_second_load_and_a_restart_download_nothing(tmp_path):
    mlflow = FakeMlflow()
    first, _ = source(tmp_path, mlflow)
    fetched = first.fetch("models:/fraud/7")
    assert not fetched.from_cache and mlflow.downloads == ["models:/fraud/7"]
    assert (fetched.model_dir / "MLmodel").read_text() == "uri: models:/fraud/7\n"
    assert fetched.ref == ModelRef("fraud", "7")
    assert fetched.ref.tags == {"validation.status": "passed"}
    again = first.fetch("models:/fraud/7")
    restarted, _ = source(tmp_path, mlflow)  # a new process on the same cache folder
    after_restart = restarted.fetch("models:/fraud/7")
    assert again.from_cache and after_restart.from_cache
    assert mlflow.downloads == ["models:/fraud/7"]  # one download in all
    assert mlflow.resolves == ["fraud:7"]  # a cached concrete version needs no registry
    assert after_restart.ref.tags == {"validation.status": "passed"}
    assert (tmp_path / "fraud" / "7" / MARKER).is_file()
    assert [p.name for p in (tmp_path / "fraud").iterdir()] == ["7"]  # no partial left


def test_a_cached_concrete_version_loads_with_the_registry_unreachable(tmp_path):
    mlflow = FakeMlflow()
    source(tmp_path, mlflow)[0].fetch("models:/fraud@champion")
    mlflow.up = False
    restarted, sleeps = source(tmp_path, mlflow)
    fetched = restarted.fetch("models:/fraud/3")  # what the state file records for the slot
    assert fetched.from_cache and fetched.ref.version == "3"
    assert sleeps == [] and mlflow.resolves == ["fraud:@champion"]


def test_an_alias_with_the_registry_down_fails_saying_why_after_logged_retries(tmp_path,
                                                                               caplog):
    mlflow = FakeMlflow()
    loader, _ = source(tmp_path, mlflow)
    loader.fetch("models:/fraud/3")  # cached, but an alias still needs the registry
    mlflow.up = False
    restarted, sleeps = source(tmp_path, mlflow, attempts=4)
    with caplog.at_level(logging.WARNING, logger="ml_actions.gateway"), \
            pytest.raises(RegistryUnavailable) as raised:
        restarted.fetch("models:/fraud@champion")
    message = str(raised.value)
    assert "cannot load models:/fraud@champion: an alias is resolved by the registry" in message
    assert "did not answer 4 attempt(s)" in message and "Connection refused" in message
    assert "models:/fraud/<version>" in message
    assert sleeps == [0.5, 1.0, 1.5]  # doubling, capped at the max backoff
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 3 and "attempt 1 of 4" in retries[0]


def test_an_uncached_version_is_retried_until_mlflow_answers_and_mistakes_are_not(tmp_path):
    mlflow = FakeMlflow()
    loader, sleeps = source(tmp_path, mlflow, attempts=5)
    mlflow.fail_next = 2
    assert loader.fetch("models:/fraud/4").ref.version == "4"
    assert sleeps == [0.5, 1.0] and mlflow.downloads == ["models:/fraud/4"]
    with pytest.raises(RegistryError, match="is not set"):
        loader.fetch("models:/fraud@nope")
    assert sleeps == [0.5, 1.0]  # "no such alias" is an answer: not retried
    mlflow.up = False
    with pytest.raises(RegistryUnavailable, match="not in the artifact cache"):
        loader.fetch("models:/fraud/5")


def test_a_failed_download_leaves_no_version_behind(tmp_path):
    mlflow = FakeMlflow()
    loader, _ = source(tmp_path, mlflow, attempts=1)

    def half_download(uri: str, dst: Path) -> Path:
        dst.mkdir(parents=True)
        (dst / "MLmodel").write_text("half")
        raise ConnectionResetError("connection reset mid-download")

    loader.download = half_download
    with pytest.raises(RegistryUnavailable, match="download models:/fraud/6"):
        loader.fetch("models:/fraud/6")
    assert loader.cache.find("fraud", "6") is None
    assert list((tmp_path / "fraud").iterdir()) == []  # the partial folder is gone


def test_eviction_keeps_the_recent_the_held_and_the_state_files_versions(tmp_path):
    mlflow = FakeMlflow()
    state_dir = tmp_path / "state"
    store = StateStore(state_dir)
    state = TargetState(slots={
        "stable": SlotState(model_uri="models:/fraud/2", model_name="fraud", model_version="2",
                            status="ready"),
        "canary": SlotState(status="loading", requested_uri="models:/fraud/3")})
    store.save(state)
    loader, _ = source(tmp_path / "cache", mlflow, keep=2, protected=store.served_versions)
    held = loader.fetch("models:/fraud/1")  # a live model holds v1
    for version in range(2, 8):
        loader.fetch(f"models:/fraud/{version}").release()
    kept = {key[1] for key, _ in loader.cache.versions()}
    # v1 is held, v2 and v3 are named by the state file, v6 and v7 are the two most recent
    assert kept == {"1", "2", "3", "6", "7"}
    served = ServedModel(held.ref, "pyfunc", lambda f: f, None, None, held.model_dir,
                         on_release=held.release)
    served.release()
    served.release()  # idempotent
    assert (held.model_dir / "MLmodel").is_file()  # release never deletes shared files
    loader.fetch("models:/fraud/8").release()
    assert {key[1] for key, _ in loader.cache.versions()} == {"2", "3", "7", "8"}


def test_an_unreadable_state_file_deletes_nothing(tmp_path):
    mlflow = FakeMlflow()
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "gateway-state.json").write_text("{half")
    loader, _ = source(tmp_path / "cache", mlflow, keep=1,
                       protected=StateStore(tmp_path / "state").served_versions)
    for version in range(1, 4):
        loader.fetch(f"models:/fraud/{version}").release()
    assert len(loader.cache.versions()) == 3


def test_odd_model_names_stay_inside_the_cache(tmp_path):
    mlflow = FakeMlflow()
    loader, _ = source(tmp_path / "cache", mlflow)
    fetched = loader.fetch("models:/../1")
    assert (tmp_path / "cache") in fetched.model_dir.parents
    assert loader.cache.find("..", "1") is not None


def test_the_retry_knobs_are_validated():
    with pytest.raises(ValueError, match="load_max_backoff_seconds"):
        GatewayConfig(load_backoff_seconds=5.0, load_max_backoff_seconds=1.0)
    assert RetryPolicy.of(GatewayConfig()).wait_after(10) == 30.0


@pytest.mark.integration
def test_the_real_registry_loader_serves_from_its_cache_when_mlflow_is_down(
        tracking_uri, gw_models, tmp_path):
    import mlflow

    from ml_actions.serving.app import registry_loader
    from tests.fixtures.local_services import free_port
    from tests.serving.gateway_client import rows

    version = gw_models["v1"]
    cache = tmp_path / "model-cache"
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    quick = GatewayConfig(load_attempts=2, load_backoff_seconds=0.01)
    try:
        registry_loader(tracking_uri, cache, gateway=quick)(
            f"models:/gw_fraud/{version}").release()
        down = registry_loader(f"http://127.0.0.1:{free_port()}", cache, gateway=quick)
        model = down(f"models:/gw_fraud/{version}")
        scores = model.score(model.prepare(rows(3)))
        model.release()
        with pytest.raises(InfrastructureError, match="an alias is resolved by the registry"):
            down("models:/gw_fraud@champion")
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    assert model.version == version and len(scores) == 3
    assert (cache / "gw_fraud" / version / MARKER).is_file()
