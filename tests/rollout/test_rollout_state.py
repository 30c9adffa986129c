"""The durable state: one JSON document in one tag, written in one registry call, that fits
MLflow's tag value limit; mirrors written after it are never read back."""

from __future__ import annotations

import json

import pytest

from ml_actions.config.settings import RegistryConfig
from ml_actions.errors import InfrastructureError, RegistryError
from ml_actions.registry import Registry
from ml_actions.rollout.rollback import record_canary_rollback
from ml_actions.rollout.state import (
    STATE_TAG,
    TAG_VALUE_LIMIT,
    MirrorWriteError,
    RolloutState,
    write_state,
)
from tests.rollout.registry_setup import register_versions, unique_name


def full_state(**changes) -> RolloutState:
    state = RolloutState(status="running", phase="step", step_index=2, weight=50.0,
                         steps=[5.0, 25.0, 50.0, 100.0], stable_version="3", failures=1,
                         consecutive_failures=1, reason="latency_p99 ≥ bound",
                         run_url="https://user:secret@ci.example/run/1",
                         baseline_since="2024-01-01T00:00:00Z", flipped_at="",
                         previous_champion="3", shadow_verdict="passed")
    for key, value in changes.items():
        setattr(state, key, value)
    return state


def test_the_state_document_round_trips_and_is_what_from_tags_reads():
    state = full_state()
    tags = state.to_tags()
    assert next(iter(tags)) == STATE_TAG  # written first: it commits before the mirrors
    back = RolloutState.from_tags(tags)
    assert back == RolloutState.from_json(state.to_json())
    assert (back.step_index, back.weight, back.steps, back.failures, back.reason,
            back.previous_champion) == (2, 50.0, state.steps, 1, state.reason, "3")
    assert back.run_url == "https://***@ci.example/run/1"  # credentials never reach a tag
    assert json.loads(tags[STATE_TAG])["format"] == 1
    assert tags["rollout.steps"] == "5,25,50,100" and tags["rollout.status"] == "running"
    assert "rollout.updated_at" not in tags  # changes at every save: in the document only
    tags["rollout.status"], tags["rollout.step_index"] = "promoted", "9"  # stale mirrors
    assert RolloutState.from_tags(tags).status == "running"
    assert RolloutState.from_tags({"rollout.status": "running"}) is None
    assert RolloutState.from_tags({"validation.status": "passed"}) is None
    newer = json.dumps({"format": 2, "status": "running", "phase": "bake", "new_field": 1})
    assert RolloutState.from_json(newer).phase == "bake"
    with pytest.raises(RegistryError, match="rollout.state"):
        RolloutState.from_tags({STATE_TAG: '{"status": "runn'})


def test_a_long_decision_is_shortened_never_the_document():
    rows = json.dumps([{"check": f"custom_{i}", "verdict": "fail", "message": 'a "quoted" ≥'}
                       for i in range(200)])
    state = full_state(last_decision=rows, reason="r" * 5000)
    document = state.to_json()
    assert len(document) <= TAG_VALUE_LIMIT
    back = RolloutState.from_json(document)  # still one valid document
    assert back.last_decision == "" and back.reason == "r" * len(back.reason)
    assert len(back.reason) > 2000 and back.steps == state.steps
    short = full_state(last_decision=rows[:1000])
    assert RolloutState.from_json(short.to_json()).last_decision == rows[:1000]
    assert all(len(v) <= TAG_VALUE_LIMIT for v in state.to_tags().values())


class CountingClient:
    """MLflow's client, counting (and optionally failing) the tag writes that reach it."""

    def __init__(self, client, fail_after: int | None = None):
        self.client, self.fail_after, self.written = client, fail_after, []

    def set_model_version_tag(self, name, version, key, value):
        if self.fail_after is not None and len(self.written) >= self.fail_after:
            raise ConnectionRefusedError("Connection refused")
        self.written.append((key, value))
        return self.client.set_model_version_tag(name, version, key, value)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.mark.integration
def test_a_save_is_one_registry_call_and_survives_losing_its_mirrors(tracking_uri):
    name = unique_name("state")
    (version,) = register_versions(tracking_uri, name, 1)
    registry = Registry(tracking_uri, retries=0)
    counting = registry.client = CountingClient(registry.client)
    state = full_state()
    written = write_state(registry, name, version, state)
    assert counting.written[0] == (STATE_TAG, state.to_json())  # the whole state, one call
    assert [k for k, _ in counting.written].count(STATE_TAG) == 1
    counting.written.clear()
    state.weight, state.updated_at = 100.0, "2024-01-01T00:01:00Z"
    written = write_state(registry, name, version, state, written)
    assert [k for k, _ in counting.written] == [STATE_TAG, "rollout.weight"]
    # MLflow goes away between the commit and the mirrors: the new state is the one read back
    counting.written.clear()
    counting.fail_after = 1
    state.phase, state.step_index = "bake", 3
    with pytest.raises(MirrorWriteError, match="saved, but not its rollout"):
        write_state(registry, name, version, state, written)
    tags = registry.get_tags(name, version)
    assert tags["rollout.phase"] == "step"  # the mirror is stale...
    assert RolloutState.from_tags(tags).phase == "bake"  # ...and never trusted
    counting.fail_after = 0
    with pytest.raises(InfrastructureError, match="did not answer"):
        write_state(registry, name, version, full_state(phase="loading"), written)
    assert RolloutState.from_tags(registry.get_tags(name, version)).phase == "bake"
    counting.fail_after = None
    record_canary_rollback(registry, RegistryConfig(), name, version, "bad", "rolled_back")
    tags = registry.get_tags(name, version)
    ended = RolloutState.from_tags(tags)
    assert (ended.status, ended.reason, ended.phase, ended.step_index) == (
        "rolled_back", "bad", "done", 3)
    assert tags["rollout.status"] == "rolled_back" and tags["rollout.phase"] == "done"
